"""Calibration of the RL thresholds and budget (slow: ``pytest -m slow`` / ``tox -e calibrate``).

Runs each reference's ``train`` over 20 seeds on the grader's own env server
and evaluation (bench/bench_reinforce.py, in-process: same episode counting,
same budget, same 100-episode evaluation, no sandbox), and asserts the
reference passes on every seed while REINFORCE without a baseline mostly
fails within the ``reinforce_baseline`` budget.
"""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT, feedback

sys.path.insert(0, str(ROOT / "bench"))
import bench_reinforce as bench

SEEDS = range(100, 120)          # not the seeds the hyperparameters were tuned on (0..31)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def _config():
    from grader.core.assignment import load_assignment
    plain = load_assignment("reinforce").groups["training"].params
    base = load_assignment("reinforce_baseline").groups["training"].params
    return plain, base


def test_reinforce_reference_passes_on_every_seed():
    plain, _ = _config()
    module = bench.load_module(ROOT / "solutions" / "reinforce.py", "calib_reinforce")
    outcomes = bench.sweep("reinforce", module, SEEDS, int(plain["num_envs"]), None)
    failed = [o for o in outcomes if not o.passed]
    assert not failed, failed
    assert max(o.seconds for o in outcomes) < float(plain["train_seconds"]) / 4


def test_reinforce_baseline_reference_passes_on_every_seed_within_the_budget():
    _, base = _config()
    module = bench.load_module(ROOT / "solutions" / "reinforce_baseline.py", "calib_reinforce_baseline")
    outcomes = bench.sweep("reinforce_baseline", module, SEEDS, int(base["num_envs"]), int(base["episodes"]))
    failed = [o for o in outcomes if not o.passed]
    assert not failed, failed
    assert all(o.episodes <= int(base["episodes"]) + int(base["num_envs"]) for o in outcomes)


def test_reinforce_without_baseline_mostly_fails_within_the_budget():
    _, base = _config()
    budget = int(base["episodes"])
    plain = bench.load_module(ROOT / "solutions" / "reinforce.py", "calib_reinforce_plain")
    outcomes = bench.sweep("reinforce under the budget", plain, SEEDS, int(base["num_envs"]), None,
                           {"max_episodes": budget})
    assert sum(o.passed for o in outcomes) <= len(outcomes) // 2


@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25, 26, 27, 28, 29, 30])
def test_reference_training_full_marks_through_the_sandbox(assignment, seed):
    """The same, end to end: child, proxy env over the wire, parent-side evaluation (2 runs per grading)."""
    from tests.conftest import grade_path

    result = grade_path(ROOT / "solutions" / f"{assignment}.py", assignment, only=["training"], seed=seed)
    test = result.tests[0]
    assert test.score == test.max_score, feedback(test)
