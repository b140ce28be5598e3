"""Parent-side NAS machinery shared by the public and the hidden suite (and bench/bench_nas.py).

The ``search`` threshold trains the **course's own controller with the course's own loop**: the
template's ``search(query, args)`` (``templates/nas.py``, the reference's given code), loaded
in this trusted process by :func:`grader.kits.holes.parent.load_pipeline`, its holes replaced by
the student's functions called in the submission's sandboxed child (forward, and backward as a
vector–Jacobian product). Nothing the submission builds (its ``search``, its controller) is
called. Everything here runs in the parent:

* :class:`Landscape` holds one run's reward of every architecture of a search space (the hidden
  suite: the measured table at a secret FLOPs target; the public checks: a toy landscape in
  plain sight), and answers rank and share.
* :class:`QueryServer` is the ``query`` the course's loop asks: it validates each architecture,
  answers its reward, records every query and refuses them once the budget is spent. The child
  never sees the table or the target; the student's holes see the rewards of the architectures
  the course's loop sampled, as the loss needs them.
* :class:`LoopHoles` stands between the course's loop and the student's three holes it calls
  (``sequence_log_prob``, ``controller_loss``, ``update_baseline``): it checks what each returned
  before the loop uses it, and that the gradients the holes give are finite, and says in the
  student's terms what went wrong ("the course's search called your controller_loss: ...").
* :func:`course_search` runs one search (the template's hyperparameters: ``build_parser()``'s
  defaults; the grader sets the seed, device, budget and choices, and lifts the wall-clock stop,
  so that a result does not depend on the machine's speed) and returns the controller's greedy
  architecture; :func:`search_group` scores it against the best reward of the landscape, and the
  architectures the course's controller asked about against what random search asks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext
from grader.kits.holes.parent import Holes, Value, load_pipeline

HERE = Path(__file__).resolve().parent
HOLES = ("efficientnet_reward", "sequence_log_prob", "controller_loss", "update_baseline")
LOOP_HOLES = ("sequence_log_prob", "controller_loss", "update_baseline")    # what the course's search calls
NO_CLOCK = 1e9                 # args.max_seconds: the wall-clock stop lifted (the loop stops on its own rules)
RANDOM_SEARCH_RUNS = 200       # simulated random searches behind the feedback's comparison curve
RANDOM_LEARNING_RUNS = 4000    # simulated random searches behind the learning rule's chance figure


def template_path() -> Path:
    """The course's template of the NAS assignment (``templates/nas.py`` beside ``assignments/``): its given
    code is the course's search."""
    path = HERE.parent.parent / "templates" / "nas.py"
    if not path.is_file():
        raise FileNotFoundError(f"the course's template {path} is missing: the search threshold trains the course's "
                                "own controller from it (generate it with `grader templates`)")
    return path


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


class BudgetSpent(Exception):
    """The course's loop asked for more than the budget (it never does: it counts its queries)."""


@dataclass
class QueryServer:
    """The ``query`` the course's search asks: the reward of an architecture of the landscape.

    Every query counts, repeated ones too (the course's loop remembers what it was told). Once
    ``budget`` queries were answered, the next is refused with :class:`BudgetSpent`."""

    landscape: Landscape
    budget: int
    indices: list[int] = field(default_factory=list)     # the architecture of every answered query, in order

    @property
    def used(self) -> int:
        return len(self.indices)

    @property
    def rewards(self) -> np.ndarray:
        return self.landscape.rewards[np.asarray(self.indices, dtype=np.int64)]

    def __call__(self, architecture: Sequence[int]) -> float:
        if self.used >= self.budget:
            raise BudgetSpent(f"the query budget of {self.budget} architectures is spent")
        value = validate_architecture(np.asarray(architecture), self.landscape.choices, "the queried architecture")
        index = self.landscape.index(value)
        self.indices.append(index)
        return float(self.landscape.rewards[index])


