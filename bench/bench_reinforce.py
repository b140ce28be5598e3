"""Calibration, chance and speed of the RL ``training`` threshold (the course's pipeline with holes).

The ``training`` group of ``reinforce`` and ``reinforce_baseline`` trains the course's own pipeline
(the template's loop, network and ``build_parser()`` defaults; :mod:`grader.kits.cartpole.parent`)
with the student's holes called in the submission's sandboxed child. This bench runs the SAME
pipeline in this process with the reference's functions put in the holes
(``course_pipeline(template, None, replace={...})``: ``load_pipeline`` of the template, the same
:func:`run_once`: env, seeds, budget, evaluation), so that hundreds of runs take minutes.

    python bench/bench_reinforce.py                          # both references, 10 runs each
    python bench/bench_reinforce.py --chance 200 --jobs 2    # per-run miss rate, Clopper-Pearson bound, chance
    python bench/bench_reinforce.py --compare --seeds 40     # + learners without a baseline under the budget
    python bench/bench_reinforce.py --variants 10            # the catalogue's wrong holes in the course's loop
    python bench/bench_reinforce.py --speed 3 --against /tmp/before   # grading vs the same work in-process

``--speed`` prints, per assignment, the in-process work of a grading (the hidden hole groups run
in-process on the holes kit's own child functions, and the two training runs and their evaluations
with the reference's functions in the holes), the ``grader grade`` of the reference (a fresh process,
as a user waits for it) from this checkout and, with ``--against DIR``, from another checkout (e.g. a
``git worktree`` of the commit before the change), alternately, with the child start-up time and
the load average, and the target: grading <= 1.5 x in-process work + one child start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.kits.cartpole.parent import TrainingSettings, course_pipeline, reached, run_once

ASSIGNMENTS = ("reinforce", "reinforce_baseline")
HOLES = {"reinforce": ("compute_returns", "reinforce_loss"), "reinforce_baseline": ("compute_returns", "baseline_losses")}


@dataclass
class Outcome:
    seed: int
    seconds: float
    episodes: int
    reached_at: int | None
    eval_mean: float
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and self.eval_mean >= 475.0


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_module_from_source(source: str, name: str) -> ModuleType:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        return load_module(path, name)


def settings_of(assignment: str) -> TrainingSettings:
    params = load_assignment(assignment).groups["training"].params
    return TrainingSettings.from_params(params, int(params["episodes"]) if "episodes" in params else None)


def template_of(assignment: str) -> Path:
    return ROOT / "templates" / load_assignment(assignment).submission_name


def holes_of(module: ModuleType, assignment: str) -> dict[str, Callable[..., Any]]:
    return {name: getattr(module, name) for name in HOLES[assignment]}


_CHILD: list[ModuleType] = []


def checked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called on copies of its inputs (as in the child) and refused as the grading refuses a
    hole's reply (:data:`PIPELINE_CHECKS`, on the value as the holes kit's child describes it): a wrong
    variant fails here where it fails when graded."""
    from grader.kits.cartpole.holes import PIPELINE_CHECKS
    from grader.kits.holes.parent import Value

    if not _CHILD:
        import torch  # noqa: F401 - the child module binds torch's functions when it is imported

        _CHILD.append(load_module(ROOT / "grader" / "kits" / "holes" / "child.py", f"holes_child_bench_{os.getpid()}"))
    check = PIPELINE_CHECKS.get(name)

    def copy(value: Any) -> Any:        # the child gets copies: what a hole does to its inputs stays there
        if isinstance(value, np.ndarray):
            return value.copy()
        return value.clone() if hasattr(value, "clone") else value

    def hole(*args: Any, **kwargs: Any) -> Any:
        out = fn(*[copy(a) for a in args], **{k: copy(v) for k, v in kwargs.items()})
        if check is not None:
            check(Value.read(_CHILD[0].describe(out)), args, kwargs)
        return out
    return hole


