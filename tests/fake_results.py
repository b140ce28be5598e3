"""Results folders made without grading: ``results.json`` files written through the results model
(:class:`grader.core.results.GradeResult`, rendered by the Gradescope renderer, as ``grade-batch``
writes them), shaped like the course's real ones (its assignments' groups and points; learning
curves in the threshold groups). Used by the class-page, override and export tests and by
``bench/bench_class_page.py``.
"""

from __future__ import annotations

import json
import random
import zlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from grader.core.assignment import load_assignment
from grader.core.results import FAILED, PASSED, Cause, CheckResult, GradeResult, TestResult
from grader.feedback.gradescope import to_gradescope

ASSIGNMENTS = ("bandits", "nas", "reinforce", "reinforce_baseline", "vae")


@cache
def groups(assignment: str) -> dict[str, tuple[float, str]]:
    """group → (points, kind) of a course assignment."""
    a = load_assignment(assignment)
    return {g.name: (g.points, g.kind) for g in a.groups.values()}


def make_result(student: str, assignment: str, scores: Mapping[str, float] | None = None, *,
                status: str = "graded", needs_review: str = "", timeout: str = "", seconds: float = 5.0,
                curve: int = 0, source: str = "") -> dict:
    """A results.json (as a dict) for ``student``'s ``assignment``: each group gets ``scores[group]``
    (default: full marks); ``needs_review`` flags the last threshold group; ``timeout`` names a group
    that ran out of time; ``curve`` adds learning curves of that many points to threshold groups."""
    scores = dict(scores or {})
    tests = []
    for name, (points, kind) in groups(assignment).items():
        score = float(scores.get(name, points))
        passed = score >= points
        check = CheckResult(f"{name} works", status=PASSED if passed else FAILED, points=score, max_points=points,
                            message="" if passed else "it did not")
        test = TestResult(name, score, points, "passed" if passed else "failed", checks=[check], kind=kind,
                          seconds=seconds / 3)
        if name == timeout:
            test.cause = Cause("timeout", f"ran out of its {30} s")
        if kind == "threshold" and curve:
            rng = random.Random(zlib.crc32(f"{student}/{assignment}/{name}".encode()))
            test.extra_data["learning_curves"] = [[round(min(500.0, 9 + i * 0.6 + rng.random() * 40), 1)
                                                   for i in range(curve)] for _ in range(2)]
            test.extra_data["threshold"] = 475.0
        tests.append(test)
    if needs_review:
        last = [t for t in tests if t.kind == "threshold"][-1]
        last.extra_data["needs_review"] = needs_review
    result = GradeResult(assignment, f"{assignment}.py", tests=tests, output="graded", execution_time=seconds)
    result.extra_data["batch"] = {"student": student, "source": source or f"{student}/{assignment}.py",
                                  "file_sha256": "0" * 64, "assignment_fingerprint": "", "status": status}
    return to_gradescope(result)


def write_result(out: Path, student: str, assignment: str, scores: Mapping[str, float] | None = None, *,
                 feedback: bool = True, **kw) -> Path:
    """Write ``out/<student>/<assignment>/results.json`` (and a small feedback.html); returns the folder."""
    folder = Path(out) / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(make_result(student, assignment, scores, **kw), indent=2))
    if feedback:
        (folder / "feedback.html").write_text(f"<!DOCTYPE html><title>{assignment}</title><p>feedback</p>")
    return folder


def make_class(out: Path, students: int, assignments: tuple[str, ...] = ASSIGNMENTS, seed: int = 0,
               curve: int = 600) -> list[str]:
    """A class of ``students`` × ``assignments`` results as a real batch leaves them: most full or partial
    marks, some zeros, a few refused, invalid, errored, timed-out and needs-review results, a few
    students missing an assignment. Returns the student names."""
    rng = random.Random(seed)
    names = [f"student{i:03d}" for i in range(students)]
    for name in names:
        for assignment in assignments:
            roll = rng.random()
            if roll < 0.02:
                continue                                        # never handed this one in
            g = groups(assignment)
            scores = {k: (p if rng.random() < 0.75 else rng.choice([0.0, round(p / 2, 1)])) for k, (p, _) in g.items()}
            kw: dict = {"seconds": round(rng.uniform(2, 60), 2), "curve": curve}
            if roll < 0.03:
                kw["status"] = "refused: symlink: a symbolic link, not a file handed in"
                scores = {k: 0.0 for k in g}
            elif roll < 0.04:
                kw["status"] = f"invalid: 2 files for {assignment}"
                scores = {k: 0.0 for k in g}
            elif roll < 0.045:
                kw["status"] = "error: grading took longer than 400 s"
                scores = {k: 0.0 for k in g}
            elif roll < 0.06:
                kw["timeout"] = next(iter(g))
                scores[kw["timeout"]] = 0.0
            elif roll < 0.07 and assignment == "vae":
                kw["needs_review"] = "needs review: a held-out negative ELBO of 60.0 is below 165"
                scores["elbo"] = 0.0
            write_result(out, name, assignment, scores, **kw)
    return names
