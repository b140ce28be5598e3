"""Calibrate the bandits ``agent`` group: the reference's spread, where other holes fall, chance.

    python bench/calibrate_bandits.py [--seeds 200] [--cheats 5]

For each seed, runs the course's agent loop (assignments/bandits/calls.py: ``run_agents``) with the
reference solution's holes called in this process (``LocalHoles``: the same loop, testbed, parent
reference agent and statistics as the group, no sandbox), and prints the distribution of the reward
gap to the parent's reference agent (which ``margin`` must absorb: worst + 3 sd), of the greedy-share
statistic (largest |z| over the blocks) and of the uniformity statistic (largest z over blocks and
rankings); the check fails above ``sigmas``. Then the same for the reference with random
tie-breaking (textbook ε-greedy: must pass too) and for holes that are not ε-greedy
(tests/redteam/other_learners.py), and the failure rate with its Clopper–Pearson bound.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.core.suite import import_local
from grader.kits.holes.parent import LocalHoles

SUITE = str(ROOT / "assignments" / "bandits" / "hidden" / "suite.py")
testbed = import_local(SUITE, "testbed")
calls = import_local(SUITE, "calls")
PARAMS = load_assignment("bandits").groups["agent"].params
CHEATS = ["fixed", "runner_up", "softmax_explore", "explore_then_commit", "other_epsilon", "no_greedy_in_exploration"]
RANDOM_TIES = ("    return int(np.argmax(estimates))",
               "    return int(rng.choice(np.flatnonzero(estimates == np.max(estimates))))")


def load(source: str, name: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def grade(module, seed: int) -> tuple[float, float, float]:
    """(reward gap to the parent's reference agent, largest |z| of the greedy shares, largest uniformity z),
    as the group computes them."""
    p = PARAMS
    runs, steps, arms, eps = int(p["runs"]), int(p["steps"]), int(p["arms"]), float(p["epsilon"])
    alpha, initial, blocks = float(p["alpha"]), float(p["initial"]), int(p["blocks"])
    rng = np.random.default_rng(seed)
    bed = testbed.Testbed.draw(rng, runs, arms, steps)
    reference = testbed.run_reference(bed, eps, alpha, initial, np.random.default_rng(rng.integers(2**63)))
    run = calls.run_agents(LocalHoles(module), bed.rewards, runs, arms, steps, eps, alpha, initial,
                           rng.integers(2**31, size=runs))
    stats = testbed.exploration_stats(run, eps, blocks, rng)
    return (float(run["rewards"].mean() - reference.mean()), float(np.abs(stats.share_z).max()),
            stats.worst_uniformity()[2])


def summary(name: str, results: np.ndarray, margin: float, sigmas: float) -> int:
    gap, z, u = results[:, 0], results[:, 1], results[:, 2]
    failures = int(((gap < -margin) | (z > sigmas) | (u > sigmas)).sum())
    print(f"{name}, {len(results)} seeds: gap to the parent's reference agent mean {gap.mean():+.4f}, "
          f"sd {gap.std(ddof=1):.4f}, worst {gap.min():+.4f}; worst + 3 sd = {gap.min() - 3 * gap.std(ddof=1):+.4f} "
          f"(margin {margin}); greedy-share |z| max {z.max():.2f}, uniformity z max {u.max():.2f} "
          f"(fail above {sigmas:g}); failures {failures}", flush=True)
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--cheats", type=int, default=5, help="seeds per hole that is not ε-greedy")
    args = parser.parse_args()
    margin, sigmas = float(PARAMS["margin"]), float(PARAMS["sigmas"])
    source = (ROOT / "solutions" / "bandits.py").read_text()
    reference = load(source, "bandits_reference")
    t0 = time.monotonic()
    results = np.array([grade(reference, 10_000 + s) for s in range(args.seeds)])
    print(f"({(time.monotonic() - t0) / args.seeds:.2f} s per seed, in-process)")
    failures = summary("reference", results, margin, sigmas)
    print(chance.report("bandits agent", failures, args.seeds, 1, int(PARAMS.get("retries", 0))))
    gap = results[:, 0]
    tail = 0.5 * math.erfc(margin / gap.std(ddof=1) / math.sqrt(2))
    print(f"  (normal approximation: the gap misses the margin with probability {tail:.1e}; "
          f"a block's statistic leaves {sigmas:g} sd with {math.erfc(sigmas / math.sqrt(2)):.1e}, "
          f"{int(PARAMS['blocks'])} blocks × 4 statistics: {4 * int(PARAMS['blocks']) * math.erfc(sigmas / math.sqrt(2)):.1e})")
    assert RANDOM_TIES[0] in source, "the reference's greedy line moved: update RANDOM_TIES"
    ties = load(source.replace(*RANDOM_TIES), "bandits_random_ties")
    tie_results = np.array([grade(ties, 30_000 + s) for s in range(max(args.cheats, args.seeds // 4))])
    summary("random tie-breaking (textbook ε-greedy)", tie_results, margin, sigmas)
    honest = (ROOT / "tests" / "redteam" / "_honest.py").read_text()
    template = (ROOT / "tests" / "redteam" / "other_learners.py").read_text().replace("# HONEST\n", honest)
    for how in CHEATS:
        module = load(template.replace("__HOW__", how), f"bandits_{how}")
        r = np.array([grade(module, 20_000 + s) for s in range(args.cheats)])
        passes = int(((r[:, 0] >= -margin) & (r[:, 1] <= sigmas) & (r[:, 2] <= sigmas)).sum())
        reward_only = int((r[:, 0] >= -margin).sum())
        print(f"{how:<26} gap {r[:, 0].mean():+.3f} (min {r[:, 0].min():+.3f}); greedy-share |z| min {r[:, 1].min():.1f}; "
              f"uniformity z min {r[:, 2].min():.1f}; passes {passes}/{args.cheats} "
              f"(the reward bound alone: {reward_only}/{args.cheats})", flush=True)


if __name__ == "__main__":
    main()
