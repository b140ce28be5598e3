"""Speed and calibration of the NAS search threshold: the course's search with the student's holes.

The ``search`` group trains the course's own controller with the course's own loop (the
template's ``search``, ``templates/nas.py``) in the grader's process, the student's holes called
in the sandboxed child. Here the same pipeline runs in this process: the template loaded by
``load_pipeline(template, None, replace=holes)`` with the holes imported directly (the
reference's, or a variant's), the same checks on what the holes return (``serving.LoopHoles``),
the same query server on the hidden table, the same draws (a grading seed's searches get the
targets and controller seeds a grading with ``--seed`` gets, retries included) and the same two
rules (``serving.judge``).

    python bench/bench_nas.py                       # the reference, grading seeds 0-19
    python bench/bench_nas.py --chance 200          # chance of an honest loss: 200 gradings from seed 1000
    python bench/bench_nas.py --variants 10         # the catalogue's wrong loop holes and the red-team hole
                                                    # cheats: the answer rule alone vs both rules
    python bench/bench_nas.py --compare             # + random search and the template's --no-baseline
    python bench/bench_nas.py --timing 3            # grading vs the same work in-process (hole groups and
                                                    # searches), seed 3

A search that misses a rule is run again once on a fresh target (``retries`` in assignment.toml);
every attempt is an independent draw, so the chance of an honest loss per grading is at most
``runs · upper ** (1 + retries)`` with ``upper`` the one-sided 95 % Clopper–Pearson bound on the
per-attempt miss rate (bench/chance.py).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.core.suite import import_local, seed_for

NAS = ROOT / "assignments" / "nas"
hidden = import_local(str(NAS / "hidden" / "suite.py"), "suite")
serving = hidden.serving
table_module = hidden.table_module
REDTEAM = ROOT / "tests" / "redteam"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def params() -> dict[str, Any]:
    return dict(load_assignment("nas").groups["search"].params)


def reference_holes() -> dict[str, Any]:
    module = load_module(ROOT / "solutions" / "nas.py", "bench_nas_reference")
    return {name: getattr(module, name) for name in serving.HOLES}


def source_holes(source: str, name: str) -> dict[str, Any]:
    """The four holes of a submission given as source (the reference with a variant appended, a red-team case)."""
    module = types.ModuleType(name)
    exec(compile(source, name, "exec"), module.__dict__)  # instructor-side bench: the catalogue's own code
    return {hole: getattr(module, hole) for hole in serving.HOLES}


def variant_holes(hole: str, source: str) -> dict[str, Any]:
    return source_holes((ROOT / "solutions" / "nas.py").read_text() + "\n" + source, f"variant_{hole}")


def redteam_holes(case: str, **replace: str) -> dict[str, Any]:
    source = (REDTEAM / f"{case}.py").read_text().replace("# HONEST\n", (REDTEAM / "_honest_nas.py").read_text())
    for key, value in replace.items():
        source = source.replace(f"__{key}__", value)
    return source_holes(source, f"redteam_{case}")


@dataclass
class Outcome:
    seed: int               # the grading's master seed
    search: int             # 1, 2, ...
    attempt: int            # 1, then 2 for a retry
    target: str
    share: float = float("nan")
    rank: int = 0
    queries: int = 0
    distinct: int = 0
    learned: float = float("nan")
    updates: int = 0
    seconds: float = 0.0
    passed: bool = False
    answer_passed: bool = False
    error: str = ""


def one_search(holes: dict[str, Any], attempt: Any, p: dict[str, Any], overrides: dict[str, Any] | None = None
               ) -> tuple[Any, Any, float]:
    """The course's search on ``attempt`` (serving.Attempt) with ``holes`` in this process: (run, verdict, s)."""
    budget = int(p["budget"])
    loop = serving.LoopHoles({n: holes[n] for n in serving.LOOP_HOLES})
    t0 = time.perf_counter()
    run = serving.course_search(loop, attempt.landscape, attempt.seed, budget, "cpu", replace=holes,
                                overrides=overrides)
    verdict = serving.judge(run, attempt.landscape, budget, float(p["share"]), float(p["learned_share"]),
                            float(p["min_queries"]))
    return run, verdict, time.perf_counter() - t0


