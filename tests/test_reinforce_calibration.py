"""Calibration of the RL thresholds, budget and learning rules (slow: ``pytest -m slow`` / ``tox -e calibrate``).

Runs each reference's ``train`` over 20 seeds the way the training group does (bench/bench_reinforce.py,
in-process: the parent-served env, the learning rules, the network rebuilt from its state_dict, the
same 100-episode evaluation, no sandbox), and asserts the reference passes the learning rules on
every seed with room to spare and the evaluation on every seed once a missed run is retrained (as
the group does), while REINFORCE without a baseline mostly fails within the ``reinforce_baseline``
budget. The per-run failure rate over 200 runs and its bound: ``bench_reinforce.py --chance 200``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import ROOT, feedback

sys.path.insert(0, str(ROOT / "bench"))
import bench_reinforce as bench

SEEDS = range(100, 120)          # not the seeds the hyperparameters were tuned on (0..31)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


def _with_retraining(module, s, outcomes):
    """A run that only missed the bound is retrained on fresh seeds, at most ``s.retries`` times."""
    final = []
    for o in outcomes:
        for k in range(s.retries):
            if o.passed or o.error:
                break
            o = bench.run_once(module, 10_000 * (k + 1) + o.seed, s)
        final.append(o)
    return final


@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
def test_reference_passes_the_learning_rules_and_the_bound_on_every_seed(assignment):
    s = bench.settings_of(assignment)
    module = bench.load_module(ROOT / "solutions" / f"{assignment}.py", f"calib_{assignment}")
    outcomes = bench.sweep(assignment, module, SEEDS, s)
    assert not [o for o in outcomes if o.error], [o.error for o in outcomes if o.error]
    # Rule 1 far away: the first 20 episodes of an untrained network average a few tens, the limit is 475.
    assert max(o.first_mean for o in outcomes) < s.threshold / 5
    # Rule 2 never needed: every run used at least min_episodes, or reached the goal on its curve.
    assert all(o.episodes >= s.min_episodes or o.reached_at is not None for o in outcomes)
    failed = [o for o in _with_retraining(module, s, outcomes) if not o.passed]
    assert not failed, failed
    assert max(o.seconds for o in outcomes) < s.train_seconds / 2


def test_reinforce_without_baseline_mostly_fails_within_the_budget():
    s = bench.settings_of("reinforce_baseline")
    capped = bench.TrainingSettings(**{**s.__dict__, "budget": None})
    plain = bench.load_module(ROOT / "solutions" / "reinforce.py", "calib_reinforce_plain")
    outcomes = bench.sweep("reinforce under the budget", plain, SEEDS, capped, {"max_episodes": s.budget})
    assert sum(o.passed for o in outcomes) <= len(outcomes) // 2


def test_the_hand_coded_controller_breaks_a_rule_on_every_seed():
    """The controller of tests/redteam/controller.py, in-process: returned at once (rule 2) or played from
    the start (rule 1), it never reaches the evaluation."""
    source = (ROOT / "tests" / "redteam" / "controller.py").read_text()
    s = bench.settings_of("reinforce_baseline")
    for how, rule in (("weights", "without reaching"), ("weights_from_start", "before it learnt anything")):
        module = bench.load_module_from_source(source.replace("__HOW__", how), f"calib_controller_{how}")
        outcomes = [bench.run_once(module, seed, s) for seed in range(5)]
        assert all(rule in o.error for o in outcomes), [o.error for o in outcomes]
        assert np.isfinite([o.eval_mean for o in outcomes]).all()


@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25, 26, 27, 28, 29, 30])
def test_reference_training_full_marks_through_the_sandbox(assignment, seed):
    """The same, end to end: children, proxy env over the wire, rebuilt network, parent-side evaluation."""
    from tests.conftest import grade_path

    result = grade_path(ROOT / "solutions" / f"{assignment}.py", assignment, only=["training"], seed=seed)
    test = result.tests[0]
    assert test.score == test.max_score, feedback(test)
