# Honest implementations, appended by the test to cases that need them (a line starting
# with "# HONEST" in a case is replaced by this file).
import numpy as _np


def epsilon_greedy(estimates, epsilon, rng):
    if rng.random() < epsilon:
        return int(rng.integers(len(estimates)))
    return int(_np.argmax(estimates))


def update_estimate(estimate, count, reward, alpha):
    step = 1.0 / count if alpha == 0 else alpha
    return float(estimate + step * (reward - estimate))


class EpsilonGreedyAgent:
    def __init__(self, n_arms, epsilon, alpha=0.0, initial=0.0, seed=0):
        self.epsilon, self.alpha = epsilon, alpha
        self.estimates = _np.full(n_arms, float(initial))
        self.counts = _np.zeros(n_arms, dtype=_np.int64)
        self.rng = _np.random.default_rng(seed)

    def act(self):
        return epsilon_greedy(self.estimates, self.epsilon, self.rng)

    def update(self, action, reward):
        self.counts[action] += 1
        self.estimates[action] = update_estimate(self.estimates[action], int(self.counts[action]), reward, self.alpha)