@dataclass(frozen=True)
class Learning:
    """What the course's controller asked: how many distinct architectures, and how good the last quarter
    of them (in the order first asked) is on average, as a share of the best reward.

    A controller that learns moves its samples to good architectures, so the last quarter of what it asks
    is far better than the first; a controller that learns nothing samples as well at the end as at the
    start (the space's mean, about 71 % of the best on the hidden table, as random search does)."""

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
            return [f"the course's controller, trained with your holes, asked about {self.distinct} distinct "
                    f"architectures before it stopped finding new ones; a controller that learns explores at least "
                    f"{need} ({_percent(min_queries)} of the budget of {budget}) before it settles (too large a "
                    "gradient collapses it early)"]
        if not self.last_share >= learned_share:
            return [f"the last quarter of the architectures the course's controller asked about ({self.last}) earn "
                    f"on average {_percent(self.last_share)} of the best reward, below {_percent(learned_share)}: a "
                    "controller that learns samples good architectures by the end of its budget (one that learns "
                    "nothing stays at the space's average)"]
        return []


# -- the holes as the course's loop calls them ------------------------------------------------------
class SearchHoles(Holes):
    """:class:`Holes` for the course's search: the loop's three holes as proxies (``controller_loss``'s
    gradients come back with its forward call: one round trip fewer per update), each reply's value as
    the child described it kept for :class:`LoopHoles` (whether the student's result carried a graph is
    read from the frame), and the time spent in round trips."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.values: dict[str, Value] = {}
        self.seconds = 0.0          # spent in round trips to the child

    def _call(self, op: str, **args: Any) -> Any:
        t0 = time.monotonic()
        try:
            return super()._call(op, **args)
        finally:
            self.seconds += time.monotonic() - t0

    def proxies(self) -> dict[str, Callable[..., Any]]:
        def keep(name: str) -> Callable[[Value, tuple, dict], None]:
            def check(value: Value, args: tuple, kwargs: dict) -> None:
                self.values[name] = value
            return check
        return {name: self.function(name, check=keep(name), eager=name == "controller_loss") for name in LOOP_HOLES}


def _shape(value: Any) -> list[int]:
    return [int(s) for s in value.shape]


def _described(value: Any) -> str:
    """How a student reads what their hole gave the course's loop."""
    import torch

    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {_shape(value)} ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {_shape(value)} ({value.dtype})"
    if value is None:
        return "None"
    return f"{'an' if type(value).__name__[0] in 'aeiou' else 'a'} {type(value).__name__}"


LOG_SOFTMAX_HINT = ("log(softmax(x)) is log 0 = -inf on the choices a decision lacks, and its gradient there is NaN "
                    "(0 · ∞): use torch.log_softmax(logits, dim=-1) and pick the taken choices with gather")