def run(assignment: str, holes: dict[str, Callable[..., Any]], seed: int, s: TrainingSettings,
        overrides: dict[str, Any] | None = None, template: Path | None = None, check: bool = False) -> Outcome:
    """One run as the group makes it (its seed and evaluation seed drawn from ``seed``), in-process;
    ``check``: the holes' replies checked as the grading checks them."""
    if check:
        holes = {name: checked(name, fn) for name, fn in holes.items()}
    pipeline = course_pipeline(template or template_of(assignment), None, replace=holes)
    if overrides:
        parser = pipeline.build_parser

        def build_parser():
            p = parser()
            p.set_defaults(**overrides)
            return p
        pipeline.build_parser = build_parser
    rng = np.random.default_rng([7_000_001, seed])
    r = run_once(pipeline, s, int(rng.integers(2**31 - 1)), int(rng.integers(2**31 - 1)))
    return Outcome(seed, r.seconds, r.episodes, reached(r.returns, s.threshold, s.window),
                   float(r.evaluation.mean()) if r.evaluation is not None else float("nan"),
                   "" if r.error is None else str(r.error)[:200])


# -- many runs, in worker processes ------------------------------------------------------------
def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _job(job: tuple) -> Outcome:
    assignment, source, seed, s, overrides, check = job
    module = load_module_from_source(source, f"bench_{assignment}_{os.getpid()}")
    return run(assignment, holes_of(module, assignment), seed, s, overrides, check=check)


def sweep(label: str, assignment: str, source: str, seeds: range, s: TrainingSettings, jobs: int = 1,
          overrides: dict[str, Any] | None = None, verbose: bool = False, check: bool = True) -> list[Outcome]:
    """``run`` over ``seeds`` with the holes of ``source`` (a whole submission's text), checked as
    graded; one summary line."""
    work = [(assignment, source, seed, s, overrides, check) for seed in seeds]
    t0 = time.monotonic()
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker_init) as pool:
            outcomes = pool.map(_job, work, chunksize=1)
    else:
        _worker_init()
        outcomes = [_job(w) for w in work]
    if verbose:
        for o in outcomes:
            print(f"  {label} seed {o.seed}: {o.seconds:.2f} s, {o.episodes} episodes, reached 475 at {o.reached_at}, "
                  f"eval {o.eval_mean:.1f}{'  ' + o.error[:80] if o.error else ''}", flush=True)
    summary(label, outcomes, s, time.monotonic() - t0)
    return outcomes


def summary(label: str, outcomes: list[Outcome], s: TrainingSettings, seconds: float | None = None) -> None:
    """One line: times, episodes, when 475 was reached, the pass rate, what a grading keeps, the misses."""
    secs = [o.seconds for o in outcomes]
    eps = [o.episodes for o in outcomes]
    hits = [o.reached_at for o in outcomes if o.reached_at is not None]
    failed = sorted(round(o.eval_mean, 1) for o in outcomes if not o.passed and not o.error)
    errors = [o for o in outcomes if o.error]
    p = sum(o.passed for o in outcomes) / len(outcomes)
    keeps = (1 - (1 - p) ** (1 + s.retries)) ** s.runs       # a grading keeps the points: every run passes in time
    print(f"{label:<46} runs {len(outcomes):3d}  train median {statistics.median(secs):5.2f} s max {max(secs):5.2f} s  "
          f"episodes median {statistics.median(eps):5.0f} ({min(eps)}-{max(eps)})  reached-475 median "
          f"{statistics.median(hits) if hits else float('nan'):5.0f} ({len(hits)}/{len(outcomes)})  "
          f"pass {sum(o.passed for o in outcomes)}/{len(outcomes)} (a grading keeps the points: {keeps:.3f})"
          + (f"  missed: {failed[:12]}" if failed else "") + (f"  [{seconds:.0f} s]" if seconds is not None else ""),
          flush=True)
    if errors:
        print(f"  errors ({len(errors)}): {sorted({o.error[:110] for o in errors})[:3]}")


def without_baseline_source() -> str:
    """The baseline reference with the baseline left out of the policy loss (the value net still trains)."""
    return (ROOT / "solutions" / "reinforce_baseline.py").read_text() + '''

def baseline_losses(logits, values, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1)).squeeze(1)
    return -(logp * returns).mean(), ((returns - values) ** 2).mean()
'''


