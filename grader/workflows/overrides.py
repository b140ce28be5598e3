"""Instructors' overrides: points a human gave a group instead of the grader's, with the reason.

They live in ``RESULTS_DIR/overrides.csv``, one line per (student, assignment, group)::

    student,assignment,group,points,reason,who
    mallory,vae,elbo,4,"read the code: an honest VAE, the distortion hit a bad seed",dr.k

written by hand or by ``grader override``. The file belongs to the instructor, not
to a grading: ``grade-batch`` (``--regrade`` too) never writes it, so an override
outlives every regrade, and is applied again to the fresh result.

Applying one (:func:`apply_overrides`) replaces the group's points in a copy of the
result and records an :class:`~grader.feedback.gradebook.Adjustment` (the grader's
points, the new points, the reason, who): the gradebook, the class page and the LMS
exports show the overridden points *and* what the grader gave.

A line that cannot be applied as written is refused with its line number, never
guessed at: a missing column, points that are not a number or lie outside
0..the group's points, an empty reason or author, a second line for the same
group, or a line naming a student, assignment or group that has no result.
Commands that change grades (``grader override``, ``grader export``,
``grade-batch`` before it starts) stop on such a line; the pages still show the
valid overrides and list the refused lines at the top.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.core.text import cell_text, csv_text, numbered_rows, printable_text
from grader.feedback.files import write_text_atomic
from grader.feedback.gradebook import Adjustment, GradebookEntry

OVERRIDES_NAME = "overrides.csv"
COLUMNS = ("student", "assignment", "group", "points", "reason", "who")


class OverrideError(Exception):
    """An override cannot be used as written; the message names the file and the line."""


@dataclass(frozen=True)
class Override:
    student: str                 # the student's results folder name (the gradebook's ``student`` column)
    assignment: str
    group: str
    points: float
    reason: str
    who: str
    line: int = 0                # where it is in overrides.csv (0: not written yet)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.student, self.assignment, self.group

    @property
    def where(self) -> str:
        return f"{OVERRIDES_NAME} line {self.line}" if self.line else f"override {'/'.join(self.key)}"


def parse_overrides(text: str) -> tuple[list[Override], list[str]]:
    """(the usable overrides, one message per refused line) of an overrides.csv's text."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    problems: list[str] = []
    try:
        header = next(reader)
    except StopIteration:
        return [], []
    except csv.Error as exc:
        return [], [f"{OVERRIDES_NAME} line 1: not CSV ({exc})"]
    names = [cell_text(c).strip().lower() for c in header]
    unknown = [n for n in names if n not in COLUMNS]
    absent = [c for c in COLUMNS if c not in names]
    if unknown or absent or len(set(names)) != len(names):
        what = "; ".join(filter(None, [f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "",
                                       f"missing {', '.join(absent)}" if absent else "",
                                       "a column named twice" if len(set(names)) != len(names) else ""]))
        return [], [f"{OVERRIDES_NAME} line 1: the header must name the columns {','.join(COLUMNS)} ({what})"]
    index = {n: i for i, n in enumerate(names)}
    found: list[Override] = []
    first: dict[tuple[str, str, str], int] = {}
    for start, row in numbered_rows(reader, problems, OVERRIDES_NAME, "; the lines after it were not read"):
        try:
            override = _parse_row(row, index, start)
        except OverrideError as exc:
            problems.append(str(exc))
            continue
        if override.key in first:
            problems.append(f"{OVERRIDES_NAME} line {start}: a second override of {'/'.join(override.key)} "
                            f"(the first is on line {first[override.key]}); keep one")
            continue
        first[override.key] = start
        found.append(override)
    return found, problems


def _parse_row(row: list[str], index: dict[str, int], line: int) -> Override:
    where = f"{OVERRIDES_NAME} line {line}"
    if len(row) != len(index):
        raise OverrideError(f"{where}: {len(row)} cells, the header has {len(index)}")
    cells = {name: cell_text(row[i]).strip() for name, i in index.items()}
    empty = [name for name in COLUMNS if not cells[name]]
    if empty:
        raise OverrideError(f"{where}: {', '.join(empty)} is empty (every override says whose points, which "
                            "group, how many, why and who decided)")
    return Override(cells["student"], cells["assignment"], cells["group"],
                    check_points(cells["points"], where), cells["reason"], cells["who"], line)


