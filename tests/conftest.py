"""Shared fixtures: grade a submission written as a string, with a fixed seed; and the guards
of tests that need the sandbox's namespaces or its system-call filter.

``@pytest.mark.namespaces`` (namespace isolation) and ``@pytest.mark.seccomp``
(namespaces with the seccomp filter on) skip a test on a machine without them,
saying why, but FAIL it when ``CI=true``: in CI every threat is a test that
runs, and a runner that silently lost its sandbox must not turn them green.
"""

from __future__ import annotations

import os
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



def missing(reason: str) -> None:
    """Skip the running test because the machine lacks ``reason``; in CI, fail it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: this test must run in CI", pytrace=False)
    pytest.skip(reason)


def sandbox_lacks(need: str) -> str:
    """'' if this machine's sandbox has ``need`` ("namespaces" or "seccomp"); else what it lacks."""
    from grader.sandbox import NamespaceIsolation, select_isolation

    chosen = select_isolation()
    if not isinstance(chosen, NamespaceIsolation):
        return f"no namespace isolation here ({getattr(chosen, 'reason', '')})"
    if need == "seccomp" and chosen.seccomp_off:
        return f"the seccomp filter is off here ({chosen.seccomp_off})"
    return ""


def pytest_runtest_setup(item: pytest.Item) -> None:
    for need in ("namespaces", "seccomp"):
        if item.get_closest_marker(need) is not None:
            reason = sandbox_lacks(need)
            if reason:
                missing(reason)
