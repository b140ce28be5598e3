"""Speed and calibration of the NAS search threshold.

Runs the reference's ``search(query, args)`` in this process (no sandbox, so
no torch import per run) against the grader's own query server
(``assignments/nas/serving.py``: same validation, same budget refusal) on the
hidden table at a FLOPs target drawn exactly as the ``search`` group draws it,
and scores the greedy architecture the same way.

    python bench/bench_nas.py                   # the reference on grading seeds 0-19 (2 searches each)
    python bench/bench_nas.py --compare         # + the same loop without a baseline, and random search
    python bench/bench_nas.py --grading         # + whole gradings (sandboxed) of the reference and the template

A seed is a grading's master seed: its two searches get the targets and
controller seeds a grading with ``--seed`` would get. Random search is the
best of ``budget`` distinct architectures drawn
uniformly; its pass rate is given both as the mean of the exact probability
``1 - C(S - K, N) / C(S, N)`` over the seeds' targets and as the count of
simulated searches (one per seed) that passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core.assignment import load_assignment
from grader.sandbox import CallbackAbort

NAS = ROOT / "assignments" / "nas"


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


serving = load_module(NAS / "serving.py", "bench_nas_serving")
table_module = load_module(NAS / "hidden" / "table.py", "bench_nas_table")


class BudgetSpent(Exception):
    pass


@dataclass
class Outcome:
    seed: int
    target: float
    share: float            # reward of the answer / best reward at this target
    rank: int
    queries: int
    seconds: float
    random_pass_probability: float
    best_queried: float = float("nan")   # best reward queried / best reward at this target
    distinct: int = 0                    # distinct architectures asked
    learned: float = float("nan")        # the last quarter of them: mean reward / best reward
    error: str = ""

    def passed(self, p: dict[str, Any]) -> bool:
        """Both rules of the ``search`` group: the greedy answer's share, and learning (serving.Learning)."""
        return (not self.error and self.share >= float(p["share"])
                and self.distinct >= math.ceil(float(p["min_queries"]) * int(p["budget"]))
                and self.learned >= float(p["learned_share"]))

    def answer_passed(self, p: dict[str, Any]) -> bool:
        """Rule (1) alone: what the threshold was before the learning rule."""
        return not self.error and self.share >= float(p["share"])


def params() -> dict[str, Any]:
    return dict(load_assignment("nas").groups["search"].params)


def runs_for(master: int, p: dict[str, Any]) -> list[tuple[Any, float, int, int]]:
    """(landscape, target, controller seed, random-search seed) of each run of a grading with master seed
    ``master``, drawn exactly as the ``search`` group draws them (same generator, same order)."""
    from grader.core.suite import seed_for

    table = table_module.load_table()
    rng = np.random.default_rng(seed_for(master, "search"))
    runs = []
    for _ in range(int(p.get("runs", 2))):
        target = float(np.exp(rng.uniform(np.log(float(p["target_low"])), np.log(float(p["target_high"])))))
        rewards = table_module.nas_reward(table.accuracy, table.flops, target, float(p["beta"]))
        landscape = serving.Landscape(table.choices, rewards, table.describe, table.details)
        runs.append((landscape, target, int(rng.integers(2**31 - 1)), int(rng.integers(2**31 - 1))))
    return runs


def run_search(module: ModuleType, master: int, p: dict[str, Any], overrides: dict[str, Any] | None = None) -> list[Outcome]:
    """The reference's searches of one grading, scored as the group scores them."""
    import torch

    torch.set_num_threads(1)
    budget, share = int(p["budget"]), float(p["share"])
    outcomes = []
    for landscape, target, controller_seed, _ in runs_for(master, p):
        server = serving.QueryServer(landscape, budget)

        def query(architecture: Any, server=server) -> float:
            try:
                return server.handle({"architecture": np.asarray(architecture, dtype=np.int64)})["reward"]
            except CallbackAbort as exc:
                raise BudgetSpent(str(exc)) from None

        args = module.build_parser().parse_args([])
        args.seed, args.budget, args.choices, args.device = controller_seed, budget, list(landscape.choices), "cpu"
        for key, value in (overrides or {}).items():
            setattr(args, key, value)
        p_random = landscape.random_search_pass_probability(share, budget)
        t0 = time.perf_counter()
        try:
            architecture = module.search(query, args).greedy()
        except BudgetSpent as exc:
            outcomes.append(Outcome(master, target, 0.0, landscape.size, server.used, time.perf_counter() - t0,
                                    p_random, error=str(exc)))
            continue
        seconds = time.perf_counter() - t0
        index = landscape.index(architecture)
        best_queried = float(server.rewards.max() / landscape.best) if server.used else 0.0
        learning = serving.Learning.of(server)
        outcomes.append(Outcome(master, target, float(landscape.rewards[index] / landscape.best), landscape.rank(index),
                                server.used, seconds, p_random, best_queried, learning.distinct, learning.last_share))
    return outcomes


