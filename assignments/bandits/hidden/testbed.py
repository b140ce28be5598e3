"""The 10-armed testbed (Sutton & Barto, §2.3), run by the trusted parent.

Rewards are drawn here, never in the child: the child's agents only see the
reward of the arm they pulled. The same draws drive a trusted vectorised
ε-greedy agent, so the student's agent is compared with the reference on
exactly the same bandit problems.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class Testbed:
    q_star: np.ndarray   # [runs, arms]
    noise: np.ndarray    # [runs, steps]

    @classmethod
    def draw(cls, rng: np.random.Generator, runs: int, arms: int, steps: int) -> Testbed:
        return cls(rng.normal(0.0, 1.0, size=(runs, arms)), rng.normal(0.0, 1.0, size=(runs, steps)))

    @property
    def runs(self) -> int:
        return self.q_star.shape[0]

    @property
    def steps(self) -> int:
        return self.noise.shape[1]

    def rewards(self, t: int, actions: np.ndarray) -> np.ndarray:
        return self.q_star[np.arange(self.runs), actions] + self.noise[:, t]


def run_reference(bed: Testbed, epsilon: float, alpha: float, initial: float, rng: np.random.Generator) -> np.ndarray:
    """Reward per (run, step) of a correct ε-greedy agent, vectorised over runs."""
    runs, arms = bed.q_star.shape
    est = np.full((runs, arms), float(initial))
    counts = np.zeros((runs, arms))
    idx = np.arange(runs)
    out = np.empty((runs, bed.steps))
    for t in range(bed.steps):
        explore = rng.random(runs) < epsilon
        actions = np.where(explore, rng.integers(arms, size=runs), est.argmax(axis=1))
        r = bed.rewards(t, actions)
        counts[idx, actions] += 1
        step = 1.0 / counts[idx, actions] if alpha == 0 else alpha
        est[idx, actions] += step * (r - est[idx, actions])
        out[:, t] = r
    return out


def run_agents(bed: Testbed, start: Callable[[], dict], step: Callable[[np.ndarray, np.ndarray], dict],
               validate: Callable[[dict], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Reward and action per (run, step) of the child's agents, one round trip per step for all runs."""
    out = np.empty((bed.runs, bed.steps))
    taken = np.empty((bed.runs, bed.steps), dtype=np.int64)
    actions = validate(start())
    for t in range(bed.steps):
        r = bed.rewards(t, actions)
        out[:, t], taken[:, t] = r, actions
        if t + 1 < bed.steps:
            actions = validate(step(actions, r))
    return out, taken


def greedy_shares(actions: np.ndarray, rewards: np.ndarray, arms: int, alpha: float, initial: float,
                  blocks: int = 10) -> np.ndarray:
    """Per block of steps, the share of (run, step) pairs on which the agent took the greedy arm of the
    estimates the contract gives it.

    The parent replays each run's own actions and rewards through the contract's update (estimates
    start at ``initial``; sample average for ``alpha = 0``, else constant step ``alpha``) and takes
    ``argmax`` (ties to the lowest arm, as ``np.argmax``). An ε-greedy agent takes that arm with
    probability exactly ``1 - ε + ε/k`` at every step, whatever happened before, so each block's
    count is Binomial(runs × steps per block, 1 - ε + ε/k). An agent that learns some other way
    does not: optimistic greedy and UCB fall short everywhere, explore-then-commit explores early
    and never later (its overall share can match; its blocks cannot), a fixed arm or another ε is off.
    """
    runs, steps = actions.shape
    est = np.full((runs, arms), float(initial))
    counts = np.zeros((runs, arms))
    idx = np.arange(runs)
    greedy = np.zeros(steps)
    for t in range(steps):
        a = actions[:, t]
        greedy[t] = np.count_nonzero(a == est.argmax(axis=1))
        counts[idx, a] += 1
        step = 1.0 / counts[idx, a] if alpha == 0 else alpha
        est[idx, a] += step * (rewards[:, t] - est[idx, a])
    return np.array([block.sum() / (runs * len(block)) for block in np.array_split(greedy, blocks)])
