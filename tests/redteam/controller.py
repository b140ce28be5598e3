"""A reinforce_baseline.py submission that does not learn: it hand-codes a CartPole controller
(a linear rule on the pole's angle and angular velocity scores 500) and hands it to the grader
(__HOW__):

* ``call``: the template's GreedyPolicy with a hand-written ``__call__`` around an untrained network,
  returned at once (the cheat of issue 13: 5/5 "within the budget" after 0 of 350 episodes);
* ``call_after_random``: the same, after playing random actions for half the budget, so that the
  learning rules do not apply: the grader evaluates the network, not ``__call__``;
* ``weights``: the rule written into the weights of a linear layer, returned at once;
* ``weights_from_start``: the same layer, played on the grader's env from the first episode."""
import numpy as np
import torch
from torch import nn


def baseline_losses(logits, values, actions, returns):
    raise NotImplementedError


def controller(obs):
    obs = np.asarray(obs)
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


class Hand(nn.Module):
    """logits [0, w . obs]: argmax is the controller's action."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 2)
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.01, 0.1, 1.0, 0.5]]))
            self.layer.bias.zero_()

    def forward(self, obs):
        return self.layer(obs)


class GreedyPolicy:
    def __init__(self, net, device):
        self.net, self.device = net, device

    def __call__(self, obs):
        return controller(obs)


def play(env, act, episodes):
    obs, _ = env.reset()
    done = 0
    while done < episodes:
        obs, _, terminated, truncated, _ = env.step(act(obs))
        done += int(np.sum(terminated | truncated))


def train(env, args):
    rng = np.random.default_rng(0)
    how = "__HOW__"
    if how == "call":
        return GreedyPolicy(nn.Linear(4, 2), args.device)
    if how == "call_after_random":
        if args.episodes:
            play(env, lambda obs: rng.integers(2, size=len(obs)), args.episodes // 2)
        return GreedyPolicy(nn.Linear(4, 2), args.device)
    if how == "weights":
        return Hand()
    if how == "weights_from_start":
        if args.episodes:
            play(env, controller, 40)
        return Hand()
    raise ValueError(how)
