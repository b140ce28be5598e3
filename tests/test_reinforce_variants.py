"""Every hidden REINFORCE hole test can fail: wrong variants lose points, correct alternatives keep them.

Only the hole groups run here (``--only``), with a fixed seed; training is
tested in test_reinforce.py and calibrated in test_reinforce_calibration.py.
"""

from __future__ import annotations

import pytest

from tests.conftest import ROOT, group_result
from tests.variants import reinforce, reinforce_baseline

CATALOGUES = {"reinforce": reinforce, "reinforce_baseline": reinforce_baseline}
HOLES = {"reinforce": ("compute_returns", "reinforce_loss"), "reinforce_baseline": ("baseline_losses",)}


def _reference(assignment: str) -> str:
    return (ROOT / "solutions" / f"{assignment}.py").read_text()


def _cases(kind: str, default: int):
    """The first ``default`` variants of each hole run by default; the rest only with ``-m slow``
    (each case starts a child that imports torch, ~2.5 s)."""
    return [pytest.param(assignment, hole, src, id=f"{assignment}.{hole}: {name}",
                         marks=[pytest.mark.slow] if i >= default else [])
            for assignment, module in CATALOGUES.items()
            for hole, variants in getattr(module, kind).items()
            for i, (name, src) in enumerate(variants.items())]


def test_catalogue_is_large_enough():
    for assignment, holes in HOLES.items():
        for hole in holes:
            assert len(CATALOGUES[assignment].WRONG[hole]) >= 6, hole
            assert len(CATALOGUES[assignment].CORRECT[hole]) >= 2, hole


@pytest.mark.timeout(120)
@pytest.mark.parametrize("assignment, hole, source", _cases("WRONG", 6))
def test_wrong_variant_loses_points(grade_source, assignment, hole, source):
    result = grade_source(assignment, _reference(assignment) + "\n" + source, only=[hole])
    test = group_result(result, hole)
    assert test.score < test.max_score, test.output
    assert test.status == "failed"
    assert "✗" in test.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("assignment, hole, source", _cases("CORRECT", 2))
def test_correct_alternative_keeps_full_marks(grade_source, assignment, hole, source):
    result = grade_source(assignment, _reference(assignment) + "\n" + source, only=[hole])
    test = group_result(result, hole)
    assert test.score == test.max_score, test.output
