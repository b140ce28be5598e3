"""Shared fixtures: grade a submission written as a string, with a fixed seed."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Callable, Sequence

import pytest

from grader.assignment import load_assignment
from grader.grading import GradeOptions, grade_file
from grader.paths import project_root
from grader.results import GradeResult

ROOT = project_root()
VARIANTS = Path(__file__).resolve().parent / "variants"

GradeSource = Callable[..., GradeResult]


def grade_path(path: Path, assignment: str, only: Sequence[str] | None = None, seed: int = 1234,
               suite: str = "hidden", **options) -> GradeResult:
    return grade_file(path, load_assignment(assignment), GradeOptions(seed=seed, only=only, suite=suite, **options))


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

