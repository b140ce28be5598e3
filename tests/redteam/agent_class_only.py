"""Honest holes and an EpsilonGreedyAgent that is not ε-greedy at all (UCB). The agent class is the
student's own code for running locally: the agent group runs the course's agents with the holes, so
this class plays no part in the score (full agent points, from the honest holes), and a hand-in whose
holes are not implemented gets nothing from a clever class (__HOW__ = "unimplemented")."""
import math

import numpy as np

# HONEST

if "__HOW__" == "unimplemented":
    def epsilon_greedy(estimates, epsilon, rng):
        raise NotImplementedError("epsilon_greedy")

    def update_estimate(estimate, count, reward, alpha):
        raise NotImplementedError("update_estimate")


class EpsilonGreedyAgent:
    def __init__(self, n_arms, epsilon, alpha=0.0, initial=0.0, seed=0):
        self.estimates = np.zeros(n_arms)
        self.counts = np.zeros(n_arms)
        self.t = 0

    def act(self):
        self.t += 1
        if (self.counts == 0).any():
            return int(np.argmin(self.counts))
        return int(np.argmax(self.estimates + 2 * np.sqrt(math.log(self.t) / self.counts)))

    def update(self, action, reward):
        self.counts[action] += 1
        self.estimates[action] += (reward - self.estimates[action]) / self.counts[action]
