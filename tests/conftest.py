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
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

from grader.core import devices
from grader.core.assignment import load_assignment
from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file
from grader.core.results import GradeResult, TestResult
from grader.feedback.text import group_text
from grader.sandbox import NoIsolation

ROOT = Course.find().root
VARIANTS = Path(__file__).resolve().parent / "variants"

# The suite's device switch: GRADER_TEST_DEVICE=cuda makes every grading that does not name a device
# (GradeOptions' and the CLI's default, `auto`) run on CUDA, and fail where a sandboxed child cannot use it,
# instead of falling back to the CPU; unset, `auto` keeps its meaning (CPU on a machine without a GPU).
TEST_DEVICE = os.environ.get("GRADER_TEST_DEVICE", "").strip().lower() or "auto"
if TEST_DEVICE not in devices.DEVICES:
    raise pytest.UsageError(f"GRADER_TEST_DEVICE={TEST_DEVICE!r}: choose from {', '.join(devices.DEVICES)}")
devices.AUTO_MEANS = TEST_DEVICE

GradeSource = Callable[..., GradeResult]


def grade_path(path: Path, assignment: str, only: Sequence[str] | None = None, seed: int = 1234,
               suite: str = "hidden", **options) -> GradeResult:
    return grade_file(path, load_assignment(assignment), GradeOptions(seed=seed, only=only, suite=suite, **options))


def write_toy_assignment(root: Path, name: str, toml: str, probes: str, suite: str,
                         submission: str = "", filename: str = "toy.py") -> Path:
    """A throw-away assignment ``root/name`` (toml, probes, hidden suite) and a submission beside it, for
    tests of the grader's own machinery; returns the submission's path (``load_assignment(name, root)``)."""
    folder = root / name
    (folder / "hidden").mkdir(parents=True)
    (folder / "assignment.toml").write_text(toml)
    (folder / "probes.py").write_text(probes)
    (folder / "hidden" / "suite.py").write_text(suite)
    path = root / filename
    path.write_text(textwrap.dedent(submission))
    return path


def twin_course(root: Path, points: float = 5.0) -> Path:
    """A copy of this course's bandits assignment in ``root`` (a course folder of its own), its ``agent``
    group worth ``points`` instead of 3: a grading made in the wrong course shows in the total."""
    import shutil

    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "course.toml", root / "course.toml")
    shutil.copytree(ROOT / "assignments" / "bandits", root / "assignments" / "bandits",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("solutions", "templates"):
        (root / folder).mkdir()
        for path in (ROOT / folder).glob("bandits.*"):
            shutil.copy(path, root / folder / path.name)
    toml = root / "assignments" / "bandits" / "assignment.toml"
    text = toml.read_text()
    assert "[groups.agent]\npoints = 3\n" in text
    toml.write_text(text.replace("[groups.agent]\npoints = 3\n", f"[groups.agent]\npoints = {points:g}\n"))
    return root


CHILD_PROBES = '''
def run(sub, ctx, code):
    scope = {}
    exec(code, scope)
    return scope.get("result")
'''


@pytest.fixture
def child_factory(tmp_path):
    """``make(**limits)`` → a started Child whose probe ``run`` executes ``code`` in the sandbox (the tests of
    the sandbox itself); ``make(isolation=..., **limits)`` for another isolation than the selected one,
    ``make(probes=SOURCE)`` for other probes."""
    from grader.sandbox import Child, ChildSpec, Limits

    (tmp_path / "sub.py").write_text("")
    made = []

    def make(isolation=None, probes=CHILD_PROBES, **limits):
        path = tmp_path / f"probes{len(made)}.py"
        path.write_text(probes)
        spec = ChildSpec(submission=tmp_path / "sub.py", probes=path, limits=Limits(**limits),
                         isolation=isolation or ISOLATION)
        child = Child(spec)
        made.append(child)
        child.start(time.monotonic() + 60)
        return child

    yield make
    for child in made:
        child.close()


@contextmanager
def child_pool(spec, seconds: float = 60.0) -> Iterator:
    """A ChildPool of ``spec`` with spares of its own, both closed afterwards (tests of the pool)."""
    from grader.sandbox.pool import ChildPool
    from grader.sandbox.spares import Spares

    spares = Spares()
    pool = ChildPool(spec, time.monotonic() + seconds, seconds, spares)
    try:
        yield pool
    finally:
        pool.close()
        spares.close()


@pytest.fixture
def grade_source(tmp_path: Path) -> GradeSource:
    """``grade_source(assignment, source, only=[...], filename=None)`` → GradeResult."""
    def run(assignment: str, source: str, only: Sequence[str] | None = None, filename: str | None = None,
            seed: int = 1234, **options) -> GradeResult:
        path = tmp_path / (filename or load_assignment(assignment).submission_name)
        path.write_text(textwrap.dedent(source))
        return grade_path(path, assignment, only=only, seed=seed, **options)
    return run


GRADESCOPE_SCHEMA = Path(__file__).resolve().parent / "gradescope_results.schema.json"


def gradescope_problems(data: object) -> list[str]:
    """Where ``data`` is not a results.json Gradescope accepts (its documented fields, as the JSON Schema
    ``gradescope_results.schema.json`` beside this file says them); [] when it is one."""
    import json

    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(json.loads(GRADESCOPE_SCHEMA.read_text()))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top level)'}: {e.message}"
            for e in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))]


