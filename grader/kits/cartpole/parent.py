"""The ``training`` threshold of the RL assignments: the course's pipeline with the student's holes.

Everything here runs in the trusted parent; the submission's child only answers hole calls:

* :func:`course_pipeline` — the course's template (its network, episode collector, training loop,
  optimizer and ``build_parser()`` defaults) loaded as a fresh module of the parent, each hole in
  it (``compute_returns``, ``reinforce_loss``, ``baseline_losses``) called in the child through
  :class:`grader.kits.holes.parent.Holes`, checked on what comes back (:mod:`.holes`) before the
  course's code uses it, the losses' gradients coming back with their forward call. A bench passes
  the reference's functions instead (``replace``), to calibrate the same pipeline in-process.
* :class:`CountingEnv` — the gymnasium vector CartPole-v1 the course's loop trains on, made here:
  it counts the episodes (an episode counts when it ends, or when a ``reset`` cuts it short),
  records their returns (the learning curve of the feedback) and refuses any step once the budget
  is spent, so that no pipeline can train past it.
* :func:`run_once` — one training run: the template's ``train(env, args)`` with the grader's seed,
  budget and time limit (CPU: CartPole's networks are tiny, so the pipeline runs on the CPU even
  when the grading uses CUDA), then the course's greedy policy over the course's network played on
  hidden seeds (:func:`evaluate`).
* :func:`training_group` — the group: ``runs`` runs, one check (and equal points) each; a run that
  only missed the bound is retrained on fresh seeds, at most ``retries`` times (the chance that a
  correct submission still loses points: the assignment's README and ``bench/bench_reinforce.py``).

Nothing the submission builds (its ``train``, its networks, its policy) is called.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, explain_submission_error
from grader.kits.cartpole.holes import EAGER, PIPELINE_CHECKS, call_text
from grader.kits.holes.parent import HoleError, Holes, load_pipeline, pipeline_holes
from grader.sandbox import ChildFailure, SubmissionError

ENV_ID = "CartPole-v1"
N_ACTIONS = 2
DEVICE = "cpu"          # the pipeline's device: CartPole's networks are too small to gain from a GPU


def make_vector_env(num_envs: int) -> Any:
    """gymnasium's numpy-vectorized CartPole-v1 (next-step autoreset, 500-step episodes)."""
    import gymnasium as gym

    return gym.make_vec(ENV_ID, num_envs=int(num_envs), vectorization_mode="vector_entry_point")


def template_path(suite_file: str | Path, submission: str) -> Path:
    """The course's template of the assignment whose suite is ``suite_file``
    (``<course>/assignments/<name>/<hidden|public>/suite.py`` → ``<course>/templates/<submission>``)."""
    return Path(suite_file).resolve().parents[3] / "templates" / submission


# -- the env the course's loop trains on ---------------------------------------------------------
class BudgetSpent(RuntimeError):
    """The course's loop asked for a step after its episode budget was spent (the loop stops itself
    before that: this guard makes sure no pipeline can exceed the budget)."""


