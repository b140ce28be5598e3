"""The results model as Gradescope's ``results.json``.

Gradescope's fields (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
top level ``score``, ``execution_time``, ``output``, ``visibility``, ``tests`` and
``leaderboard``; per test ``name``, ``score``, ``max_score``, ``status``
(``passed``/``failed``), ``output`` (the plain-text rendering of
:mod:`grader.feedback.text`) and ``visibility``. The model itself goes under each
test's ``extra_data`` (:meth:`grader.core.results.TestResult.model_dict`), student
text escaped, so that :meth:`grader.core.results.GradeResult.from_gradescope`
rebuilds it from the file: the HTML page and the gradebook read those fields,
never the text.
"""

from __future__ import annotations

from typing import Any

from grader.core.results import SCHEMA_VERSION, GradeResult, TestResult
from grader.core.text import printable_text
from grader.feedback.text import cause_lines, group_text, sandbox_lines


def to_gradescope(result: GradeResult) -> dict[str, Any]:
    output = printable_text(result.output)
    said: dict[str, Any] = {}
    after: list[str] = []
    if result.cause is not None:      # what stopped every group: at the top of the page, once
        said["cause"] = _printable(result.cause.to_dict())
        after += cause_lines(result.cause)
    sandbox = sandbox_lines(result)   # what protected the grading: last
    after += ["", *sandbox] if sandbox else []
    if after:                         # the grader's own lines come first; the model keeps them apart
        said["output_lines"] = len(output.splitlines())
        output = "\n".join([*output.splitlines(), *after])
    return {
        "score": result.score,
        "execution_time": round(result.execution_time, 3),
        "output": output,
        "output_format": "text",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [group_to_gradescope(t) for t in result.tests],
        "leaderboard": result.leaderboard,
        "extra_data": {
            "schema": SCHEMA_VERSION,
            "assignment": result.assignment,
            "submission": printable_text(result.submission),
            "max_score": result.max_score,
            **result.extra_data,
            **said,
        },
    }


def group_to_gradescope(test: TestResult) -> dict[str, Any]:
    return {
        "name": test.name,
        "score": round(test.score, 4),
        "max_score": test.max_score,
        "status": test.status,
        "output": group_text(test),
        "visibility": test.visibility,
        "extra_data": {**test.extra_data, **_printable(test.model_dict())},
    }


def _printable(value: Any) -> Any:
    """Every string of the model escaped (printable_text is idempotent: reading it back changes nothing)."""
    if isinstance(value, str):
        return printable_text(value)
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value
