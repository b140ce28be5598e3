"""``grader export``: the batch's grades as a file an LMS imports, one row per student of the roster.

The roster (``--roster FILE``, CSV with a header) maps each student's results
folder name (``student``, as in gradebook.csv) to who they are in the LMS:
``name``, ``id`` (the LMS's own user id), ``sis_user_id``, ``sis_login_id``,
``section``, ``email``, ``username``, ``idnumber``; other columns are ignored
(a Canvas or Moodle gradebook export with a ``student`` column added will do).
Headers are read loosely (``SIS Login ID``, ``Email address`` and ``ID number``
are understood).

Formats, each as its importer reads it:

* ``canvas`` — Canvas's gradebook import (Grades → Import). Columns ``Student``,
  ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section`` in that order (Canvas
  finds the student columns by these names, with ``Section`` last), then one
  column per assignment, then a ``Points Possible`` row (Canvas reads it for
  assignments it creates). Canvas matches a student by ``ID``, else ``SIS User
  ID``, else ``SIS Login ID``, else by name: every roster row must carry one of
  the three ids, so that no grade lands on a namesake. An assignment column
  titled ``Title (12345)`` targets Canvas assignment 12345; a plain title
  matches an assignment of that title or creates one. Titles Canvas reserves for
  student columns, or reads as totals (``Current Score``, ``Final Grade``, …),
  are refused.
* ``moodle`` — Moodle's "Import grades: CSV file". One identifier column, named
  as Moodle names the field (``Email address``, ``ID number``, ``Username`` or
  ``User ID``) so that its "Map from/Map to" picks it, then one column per
  assignment titled ``NAME (Real)``, which Moodle maps to the grade item NAME
  on its own. Moodle stops the whole import on a user it does not know and
  skips a row whose identifier is empty: every roster row must have one.
* ``csv`` — a plain table for anything else: ``student``, the roster's columns,
  per assignment its total and status, and the total.

Scores are the gradebook's, overrides applied (an overrides.csv with a refused
line stops the export: what goes to the LMS is what the instructor decided).
A roster student with no result gets an empty cell (the LMS leaves the grade
alone) or 0 (``--missing zero``); a result whose grading failed (``error``) is
never exported as a score. Students graded but absent from the roster are listed,
never dropped silently. Every cell goes through the gradebook's CSV writer: no cell
a spreadsheet would run as a formula.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.core.text import FORMULA_STARTS, cell_text, csv_text, numbered_rows, printable_text
from grader.feedback.classpage import status_kind
from grader.feedback.files import write_text_atomic
from grader.feedback.gradebook import GradebookEntry
from grader.workflows.overrides import with_overrides
from grader.workflows.results_dir import EXPORTS_DIR, gradebook_entries

FORMATS = ("canvas", "moodle", "csv")
FIELDS = ("student", "name", "id", "sis_user_id", "sis_login_id", "section", "email", "username", "idnumber")
ALIASES = {"folder": "student", "student_name": "name", "full_name": "name", "email_address": "email",
           "e_mail": "email", "id_number": "idnumber", "user_id": "id", "canvas_id": "id", "canvas_user_id": "id"}
# Canvas (GradebookImporter): the student columns, and titles it strips as totals (matched anywhere in a title).
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_RESERVED = ("Student", "LastName", "FirstName", "ID", "SIS User ID", "SIS Login ID", "Section",
                   "Integration ID", "Root Account")
CANVAS_TOTALS = ("Current Score", "Current Points", "Current Grade", "Final Score", "Final Points", "Final Grade",
                 "Override Score", "Override Grade", "Override Status")
CANVAS_POINTS_ROW = "    Points Possible"
# Moodle (grade_import_mapping_form): roster field → the label Moodle's "Map to" shows, in the order we prefer.
MOODLE_IDS = {"email": "Email address", "idnumber": "ID number", "username": "Username", "id": "User ID"}
MOODLE_GRADE = " (Real)"


class ExportError(Exception):
    """The roster, the columns or the results cannot make a correct import file; one line for the user."""


@dataclass
class RosterRow:
    student: str
    fields: dict[str, str]
    line: int


@dataclass
class ExportSummary:
    path: Path
    format: str
    rows: int = 0
    assignments: list[str] = field(default_factory=list)
    no_hand_in: list[str] = field(default_factory=list)       # "student/assignment" with no result
    not_in_roster: list[str] = field(default_factory=list)    # graded students the roster lacks
    not_exported: list[str] = field(default_factory=list)     # results that failed to grade (empty cells)
    unreviewed: list[str] = field(default_factory=list)       # "needs review" results without an override
    missing: str = "empty"

    def lines(self) -> list[str]:
        """What the instructor must know before importing, one line each."""
        out = [f"wrote {self.path}: {self.rows} student(s) × {len(self.assignments)} assignment(s) "
               f"({', '.join(self.assignments) or 'none'}), {self.format} format"]
        if self.no_hand_in:
            cell = "0" if self.missing == "zero" else "an empty cell (the LMS keeps its grade; --missing zero for 0)"
            out.append(f"no hand-in, exported as {cell}: {_list(self.no_hand_in)}")
        if self.not_exported:
            out.append(f"grading failed, exported as an empty cell (grade them again): {_list(self.not_exported)}")
        if self.unreviewed:
            out.append(f"need review and have no override (exported as graded): {_list(self.unreviewed)}")
        if self.not_in_roster:
            out.append(f"graded but not in the roster, NOT exported: {_list(self.not_in_roster)}")
        return [printable_text(line) for line in out]


def _list(names: Sequence[str], most: int = 20) -> str:
    return f"{len(names)}: " + ", ".join(names[:most]) + (" ..." if len(names) > most else "")


def _field(header: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", cell_text(header).strip().lower()).strip("_")
    return ALIASES.get(name, name)


def read_roster(path: Path) -> list[RosterRow]:
    """The roster's rows; an ExportError names the line of the first problem (and how many more)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ExportError(f"no such roster file: {path}") from None
    except UnicodeDecodeError:
        raise ExportError(f"the roster {path} is not UTF-8 text: save it as UTF-8 CSV") from None
    except OSError as exc:
        raise ExportError(f"cannot read the roster {path}: {exc.strerror or exc}") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = [_field(h) for h in next(reader)]
    except StopIteration:
        raise ExportError(f"the roster {path} is empty (it needs a header row: student,email,...)") from None
    except csv.Error as exc:
        raise ExportError(f"roster line 1: not CSV ({exc})") from None
    if "student" not in header:
        raise ExportError("roster line 1: no 'student' column (each student's results folder name, as in "
                          "gradebook.csv; a Canvas export's 'Student' holds names: rename it 'name')")
    columns = {name: i for i, name in reversed(list(enumerate(header))) if name in FIELDS}
    rows: list[RosterRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for start, cells in numbered_rows(reader, problems, "roster"):
        if len(cells) != len(header):
            problems.append(f"roster line {start}: {len(cells)} cells, the header has {len(header)}")
            continue
        values = {name: cell_text(cells[i]).strip() for name, i in columns.items()}
        student = values.pop("student")
        if not student:
            problems.append(f"roster line {start}: the student (results folder name) is empty")
        elif student in seen:
            problems.append(f"roster line {start}: {student} again (first on line {seen[student]})")
        else:
            seen[student] = start
            rows.append(RosterRow(student, values, start))
    if problems:
        raise ExportError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return rows


def check_identities(roster: Sequence[RosterRow], fmt: str) -> str:
    """Every roster row can be found in the LMS (see the module's docstring); returns the Moodle id field."""
    problems = []
    chosen = ""
    if fmt == "canvas":
        for r in roster:
            ids = [r.fields.get(k, "") for k in ("id", "sis_user_id", "sis_login_id")]
            if not any(ids):
                problems.append(f"roster line {r.line}: {r.student} has no id, sis_user_id or sis_login_id "
                                "(Canvas would match the name alone)")
            elif ids[0] and not ids[0].isdigit():
                problems.append(f"roster line {r.line}: id {ids[0]!r} of {r.student} is not a Canvas user id (digits)")
    elif fmt == "moodle":
        present = [k for k in MOODLE_IDS if any(r.fields.get(k) for r in roster)]
        if roster and not present:
            raise ExportError("the roster has no email, idnumber, username or id column: Moodle needs one to "
                              "know whose grade each row is")
        chosen = present[0] if present else "email"
        for r in roster:
            if not r.fields.get(chosen):
                problems.append(f"roster line {r.line}: {r.student} has no {chosen} (Moodle would skip the row)")
    if fmt in ("canvas", "moodle"):
        keys = ("id", "sis_user_id", "sis_login_id") if fmt == "canvas" else (chosen,)
        for key in keys:
            first: dict[str, RosterRow] = {}
            for r in roster:
                value = r.fields.get(key, "")
                if value.startswith(FORMULA_STARTS):     # it would be written as '…, and match nobody in the LMS
                    problems.append(f"roster line {r.line}: {key} {value!r} of {r.student} starts with "
                                    f"{value[0]!r}: the CSV would protect it with a leading ' and the LMS "
                                    "would not find the student")
                if value and value in first:
                    problems.append(f"roster line {r.line}: {key} {value!r} is also {first[value].student}'s "
                                    f"(line {first[value].line})")
                first.setdefault(value, r)
    if problems:
        raise ExportError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    return chosen


def column_titles(assignments: Sequence[str], fmt: str, names: dict[str, str]) -> list[str]:
    """The title of each assignment's column in the import file (``names``: --column ASSIGNMENT=TITLE)."""
    unknown = sorted(set(names) - set(assignments))
    if unknown:
        raise ExportError(f"--column names {', '.join(unknown)}, which has no result here "
                          f"(assignments: {', '.join(assignments) or 'none'})")
    titles = []
    for a in assignments:
        title = names.get(a, a).strip()
        if not title or any(c in title for c in "\r\n\t"):
            raise ExportError(f"--column {a}=: the title must be one line of text")
        if fmt == "canvas":
            if title in CANVAS_RESERVED or any(t in title for t in CANVAS_TOTALS):
                raise ExportError(f"the Canvas column {title!r} would not be read as an assignment (Canvas reserves "
                                  f"{', '.join(CANVAS_RESERVED)} and skips titles containing "
                                  f"{', '.join(CANVAS_TOTALS)}): choose another with --column {a}=TITLE")
            if "Points Possible" in title:
                raise ExportError(f"the Canvas column {title!r}: 'Points Possible' marks Canvas's points row")
        elif fmt == "moodle":
            if title in MOODLE_IDS.values():
                raise ExportError(f"the Moodle column {title!r} is the name of a user field")
            title += MOODLE_GRADE
        titles.append(title)
    if len(set(titles)) != len(titles):
        raise ExportError(f"two assignments would share a column title: {', '.join(titles)}")
    return titles


def _score(x: float) -> str:
    return f"{round(x, 2):g}"


def export(out: Path, fmt: str, roster_path: Path | None = None, dest: Path | None = None,
           missing: str = "empty", names: dict[str, str] | None = None) -> ExportSummary:
    """Write the import file for ``fmt`` from the results folder ``out``; see the module's docstring."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (one of: {', '.join(FORMATS)})")
    if fmt != "csv" and roster_path is None:
        raise ExportError(f"--format {fmt} needs --roster FILE (each student's {fmt.capitalize()} identity)")
    out = Path(out)
    if not out.is_dir():
        raise ExportError(f"{out} is not a results folder (grader grade-batch SUBMISSIONS_DIR --out {out} makes one)")
    roster = read_roster(roster_path) if roster_path is not None else None
    entries, refused = with_overrides(out, gradebook_entries(out))
    if refused:
        raise ExportError(f"{refused[0]}" + (f" (and {len(refused) - 1} more)" if len(refused) > 1 else "")
                          + ": fix overrides.csv before exporting grades (grader report lists every refused line)")
    by_student: dict[str, dict[str, GradebookEntry]] = {}
    for e in entries:
        by_student.setdefault(e.student, {})[e.assignment] = e
    assignments = sorted({e.assignment for e in entries if e.result is not None and e.result.tests})
    if not assignments:
        raise ExportError(f"no graded result in {out}: nothing to export")
    titles = column_titles(assignments, fmt, names or {})
    if roster is None:
        roster = [RosterRow(s, {}, 0) for s in sorted(by_student)]
    id_field = check_identities(roster, fmt)
    summary = ExportSummary(path=Path(dest) if dest else out / EXPORTS_DIR / f"{fmt}.csv", format=fmt,
                            assignments=list(assignments), missing=missing)
    listed = {r.student for r in roster}
    summary.not_in_roster = sorted(s for s in by_student if s not in listed)
    points = {a: max((e.result.max_score for e in entries if e.assignment == a and e.result is not None), default=0)
              for a in assignments}

    def cell(student: str, assignment: str) -> tuple[str, str]:
        """(the score cell, the status) of one student's assignment."""
        e = by_student.get(student, {}).get(assignment)
        if e is None or not e.scored:
            summary.no_hand_in.append(f"{student}/{assignment}")
            return ("0" if missing == "zero" else ""), ("missing" if e is not None else "no hand-in")
        kind = status_kind(e.status)
        if e.result is None or kind == "error":
            summary.not_exported.append(f"{student}/{assignment}")
            return "", e.status
        if kind == "needs review" and not e.adjustments:
            summary.unreviewed.append(f"{student}/{assignment}")
        return _score(e.result.score), e.status + (" (overridden)" if e.adjustments else "")

    if fmt == "canvas":
        header = [*CANVAS_STUDENT_COLUMNS, *titles]
        rows = [[CANVAS_POINTS_ROW, "", "", "", "", *(_score(points[a]) for a in assignments)]]
        for r in roster:
            f = r.fields
            rows.append([f.get("name") or r.student, f.get("id", ""), f.get("sis_user_id", ""),
                         f.get("sis_login_id", ""), f.get("section", ""), *(cell(r.student, a)[0] for a in assignments)])
    elif fmt == "moodle":
        header = [MOODLE_IDS[id_field], *titles]
        rows = [[r.fields[id_field], *(cell(r.student, a)[0] for a in assignments)] for r in roster]
    else:
        extra = [k for k in FIELDS[1:] if any(r.fields.get(k) for r in roster)]
        header = ["student", *extra]
        for a in assignments:
            header += [a, f"{a}:status"]
        header.append("total")
        rows = []
        for r in roster:
            row = [r.student, *(r.fields.get(k, "") for k in extra)]
            total = 0.0
            for a in assignments:
                score, status = cell(r.student, a)
                row += [score, status]
                total += float(score) if score else 0.0
            rows.append([*row, _score(total)])
    summary.rows = len(roster)
    try:
        write_text_atomic(summary.path, csv_text(header, rows))
    except OSError as exc:
        raise ExportError(f"cannot write {summary.path}: {exc.strerror or exc}") from None
    return summary
