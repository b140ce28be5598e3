# Honest RL holes, put in place of the "# HOLES" line of the RL red-team cases by
# tests/test_reinforce_redteam.py (the reference's formulas written out again: a submission
# cannot read solutions/); _unimplemented_rl.py is the template's. A case redefines after it
# the holes it cheats with.
import numpy as _np
import torch as _torch


def compute_returns(rewards, gamma):
    rewards = _np.asarray(rewards, dtype=_np.float64)
    out, running = _np.empty(len(rewards)), 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def reinforce_loss(logits, actions, returns):
    logp = _torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach()).mean()


def baseline_losses(logits, values, actions, returns):
    logp = _torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1)).squeeze(1)
    return -(logp * (returns - values.detach())).mean(), ((returns - values) ** 2).mean()