class CountingEnv:
    """A gymnasium vector env that counts and records the episodes played on it (see the module
    docstring); with ``budget``, refuses every ``step`` and ``reset`` once that many have counted."""

    def __init__(self, env: Any, budget: int | None = None,
                 on_episodes: Callable[[int], None] | None = None) -> None:
        self.env = env
        self.budget = budget
        self.num_envs = int(env.num_envs)
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.metadata = getattr(env, "metadata", {})
        self.returns: list[float] = []          # of finished episodes, in order
        self.times: list[float] = []            # seconds since the first reset, at each finish
        self.cut = 0                            # episodes cut short by reset()
        self.steps = 0
        self._on_episodes = on_episodes
        self._running = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, dtype=np.int64)
        self._resetting = np.zeros(self.num_envs, dtype=bool)
        self._t0: float | None = None

    @property
    def episodes(self) -> int:
        return len(self.returns) + self.cut

    def _check_budget(self) -> None:
        if self.budget is not None and self.episodes >= self.budget:
            raise BudgetSpent(f"the course's training loop asked for more than its budget of {self.budget} episodes")

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
        self._check_budget()
        if self._t0 is None:
            self._t0 = time.monotonic()
        else:
            self.cut += int(np.count_nonzero((self._length > 0) & ~self._resetting))
        self._running[:] = 0
        self._length[:] = 0
        self._resetting[:] = False
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> Any:
        if self._t0 is None:
            raise RuntimeError("the course's training loop stepped the env before resetting it")
        self._check_budget()
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self.steps += 1
        live = ~self._resetting
        self._running[live] += rewards[live]
        self._length[live] += 1
        done = np.logical_or(terminated, truncated)
        if done.any():
            now = time.monotonic() - self._t0
            for i in np.flatnonzero(done):
                self.returns.append(float(self._running[i]))
                self.times.append(now)
            self._running[done] = 0
            self._length[done] = 0
            if self._on_episodes is not None:
                self._on_episodes(self.episodes)
        self._resetting = done
        return obs, rewards, terminated, truncated, info

    def close(self) -> None:
        self.env.close()