def check_points(text: str, where: str = "the override") -> float:
    """``text`` as a number of points (finite, at least 0), or an OverrideError saying why not."""
    try:
        points = float(text)
    except ValueError:
        raise OverrideError(f"{where}: points {printable_text(text)!r} is not a number "
                            "(write e.g. 2.5, with a dot)") from None
    if not math.isfinite(points) or points < 0:
        raise OverrideError(f"{where}: points {printable_text(text)!r} must be a number of points, 0 or more")
    return points


def read_overrides(out: Path) -> tuple[list[Override], list[str]]:
    """The overrides of a results folder (none when it has no overrides.csv) and the refused lines."""
    path = Path(out) / OVERRIDES_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except UnicodeDecodeError:
        return [], [f"{OVERRIDES_NAME}: not UTF-8 text; save it as UTF-8 CSV"]
    except OSError as exc:
        return [], [f"{OVERRIDES_NAME}: cannot be read: {exc.strerror or exc}"]
    return parse_overrides(text)


def apply_overrides(entries: Sequence[GradebookEntry],
                    overrides: Sequence[Override]) -> tuple[list[GradebookEntry], list[str]]:
    """``entries`` with the overrides applied (copies; the inputs are untouched), and one message per
    override that matches no result it could apply to."""
    by_row = {(e.student, e.assignment): i for i, e in enumerate(entries)}
    out = list(entries)
    problems: list[str] = []
    for o in overrides:
        i = by_row.get((o.student, o.assignment))
        if i is None:
            problems.append(f"{o.where}: no result for student {o.student!r} in assignment {o.assignment!r} "
                            "(the student is the results folder's name, as in gradebook.csv)")
            continue
        entry = out[i]
        result = entry.result
        if result is None or not entry.scored:
            why = "its results.json cannot be read" if result is None else "its submission is missing"
            problems.append(f"{o.where}: {o.student}/{o.assignment} has no score to override ({why})")
            continue
        test = next((t for t in result.tests if t.name == o.group), None)
        if test is None:
            groups = ", ".join(t.name for t in result.tests) or "none"
            problems.append(f"{o.where}: {o.assignment} has no group {o.group!r} (its groups: {groups})")
            continue
        if o.points > test.max_score:
            problems.append(f"{o.where}: {o.points:g} points for {o.group}, which is worth {test.max_score:g}")
            continue
        original = entry.original_score if entry.adjustments else result.score
        tests = [replace(t, score=o.points) if t is test else t for t in result.tests]
        out[i] = replace(entry, result=replace(result, tests=tests), original_score=original,
                         adjustments=[*entry.adjustments, Adjustment(o.group, test.score, o.points, o.reason, o.who)])
    return out, problems


def with_overrides(out: Path, entries: Sequence[GradebookEntry]) -> tuple[list[GradebookEntry], list[str]]:
    """``entries`` of the results folder ``out`` with its overrides.csv applied, and every refused line."""
    overrides, problems = read_overrides(out)
    applied, unmatched = apply_overrides(entries, overrides)
    return applied, sorted(problems + unmatched, key=_line_order)


def _line_order(message: str) -> tuple[int, str]:
    head = message.split(":", 1)[0]
    number = head.rsplit(" ", 1)[-1]
    return (int(number) if number.isdigit() else 0), message


def write_overrides(out: Path, overrides: Sequence[Override]) -> Path:
    """Write ``overrides`` as ``out/overrides.csv`` (atomically; cells safe to open in a spreadsheet)."""
    path = Path(out) / OVERRIDES_NAME
    rows = [[o.student, o.assignment, o.group, f"{o.points:g}", o.reason, o.who] for o in overrides]
    write_text_atomic(path, csv_text(COLUMNS, rows))
    return path


def set_override(out: Path, new: Override | None, clear: tuple[str, str, str] | None = None) -> Path:
    """Add ``new`` (replacing the line of the same group, where there is one), or remove the line of
    ``clear``; refuses to rewrite a file with refused lines (they would be lost)."""
    overrides, problems = read_overrides(out)
    if problems:
        raise OverrideError(f"{problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                            + f": fix {Path(out) / OVERRIDES_NAME} first")
    key = new.key if new is not None else clear
    kept = [o for o in overrides if o.key != key]
    if new is None and len(kept) == len(overrides):
        raise OverrideError(f"no override of {'/'.join(key or ())} in {Path(out) / OVERRIDES_NAME}")
    if new is not None:
        position = next((i for i, o in enumerate(overrides) if o.key == key), len(kept))
        kept.insert(position, new)
    return write_overrides(out, kept)
