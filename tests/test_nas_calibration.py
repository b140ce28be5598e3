"""Calibration of the NAS search threshold (slow: ``pytest -m slow`` / ``tox -e calibrate``).

Runs the reference's ``search`` over 20 seeds in this process on the grader's own query
server and table (bench/bench_nas.py: same target draw, same budget, same scoring, no
sandbox), and asserts: the reference passes on every seed, the same loop without a baseline
fails most of them, and random search with the same budget ranks worse than the reference
(it passes the share on most seeds: see the README's known limits). A few whole gradings go
through the sandbox too.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import ROOT, grade_path

sys.path.insert(0, str(ROOT / "bench"))
import bench_nas as bench

SEEDS = range(100, 120)          # not the seeds the hyperparameters were tuned on (0..19)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def setting():
    return bench.params(), bench.load_module(ROOT / "solutions" / "nas.py", "calib_nas")


def test_reference_passes_on_every_seed(setting):
    p, module = setting
    outcomes = [o for s in SEEDS for o in bench.run_search(module, s, p)]
    print(bench.sweep("reference", outcomes, float(p["share"])))
    assert bench.gradings_passed(outcomes, float(p["share"])) == len(SEEDS), \
        [(o.seed, o.share, o.error) for o in outcomes if not o.passed(float(p["share"]))]
    assert all(o.queries <= int(p["budget"]) for o in outcomes)


def test_random_search_with_the_same_budget_ranks_worse(setting):
    """Random search (the best of 162 distinct architectures) is a strong baseline on 1,080 architectures: it
    reaches the stated share on most targets (README, known limits). What the controller does better is
    measured by rank: its greedy architecture ranks better than random search's best on the median seed."""
    p, module = setting
    reference = [o for s in SEEDS for o in bench.run_search(module, s, p)]
    random = [o for s in SEEDS for o in bench.random_search(s, p)]
    print(bench.sweep("random search", random, float(p["share"])))
    assert np.median([o.rank for o in reference]) < np.median([o.rank for o in random])


def test_the_loop_without_a_baseline_does_measurably_worse(setting):
    p, module = setting
    share = float(p["share"])
    plain = [o for s in SEEDS for o in bench.run_search(module, s, p, {"no_baseline": True})]
    print(bench.sweep("no baseline (b = 0)", plain, share))
    assert bench.gradings_passed(plain, share) <= len(SEEDS) // 2


@pytest.mark.parametrize("seed", [31, 32, 33, 34, 35])
def test_reference_search_full_marks_through_the_sandbox(seed):
    """The same, end to end: child, query callback over the wire, parent-side lookup (2 searches per grading)."""
    result = grade_path(ROOT / "solutions" / "nas.py", "nas", only=["search"], seed=seed)
    test = result.tests[0]
    assert test.score == test.max_score, test.output
