"""Grading results and their Gradescope ``results.json`` shape.

Field names follow Gradescope's autograder specification: top level
``score``, ``execution_time``, ``output``, ``visibility``, ``tests`` and
``leaderboard``; per test ``name``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``output`` and ``visibility``. Anything else goes
under ``extra_data``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


@dataclass
class TestResult:
    name: str
    score: float
    max_score: float
    status: str                  # "passed" | "failed"
    summary: str                 # one line for the terminal table
    output: str                  # full feedback text
    visibility: str = "visible"
    kind: str = "unit"
    seconds: float = 0.0
    extra_data: dict[str, Any] = field(default_factory=dict)

    def to_gradescope(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "max_score": self.max_score,
            "status": self.status,
            "output": self.output,
            "visibility": self.visibility,
            "extra_data": {"kind": self.kind, "seconds": round(self.seconds, 3), **self.extra_data},
        }


@dataclass
class GradeResult:
    assignment: str
    submission: str
    tests: list[TestResult] = field(default_factory=list)
    output: str = ""
    execution_time: float = 0.0
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    extra_data: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return round(sum(t.score for t in self.tests), 4)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def to_gradescope(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "execution_time": round(self.execution_time, 3),
            "output": self.output,
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": [t.to_gradescope() for t in self.tests],
            "leaderboard": self.leaderboard,
            "extra_data": {
                "schema": SCHEMA_VERSION,
                "assignment": self.assignment,
                "submission": self.submission,
                "max_score": self.max_score,
                **self.extra_data,
            },
        }


def write_json_atomic(path: Path, data: Any) -> None:
    """Write through a temp file and rename, so a reader never sees half a result."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(_finite(data), fh, indent=2, allow_nan=False, default=_jsonable)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _finite(value: Any) -> Any:
    """NaN and infinities are not JSON; a student's NaN must not break the result file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
