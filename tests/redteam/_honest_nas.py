# Honest NAS holes, put in place of the "# HONEST" line of the NAS red-team cases by
# tests/test_nas_redteam.py (as _honest.py is for the bandits cases); a case redefines the holes
# it cheats with after it.
import numpy as np
import torch


def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) * (target_flops / np.asarray(flops, dtype=np.float64)) ** beta


def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def controller_loss(log_probs, rewards, baseline):
    return -((rewards - baseline).detach() * log_probs).mean()


def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(torch.as_tensor(rewards, dtype=torch.float64).mean())
