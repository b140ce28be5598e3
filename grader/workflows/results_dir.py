"""RESULTS_DIR, the folder a batch writes: one name per thing in it, and the gradebook rebuilt from it.

Layout::

    <student>/<assignment>/results.json     Gradescope shape, written atomically (last: it means "done")
    <student>/<assignment>/feedback.html    self-contained feedback page
    <student>/<assignment>/artifacts/       files the suites saved (plots, sample grids)
    gradebook.csv                            rebuilt from every results.json above (and overrides.csv)
    index.html                               the class page (grader.workflows.report)
    overrides.csv                            the instructor's overrides (grader.workflows.overrides)
    similarity/                              grade-batch --similarity's report
    exports/                                 grader export's LMS files

Each student has one folder (:func:`student_dirname` is one-to-one with the raw name, and never one
of the names above). The gradebook is always rebuilt from the results files, never kept in memory,
so an interrupted batch leaves a true one. Kept apart from the grading (:mod:`grader.workflows.batch`)
so that the class page, the overrides and the exports read a results folder without loading the
machinery that writes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader.core.results import GradeResult
from grader.feedback.files import write_json_atomic, write_text_atomic
from grader.feedback.gradebook import GradebookEntry, gradebook_csv, gradebook_table
from grader.workflows.overrides import OVERRIDES_NAME, with_overrides

RESULTS_NAME = "results.json"
HTML_NAME = "feedback.html"
ARTIFACTS_NAME = "artifacts"
GRADEBOOK_NAME = "gradebook.csv"
UNKNOWN = "unknown"
MISSING = "missing"
SIMILARITY_DIR = "similarity"      # grade-batch --similarity writes its report here
INDEX_NAME = "index.html"          # the class page
EXPORTS_DIR = "exports"            # grader export writes the LMS files here
RESERVED_NAMES = {GRADEBOOK_NAME, SIMILARITY_DIR, INDEX_NAME, OVERRIDES_NAME, EXPORTS_DIR}
_HASH_SUFFIX = re.compile(r"~[0-9a-f]{12}$")
MAX_PLAIN_BYTES = 200               # a folder name may have 255 bytes; leave room for the hash


def printable(name: str) -> str:
    """A file name as safe text: undecodable bytes and control characters escaped (not one-to-one:
    a literal backslash reads like an escape; :func:`student_dirname` is the one-to-one name)."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def student_dirname(student: str) -> str:
    """The student's folder in the results directory, one-to-one with the raw folder name.

    A plain name (printable, not hidden, not a name the results folder itself uses, not too long)
    is kept as it is. Any other is shown escaped, followed by ``~`` and 12 hex digits of a hash of
    the raw name; no plain name ends that way, so two students never share a folder (``x<TAB>y``
    is ``x\\x09y~…``, a folder literally named ``x\\x09y`` keeps its name)."""
    name = printable(student)
    if (name == student and name and not name.startswith(".") and name not in RESERVED_NAMES
            and not _HASH_SUFFIX.search(name) and len(name.encode()) <= MAX_PLAIN_BYTES):
        return name
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    shown = name.lstrip(".").encode()[:MAX_PLAIN_BYTES - 20].decode("utf-8", "ignore") or "_"
    return f"{shown}~{digest}"


def gradebook_rows(out: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gradebook, read from every results.json under ``out`` (overrides applied)."""
    return gradebook_table(with_overrides(out, gradebook_entries(out))[0])


def gradebook_entries(out: Path) -> list[GradebookEntry]:
    """One entry per results.json under ``out``, as the grader left it (no override applied)."""
    entries = []
    for path in sorted(out.glob(f"*/*/{RESULTS_NAME}")):
        try:
            data = json.loads(path.read_text())
            extra = data.get("extra_data", {})
            batch = extra.get("batch", {})
            status = _status(str(batch.get("status", "graded")), data)
            entries.append(GradebookEntry(path.parent.parent.name,     # the one-to-one name (student_dirname)
                                          str(extra.get("assignment", path.parent.name)),
                                          GradeResult.from_gradescope(data), status, str(batch.get("source", "")),
                                          scored=not status.startswith(MISSING),   # no score for one that is gone
                                          folder=f"{path.parent.parent.name}/{path.parent.name}"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            entries.append(GradebookEntry(path.parent.parent.name, path.parent.name, None,
                                          f"error: unreadable {RESULTS_NAME}: {type(exc).__name__}",
                                          folder=f"{path.parent.parent.name}/{path.parent.name}"))
    return entries


def _status(status: str, data: dict[str, Any]) -> str:
    """``needs review`` when a test was flagged for an instructor (e.g. a VAE bound below the physical
    floor: 0 points until someone has looked), else the batch status."""
    flagged = [t["name"] for t in data.get("tests", []) if isinstance(t.get("extra_data"), dict)
               and t["extra_data"].get("needs_review")]
    if status == "graded" and flagged:
        return f"needs review ({', '.join(flagged)})"
    return status


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def write_gradebook(out: Path, entries: list[GradebookEntry] | None = None) -> Path:
    """Rebuild ``gradebook.csv`` from the results files and overrides.csv (atomically); ``entries``:
    those already read and overridden (:func:`gradebook_entries`, then ``with_overrides``)."""
    path = out / GRADEBOOK_NAME
    if entries is None:
        entries = with_overrides(out, gradebook_entries(out))[0]   # a refused line is listed by grader report
    write_text_atomic(path, gradebook_csv(entries))   # escaped, no cell a spreadsheet runs
    return path


def mark_missing(out: Path, present: Iterable[str], assignment: str | None = None) -> list[str]:
    """Mark the results of submissions no longer in the submissions folder as ``missing`` (their
    scores leave the gradebook; the file stays, for the record). ``present``: the folders
    (``student/assignment``) of this batch's jobs; with ``assignment``, only that one's results are
    looked at (a batch of one assignment says nothing about the others). Returns the folders marked."""
    present = set(present)
    marked = []
    for path in sorted(out.glob(f"*/*/{RESULTS_NAME}")):
        folder = f"{path.parent.parent.name}/{path.parent.name}"
        if folder in present or (assignment and path.parent.name != assignment):
            continue
        try:
            data = json.loads(path.read_text())
            batch = data["extra_data"]["batch"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(batch.get("status", "")).startswith(MISSING):
            continue
        was = f"{_num(data.get('score', ''))}/{_num(data['extra_data'].get('max_score', ''))}"
        batch["status"] = (f"{MISSING}: {batch.get('source') or folder} is no longer in the submissions folder "
                           f"(it was graded {was}, {batch.get('status', 'graded')})")
        write_json_atomic(path, data)
        marked.append(folder)
    return marked
