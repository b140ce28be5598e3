"""A reinforce_baseline.py that does not learn (issue 21): train() plays 180 random episodes of the
budget, then returns a "network" whose forward runs CartPole's physics one step ahead and a PD law
on the pole (one 4-float buffer of gains: all a state_dict rebuild kept). On main 0c73fbe it scored
5/5. The grader trains the course's pipeline with the holes (the "# HOLES" line: honest or
unimplemented) and calls none of this: not train, not PolicyNet, not ValueNet, not GreedyPolicy."""
import numpy as np
import torch
from torch import nn

# HOLES


class PolicyNet(nn.Module):
    """logits [0, u]: push right when the PD law on the predicted pole angle says so."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.register_buffer("gains", torch.tensor([0.01, 0.1, 1.0, 0.5]))

    def forward(self, obs):
        x, v, theta, omega = obs.unbind(-1)
        tau, g, length = 0.02, 9.8, 0.5
        theta_next = theta + tau * omega                      # CartPole's Euler step, one step ahead
        omega_next = omega + tau * g * torch.sin(theta) / length
        ahead = torch.stack([x + tau * v, v, theta_next, omega_next], dim=-1)
        u = (ahead * self.gains).sum(-1)
        return torch.stack([torch.zeros_like(u), u], dim=-1)


ValueNet = PolicyNet


class GreedyPolicy:
    def __init__(self, net, device="cpu"):
        self.net, self.device = net, device

    def __call__(self, obs):
        with torch.no_grad():
            return self.net(torch.as_tensor(obs)).argmax(-1).numpy()


def train(env, args):
    rng = np.random.default_rng(0)
    env.reset(seed=args.seed)
    done = 0
    while done < 180:
        _, _, terminated, truncated, _ = env.step(rng.integers(2, size=env.num_envs))
        done += int(np.sum(terminated | truncated))
    return GreedyPolicy(PolicyNet())