class LoopHoles:
    """The student's three loop holes as the course's search calls them (``functions``: proxies into the
    child, or plain functions in a bench), each result checked before the loop uses it; the gradients
    flowing back through them are checked finite. A failure says which hole, at which update, returned
    what, and what the loop expected."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]], holes: SearchHoles | None = None,
                 on_update: Callable[[int], None] | None = None, deadline: float | None = None) -> None:
        self.functions = dict(functions)
        self.holes = holes
        self.on_update = on_update
        self.deadline = deadline
        self.updates = 0           # controller_loss calls: one per controller update
        self.update = 1            # the update the loop is in (for a failure's context)
        self.current = ""          # the hole the loop is in (for a failure's context)

    def install(self, module: Any) -> None:
        for name in LOOP_HOLES:
            setattr(module, name, getattr(self, name))

    def _fail(self, name: str, what: str, hint: str = "") -> None:
        raise CheckFailed(f"the course's search called your {name} (controller update {self.update}): {what}",
                          hint=hint)

    def _call(self, name: str, *args: Any) -> Any:
        if self.deadline is not None and time.monotonic() > self.deadline:
            per_call = (f"; your holes took {1000 * self.holes.seconds / max(1, self.holes.calls):.1f} ms a call on "
                        "average" if self.holes is not None else "")
            raise CheckFailed(f"the course's search did not finish in the group's time: {self.updates} controller "
                              f"updates (at most 400) so far{per_call}; each update calls your three holes (and two "
                              "gradients), which take about a millisecond each in the reference")
        self.current = name
        out = self.functions[name](*args)
        self.current = ""
        return out

    def _graph(self, name: str, out: Any) -> bool:
        """Whether the student's own value carried a graph (read from the frame when called in the child)."""
        value = self.holes.values.pop(name, None) if self.holes is not None else None
        if value is not None and value.kind == "tensor":
            return value.requires_grad
        return bool(getattr(out, "requires_grad", False))

    def sequence_log_prob(self, logits: Any, tokens: Any) -> Any:
        import torch

        self.update = self.updates + 1
        out = self._call("sequence_log_prob", logits, tokens)
        batch = int(tokens.shape[0])
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            self._fail("sequence_log_prob", f"it returned {_described(out)}; a floating-point tensor of shape "
                                            f"[{batch}] is expected (one log-probability per architecture)")
        if tuple(out.shape) != (batch,):
            self._fail("sequence_log_prob", f"for logits of shape {_shape(logits)} it returned {_described(out)}; "
                                            f"a tensor of shape [{batch}] is expected (the sum over the decisions)")
        if not bool(torch.isfinite(out).all()):
            self._fail("sequence_log_prob", "it returned NaN or infinite log-probabilities (the logits of missing "
                                            "choices are -inf: pick the taken choices with gather, do not multiply "
                                            "by a one-hot mask)")
        if not self._graph("sequence_log_prob", out):
            self._fail("sequence_log_prob", "its result carries no gradient (computed with .detach(), .item() or "
                                            "numpy?): the controller cannot learn from it")
        if logits.requires_grad:
            logits.register_hook(self._logits_gradient)
        if out.requires_grad:
            out.register_hook(self._log_probs_gradient)
        return out

    def _log_probs_gradient(self, grad: Any) -> None:
        import torch

        if not bool(torch.isfinite(grad).all()):
            self._fail("controller_loss", "the gradient of its result with respect to log_probs holds NaN or "
                                          "infinite values")

    def _logits_gradient(self, grad: Any) -> None:
        import torch

        if not bool(torch.isfinite(grad).all()):
            self._fail("sequence_log_prob", "the gradient of its result with respect to the logits holds NaN or "
                                            "infinite values", hint=LOG_SOFTMAX_HINT)

    def controller_loss(self, log_probs: Any, rewards: Any, baseline: Any) -> Any:
        import torch

        out = self._call("controller_loss", log_probs, rewards, baseline)
        if not isinstance(out, torch.Tensor) or not out.is_floating_point():
            self._fail("controller_loss", f"it returned {_described(out)}; a floating-point scalar tensor is expected")
        if out.numel() != 1:
            self._fail("controller_loss", f"it returned {_described(out)} for a batch of {int(log_probs.shape[0])}; "
                                          "a scalar is expected (the mean over the batch)")
        if not bool(torch.isfinite(out).all()):
            self._fail("controller_loss", f"it returned {float(out.detach().reshape(()))}")
        if not self._graph("controller_loss", out):
            self._fail("controller_loss", "its result carries no gradient (computed with .detach(), .item() or "
                                          "numpy from log_probs?): the controller cannot learn from it")
        self.updates += 1
        if self.on_update is not None:
            self.on_update(self.updates)
        return out

    def update_baseline(self, baseline: Any, rewards: Any, decay: Any) -> Any:
        import torch

        out = self._call("update_baseline", baseline, rewards, decay)
        if isinstance(out, bool) or not isinstance(out, (int, float, torch.Tensor, np.ndarray, np.floating)):
            self._fail("update_baseline", f"it returned {_described(out)}; a float is expected")
        if isinstance(out, (torch.Tensor, np.ndarray)):
            number = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else out
            if number.size != 1 or number.dtype.kind not in "iuf":
                self._fail("update_baseline", f"it returned {_described(out)}; a float is expected")
            value = float(number.reshape(()))
        else:
            value = float(out)
        if not math.isfinite(value):
            self._fail("update_baseline", f"it returned {value}")
        return out


# -- one search of the course's controller ----------------------------------------------------------
@contextmanager
def _one_thread() -> Iterator[None]:
    """The controller is tiny: one intra-op thread is faster (and the same on every machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@dataclass
class SearchRun:
    """One search: the controller's greedy architecture, every query, how many controller updates."""
    architecture: np.ndarray
    server: QueryServer
    updates: int
    seconds: float


