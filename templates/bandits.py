"""Multi-armed bandits: ε-greedy action selection and incremental value estimates.

Fill in the two functions marked TODO. ``EpsilonGreedyAgent`` and the
experiment at the bottom use them; run ``python bandits.py`` to see your
agent's average reward on the 10-armed testbed (Sutton & Barto, Fig. 2.2),
and ``grader check bandits.py`` for the public checks.
"""

from __future__ import annotations

import argparse

import numpy as np


def epsilon_greedy(estimates: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
    """Choose an arm: with probability ``epsilon`` uniformly among *all* arms, else the greedy one.

    Ties in the greedy choice go to the lowest index (as ``np.argmax`` does).
    Use only ``rng`` for randomness, so that runs are reproducible.
    """
    # TODO: with probability epsilon return rng.integers over all arms, else np.argmax(estimates)
    raise NotImplementedError("epsilon_greedy")


def update_estimate(estimate: float, count: int, reward: float, alpha: float) -> float:
    """New value estimate after observing ``reward``.

    ``count`` is how many times the arm has been pulled, this pull included.
    ``alpha == 0`` means the sample average (step 1/count); ``alpha > 0`` a constant step size.
    """
    # TODO: Q + step * (R - Q) with step 1/count (alpha == 0) or alpha
    raise NotImplementedError("update_estimate")


class EpsilonGreedyAgent:
    """An ε-greedy agent with incremental estimates, for running the experiment yourself (the grader runs
    the course's own agents with your two functions: changes here do not change your score)."""

    def __init__(self, n_arms: int, epsilon: float, alpha: float = 0.0, initial: float = 0.0, seed: int = 0) -> None:
        self.epsilon = epsilon
        self.alpha = alpha
        self.estimates = np.full(n_arms, float(initial))
        self.counts = np.zeros(n_arms, dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    def act(self) -> int:
        return epsilon_greedy(self.estimates, self.epsilon, self.rng)

    def update(self, action: int, reward: float) -> None:
        self.counts[action] += 1
        self.estimates[action] = update_estimate(self.estimates[action], int(self.counts[action]), reward, self.alpha)


def run_testbed(epsilon: float, runs: int = 200, steps: int = 1000, seed: int = 0) -> np.ndarray:
    """Average reward per step over ``runs`` random 10-armed testbeds."""
    rng = np.random.default_rng(seed)
    rewards = np.zeros(steps)
    for run in range(runs):
        q_star = rng.normal(0.0, 1.0, size=10)
        agent = EpsilonGreedyAgent(10, epsilon, seed=seed * 100_000 + run)
        for t in range(steps):
            a = agent.act()
            r = rng.normal(q_star[a], 1.0)
            agent.update(a, r)
            rewards[t] += r
    return rewards / runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    for eps in (0.0, 0.01, 0.1):
        curve = run_testbed(eps, args.runs, args.steps)
        print(f"epsilon={eps:<5} mean reward over the last 100 steps: {curve[-100:].mean():.3f}")


if __name__ == "__main__":
    main()
