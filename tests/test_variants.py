"""Every hidden hole test can fail. For each assignment's catalogue in
``tests/variants/<assignment>.py``, every wrong variant loses points on its hole
and every correct alternative keeps full marks.

Only the hole groups run (``--only``), with a fixed seed.
"""

from __future__ import annotations

import importlib

import pytest

from grader.core.assignment import list_assignments, load_assignment
from tests.conftest import ROOT, feedback, group_result

# The holes each assignment.toml declares: a new assignment without a catalogue fails below.
HOLES = {name: load_assignment(name).holes for name in list_assignments()}
CATALOGUES = {name: importlib.import_module(f"tests.variants.{name}") for name in HOLES}
# Beyond the first (wrong, correct) variants per hole, these run only with -m slow
# (each case starts a child that imports torch and trains nothing, ~2.5 s).
DEFAULT_RUN = {"reinforce": (6, 2), "reinforce_baseline": (6, 2), "nas": (3, 1)}
# Groups graded with a correct alternative besides its hole: the bandit agent uses both holes.
ALSO_WITH_CORRECT = {"bandits": ["agent"]}


def _reference(assignment: str) -> str:
    return (ROOT / "solutions" / f"{assignment}.py").read_text()


def _cases(kind: str) -> list:
    cases = []
    for assignment, module in CATALOGUES.items():
        limit = DEFAULT_RUN.get(assignment, (None, None))[kind == "CORRECT"]
        for hole, variants in getattr(module, kind).items():
            for i, (name, src) in enumerate(variants.items()):
                slow = limit is not None and i >= limit
                cases.append(pytest.param(assignment, hole, src, id=f"{assignment}.{hole}: {name}",
                                          marks=[pytest.mark.slow] if slow else []))
    return cases


@pytest.mark.parametrize("assignment", HOLES)
def test_catalogue_is_large_enough(assignment):
    for hole in HOLES[assignment]:
        assert len(CATALOGUES[assignment].WRONG[hole]) >= 6, hole
        assert len(CATALOGUES[assignment].CORRECT[hole]) >= 2, hole


@pytest.mark.timeout(120)
@pytest.mark.parametrize("assignment, hole, source", _cases("WRONG"))
def test_wrong_variant_loses_points(grade_source, assignment, hole, source):
    result = grade_source(assignment, _reference(assignment) + "\n" + source, only=[hole])
    test = group_result(result, hole)
    assert test.score < test.max_score, feedback(test)
    assert test.status == "failed"
    assert "✗" in feedback(test)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("assignment, hole, source", _cases("CORRECT"))
def test_correct_alternative_keeps_full_marks(grade_source, assignment, hole, source):
    result = grade_source(assignment, _reference(assignment) + "\n" + source,
                          only=[hole, *ALSO_WITH_CORRECT.get(assignment, [])])
    for test in result.tests:
        assert test.score == test.max_score, feedback(test)