def random_search(master: int, p: dict[str, Any]) -> list[Outcome]:
    """Per run of the grading: ``budget`` distinct uniformly drawn architectures, asked in order through the
    grader's query server; the answer is the best of them (tests/redteam/nas_random_search.py does the same
    in a submission)."""
    budget, share = int(p["budget"]), float(p["share"])
    outcomes = []
    for landscape, target, _, random_seed in runs_for(master, p):
        picked = np.random.default_rng(random_seed).choice(landscape.size, budget, replace=False)
        server = serving.QueryServer(landscape, budget)
        for i in picked:
            server.handle({"architecture": np.asarray(np.unravel_index(int(i), landscape.choices), dtype=np.int64)})
        index = int(picked[np.argmax(landscape.rewards[picked])])
        learning = serving.Learning.of(server)
        outcomes.append(Outcome(master, target, float(landscape.rewards[index] / landscape.best), landscape.rank(index),
                                budget, 0.0, landscape.random_search_pass_probability(share, budget), 1.0,
                                learning.distinct, learning.last_share))
    return outcomes


def gradings_passed(outcomes: list[Outcome], p: dict[str, Any], rule: str = "passed") -> int:
    """Gradings (master seeds) whose every search passed (``rule``: "passed", both rules, or "answer_passed")."""
    seeds = sorted({o.seed for o in outcomes})
    return sum(all(getattr(o, rule)(p) for o in outcomes if o.seed == s) for s in seeds)


def sweep(label: str, outcomes: list[Outcome], p: dict[str, Any]) -> str:
    shares = np.array([o.share for o in outcomes])
    learned = np.array([o.learned for o in outcomes])
    passed = sum(o.passed(p) for o in outcomes)
    seconds = [o.seconds for o in outcomes]
    errors = [o for o in outcomes if o.error]
    gradings = len({o.seed for o in outcomes})
    line = (f"{label:<22} searches pass {passed:>2}/{len(outcomes)}, gradings {gradings_passed(outcomes, p)}/{gradings} "
            f"(answer rule alone: {gradings_passed(outcomes, p, 'answer_passed')}/{gradings})  "
            f"share of best: median {np.median(shares):.4f}, min {shares.min():.4f}  last-quarter share: median "
            f"{np.nanmedian(learned):.4f}, min {np.nanmin(learned):.4f}, max {np.nanmax(learned):.4f}  rank median "
            f"{statistics.median(o.rank for o in outcomes):g}, max {max(o.rank for o in outcomes)}  "
            f"search s: median {statistics.median(seconds):.2f}, max {max(seconds):.2f}")
    if errors:
        line += f"  ({len(errors)} errors: {errors[0].error[:80]})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--compare", action="store_true", help="also without a baseline, and random search")
    parser.add_argument("--grading", action="store_true", help="also time whole sandboxed gradings")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a search param of assignment.toml (budget, share, target_low, ...)")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE",
                        help="override a hyperparameter of the reference's search (lr, batch, ...)")
    args = parser.parse_args()
    p = params()
    for item in args.set:
        key, value = item.split("=", 1)
        p[key] = float(value)
    overrides = {}
    for item in args.arg:
        key, value = item.split("=", 1)
        overrides[key] = type(getattr(load_module(ROOT / "solutions" / "nas.py", "bench_probe").build_parser()
                                      .parse_args([]), key))(value)
    share = float(p["share"])
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    table = table_module.load_table()
    print(f"table: {table.accuracy.size} architectures, built in {table.meta.get('build_seconds')} s with "
          f"{table.meta.get('workers')} workers; search: budget {int(p['budget'])}, share {share}, learned share "
          f"{float(p['learned_share'])}, min queries {float(p['min_queries'])}, "
          f"target {float(p['target_low']):,.0f}..{float(p['target_high']):,.0f} FLOPs")
    reference = load_module(ROOT / "solutions" / "nas.py", "bench_nas_reference")
    outcomes = [o for s in seeds for o in run_search(reference, s, p, overrides)]
    print(sweep("reference", outcomes, p))
    print(f"{'':<28} random search's exact pass probability at these targets: mean "
          f"{np.mean([o.random_pass_probability for o in outcomes]):.3f}, "
          f"max {max(o.random_pass_probability for o in outcomes):.3f}")
    if args.compare:
        print(sweep("no baseline (b = 0)", [o for s in seeds for o in run_search(reference, s, p, {**overrides,
                                                                                              "no_baseline": True})],
                    p))
        print(sweep("random search", [o for s in seeds for o in random_search(s, p)], p))
        chance = [runs_for(s, p)[i][0].random_search_learning_probability(float(p["learned_share"]), int(p["budget"]),
                                                                           np.random.default_rng(s))
                  for s in seeds for i in range(int(p.get("runs", 2)))]
        print(f"{'':<28} random search's chance to pass the learning rule at these targets (4,000 simulated "
              f"searches each): mean {np.mean(chance):.5f}, max {max(chance):.5f}")
    if args.grading:
        from grader.core.course import solutions_dir, templates_dir
        from grader.core.grading import GradeOptions, grade_file

        a = load_assignment("nas")
        for label, folder in (("reference", solutions_dir()), ("template", templates_dir())):
            t0 = time.perf_counter()
            result = grade_file(Path(folder) / a.submission_name, a, GradeOptions(seed=args.first_seed))
            groups = " ".join(f"{t.name}={t.seconds:.2f}" for t in result.tests)
            print(f"grading the {label}: {result.score:g}/{result.max_score:g} in {time.perf_counter() - t0:.2f} s  "
                  f"({groups})")


if __name__ == "__main__":
    main()
