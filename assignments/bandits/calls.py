"""Parent-side calls of the bandits holes, shared by the hidden and the public suite.

``epsilon_greedy`` and ``update_estimate`` are called as pure functions in the submission's
child (:mod:`grader.kits.holes`), many calls per round trip; every check is made here, on the
values that came back: the type of each result, the arm's range, the estimates as they were
after the call. :func:`run_agents` is the course's own agent loop (ε-greedy agents with
sample-average or constant-step estimates), vectorised over runs: it keeps the estimates and
counts itself and asks the student's two functions for each step's actions and new estimates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grader.core.suite import CheckFailed, GroupContext
from grader.kits.holes.parent import Each, Holes, MapReply, Rng, Rows


def _first_bad_type(reply: MapReply, fn: str, want: tuple[str, ...], said: str) -> None:
    bad = reply.first_not(*want)
    if bad is not None:
        raise CheckFailed(f"{fn} should return {said}, got {reply.type_name(bad)}"
                          + (" (use int(...))" if said == "a plain int" else ""))


def choose(holes: Holes, estimates: np.ndarray, epsilon: float, rng: Rng) -> np.ndarray:
    """One ``epsilon_greedy`` call per row of ``estimates`` (rows are agents, or one row repeated),
    each with its generator (``rng.index`` None) or all with the same one; the arms chosen."""
    estimates = np.atleast_2d(np.asarray(estimates, dtype=np.float64))
    n, k = estimates.shape
    reply = holes.map("epsilon_greedy", n, Rows(estimates), float(epsilon), rng)
    _first_bad_type(reply, "epsilon_greedy", ("int",), "a plain int")
    choices = reply.ints
    bad = np.flatnonzero((choices < 0) | (choices >= k))
    if bad.size:
        raise CheckFailed(f"epsilon_greedy returned arm {int(choices[bad[0]])}, outside 0..{k - 1}")
    after = reply.after.get(0)
    if after is None or not np.array_equal(after, estimates, equal_nan=True):
        raise CheckFailed("epsilon_greedy modified the estimates array it was given")
    return choices


def choices(ctx: GroupContext, estimates: np.ndarray, epsilon: float, seed: int, n: int) -> np.ndarray:
    """``n`` successive choices for the same estimates, with one generator seeded ``seed``."""
    holes = Holes(ctx)
    holes.rngs("check", [int(seed)])
    estimates = np.asarray(estimates, dtype=np.float64)
    return choose(holes, np.tile(estimates, (int(n), 1)), epsilon, Rng("check", 0))


def update(holes: Holes, estimates: np.ndarray, counts: np.ndarray, rewards: np.ndarray,
           alphas: np.ndarray | float) -> np.ndarray:
    """``update_estimate`` for each case, in one round trip; the new estimates."""
    n = len(estimates)
    alphas = np.broadcast_to(np.asarray(alphas, dtype=np.float64), (n,))
    reply = holes.map("update_estimate", n, Each(np.asarray(estimates, dtype=np.float64)),
                      Each(np.asarray(counts, dtype=np.int64)), Each(np.asarray(rewards, dtype=np.float64)),
                      Each(alphas))
    _first_bad_type(reply, "update_estimate", ("float", "int"), "a float")
    values = reply.floats
    if not np.all(np.isfinite(values)):
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise CheckFailed(f"update_estimate returned {'NaN' if np.isnan(values[i]) else values[i]} for estimate "
                          f"{estimates[i]:.4g}, count {counts[i]}, reward {rewards[i]:.4g}, alpha {alphas[i]:g}")
    return values


def run_agents(holes: Holes, reward: Callable[[int, np.ndarray], np.ndarray], runs: int, arms: int, steps: int,
               epsilon: float, alpha: float, initial: float, seeds: np.ndarray,
               progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """The course's ε-greedy agents, ``runs`` of them at once, acting with the student's
    ``epsilon_greedy`` (one generator per agent, seeded ``seeds``) and learning with the student's
    ``update_estimate``; ``reward(t, actions)`` is the environment. Returns every step's actions and
    rewards, and the estimates and counts each action was chosen from (``holes`` is the submission's
    :class:`Holes`; a bench passes a ``LocalHoles`` of the reference to calibrate)."""
    holes.rngs("agents", [int(s) for s in seeds])
    est = np.full((runs, arms), float(initial))
    counts = np.zeros((runs, arms), dtype=np.int64)
    idx = np.arange(runs)
    actions = np.empty((runs, steps), dtype=np.int64)
    rewards = np.empty((runs, steps))
    seen = np.empty((runs, steps, arms))
    counts_seen = np.empty((runs, steps, arms), dtype=np.int64)
    for t in range(steps):
        seen[:, t], counts_seen[:, t] = est, counts
        a = choose(holes, est, epsilon, Rng("agents"))
        r = np.asarray(reward(t, a), dtype=np.float64)
        counts[idx, a] += 1
        est[idx, a] = update(holes, est[idx, a], counts[idx, a], r, alpha)
        actions[:, t], rewards[:, t] = a, r
        if progress is not None and t % 100 == 99:
            progress(t + 1)
    return {"actions": actions, "rewards": rewards, "estimates": seen, "counts": counts_seen}