def course_search(loop: LoopHoles, landscape: Landscape, seed: int, budget: int, device: str = "cpu",
                  holes: Holes | None = None, replace: Mapping[str, Any] | None = None,
                  server: QueryServer | None = None, overrides: Mapping[str, Any] | None = None) -> SearchRun:
    """The course's ``search(query, args)`` (the template, loaded afresh) on ``landscape``, its loop holes
    ``loop``; ``holes`` (the child's proxies) or ``replace`` (functions of this process) for the rest;
    ``overrides``: hyperparameters changed from the template's defaults (the bench's comparisons only)."""
    module = load_pipeline(template_path(), holes, replace=replace)
    loop.install(module)
    args = module.build_parser().parse_args([])
    for key, value in (overrides or {}).items():
        setattr(args, key, value)
    args.seed, args.budget, args.choices, args.device = int(seed), int(budget), list(landscape.choices), device
    args.max_seconds, args.verbose = NO_CLOCK, False
    server = server if server is not None else QueryServer(landscape, budget)
    t0 = time.perf_counter()
    with _one_thread():
        controller = module.search(server, args)
        picked = controller.greedy()
    architecture = validate_architecture(np.asarray(picked), landscape.choices, "the controller's greedy architecture")
    return SearchRun(architecture, server, loop.updates, time.perf_counter() - t0)


def _percent(x: float) -> str:
    return f"{100 * x:.1f} %"


@dataclass(frozen=True)
class Attempt:
    """What one search is run on: its landscape (and the line saying what it is), the controller's seed,
    and the seed of the random-search comparison; drawn by :func:`draw_attempt`."""
    landscape: Landscape
    setting: str
    seed: int
    random_seed: int


def draw_attempt(rng: np.random.Generator, landscapes: Callable[[np.random.Generator], tuple[Landscape, str]]
                 ) -> Attempt:
    """One attempt's draws, in the order the group makes them (the bench replays them from the same seed)."""
    landscape, setting = landscapes(rng)
    return Attempt(landscape, setting, int(rng.integers(2**31 - 1)), int(rng.integers(2**31 - 1)))


@dataclass(frozen=True)
class Verdict:
    """One search judged: the greedy architecture's share of the best reward, what the queries show of
    learning, and why it fails (empty when it passes)."""
    index: int
    share: float
    learning: Learning
    problems: tuple[str, ...]
    answer_passed: bool         # the answer rule alone (what the threshold would be without the learning rule)

    @property
    def passed(self) -> bool:
        return not self.problems


def judge(run: SearchRun, landscape: Landscape, budget: int, share: float, learned_share: float,
          min_queries: float) -> Verdict:
    """The two rules of the ``search`` group on one search."""
    index = landscape.index(run.architecture)
    got_share = float(landscape.rewards[index]) / landscape.best
    learning = Learning.of(run.server)
    problems = learning.problems(budget, min_queries, learned_share)
    if not got_share >= share:
        problems.insert(0, f"the course's controller, trained with your holes, prefers an architecture earning "
                           f"{_percent(got_share)} of the best reward, below {_percent(share)}")
    return Verdict(index, got_share, learning, tuple(problems), got_share >= share)