def grading(master: int, p: dict[str, Any], holes: dict[str, Any], overrides: dict[str, Any] | None = None,
            retries: int | None = None) -> list[Outcome]:
    """The searches of one grading with master seed ``master``, drawn and retried exactly as the ``search``
    group does (``retries``: assignment.toml's unless given)."""
    rng = np.random.default_rng(seed_for(master, "search"))
    landscapes = hidden._table_landscapes(p)
    retries = int(p.get("retries", 0)) if retries is None else retries
    outcomes = []
    for k in range(int(p.get("runs", 2))):
        for a in range(1 + retries):
            attempt = serving.draw_attempt(rng, landscapes)
            out = Outcome(master, k + 1, a + 1, attempt.setting.replace("secret target ", ""))
            try:
                run, verdict, seconds = one_search(holes, attempt, p, overrides)
            except Exception as exc:  # noqa: BLE001 - a variant's hole fails: recorded, as the group fails it
                out.error = f"{type(exc).__name__}: {exc}"[:300]
                outcomes.append(out)
                break
            out.share, out.rank = verdict.share, attempt.landscape.rank(verdict.index)
            out.queries, out.distinct, out.learned = run.server.used, verdict.learning.distinct, verdict.learning.last_share
            out.updates, out.seconds = run.updates, seconds
            out.passed, out.answer_passed = verdict.passed, verdict.answer_passed
            outcomes.append(out)
            if verdict.passed:
                break
    return outcomes


def random_search(master: int, p: dict[str, Any]) -> list[Outcome]:
    """Per first attempt of a grading: ``budget`` distinct uniformly drawn architectures asked in order; the
    answer is the best of them (what the answer rule alone would let pass)."""
    rng = np.random.default_rng(seed_for(master, "search"))
    landscapes, budget = hidden._table_landscapes(p), int(p["budget"])
    outcomes = []
    for k in range(int(p.get("runs", 2))):
        attempt = serving.draw_attempt(rng, landscapes)
        land = attempt.landscape
        server = serving.QueryServer(land, budget)
        picked = np.random.default_rng(attempt.random_seed).choice(land.size, budget, replace=False)
        for i in picked:
            server(np.unravel_index(int(i), land.choices))
        run = serving.SearchRun(np.asarray(np.unravel_index(int(picked[np.argmax(land.rewards[picked])]), land.choices)),
                                server, 0, 0.0)
        verdict = serving.judge(run, land, budget, float(p["share"]), float(p["learned_share"]), float(p["min_queries"]))
        outcomes.append(Outcome(master, k + 1, 1, attempt.setting, verdict.share, land.rank(verdict.index), budget,
                                verdict.learning.distinct, verdict.learning.last_share, 0, 0.0, verdict.passed,
                                verdict.answer_passed))
    return outcomes


# -- summaries ----------------------------------------------------------------------------------------
def graded_points(outcomes: list[Outcome], p: dict[str, Any]) -> dict[int, int]:
    """Searches passed per grading (each is half the points)."""
    seeds = sorted({o.seed for o in outcomes})
    return {s: sum(any(o.passed for o in outcomes if o.seed == s and o.search == k)
                   for k in range(1, int(p.get("runs", 2)) + 1)) for s in seeds}


def sweep(label: str, outcomes: list[Outcome], p: dict[str, Any]) -> str:
    ok = [o for o in outcomes if not o.error]
    runs = int(p.get("runs", 2))
    points = graded_points(outcomes, p)
    line = f"{label:<34} gradings full {sum(v == runs for v in points.values())}/{len(points)}, "
    line += f"some points {sum(v > 0 for v in points.values())}/{len(points)}"
    first = [o for o in ok if o.attempt == 1]
    if first:
        shares = np.array([o.share for o in first])
        learned = np.array([o.learned for o in first])
        line += (f"; first attempts: both rules {sum(o.passed for o in first)}/{len(first)}, answer rule alone "
                 f"{sum(o.answer_passed for o in first)}/{len(first)}; share median {np.median(shares):.3f} min "
                 f"{shares.min():.3f}; last quarter median {np.nanmedian(learned):.3f} min {np.nanmin(learned):.3f} "
                 f"max {np.nanmax(learned):.3f}; distinct median {statistics.median(o.distinct for o in first):g} "
                 f"min {min(o.distinct for o in first)}; rank median {statistics.median(o.rank for o in first):g} max "
                 f"{max(o.rank for o in first)}; updates median {statistics.median(o.updates for o in first):g}; "
                 f"s median {statistics.median(o.seconds for o in first):.2f} max {max(o.seconds for o in first):.2f}")
    errors = [o for o in outcomes if o.error]
    if errors:
        line += f"; {len(errors)} stopped: {errors[0].error[:120]}"
    return line


def chance_report(outcomes: list[Outcome], p: dict[str, Any]) -> str:
    attempts = [o for o in outcomes if not o.error]
    misses = sum(not o.passed for o in attempts)
    runs, retries = int(p.get("runs", 2)), int(p.get("retries", 0))
    upper = chance.clopper_pearson_upper(misses, len(attempts))
    missed = [f"seed {o.seed} search {o.search}: share {o.share:.3f}, last quarter {o.learned:.3f}, distinct {o.distinct}"
              for o in attempts if not o.passed]
    points = graded_points(outcomes, p)
    return (chance.report("reference search attempts", misses, len(attempts), runs, retries)
            + f"\n  per-attempt miss rate {misses / max(1, len(attempts)):.4f}, upper {upper:.4f}; gradings losing points: "
            f"{sum(v < runs for v in points.values())}/{len(points)}"
            + ("\n  misses: " + "; ".join(missed) if missed else ""))


