"""Parent-side NAS machinery shared by the public and the hidden suite.

Everything that decides the ``search`` group runs here, in the trusted parent:

* :class:`Landscape` holds one run's reward of every architecture of a search
  space (the hidden suite: the measured table at a secret FLOPs target; the
  public checks: a toy landscape in plain sight), and answers rank and share.
* :class:`QueryServer` is the parent's end of the child's ``query``: it
  validates each architecture, serves its reward through the ``reward``
  callback, records every query, and refuses them with
  :class:`~grader.sandbox.CallbackAbort` once the budget is spent (as the
  CartPole kit's ``TrainingEnvServer`` does with episodes).
* :func:`search_group` runs the student's ``search`` once per run, reads the
  controller's greedy architecture back through a probe, looks it up and
  scores it against the best reward of the landscape; the feedback puts the
  reward per query and the best so far beside what random search gets with
  the same budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext
from grader.sandbox import CallbackAbort

RANDOM_SEARCH_RUNS = 200       # simulated random searches behind the feedback's comparison curve
RANDOM_LEARNING_RUNS = 4000    # simulated random searches behind the learning rule's chance figure


@dataclass(frozen=True)
class Landscape:
    """The reward of every architecture of a search space, in ``np.ravel_multi_index`` order."""

    choices: tuple[int, ...]                      # valid choices per decision
    rewards: np.ndarray                           # float64 [prod(choices)]
    describe: Callable[[Sequence[int]], str]      # "resolution=14 channels=8 ..."
    details: Callable[[int], str] = lambda index: ""   # "accuracy 95.1 %, 81,234 FLOPs" of one architecture

    @property
    def size(self) -> int:
        return int(self.rewards.size)

    @property
    def best(self) -> float:
        return float(self.rewards.max())

    def index(self, architecture: Sequence[int]) -> int:
        return int(np.ravel_multi_index(tuple(int(a) for a in architecture), self.choices))

    def rank(self, index: int) -> int:
        """1 for the best architecture; ties share the better rank."""
        return 1 + int(np.count_nonzero(self.rewards > self.rewards[index]))

    def qualifying(self, share: float) -> int:
        """How many architectures reach ``share`` of the best reward."""
        return int(np.count_nonzero(self.rewards >= share * self.best))

    def random_search_pass_probability(self, share: float, budget: int) -> float:
        """Chance that ``budget`` distinct uniformly drawn architectures include one reaching ``share``
        of the best: ``1 - C(S - K, N) / C(S, N)``."""
        size, hits, n = self.size, self.qualifying(share), min(int(budget), self.size)
        if size - hits < n:
            return 1.0
        log_miss = sum(math.log((size - hits - i) / (size - i)) for i in range(n))
        return 1.0 - math.exp(log_miss)

    def random_search_learning_probability(self, learned_share: float, budget: int, rng: np.random.Generator,
                                           runs: int = RANDOM_LEARNING_RUNS) -> float:
        """Chance that random search passes the learning rule: that the last quarter of ``budget`` distinct
        uniformly drawn architectures (a uniform sample of ``budget // 4`` distinct ones) averages at least
        ``learned_share`` of the best reward; estimated from ``runs`` simulated searches."""
        m = max(1, min(int(budget), self.size) // 4)
        picks = np.argpartition(rng.random((runs, self.size)), m - 1, axis=1)[:, :m]
        return float(np.mean(self.rewards[picks].mean(axis=1) >= learned_share * self.best))

    def random_search_curve(self, budget: int, rng: np.random.Generator, runs: int = RANDOM_SEARCH_RUNS) -> np.ndarray:
        """Mean best-so-far reward of ``runs`` random searches of ``budget`` distinct architectures."""
        n = min(int(budget), self.size)
        best = np.empty((runs, n))
        for r in range(runs):
            best[r] = np.maximum.accumulate(self.rewards[rng.choice(self.size, n, replace=False)])
        return best.mean(axis=0)


def validate_architecture(value: Any, choices: Sequence[int], what: str) -> np.ndarray:
    """``value`` as int64 choice indices within each decision's range, or ValueError saying what is wrong."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{what} should be a list of choice indices, got {type(value).__name__}")
    if value.shape != (len(choices),):
        raise ValueError(f"{what} should hold {len(choices)} choice indices (one per decision), got shape {value.shape}")
    if value.dtype.kind == "f":
        if not np.all(np.isfinite(value)) or not np.all(value == np.round(value)):
            raise ValueError(f"{what} should hold integer choice indices, got {np.round(value, 3).tolist()}")
        value = value.astype(np.int64)
    if value.dtype.kind not in "iu":
        raise ValueError(f"{what} should hold integer choice indices, got dtype {value.dtype}")
    for t, (a, c) in enumerate(zip(value.tolist(), choices)):
        if not 0 <= a < c:
            raise ValueError(f"{what}: decision {t} has choices 0..{c - 1}, got {a}")
    return value.astype(np.int64)


@dataclass
class QueryServer:
    """Serves rewards of a landscape to the child's ``query`` and counts the queries.

    Every query counts, repeated ones too (a search remembers what it was
    told). Once ``budget`` queries were answered, the next is refused with
    :class:`CallbackAbort`: the child's ``query`` raises and ``search`` ends.
    """

    landscape: Landscape
    budget: int
    indices: list[int] = field(default_factory=list)     # the architecture of every answered query, in order

    @property
    def used(self) -> int:
        return len(self.indices)

    @property
    def rewards(self) -> np.ndarray:
        return self.landscape.rewards[np.asarray(self.indices, dtype=np.int64)]

    def handle(self, data: Any) -> dict[str, float]:
        """The ``reward`` callback: ``{"architecture": int [T]}`` → ``{"reward": float}``."""
        if self.used >= self.budget:
            raise CallbackAbort(f"the query budget of {self.budget} architectures is spent: stop querying after "
                                "args.budget queries (remember the rewards you were told) and return your controller")
        if not isinstance(data, dict):
            raise CallbackAbort("malformed query")
        try:
            architecture = validate_architecture(data.get("architecture"), self.landscape.choices, "the queried architecture")
        except ValueError as exc:
            raise CallbackAbort(str(exc)) from None
        index = self.landscape.index(architecture)
        self.indices.append(index)
        return {"reward": float(self.landscape.rewards[index])}


@dataclass(frozen=True)
class Learning:
    """What the queries show of learning: how many distinct architectures were asked, and how good the
    last quarter of them (in the order first asked) is on average, as a share of the best reward.

    A controller that learns moves its samples to good architectures, so the last quarter of what it asks
    is far better than the first; random search asks as well at the end as at the start (the space's
    mean, about 71 % of the best on the hidden table), and a hard-coded answer asks little or nothing."""

    distinct: int
    last: int               # how many architectures the last quarter holds
    last_share: float       # their mean reward / the best reward (nan when nothing was asked)

    @classmethod
    def of(cls, server: QueryServer) -> Learning:
        order = list(dict.fromkeys(server.indices))        # distinct, in the order first asked
        last = order[len(order) - len(order) // 4:] if len(order) >= 4 else order
        rewards = server.landscape.rewards[np.asarray(last, dtype=np.int64)]
        share = float(rewards.mean() / server.landscape.best) if len(last) else float("nan")
        return cls(len(order), len(last), share)

    def problems(self, budget: int, min_queries: float, learned_share: float) -> list[str]:
        """Why this search does not show learning (empty when it does), as the student should read it."""
        need = math.ceil(min_queries * budget)
        if self.distinct < need:
            return [f"the search asked about {self.distinct} distinct architectures; at least {need} "
                    f"({_percent(min_queries)} of the budget of {budget}) must be asked: the controller learns from "
                    "the rewards it is told, and an answer decided without asking is not a search"]
        if not self.last_share >= learned_share:
            return [f"the last quarter of the architectures it asked about ({self.last}) earn on average "
                    f"{_percent(self.last_share)} of the best reward, below {_percent(learned_share)}: a controller "
                    "that learns samples good architectures by the end of its budget (random search stays at the "
                    "space's average)"]
        return []


def _seed(ctx: GroupContext) -> int:
    return int(ctx.rng.integers(2**31 - 1))


def _percent(x: float) -> str:
    return f"{100 * x:.1f} %"


def search_group(ctx: GroupContext, landscapes: Callable[[np.random.Generator], tuple[Landscape, str]],
                 runs: int, budget: int, share: float, search_seconds: float,
                 learned_share: float, min_queries: float) -> None:
    """The threshold group: ``runs`` searches, one check (and equal points) each.

    ``landscapes(rng)`` gives each run its landscape and a line saying what it
    is (the hidden suite draws a secret FLOPs target there). A run passes when
    the reward of the controller's greedy architecture is at least ``share`` of
    the best reward of its landscape **and** the queries show learning
    (:class:`Learning`): at least ``min_queries`` of the budget was asked, and
    the last quarter of the distinct architectures asked averages at least
    ``learned_share`` of the best. The second rule is what random search (whose
    best of 162 often reaches ``share``) and hard-coded answers fail.
    """
    ctx.extra("threshold", share)
    ctx.extra("learning threshold", learned_share)
    per_query, best_so_far, random_curves, outcomes = [], [], [], []
    for k in range(runs):
        run = f"run{k + 1}"
        landscape, setting = landscapes(ctx.rng)
        seed = _seed(ctx)
        random_rng = np.random.default_rng(_seed(ctx))
        with ctx.check(f"search {k + 1} ({budget} queries): the controller's greedy architecture earns "
                       f"≥ {_percent(share)} of the best reward, and its last queries ≥ {_percent(learned_share)} "
                       "on average"):
            server = QueryServer(landscape, budget)
            try:
                reply = ctx.call("search", run=run, seed=seed, budget=budget, choices=list(landscape.choices),
                                 timeout=search_seconds, handlers={"reward": server.handle})
            except Exception:
                if server.used:
                    ctx.note(f"search {k + 1}: {server.used} queries answered (best reward {server.rewards.max():.4f}, "
                             f"{_percent(server.rewards.max() / landscape.best)} of the best) before it failed")
                raise
            if not isinstance(reply, dict) or not reply.get("has_greedy"):
                got = reply.get("type") if isinstance(reply, dict) else "nothing readable"
                raise CheckFailed(f"search(query, args) must return the controller (an object with a greedy() method "
                                  f"giving the architecture it prefers); it returned {got}")
            picked = ctx.call("greedy", run=run)
            if not isinstance(picked, dict) or "error" in picked:
                raise CheckFailed(str(picked.get("error") if isinstance(picked, dict) else "greedy() failed")[:500])
            try:
                architecture = validate_architecture(picked.get("architecture"), landscape.choices,
                                                     "the architecture greedy() returned")
            except ValueError as exc:
                raise CheckFailed(str(exc)) from None
            index = landscape.index(architecture)
            reward = float(landscape.rewards[index])
            got_share = reward / landscape.best
            rewards = server.rewards
            random_curve = landscape.random_search_curve(budget, random_rng)
            p_random = landscape.random_search_pass_probability(share, budget)
            p_random_learning = landscape.random_search_learning_probability(learned_share, budget, random_rng)
            learning = Learning.of(server)
            seconds = float(reply["seconds"]) if isinstance(reply.get("seconds"), (int, float)) else float("nan")
            details = landscape.details(index)
            ctx.note(f"search {k + 1}: {setting}; the controller prefers {landscape.describe(architecture)}"
                     f"{' (' + details + ')' if details else ''}: reward {reward:.4f} = {_percent(got_share)} of the best, "
                     f"rank {landscape.rank(index)} of {landscape.size}; {server.used} of {budget} queries, "
                     f"best queried {rewards.max() if rewards.size else float('nan'):.4f}; {learning.distinct} "
                     f"distinct architectures asked, the last {learning.last} earning on average "
                     f"{_percent(learning.last_share)} of the best; {seconds:.1f} s. "
                     f"Random search with {budget} queries reaches {_percent(share)} with probability "
                     f"{_percent(p_random)} (mean best {random_curve[-1]:.4f}), and its last queries average "
                     f"{_percent(learned_share)} with probability {_percent(p_random_learning)}")
            per_query.append(np.round(rewards, 4).tolist())
            best_so_far.append(np.round(np.maximum.accumulate(rewards), 4).tolist() if rewards.size else [])
            random_curves.append(np.round(random_curve, 4).tolist())
            outcomes.append({"setting": setting, "architecture": architecture.tolist(),
                             "described": landscape.describe(architecture), "reward": round(reward, 6),
                             "best_reward": round(landscape.best, 6), "share": round(got_share, 6),
                             "rank": landscape.rank(index), "size": landscape.size, "queries": server.used,
                             "distinct": learning.distinct, "last_quarter_share": round(learning.last_share, 6),
                             "random_search_pass_probability": round(p_random, 4),
                             "random_search_learning_probability": round(p_random_learning, 4),
                             "seconds": round(seconds, 3)})
            ctx.extra("reward per query curve", per_query)
            ctx.extra("best so far curve", best_so_far)
            ctx.extra("random search best so far (reference curve)", random_curves)
            ctx.extra("searches", outcomes)
            ctx.leaderboard(f"share of the best reward (search {k + 1})", got_share)
            problems = learning.problems(budget, min_queries, learned_share)
            if not got_share >= share:
                problems.insert(0, f"the controller's greedy architecture earns {_percent(got_share)} of the best "
                                   f"reward, below {_percent(share)}")
            ctx.require(not problems, "; and ".join(problems))
