"""Rule 6: every hidden bandit test can fail. Wrong variants lose points; correct ones keep them."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, group_result, variant_params
from tests.variants.bandits import CORRECT, WRONG

REFERENCE = (ROOT / "solutions" / "bandits.py").read_text()



def test_catalogue_is_large_enough():
    for hole in ("epsilon_greedy", "update_estimate"):
        assert len(WRONG[hole]) >= 6
        assert len(CORRECT[hole]) >= 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hole, source", variant_params(WRONG))
def test_wrong_variant_loses_points(grade_source, hole, source):
    result = grade_source("bandits", REFERENCE + "\n" + source, only=[hole])
    test = group_result(result, hole)
    assert test.score < test.max_score, test.output
    assert test.status == "failed"
    assert "✗" in test.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hole, source", variant_params(CORRECT))
def test_correct_alternative_keeps_full_marks(grade_source, hole, source):
    result = grade_source("bandits", REFERENCE + "\n" + source, only=[hole, "agent"])
    for test in result.tests:
        assert test.score == test.max_score, test.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reference_full_marks_on_several_seeds(grade_source, seed):
    result = grade_source("bandits", REFERENCE, seed=seed)
    assert result.score == result.max_score == 10, [t.output for t in result.tests]