# -- the work of a grading done in this process --------------------------------------------------------
def in_process_grading(seed: int) -> tuple[float, dict[str, float], float, float]:
    """Every group of the hidden suite on the reference, in this process: the suite's own code, each probe
    the child would run called directly on the reference module (no child, no sandbox, no frames).
    Returns (seconds, seconds per group, score, CPU seconds)."""
    import torch

    from grader.core.assignment import load_assignment as load
    from grader.core.suite import GroupContext
    from grader.sandbox import ChildSpec, SubmissionError

    child = load_module(ROOT / "grader" / "kits" / "holes" / "child.py", "bench_holes_child")
    reference = load_module(ROOT / "solutions" / "nas.py", "bench_nas_inprocess")
    assignment = load("nas")
    suite = assignment.suite()
    state = SimpleNamespace(state={})

    class InProcess(GroupContext):
        def call(self, op, *, timeout=None, handlers=None, endpoint="main", reply_bytes=0, doing="", **args):
            try:
                with torch.enable_grad():       # a child's call is top level: grad mode on (here: maybe in a backward)
                    return getattr(child, op)(reference, state, **args)
            except Exception as exc:  # noqa: BLE001 - as the child reports it
                raise SubmissionError({"type": type(exc).__name__, "message": str(exc)}) from None

    torch.set_num_threads(1)
    spec = ChildSpec(submission=ROOT / "solutions" / "nas.py", probes=assignment.probes_path)
    groups, score = {}, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    for name, fn in suite.items():
        config = assignment.groups[name]
        ctx = InProcess(config, spec, seed, "cpu")
        g0 = time.perf_counter()
        fn(ctx)
        groups[name] = time.perf_counter() - g0
        score += config.points * ctx.outcome.fraction
        failed = [c for c in ctx.outcome.checks if not c.passed]
        if failed:      # the harness, not the reference, is broken: say so loudly
            print(f"in-process {name}: {failed[0].name}: {failed[0].message[:300]}", file=sys.stderr)
    return time.perf_counter() - t0, groups, score, time.process_time() - c0


def sandboxed_grading(seed: int) -> tuple[float, dict[str, float], list[float], float, float]:
    """``grader grade solutions/nas.py --seed SEED`` in a fresh process, as a user waits for it; its wall time,
    per-group times, child start-ups, score, and CPU seconds (the grader and every process it waited for)."""
    import resource

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "grade", str(ROOT / "solutions" / "nas.py"), "--seed", str(seed),
                        "--device", "cpu", "--json", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        result = json.loads(out.read_text())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    groups = {t["name"]: t.get("extra_data", {}).get("seconds", 0.0) for t in result["tests"]}
    searches = next((t.get("extra_data", {}).get("searches", []) for t in result["tests"] if t["name"] == "search"), [])
    groups["round trips"] = sum(s.get("round_trips", 0) for s in searches)
    groups["in round trips"] = sum(s.get("round_trip_seconds", 0.0) for s in searches)
    groups["updates"] = sum(s.get("updates", 0) for s in searches)
    startups = [s for t in result["tests"] for s in t.get("extra_data", {}).get("startup_seconds", [])]
    return wall, groups, startups, float(result["score"]), cpu


