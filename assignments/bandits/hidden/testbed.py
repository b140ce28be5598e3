"""The 10-armed testbed (Sutton & Barto, §2.3), run by the trusted parent.

Rewards are drawn here, never in the child. The same draws drive a trusted vectorised ε-greedy
agent, so the course's agents (which act and learn with the student's holes) are compared with the
reference on exactly the same bandit problems; :func:`exploration_stats` tells whether what they
did is ε-greedy.
"""

from __future__ import annotations

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


@dataclass
class ExplorationStats:
    """What the course's agents did, block by block of steps: the share of greedy actions and what an
    ε-greedy agent's is (with its z-score), and how far the non-greedy actions are from uniform."""
    shares: np.ndarray          # [blocks]
    expected: np.ndarray        # [blocks]
    share_z: np.ndarray         # [blocks]
    uniformity_z: dict[str, np.ndarray]     # ranked by → [blocks] (Wilson–Hilferty z of a chi-square)

    def worst_uniformity(self) -> tuple[str, int, float]:
        """(what the arms were ranked by, block, z) of the largest departure from uniform."""
        best = ("estimate", 0, -np.inf)
        for ranked, z in self.uniformity_z.items():
            i = int(np.argmax(z))
            if z[i] > best[2]:
                best = (ranked, i, float(z[i]))
        return best


def exploration_stats(run: dict[str, np.ndarray], epsilon: float, blocks: int, rng: np.random.Generator,
                      bins: int = 10) -> ExplorationStats:
    """Is this ε-greedy? From the estimates each action was chosen from (the course's loop kept them).

    Greedy share: an action is greedy when it is one of the ``m`` tied best arms; ε-greedy takes one
    with probability ``1 − ε + ε·m/k`` at every step, whichever of the tied arms it prefers (lowest
    index or random: both are ε-greedy), so each block's count has a known mean and variance.

    Uniform exploration: a non-greedy action is uniform over the ``k − m`` other arms. Its randomised
    rank among them (by estimate, by count, by index: a rank ``r`` among ``n`` arms with ``d`` tied
    becomes ``(r + U·d)/n``, ``U`` uniform, drawn here) is then exactly uniform on [0, 1]; a chi-square
    over ``bins`` bins per block, as a z-score (Wilson–Hilferty), says how far it is. Exploring
    toward the second-best or the least-tried arm, or a fixed one, is far."""
    actions, est, counts = run["actions"], run["estimates"], run["counts"]
    runs, steps, arms = est.shape
    best = est.max(axis=2, keepdims=True)
    tied = est == best                                              # [runs, steps, arms]
    m = tied.sum(axis=2)
    chosen = np.take_along_axis(tied, actions[..., None], axis=2)[..., 0]
    p = 1 - epsilon + epsilon * m / arms
    split = np.array_split(np.arange(steps), blocks)
    shares = np.array([chosen[:, b].mean() for b in split])
    expected = np.array([p[:, b].mean() for b in split])
    sd = np.array([np.sqrt((p[:, b] * (1 - p[:, b])).sum()) for b in split])
    n_block = np.array([runs * len(b) for b in split])
    share_z = (shares - expected) * n_block / np.maximum(sd, 1e-12)

    keys = {"estimate": est, "count": counts.astype(np.float64),
            "index": np.broadcast_to(np.arange(arms, dtype=np.float64), est.shape)}
    explored = ~chosen
    uniformity: dict[str, np.ndarray] = {}
    for ranked, key in keys.items():
        mine = np.take_along_axis(key, actions[..., None], axis=2)          # [runs, steps, 1]
        others = ~tied
        below = ((key < mine) & others).sum(axis=2)
        same = ((key == mine) & others).sum(axis=2)
        n = arms - m
        u = (below + rng.random(below.shape) * same) / np.maximum(n, 1)
        z = np.zeros(blocks)
        for i, b in enumerate(split):
            sample = u[:, b][explored[:, b]]
            if sample.size >= 5 * bins:
                z[i] = _chi_square_z(np.bincount(np.minimum((sample * bins).astype(int), bins - 1), minlength=bins))
        uniformity[ranked] = z
    return ExplorationStats(shares, expected, share_z, uniformity)


def _chi_square_z(counts: np.ndarray) -> float:
    """How many standard errors a histogram is from uniform: Pearson's chi-square with ``len - 1``
    degrees of freedom, turned into a standard normal deviate by the Wilson–Hilferty cube root."""
    expected = counts.sum() / len(counts)
    x = float(((counts - expected) ** 2 / expected).sum())
    d = len(counts) - 1
    return float(((x / d) ** (1 / 3) - (1 - 2 / (9 * d))) / np.sqrt(2 / (9 * d)))
