"""Shared fixtures: grade a submission written as a string, with a fixed seed."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from grader.core.assignment import load_assignment
from grader.core.course import course_root, sandbox_isolation, use_course
from grader.core.grading import GradeOptions, grade_file
from grader.core.results import GradeResult
from grader.sandbox import NoIsolation

ROOT = course_root()
VARIANTS = Path(__file__).resolve().parent / "variants"

GradeSource = Callable[..., GradeResult]


def grade_path(path: Path, assignment: str, only: Sequence[str] | None = None, seed: int = 1234,
               suite: str = "hidden", **options) -> GradeResult:
    return grade_file(path, load_assignment(assignment), GradeOptions(seed=seed, only=only, suite=suite, **options))


@pytest.fixture(autouse=True)
def _forget_the_chosen_course():
    """`grader ... --course DIR` in one test must not point the next test at that folder."""
    yield
    use_course(None)


@pytest.fixture
def grade_source(tmp_path: Path) -> GradeSource:
    """``grade_source(assignment, source, only=[...], filename=None)`` → GradeResult."""
    def run(assignment: str, source: str, only: Sequence[str] | None = None, filename: str | None = None,
            seed: int = 1234, **options) -> GradeResult:
        path = tmp_path / (filename or load_assignment(assignment).submission_name)
        path.write_text(textwrap.dedent(source))
        return grade_path(path, assignment, only=only, seed=seed, **options)
    return run


def scores(result: GradeResult) -> dict[str, float]:
    return {t.name: t.score for t in result.tests}


def group_result(result: GradeResult, name: str):
    return next(t for t in result.tests if t.name == name)



# -- tests that only namespace isolation can pass ------------------------------------------
ISOLATION = sandbox_isolation()
ISOLATED = not isinstance(ISOLATION, NoIsolation)
needs_isolation = pytest.mark.needs_isolation


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "needs_isolation: only a namespace-isolated child can pass this test "
                                       "(skipped where the machine has none; a failure under CI=true)")


def pytest_runtest_setup(item) -> None:
    if item.get_closest_marker("needs_isolation") is not None:
        require_isolation()


def require_isolation() -> None:
    """Skip a test that needs namespaces where the machine has none, but fail it under ``CI=true``:
    CI runs in the layout users make, and a regression there must not hide as a skip."""
    if ISOLATED:
        return
    why = f"no namespace isolation here ({getattr(ISOLATION, 'reason', '')})"
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"{why}; under CI=true a namespace test must run, not skip", pytrace=False)
    pytest.skip(why)