def fresh_in_process_grading(seed: int) -> tuple[float, dict[str, float], float, float, float]:
    """:func:`in_process_grading` in a fresh Python process, as a grading starts: (wall seconds of the whole
    process, its imports included; then in_process_grading's figures)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--in-process", str(seed)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    work, groups, score, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, work, groups, score, cpu


def timing(seed: int, repeat: int) -> None:
    print(f"grading the reference (seed {seed}) vs the same work in a plain process (python, imports, the suite's "
          f"work with the probes called directly), alternately, {repeat} time(s)")
    ratios = []
    for _ in range(repeat):
        load = os.getloadavg()[0]
        process, work, work_groups, work_score, work_cpu = fresh_in_process_grading(seed)
        wall, groups, startups, score, cpu = sandboxed_grading(seed)
        startup = max(startups) if startups else 0.0
        searches = groups.get("search", float("nan"))
        print(f"  load {load:4.1f}: in-process {process:.2f} s wall, of which the work {work:.2f} s "
              f"({' '.join(f'{k}={v:.2f}' for k, v in work_groups.items())}; "
              f"score {work_score:g}); grading {wall:.2f} s wall ({' '.join(f'{k}={v:.2f}' for k, v in groups.items())}; "
              f"score {score:g}); child start-up {', '.join(f'{s:.2f}' for s in startups)} s; "
              f"target 1.5 × {process:.2f} + {startup:.2f} = {1.5 * process + startup:.2f} s; search group {searches:.2f} s "
              f"vs in-process {work_groups.get('search', float('nan')):.2f} s; CPU: grading {cpu:.2f} s (all its "
              f"processes, start-ups included), in-process {work_cpu:.2f} s")
        ratios.append((wall - startup) / process)
    print(f"  (grading − one child start-up) / in-process: median {statistics.median(ratios):.2f} (target ≤ 1.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--chance", type=int, metavar="N", help="N gradings of the reference from --first-seed "
                                                                "(default 1000): the chance of an honest loss")
    parser.add_argument("--variants", type=int, metavar="N", help="the catalogue's wrong loop holes and the red-team "
                                                                  "hole cheats, N gradings each")
    parser.add_argument("--compare", action="store_true", help="also random search and the template's --no-baseline")
    parser.add_argument("--timing", type=int, metavar="SEED", help="grading vs in-process work for this seed")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--in-process", type=int, metavar="SEED", help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a search param of assignment.toml (share, learned_share, retries, ...)")
    args = parser.parse_args()
    p = params()
    for item in args.set:
        key, value = item.split("=", 1)
        p[key] = float(value)
    if args.timing is not None:
        timing(args.timing, args.repeat)
        return
    if args.in_process is not None:
        print(json.dumps(in_process_grading(args.in_process)))
        return
    import torch

    torch.set_num_threads(1)
    table = table_module.load_table()
    print(f"table: {table.accuracy.size} architectures; search: budget {int(p['budget'])}, share {p['share']}, learned "
          f"share {p['learned_share']}, min queries {p['min_queries']}, retries {int(p.get('retries', 0))}, targets "
          f"{float(p['target_low']):,.0f}..{float(p['target_high']):,.0f} FLOPs")
    reference = reference_holes()
    if args.chance:
        first = args.first_seed or 1000
        outcomes = []
        for s in range(first, first + args.chance):
            outcomes += grading(s, p, reference)
            if (s - first) % 20 == 19:
                print(f"  {s - first + 1} gradings ...", flush=True)
        print(sweep(f"reference, seeds {first}-{first + args.chance - 1}", outcomes, p))
        print(chance_report(outcomes, p))
        return
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.seeds:
        outcomes = [o for s in seeds for o in grading(s, p, reference)]
        print(sweep("reference", outcomes, p))
        print(chance_report(outcomes, p))
    if args.compare:
        print(sweep("the template's --no-baseline", [o for s in seeds for o in grading(s, p, reference,
                                                                                    {"no_baseline": True})], p))
        print(sweep("random search (best of the budget)", [o for s in seeds for o in random_search(s, p)], p))
    if args.variants:
        variants(p, args.variants, args.first_seed)


def best_fixed_answer(p: dict[str, Any] | None = None) -> list[int]:
    """The architecture that reaches the stated share at the most targets of the range (a log grid of 200):
    what a hand-in would hard-code."""
    p = p or params()
    table = table_module.load_table()
    targets = np.exp(np.linspace(np.log(float(p["target_low"])), np.log(float(p["target_high"])), 200))
    passes = np.zeros(table.flops.size)
    for target in targets:
        rewards = table_module.nas_reward(table.accuracy, table.flops, target, float(p["beta"]))
        passes += rewards >= float(p["share"]) * rewards.max()
    return table.architectures[int(np.argmax(passes))].tolist()


def cheats(rates: tuple[str, ...] = ("1.0", "0.05", "0.01")) -> dict[str, dict[str, Any]]:
    """The red-team hole cheats (tests/redteam/nas_*.py) as hole sets; the fixed answer at several rates."""
    out = {f"red team: holes steer to the best fixed answer (rate {r})":
           redteam_holes("nas_fixed_answer", ARCH=repr(best_fixed_answer()), RATE=r) for r in rates}
    out["red team: holes that teach nothing (random search)"] = redteam_holes("nas_random_search")
    return out


def variants(p: dict[str, Any], n: int, first: int) -> None:
    from tests.variants.nas import WRONG

    print(f"wrong loop holes and hole cheats, {n} gradings each (seeds {first}-{first + n - 1}); 'answer rule alone' "
          "is what the threshold would pass without the learning rule")
    sets = cheats()
    sets.update({f"{hole}: {name}": variant_holes(hole, source)
                 for hole in serving.LOOP_HOLES for name, source in WRONG[hole].items()})
    for label, holes in sets.items():
        outcomes = [o for s in range(first, first + n) for o in grading(s, p, holes)]
        print(sweep(label[:80], outcomes, p), flush=True)


if __name__ == "__main__":
    main()
