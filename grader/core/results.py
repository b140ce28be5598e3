"""The results model: what a grading found, as data, rendered many ways by :mod:`grader.feedback`.

One object per grading (:class:`GradeResult`), one per test group
(:class:`TestResult`), one per check (:class:`CheckResult`). Every verdict,
message, expected value, observed value and hint is a field, so the terminal
table, ``grader check``, the HTML page, Gradescope's ``results.json`` and the
gradebook are renderings of the same data and none of them parses another's
text. A failure that stopped every check of a group (the file did not import,
a function is missing or has another signature, the process exited or ran out
of time) is the group's :class:`Cause`, reported once; the checks it stopped say
"see above".

The model travels in ``results.json``: each test's ``extra_data`` holds its
checks, cause, notes and the student's output under the keys in
:data:`MODEL_KEYS` (next to what the suite recorded with ``ctx.extra``), so
:meth:`GradeResult.from_gradescope` rebuilds it from the file alone (the HTML
page of a batch is made that way).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

SCHEMA_VERSION = 2

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"
CHECK_STATUSES = (PASSED, FAILED, NOT_RUN)

# Keys of a test's extra_data that belong to the model, not to the suite (``ctx.extra`` refuses them).
MODEL_KEYS = frozenset({"kind", "seconds", "checks", "cause", "notes", "student_output"})


@dataclass
class CheckResult:
    """One verdict of a group. ``points`` is this check's share of the group's points."""
    name: str
    weight: float = 1.0
    status: str = PASSED
    points: float = 0.0
    max_points: float = 0.0
    message: str = ""      # what went wrong (empty when passed); "see above" when the group's cause stopped it
    expected: str = ""     # what the grader expected, as shown to the student
    got: str = ""          # what the submission produced, as shown
    hint: str = ""         # the likely mistake: set only when the observed values match it
    traceback: str = ""    # the student's own frames, when their code raised in this check
    by_cause: bool = False  # stopped by the group's cause (said once, for the group): "see above"

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed          # kept for readers of schema 1
        return {k: v for k, v in data.items() if (v != "" and v is not False) or k in ("name", "status", "passed")}

    @classmethod
    def from_dict(cls, data: Any) -> CheckResult:
        data = data if isinstance(data, dict) else {}
        status = data.get("status")
        if status not in CHECK_STATUSES:
            status = PASSED if data.get("passed") else FAILED
        return cls(name=str(data.get("name", "")), weight=_number(data.get("weight"), 1.0), status=status,
                   points=_number(data.get("points"), 0.0), max_points=_number(data.get("max_points"), 0.0),
                   by_cause=data.get("by_cause") is True,
                   **{k: str(data.get(k) or "") for k in ("message", "expected", "got", "hint", "traceback")})


@dataclass
class Cause:
    """Why a whole group failed, said once: ``kind`` is one of :data:`CAUSE_KINDS`."""
    kind: str
    summary: str           # one line: the exception type and its message's first line, or what happened
    traceback: str = ""    # the student's own frames
    hint: str = ""         # what to do about it, for the typical causes
    where: str = ""        # "while importing your file", "in update_estimate", ...

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v != "" or k in ("kind", "summary")}

    @classmethod
    def from_dict(cls, data: Any) -> Cause | None:
        if not isinstance(data, dict) or not data.get("summary"):
            return None
        return cls(**{f.name: str(data.get(f.name) or "") for f in fields(cls)})


CAUSE_KINDS = {
    "file": "the file cannot be graded",
    "import": "your file failed to import",
    "missing": "a function is missing",
    "signature": "a function has another signature",
    "exit": "your code ended the process",
    "timeout": "time limit",
    "crash": "the process died",
    "error": "every check stopped on the same error",
    "todo": "not implemented yet",
    "protocol": "your code wrote on the grader's channel",
    "internal": "internal grader error",
    "ungraded": "not graded",
    "not_run": "not run",
}
# Causes that stop every group the same way: once one group met it, the others are not run.
STOPS_EVERY_GROUP = ("file", "import")


@dataclass
class TestResult:
    """One test group: its score and everything a renderer needs to explain it."""
    __test__ = False                 # not a pytest class, despite the name

    name: str
    score: float
    max_score: float
    status: str                      # "passed" | "failed" (Gradescope's two)
    checks: list[CheckResult] = field(default_factory=list)
    cause: Cause | None = None
    notes: list[str] = field(default_factory=list)
    student_output: str = ""
    visibility: str = "visible"
    kind: str = "unit"
    seconds: float = 0.0
    extra_data: dict[str, Any] = field(default_factory=dict)   # what the suite recorded (ctx.extra), and timings

    def model_dict(self) -> dict[str, Any]:
        """The model's part of this test's ``extra_data`` in results.json."""
        data: dict[str, Any] = {"kind": self.kind, "seconds": round(self.seconds, 3),
                                "checks": [c.to_dict() for c in self.checks], "notes": list(self.notes)}
        if self.cause is not None:
            data["cause"] = self.cause.to_dict()
        if self.student_output:
            data["student_output"] = self.student_output
        return data

    @classmethod
    def from_gradescope(cls, data: Any) -> TestResult:
        data = data if isinstance(data, dict) else {}
        extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
        checks = extra.get("checks") if isinstance(extra.get("checks"), list) else []
        notes = extra.get("notes") if isinstance(extra.get("notes"), list) else []
        if not all(isinstance(c, dict) and "status" in c for c in checks):   # a results.json of schema 1:
            checks, notes = [], [str(data.get("output") or "")]               # its text is all there is
        return cls(
            name=str(data.get("name", "")), score=_number(data.get("score"), 0.0),
            max_score=_number(data.get("max_score"), 0.0),
            status="passed" if data.get("status") == "passed" else "failed",
            checks=[CheckResult.from_dict(c) for c in checks], cause=Cause.from_dict(extra.get("cause")),
            notes=[str(n) for n in notes], student_output=str(extra.get("student_output") or ""),
            visibility=str(data.get("visibility", "visible")), kind=str(extra.get("kind", "unit")),
            seconds=_number(extra.get("seconds"), 0.0),
            extra_data={k: v for k, v in extra.items() if k not in MODEL_KEYS},
        )


@dataclass
class GradeResult:
    assignment: str
    submission: str
    tests: list[TestResult] = field(default_factory=list)
    output: str = ""                 # the grader's own lines (what ran, how isolated); never student text
    execution_time: float = 0.0
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    extra_data: dict[str, Any] = field(default_factory=dict)
    cause: Cause | None = None       # what stopped every group (the file did not import): said once, at the top

    def say_once(self) -> None:
        """When every group failed for the very same reason, make it the result's cause and let each group
        say "not run" (every rendering then says it once, at the top, instead of once per group)."""
        causes = [t.cause for t in self.tests]
        if len(causes) < 2 or any(c is None for c in causes):     # one group says it itself
            return
        first = causes[0]
        if first.kind == "not_run" or any((c.kind, c.summary, c.traceback) != (first.kind, first.summary,
                                                                                first.traceback) for c in causes):
            return
        self.cause = first
        label = CAUSE_KINDS.get(first.kind, first.kind)
        for t in self.tests:
            t.cause = Cause("not_run", f"{label} (said once, at the top)")

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    @classmethod
    def from_gradescope(cls, data: Any) -> GradeResult:
        """The model back from a ``results.json`` (any schema; missing parts become empty)."""
        data = data if isinstance(data, dict) else {}
        extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
        tests = data.get("tests") if isinstance(data.get("tests"), list) else []
        board = data.get("leaderboard") if isinstance(data.get("leaderboard"), list) else []
        top = {k: v for k, v in extra.items()
               if k not in ("schema", "assignment", "submission", "max_score", "cause", "output_lines")}
        output = str(data.get("output") or "")
        if isinstance(extra.get("output_lines"), int):      # the grader's own lines, before the cause's
            output = "\n".join(output.splitlines()[: extra["output_lines"]])
        return cls(assignment=str(extra.get("assignment", "")), submission=str(extra.get("submission", "")),
                   tests=[TestResult.from_gradescope(t) for t in tests], output=output,
                   execution_time=_number(data.get("execution_time"), 0.0),
                   leaderboard=[b for b in board if isinstance(b, dict)], extra_data=top,
                   cause=Cause.from_dict(extra.get("cause")))


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
