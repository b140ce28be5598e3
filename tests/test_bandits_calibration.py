"""The reference passes the bandit threshold on every seed tried (tox -e calibrate)."""

from __future__ import annotations

import pytest

from grader.feedback.text import summary_line
from tests.conftest import ROOT, grade_path

SEEDS = range(100, 120)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_reference_agent_passes_threshold_on_20_seeds():
    failures = []
    for seed in SEEDS:
        result = grade_path(ROOT / "solutions" / "bandits.py", "bandits", only=["agent"], seed=seed)
        if result.tests[0].status != "passed":
            failures.append((seed, summary_line(result.tests[0])))
    print(f"bandits agent threshold: reference passed {len(SEEDS) - len(failures)}/{len(SEEDS)} seeds")
    assert not failures