def evaluate(policy: Callable[[np.ndarray], Any], episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` CartPole-v1 episodes, one per sub-env of one vector env reset with
    ``seed``, played by ``policy`` (float32 observations ``[n, 4]`` → ``n`` actions)."""
    env = make_vector_env(episodes)
    try:
        obs, _ = env.reset(seed=int(seed))
        totals = np.zeros(episodes)
        running = np.ones(episodes, dtype=bool)
        while running.any():
            actions = np.asarray(policy(np.asarray(obs, dtype=np.float32)))
            if actions.shape != (episodes,) or actions.dtype.kind not in "iu" or \
                    np.any((actions < 0) | (actions >= N_ACTIONS)):
                raise CheckFailed(f"the policy returned {actions.dtype} actions of shape {list(actions.shape)}; "
                                  f"{episodes} actions in 0..{N_ACTIONS - 1} are expected")
            obs, rewards, terminated, truncated, _ = env.step(actions.astype(np.int64))
            totals += rewards * running
            running &= ~(terminated | truncated)
        return totals
    finally:
        env.close()


# -- the course's pipeline ---------------------------------------------------------------------
def _guarded(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The hole proxy ``fn`` as the course's code calls it: a failure in the child is said with the
    hole's name and the call (the shapes of its inputs)."""

    def hole(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SubmissionError as exc:
            raise CheckFailed(f"the course's training loop called your {call_text(name, args)}: "
                              f"{explain_submission_error(exc)}") from None
        except ChildFailure as exc:
            raise exc.again(f"the course's training loop called your {call_text(name, args)}: {exc.message}") from None

    hole.__name__ = hole.__qualname__ = name
    return hole


def _batched_returns(holes: Holes) -> Callable[..., Any]:
    """The template's ``batch_returns(episodes, gamma)`` (``compute_returns`` on each episode of a batch,
    the returns concatenated) with the batch's calls in one round trip (:meth:`Holes.many`): the same
    calls, in the same order, each reply checked as one call's is."""
    check = PIPELINE_CHECKS["compute_returns"]

    def batch_returns(episodes: Any, gamma: float) -> np.ndarray:
        calls = [((rewards, gamma), {}) for _, _, rewards in episodes]
        try:
            replies = holes.many("compute_returns", calls)
        except (SubmissionError, ChildFailure) as exc:
            where = (f"the course's training loop called your compute_returns on {len(calls)} episodes (rewards of "
                     f"lengths {', '.join(str(len(args[0])) for args, _ in calls[:8])}{', …' if len(calls) > 8 else ''};"
                     f" gamma={gamma:g})")
            if isinstance(exc, SubmissionError):
                raise CheckFailed(f"{where}: {explain_submission_error(exc)}") from None
            raise exc.again(f"{where}: {exc.message}") from None
        for (args, kwargs), reply in zip(calls, replies):
            check(reply.out, args, kwargs)
        return np.concatenate([np.array(reply.out.array, copy=True) for reply in replies])

    return batch_returns


def course_pipeline(template: Path, holes: Holes | None = None, replace: Mapping[str, Any] | None = None) -> ModuleType:
    """The course's template at ``template`` as a fresh module of this process: each hole is the
    submission's (through ``holes``, checked, losses eager) or, for a bench, ``replace``'s function.
    With ``holes``, the template's ``batch_returns`` (if it has one) calls ``compute_returns`` for a
    whole batch of episodes in one round trip."""
    module = load_pipeline(template, None, replace=replace)
    if holes is not None:
        names = pipeline_holes(Path(template).read_text(encoding="utf-8"))
        for name in names:
            proxy = holes.function(name, check=PIPELINE_CHECKS.get(name), eager=name in EAGER)
            setattr(module, name, _guarded(proxy, name))
        if "compute_returns" in names and callable(getattr(module, "batch_returns", None)):
            module.batch_returns = _batched_returns(holes)
    return module


# -- one run -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingSettings:
    """The ``[groups.training]`` params of an RL assignment (see its assignment.toml)."""
    budget: int | None              # training episodes per run (None: the template's own limit)
    runs: int = 2
    num_envs: int = 16
    threshold: float = 475.0        # mean evaluation return a run must reach
    retries: int = 2                # a run that only missed the bound is retrained at most this many times
    train_seconds: float = 240.0    # the course's loop stops after this long: a run that did is an error
    call_seconds: float = 10.0      # one hole call (a hole that never answers costs the run)
    eval_episodes: int = 100
    window: int = 20                # episodes averaged in the learning summary

    @classmethod
    def from_params(cls, p: Mapping[str, Any], budget: int | None) -> TrainingSettings:
        fields = {f.name for f in dataclasses.fields(cls)} - {"budget"}
        kinds = {f.name: type(getattr(cls, f.name)) for f in dataclasses.fields(cls) if f.name != "budget"}
        return cls(budget=budget, **{k: kinds[k](v) for k, v in p.items() if k in fields})


def make_args(module: ModuleType, seed: int, s: TrainingSettings) -> Any:
    """The template's ``build_parser()`` defaults, with the grader's seed, device, budget and time."""
    args = module.build_parser().parse_args([])
    args.seed, args.device = int(seed), DEVICE
    if s.budget is not None:
        names = [n for n in ("episodes", "max_episodes") if hasattr(args, n)]
        if not names:
            raise RuntimeError("grader error: the template's build_parser() has no episode budget to set")
        for n in names:
            setattr(args, n, int(s.budget))
    args.max_seconds = float(s.train_seconds)
    return args


@dataclass
class Run:
    """One training of one run and its evaluation (``error``: why it failed other than by the bound)."""
    number: int                     # 1-based
    retry: int                      # 0 for the first training, k for the k-th retraining on fresh seeds
    seed: int
    eval_seed: int
    seconds: float = math.nan
    returns: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    episodes: int = 0
    evaluation: np.ndarray | None = None
    error: Exception | None = None

    @property
    def label(self) -> str:
        return f"run {self.number}" + (f" (retraining {self.retry})" if self.retry else "")

    def missed_bound(self, threshold: float) -> bool:
        """Trained and evaluated, and only the evaluation fell short: what chance does to a correct
        submission now and then; an error is final."""
        return self.error is None and self.evaluation is not None and float(self.evaluation.mean()) < threshold


def run_once(module: ModuleType, s: TrainingSettings, seed: int, eval_seed: int, number: int = 1, retry: int = 0,
             on_episodes: Callable[[int], None] | None = None) -> Run:
    """Train the course's pipeline ``module`` once (``train(env, args)`` on a :class:`CountingEnv`)
    and evaluate the course's greedy policy; failures of the holes are the run's ``error``."""
    import torch

    run = Run(number, retry, seed, eval_seed)
    env = CountingEnv(make_vector_env(s.num_envs), s.budget, on_episodes)
    threads = torch.get_num_threads()           # the template sets 1 for its tiny networks
    t0 = time.monotonic()
    try:
        args = make_args(module, seed, s)
        try:
            policy = module.train(env, args)
        except (CheckFailed, ChildFailure, HoleError):
            raise
        except BudgetSpent as exc:
            raise RuntimeError(f"grader error: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the course's code met values it cannot use
            raise CheckFailed(f"the course's training loop stopped with {type(exc).__name__}: {exc}",
                              hint="the values your holes returned (or their gradients) made the course's network "
                                   "unusable; check them on small inputs (grader check)") from None
        run.seconds = time.monotonic() - t0
        if run.seconds >= s.train_seconds:
            raise CheckFailed(f"the course's training loop ran out of its {s.train_seconds:g} s after "
                              f"{env.episodes} episodes (the reference needs a few seconds): are your holes slow?")
        net = getattr(policy, "net", None)
        if not isinstance(policy, module.GreedyPolicy) or not isinstance(net, torch.nn.Module):
            raise RuntimeError("grader error: the template's train() did not return its GreedyPolicy")
        if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            raise CheckFailed("after training, the course's network has NaN or infinite weights",
                              hint="your losses (or their gradients) were not finite at some point of training")
        run.evaluation = evaluate(policy, s.eval_episodes, eval_seed)
    except (CheckFailed, ChildFailure) as exc:
        run.error = exc
    finally:
        torch.set_num_threads(threads)
        env.close()
        run.returns, run.times, run.episodes = list(env.returns), list(env.times), env.episodes
        if math.isnan(run.seconds):
            run.seconds = time.monotonic() - t0
    return run


# -- feedback --------------------------------------------------------------------------------------
def reached(returns: Any, target: float, window: int) -> int | None:
    """Index (1-based count of episodes) at which the mean of the last ``window`` returns first reached ``target``."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < window:
        return None
    means = np.convolve(r, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(means >= target)
    return int(hits[0] + window) if hits.size else None


def learning_summary(returns: Any, times: Any, target: float = 475.0, window: int = 20) -> str:
    """"reached 475 after 212 episodes, 3.1 s" or what the training got to instead."""
    r = np.asarray(returns, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if r.size == 0:
        return "no training episode finished"
    hit = reached(r, target, window)
    if hit is not None:
        when = f", {t[hit - 1]:.1f} s" if t.size >= hit else ""
        return f"reached {target:g} (mean of {window} episodes) after {hit} episodes{when}"
    best = np.convolve(r, np.ones(min(window, r.size)) / min(window, r.size), mode="valid").max()
    # No "(< target)": the training curve explores; only the evaluation decides, and a run that passes
    # must not read as a failure.
    return f"{r.size} training episodes; best mean of {min(window, r.size)} consecutive episodes {best:.1f}"


def budget_used(episodes: int, budget: int) -> str:
    """The budget as a student should read it: never "351 of 350" (parallel environments can finish
    several episodes on the training's last step)."""
    if episodes < budget:
        return f"{episodes} of the {budget} budget episodes used"
    extra = episodes - budget
    return (f"the {budget}-episode budget used up"
            + (f" ({extra} more finished on the same last step)" if extra else ""))


def curve(returns: Any, points: int = 200) -> list[float]:
    """At most ``points`` episode returns (every k-th), small enough for results.json."""
    r = np.asarray(returns, dtype=np.float64)
    step = max(1, int(np.ceil(r.size / points)))
    return np.round(r[::step], 1).tolist()


def _summary(run: Run, s: TrainingSettings) -> str:
    used = budget_used(run.episodes, s.budget) if s.budget is not None else f"{run.episodes} episodes"
    return (f"the course's loop with your holes: {learning_summary(run.returns, run.times, s.threshold, s.window)}; "
            f"{used}, {run.seconds:.1f} s")


# -- the group ---------------------------------------------------------------------------------------
def training_group(ctx: GroupContext, template: Path, budget: int | None, runs: int | None = None,
                   retries: int | None = None) -> None:
    """The threshold group of both RL assignments: ``runs`` runs of the course's pipeline (``template``)
    with the submission's holes, one check (and equal points) each, a run that only missed the bound
    retrained on fresh seeds at most ``retries`` times. ``runs`` and ``retries`` override the params
    (the public check: one run)."""
    s = TrainingSettings.from_params(ctx.params, budget)
    s = dataclasses.replace(s, runs=s.runs if runs is None else runs, retries=s.retries if retries is None else retries)
    ctx.extra("threshold", s.threshold)  # drawn as a line on the learning curves of the HTML report
    holes = Holes(ctx, call_seconds=s.call_seconds, device=DEVICE)
    attempts: list[list[Run]] = [[] for _ in range(s.runs)]
    try:
        # The child is up before the first run (its start-up is neither a hole call's time nor a run's).
        ctx.call("hole_rngs", key="ready", seeds=[])
    except (SubmissionError, ChildFailure) as exc:
        for i in range(s.runs):
            attempts[i].append(Run(i + 1, 0, 0, 0, error=exc))
        _report(ctx, s, attempts)
        return
    for i in range(s.runs):
        for retry in range(1 + s.retries):
            if retry and ctx.time_left < 3 * max(1.0, attempts[i][-1].seconds):
                break
            module = course_pipeline(template, holes)        # fresh for every run: nothing carries over
            run = run_once(module, s, ctx.seed(), ctx.seed(), i + 1, retry,
                           lambda n, k=i: ctx.progress(run=k + 1, episodes=n))
            attempts[i].append(run)
            if not run.missed_bound(s.threshold):
                break
    _report(ctx, s, attempts)


def _report(ctx: GroupContext, s: TrainingSettings, runs: list[list[Run]]) -> None:
    """One check per run, decided by its last attempt; notes, curves and evaluations for the feedback."""
    curves, evaluations = [], []
    for i, attempts in enumerate(runs):
        what = (f"training run {i + 1}: the course's loop with your holes; mean return of the trained policy over "
                f"{s.eval_episodes} evaluation episodes ≥ {s.threshold:g}")
        if s.budget is not None:
            what = (f"training run {i + 1} ({s.budget}-episode budget): the course's loop with your holes; mean "
                    f"return of the trained policy over {s.eval_episodes} evaluation episodes ≥ {s.threshold:g}")
        last = attempts[-1]
        with ctx.check(what):
            for attempt in attempts:
                line = f"{attempt.label}: {_summary(attempt, s)}"
                if attempt.evaluation is not None:
                    e = attempt.evaluation
                    again = ": below the bound, retrained on fresh seeds" if attempt is not last else ""
                    line += f"; evaluation {e.mean():.1f} ± {e.std():.1f} over {s.eval_episodes} episodes{again}"
                if attempt.evaluation is not None or len(attempt.returns) >= s.window:
                    ctx.note(line + (" before it failed" if attempt.error is not None else ""))
            curves.append(curve(last.returns))
            if last.evaluation is not None:
                mean, std = float(last.evaluation.mean()), float(last.evaluation.std())
                evaluations.append({"mean": round(mean, 2), "std": round(std, 2), "train_seconds": round(last.seconds, 2),
                                    "training_episodes": int(last.episodes), "attempts": len(attempts)})
                ctx.leaderboard(f"evaluation return (run {i + 1})", mean)
            ctx.extra("learning_curves", curves)
            ctx.extra("evaluations", evaluations)
            if last.error is not None:
                raise last.error
            mean = float(last.evaluation.mean())
            ctx.require(mean >= s.threshold, f"mean evaluation return {mean:.1f} ± {last.evaluation.std():.1f} is below "
                                             f"{s.threshold:g}" + (" (also after retraining on fresh seeds)"
                                                                   if len(attempts) > 1 else ""))