def variants(runs: int, jobs: int) -> None:
    """Each wrong variant of the catalogue in the course's loop, its replies checked as graded: how often
    it still passes (all runs in one pool of workers)."""
    import importlib

    cases = []
    for assignment in ASSIGNMENTS:
        s = settings_of(assignment)
        catalogue = importlib.import_module(f"tests.variants.{assignment}")
        reference = (ROOT / "solutions" / f"{assignment}.py").read_text()
        for hole, wrong in catalogue.WRONG.items():
            for name, source in wrong.items():
                cases.append((f"{assignment}.{hole}: {name}", assignment, reference + "\n" + source, s))
    work = [(assignment, source, seed, s, None, True) for _, assignment, source, s in cases
            for seed in range(9000, 9000 + runs)]
    with multiprocessing.get_context("spawn").Pool(jobs, initializer=_worker_init) as pool:
        done: list[Outcome] = []
        for outcome in pool.imap(_job, work, chunksize=1):        # in order: a case is said once its runs are in
            done.append(outcome)
            if len(done) % runs == 0:
                label, _, _, s = cases[len(done) // runs - 1]
                summary(label, done[-runs:], s)


# -- speed: grading against the same work in-process -------------------------------------------
def in_process_work(assignment: str, seed: int) -> dict[str, float]:
    """A grading's work in this process: the hidden hole groups against the holes kit's child
    functions called here on the reference (no sandbox, no pipes), then the training group's runs
    (the course's pipeline with the reference's functions) and their evaluations."""
    import torch

    from grader.core.suite import GroupContext

    a = load_assignment(assignment)
    suite = a.suite("hidden")
    reference = load_module(ROOT / "solutions" / a.submission_name, f"speed_{assignment}")
    child = load_module(ROOT / "grader" / "kits" / "holes" / "child.py", "holes_child_inprocess")

    class Local(GroupContext):
        def call(self, op, *, timeout=None, handlers=None, endpoint="main", reply_bytes=0, doing=None, **args):
            self.__dict__.setdefault("state", {})       # the child's probe state (kept graphs)
            return getattr(child, op)(reference, self, **args)

    times = {}
    threads = torch.get_num_threads()
    for name, config in a.groups.items():
        if config.kind != "unit":
            continue
        ctx = Local(config, None, seed, "cpu")
        t0 = time.perf_counter()
        suite[name](ctx)
        times[name] = time.perf_counter() - t0
        assert all(c.passed for c in ctx.outcome.checks), [c.message for c in ctx.outcome.checks]
    s = settings_of(assignment)
    t0 = time.perf_counter()
    for k in range(s.runs):
        o = run(assignment, holes_of(reference, assignment), 50_000 + seed * 10 + k, s)
        assert not o.error, o.error
    times["training"] = time.perf_counter() - t0
    torch.set_num_threads(threads)
    return times


def grade_once(root: Path, assignment: str, seed: int) -> tuple[float, float, dict]:
    """``grader grade`` of the reference from the checkout ``root`` in a fresh process: wall seconds, CPU
    seconds of that process and every process it waited for (its sandboxed children), the results."""
    import resource

    submission = root / "solutions" / load_assignment(assignment).submission_name
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--seed", str(seed), "--json", str(out),
                        "--device", "cpu"],
                       cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return wall, cpu, (json.loads(out.read_text()) if out.is_file() else {})


