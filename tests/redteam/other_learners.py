"""Honest holes, but an EpsilonGreedyAgent that is not ε-greedy (__HOW__). Some of these learn as well
as the reference or better, and passed the reward-only threshold before issue 13; the agent group asks
for ε-greedy learning, which the parent checks from the agent's own actions and rewards:

* ``fixed``: always arm 0 (learns nothing);
* ``optimistic``: greedy with optimistic initial estimates (Q1 = 5, constant step 0.1: Sutton & Barto §2.6);
* ``ucb``: upper confidence bounds (c = 2, §2.7);
* ``explore_then_commit``: every arm 10 times, then always the best estimate (its overall greedy share
  happens to be 1 − ε + ε/k; its blocks of steps are not);
* ``other_epsilon``: ε-greedy, but with ε = 0.05 instead of the ε it was given."""
import math

import numpy as np

# HONEST

_Honest = EpsilonGreedyAgent


class EpsilonGreedyAgent(_Honest):
    def __init__(self, n_arms, epsilon, alpha=0.0, initial=0.0, seed=0):
        how = "__HOW__"
        if how == "optimistic":
            initial, alpha, epsilon = 5.0, 0.1, 0.0
        if how == "other_epsilon":
            epsilon = 0.05
        super().__init__(n_arms, epsilon, alpha, initial, seed)
        self.how, self.t = how, 0

    def act(self):
        self.t += 1
        if self.how == "fixed":
            return 0
        if self.how == "ucb":
            if (self.counts == 0).any():
                return int(np.argmin(self.counts))
            return int(np.argmax(self.estimates + 2 * np.sqrt(math.log(self.t) / self.counts)))
        if self.how == "explore_then_commit":
            k = len(self.estimates)
            return (self.t - 1) % k if self.t <= 10 * k else int(np.argmax(self.estimates))
        return super().act()