def scores(result: GradeResult) -> dict[str, float]:
    return {t.name: t.score for t in result.tests}


def group_result(result: GradeResult, name: str):
    return next(t for t in result.tests if t.name == name)


def said(result: GradeResult) -> str:
    """Everything a student reads of a grading on Gradescope: the result's own output (where a cause that
    stopped every group is said, once) and each test's."""
    from grader.feedback.gradescope import to_gradescope

    data = to_gradescope(result)
    return "\n".join([data["output"], *(t["output"] for t in data["tests"])])


def stopped_every_group_json(data: dict, words: str) -> bool:
    """:func:`stopped_every_group` on a results.json: the cause at the top of ``output``, each test "not run"
    (a grading of one group says it in that group)."""
    if len(data["tests"]) == 1:
        return words in data["tests"][0]["output"]
    return (words in data["output"] and data["extra_data"].get("cause") is not None
            and all(t["output"].startswith("not run") for t in data["tests"]))


def stopped_every_group(result: GradeResult, words: str) -> bool:
    """The cause ``words`` is said once, at the top, and every group says it was not run (a grading of one
    group says it in that group)."""
    if len(result.tests) == 1:
        return words in feedback(result.tests[0])
    return (result.cause is not None and words in said(result)
            and all(t.cause is not None and t.cause.kind == "not_run" for t in result.tests))


def feedback(test: TestResult) -> str:
    """A group's feedback as the student reads it on Gradescope (the model's plain-text rendering)."""
    return group_text(test)



# -- tests that only the sandbox can pass ------------------------------------------------
ISOLATION = Course.find().isolation()
ISOLATED = not isinstance(ISOLATION, NoIsolation)
needs_isolation = pytest.mark.namespaces      # the one marker per need: see pyproject.toml's markers
needs_seccomp = pytest.mark.seccomp


def missing(reason: str) -> None:
    """Skip the running test because the machine lacks ``reason``; under ``CI=true``, fail it:
    CI runs in the layout users make, and a regression there must not hide as a skip."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(f"CI=true but {reason}: this test must run in CI", pytrace=False)
    pytest.skip(reason)


def sandbox_lacks(need: str) -> str:
    """'' if this machine's sandbox has ``need`` ("namespaces" or "seccomp"); else what it lacks."""
    from grader.sandbox import NamespaceIsolation

    if not isinstance(ISOLATION, NamespaceIsolation):
        return f"no namespace isolation here ({getattr(ISOLATION, 'reason', '')})"
    if need == "seccomp" and ISOLATION.seccomp_off:
        return f"the seccomp filter is off here ({ISOLATION.seccomp_off})"
    return ""


def require_isolation() -> None:
    """For a test that finds out mid-way that it needs namespaces."""
    reason = sandbox_lacks("namespaces")
    if reason:
        missing(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    for need in ("namespaces", "seccomp"):
        if item.get_closest_marker(need) is not None:
            reason = sandbox_lacks(need)
            if reason:
                missing(reason)