def speed(repeat: int, against: Path | None, names: tuple[str, ...]) -> None:
    here = ROOT
    rows: dict[tuple[str, str], list[float]] = {}
    for k in range(repeat):
        for name in names:
            load = os.getloadavg()[0]
            c0 = time.process_time()
            work = in_process_work(name, k)
            cpu = time.process_time() - c0
            total = sum(work.values())
            rows.setdefault((name, "in-process"), []).append(total)
            rows.setdefault((name, "in-process cpu"), []).append(cpu)
            line = [f"{name:<20} seed {k} load {load:4.1f}  in-process {total:6.2f} s (CPU {cpu:.2f} s; "
                    + ", ".join(f"{g} {t:.2f}" for g, t in work.items()) + ")"]
            for label, root in (("before", against), ("after", here)):
                if root is None:
                    continue
                wall, cpu, result = grade_once(root, name, k)
                rows.setdefault((name, label), []).append(wall)
                rows.setdefault((name, f"{label} cpu"), []).append(cpu)
                tests = result.get("tests", [])      # the first group's child starts cold: one child start-up
                cold = tests[0].get("extra_data", {}).get("startup_seconds", [])[:1] if tests else []
                rows.setdefault((name, f"{label} start-up"), []).extend(cold)
                groups = " ".join(f"{t['name']}={t.get('extra_data', {}).get('seconds', 0) or 0:.2f}"
                                  for t in result.get("tests", []))
                line.append(f"{label} {wall:6.2f} s, CPU {cpu:.2f} s [{result.get('score', '?')}] ({groups})")
            print("; ".join(line), flush=True)
    med = statistics.median
    print()
    for name in names:
        work = med(rows[(name, "in-process")])
        startup = med(rows.get((name, "after start-up"), [0.0]) or [0.0])
        after = med(rows[(name, "after")])
        line = (f"{name:<20} median over {repeat}: in-process work {work:.2f} s; grading {after:.2f} s (a cold child start-up "
                f"{startup:.2f} s); target 1.5 x {work:.2f} + {startup:.2f} = {1.5 * work + startup:.2f} s: "
                f"{'met' if after <= 1.5 * work + startup else 'MISSED'} (ratio {(after - startup) / work:.2f})")
        line += (f"; CPU: in-process {med(rows[(name, 'in-process cpu')]):.2f} s, grading "
                 f"{med(rows[(name, 'after cpu')]):.2f} s")
        if (name, "before") in rows:
            line += (f"; before: grading {med(rows[(name, 'before')]):.2f} s, CPU "
                     f"{med(rows[(name, 'before cpu')]):.2f} s")
        print(line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--only", choices=ASSIGNMENTS)
    p.add_argument("--jobs", type=int, default=1, help="worker processes (one torch thread each)")
    p.add_argument("--compare", action="store_true", help="also learners without a baseline under the budget")
    p.add_argument("--chance", type=int, metavar="RUNS", default=0,
                   help="this many runs per reference: miss rate and the bound on a grading's chance")
    p.add_argument("--variants", type=int, metavar="RUNS", default=0, help="the catalogue's wrong holes, RUNS each")
    p.add_argument("--speed", type=int, metavar="REPEAT", default=0, help="grading vs in-process work, REPEAT times")
    p.add_argument("--against", type=Path, help="with --speed: another checkout to grade with (before)")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    names = (a.only,) if a.only else ASSIGNMENTS
    if a.speed:
        speed(a.speed, a.against.resolve() if a.against else None, names)
        return 0
    if a.variants:
        variants(a.variants, a.jobs)
        return 0
    seeds = range(a.first_seed, a.first_seed + (a.chance or a.seeds))
    print(f"CartPole-v1, the course's pipeline (templates/) with the reference's holes, in-process, {a.jobs} job(s); "
          f"pass = mean of 100 evaluation episodes >= 475")
    results = {}
    for name in names:
        s = settings_of(name)
        source = (ROOT / "solutions" / f"{name}.py").read_text()
        label = name + (f" ({s.budget}-episode budget)" if s.budget else "")
        results[name] = (sweep(label, name, source, seeds, s, a.jobs, verbose=a.verbose), s)
    if a.compare:
        base_s = settings_of("reinforce_baseline")
        sweep(f"reinforce's loop, max_episodes={base_s.budget}", "reinforce",
              (ROOT / "solutions" / "reinforce.py").read_text(), seeds,
              dataclasses.replace(settings_of("reinforce"), budget=base_s.budget), a.jobs)
        sweep(f"baseline loop, baseline removed ({base_s.budget})", "reinforce_baseline", without_baseline_source(),
              seeds, base_s, a.jobs, overrides={"value_steps": 0})
    if a.chance:
        for name, (outcomes, s) in results.items():
            errors = [o for o in outcomes if o.error]
            assert not errors, errors[:3]
            print(chance.report(name, sum(not o.passed for o in outcomes), len(outcomes), s.runs, s.retries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
