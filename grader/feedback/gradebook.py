"""The results model as the course's gradebook: one CSV row per (student, assignment).

Columns: ``student``, ``assignment``, one per test group (``assignment:group``
when several assignments share the gradebook), ``total``, ``max_score``,
``time_s``, ``status`` and ``file``. Scores are read from each result's fields.
When an instructor overrode a group's points (``RESULTS_DIR/overrides.csv``,
:mod:`grader.workflows.overrides`), the group's column and ``total`` hold the
overridden points, and two more columns say what the grader gave
(``original_total``) and what was changed, why and by whom (``override``): the
grader's verdict is never lost. Written with :func:`grader.core.text.csv_text`:
every cell escaped, and none that a spreadsheet would run as a formula (a
student's folder name is student text too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from grader.core.results import GradeResult
from grader.core.text import csv_text, printable_text


@dataclass(frozen=True)
class Adjustment:
    """An instructor's override applied to one group of a row: the grader's points are kept beside it."""
    group: str
    original: float              # what the grader gave
    points: float                # what the instructor gave instead
    reason: str
    who: str

    def describe(self) -> str:
        return f"{self.group}: {_num(self.original)} → {_num(self.points)}, {self.reason} ({self.who})"


@dataclass
class GradebookEntry:
    """One row: a student's result for one assignment (``result`` is None when it could not be read)."""
    student: str
    assignment: str
    result: GradeResult | None
    status: str = "graded"
    file: str = ""
    scored: bool = True          # False: the submission is gone; its row keeps no score
    folder: str = ""             # the results folder, relative to RESULTS_DIR ("student/assignment")
    adjustments: list[Adjustment] = field(default_factory=list)   # overrides applied to ``result``
    original_score: float | None = None                          # the grader's total, when overridden


def gradebook_table(entries: Sequence[GradebookEntry]) -> tuple[list[str], list[list[str]]]:
    """Header and rows (as text), rows sorted by student then assignment."""
    assignments = sorted({e.assignment for e in entries if e.result is not None and e.result.tests})
    prefix = len(assignments) > 1

    def column(assignment: str, group: str) -> str:
        return f"{assignment}:{group}" if prefix else group

    columns: list[str] = []
    for e in entries:
        for t in e.result.tests if e.result is not None else []:
            c = column(e.assignment, t.name)
            if c not in columns:
                columns.append(c)
    header = ["student", "assignment", *columns, "total", "max_score", "time_s", "status", "file"]
    overridden = any(e.adjustments for e in entries)
    if overridden:
        header += ["original_total", "override"]
    rows = []
    for e in sorted(entries, key=lambda e: (printable_text(e.student), e.assignment)):
        r = e.result
        scores = {column(e.assignment, t.name): t.score for t in r.tests} if r is not None else {}
        total, top, seconds = (r.score, r.max_score, round(r.execution_time, 3)) if r is not None else (0, "", "")
        if not e.scored:
            scores, total = {}, ""
        rows.append([printable_text(e.student), e.assignment, *(_num(scores.get(c, "")) for c in columns),
                     _num(total), _num(top), _num(seconds), e.status, e.file])
        if overridden:
            rows[-1] += [_num(e.original_score) if e.adjustments and e.scored else "",
                         "; ".join(a.describe() for a in e.adjustments)]
    return header, rows


def gradebook_csv(entries: Sequence[GradebookEntry]) -> str:
    return csv_text(*gradebook_table(entries))


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)