def search_group(ctx: GroupContext, landscapes: Callable[[np.random.Generator], tuple[Landscape, str]],
                 runs: int, budget: int, share: float, learned_share: float, min_queries: float,
                 call_seconds: float = 10.0, retries: int = 0) -> None:
    """The threshold group: ``runs`` searches of the course's controller with the student's holes, one
    check (and equal points) each.

    ``landscapes(rng)`` gives each attempt its landscape and a line saying what it is (the hidden suite
    draws a secret FLOPs target there). A search passes when the reward of the course's controller's
    greedy architecture is at least ``share`` of the best reward of its landscape **and** the
    architectures it asked about show learning (:class:`Learning`): at least ``min_queries`` of the
    budget was asked, and the last quarter of the distinct architectures asked averages at least
    ``learned_share`` of the best (holes that teach the controller nothing, or steer it to an answer
    fixed in advance, can leave it preferring a good architecture; they fail this). A search that
    misses a rule is run again on a fresh target and seed, at most ``retries`` times; one whose holes
    fail (an error, a wrong kind of value, a NaN) is not. No clock stops a search (the template's
    ``max_seconds`` is lifted): only holes too slow to finish within the group's wall time fail it, and
    are told so.
    """
    ctx.extra("threshold", share)
    ctx.extra("learning threshold", learned_share)
    per_query, best_so_far, random_curves, outcomes = [], [], [], []
    device = "cuda" if ctx.device == "cuda" else "cpu"
    for k in range(runs):
        with ctx.check(f"search {k + 1} ({budget} queries): the course's controller, trained by the course's loop "
                       f"with your holes, prefers an architecture earning ≥ {_percent(share)} of the best reward, "
                       f"and its last queries earn ≥ {_percent(learned_share)} on average"):
            # the child starts and imports the submission within the group's time, not within one hole call's
            ctx.call("hole_rngs", key="start", seeds=[])
            for attempt in range(1 + int(retries)):
                drawn = draw_attempt(ctx.rng, landscapes)
                landscape = drawn.landscape
                holes = SearchHoles(ctx, call_seconds=call_seconds, device=device)
                loop = LoopHoles(holes.proxies(), holes,
                                 on_update=lambda n, k=k: ctx.progress(search=k + 1, updates=n) if n % 25 == 0 else None,
                                 deadline=ctx.deadline - 1.0)
                server = QueryServer(landscape, budget)
                again = "again on a fresh target: " if attempt else ""
                try:
                    run = course_search(loop, landscape, drawn.seed, budget, device, holes=holes, server=server)
                except Exception:
                    where = f" in your {loop.current}" if loop.current else ""
                    ctx.note(f"search {k + 1}: {again}the course's search stopped{where} after {loop.updates} "
                             f"controller updates and {server.used} queries")
                    raise
                verdict = judge(run, landscape, budget, share, learned_share, min_queries)
                random_rng = np.random.default_rng(drawn.random_seed)
                rewards, index = server.rewards, verdict.index
                reward = float(landscape.rewards[index])
                random_curve = landscape.random_search_curve(budget, random_rng)
                p_random = landscape.random_search_pass_probability(share, budget)
                p_random_learning = landscape.random_search_learning_probability(learned_share, budget, random_rng)
                learning, architecture = verdict.learning, run.architecture
                details = landscape.details(index)
                ctx.note(f"search {k + 1}: {again}{drawn.setting}; the course's controller prefers "
                         f"{landscape.describe(architecture)}{' (' + details + ')' if details else ''}: reward "
                         f"{reward:.4f} = {_percent(verdict.share)} of the best, rank {landscape.rank(index)} of "
                         f"{landscape.size}; {server.used} of {budget} queries in {run.updates} controller updates, "
                         f"best queried {rewards.max() if rewards.size else float('nan'):.4f}; {learning.distinct} "
                         f"distinct architectures asked, the last {learning.last} earning on average "
                         f"{_percent(learning.last_share)} of the best; {run.seconds:.1f} s, of which "
                         f"{holes.seconds:.1f} s in {holes.calls} calls of your functions. "
                         f"Random search with {budget} queries reaches {_percent(share)} with probability "
                         f"{_percent(p_random)} (mean best {random_curve[-1]:.4f}), and its last queries average "
                         f"{_percent(learned_share)} with probability {_percent(p_random_learning)}")
                per_query.append(np.round(rewards, 4).tolist())
                best_so_far.append(np.round(np.maximum.accumulate(rewards), 4).tolist() if rewards.size else [])
                random_curves.append(np.round(random_curve, 4).tolist())
                outcomes.append({"search": k + 1, "attempt": attempt + 1, "setting": drawn.setting,
                                 "architecture": architecture.tolist(), "described": landscape.describe(architecture),
                                 "reward": round(reward, 6), "best_reward": round(landscape.best, 6),
                                 "share": round(verdict.share, 6), "rank": landscape.rank(index),
                                 "size": landscape.size, "queries": server.used, "updates": run.updates,
                                 "distinct": learning.distinct, "last_quarter_share": round(learning.last_share, 6),
                                 "random_search_pass_probability": round(p_random, 4),
                                 "random_search_learning_probability": round(p_random_learning, 4),
                                 "passed": verdict.passed, "seconds": round(run.seconds, 3),
                                 "round_trips": holes.calls, "round_trip_seconds": round(holes.seconds, 3)})
                ctx.extra("reward per query curve", per_query)
                ctx.extra("best so far curve", best_so_far)
                ctx.extra("random search best so far (reference curve)", random_curves)
                ctx.extra("searches", outcomes)
                if verdict.passed:
                    break
            ctx.leaderboard(f"share of the best reward (search {k + 1})", verdict.share)
            ctx.require(verdict.passed, "; and ".join(verdict.problems)
                        + (" (also on a fresh target)" if attempt else ""))
