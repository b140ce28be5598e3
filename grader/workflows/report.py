"""The instructor's view of a results folder: ``index.html`` (the class page) and ``gradebook.csv``.

Built from the files alone (every ``results.json``, ``overrides.csv`` and the
similarity report's CSV when there is one), so ``grader report RESULTS_DIR``
rebuilds exactly what the last ``grade-batch`` wrote, and a change to
overrides.csv reaches the gradebook and the page together: both are written
here, from one reading of the folder.

The review queue lists the results a human should look at, each with its reason:

* **needs review** — a threshold landed below its physical floor (0 points until
  someone has looked: the suite's own words are shown);
* **similarity** — the hand-in is in a pair at or above the report's threshold
  (linked to the pair, side by side, in ``similarity/similarity.html``);
* **error** — the grading itself failed (a grader error, a watchdog, an
  unreadable results.json): grade it again;
* **time limit** — a group ran out of time (a slow machine, or an endless loop);
* **refused** / **invalid** — the hand-in was not graded as handed in (a link,
  several files, no file).

An override of the result shows as "resolved" beside its queue rows; the rows stay,
so that the page records what was looked at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.core.text import printable_text
from grader.feedback.classpage import ClassReport, ReviewItem, render_class_page, status_kind
from grader.feedback.files import write_text_atomic
from grader.feedback.gradebook import GradebookEntry
from grader.workflows.overrides import OVERRIDES_NAME, with_overrides
from grader.workflows.results_dir import (
    GRADEBOOK_NAME,
    HTML_NAME,
    INDEX_NAME,
    SIMILARITY_DIR,
    gradebook_entries,
    write_gradebook,
)
from grader.workflows.similarity import HTML_NAME as SIMILARITY_HTML
from grader.workflows.similarity import flagged_pairs

# Queue order: what blocks a grade first.
QUEUE_ORDER = ("error", "needs review", "similarity", "time limit", "refused", "invalid")


class ReportError(Exception):
    """The results folder cannot be read or written; one line for the user."""


@dataclass
class ReportSummary:
    page: Path
    gradebook: Path
    results: int = 0
    queue: int = 0
    open_items: int = 0                            # queue rows whose result has no override yet
    problems: list[str] = field(default_factory=list)   # refused override lines
    seconds: float = 0.0

    def summary(self) -> str:
        line = (f"class page: {self.page} ({self.results} result(s); review queue: {self.queue} row(s), "
                f"{self.open_items} without an override)")
        if self.problems:
            line += f"; {len(self.problems)} override line(s) refused (listed on the page)"
        return printable_text(line)


def review_queue(entries: list[GradebookEntry], out: Path) -> list[ReviewItem]:
    """The rows a human should look at, most urgent kind first (see the module's docstring)."""
    items: list[ReviewItem] = []
    rows = {(e.student, e.assignment): e for e in entries}
    for e in entries:
        kind = status_kind(e.status)
        resolved = "; ".join(a.describe() for a in e.adjustments)
        if kind in ("error", "refused", "invalid"):
            items.append(ReviewItem(e.student, e.assignment, kind, e.status, resolved=resolved))
        elif kind == "needs review":
            flagged = [(t.name, t.extra_data.get("needs_review")) for t in (e.result.tests if e.result else [])
                       if t.extra_data.get("needs_review")]
            detail = "; ".join(f"{name}: {why}" if isinstance(why, str) else name for name, why in flagged)
            items.append(ReviewItem(e.student, e.assignment, kind, detail or e.status, resolved=resolved))
        if e.result is not None and kind != "missing":
            slow = [t.name for t in e.result.tests if t.cause is not None and t.cause.kind == "timeout"]
            if slow:
                items.append(ReviewItem(e.student, e.assignment, "time limit",
                                        f"ran out of time in {', '.join(slow)}", resolved=resolved))
    for pair in flagged_pairs(out / SIMILARITY_DIR):
        for me, other in ((pair.a, pair.b), (pair.b, pair.a)):
            entry = rows.get((me, pair.assignment))
            items.append(ReviewItem(me, pair.assignment, "similarity",
                                    f"{pair.similarity:.0%} similar to {other}"
                                    + ("" if pair.anchor else " (in similarity.csv only)"),
                                    href=f"{SIMILARITY_DIR}/{SIMILARITY_HTML}", anchor=pair.anchor,
                                    link_text="the pair" if pair.anchor else "the report",
                                    resolved="; ".join(a.describe() for a in entry.adjustments) if entry else ""))
    order = {k: i for i, k in enumerate(QUEUE_ORDER)}
    items.sort(key=lambda i: (order.get(i.kind, len(order)), i.assignment, printable_text(i.student)))
    return items


def build_report(out: Path, entries: list[GradebookEntry] | None = None,
                 problems: list[str] | None = None) -> tuple[ClassReport, list[GradebookEntry], list[str]]:
    """The page's data for the results folder ``out`` (overrides applied), the entries and the refused lines."""
    if entries is None:
        entries, problems = with_overrides(out, gradebook_entries(out))
    problems = list(problems or [])
    feedback = {e.folder for e in entries if e.folder and (out / e.folder / HTML_NAME).is_file()}
    links = [("gradebook.csv", GRADEBOOK_NAME)]
    notes = []
    if (out / SIMILARITY_DIR / SIMILARITY_HTML).is_file():
        links.append(("similarity report", f"{SIMILARITY_DIR}/{SIMILARITY_HTML}"))
        built = time.strftime("%Y-%m-%d %H:%M", time.localtime((out / SIMILARITY_DIR / SIMILARITY_HTML).stat().st_mtime))
        notes.append(f"similarity: the report of {built} (grade-batch --similarity, or grader similarity, "
                     f"makes it again)")
    if (out / OVERRIDES_NAME).is_file():
        links.append(("overrides.csv", OVERRIDES_NAME))
    report = ClassReport(title=f"Class results: {out.resolve().name}", entries=entries,
                         queue=review_queue(entries, out), problems=problems, links=links,
                         feedback=feedback, generated=time.strftime("%Y-%m-%d %H:%M"), notes=notes)
    return report, entries, problems


def write_report(out: Path) -> ReportSummary:
    """Rebuild ``gradebook.csv`` and ``index.html`` in ``out`` from its files (one reading of them)."""
    t0 = time.monotonic()
    out = Path(out)
    if not out.is_dir():
        raise ReportError(f"{out} is not a results folder (grader grade-batch SUBMISSIONS_DIR --out {out} makes one)")
    report, entries, problems = build_report(out)
    try:
        gradebook = write_gradebook(out, entries)
        page = out / INDEX_NAME
        write_text_atomic(page, render_class_page(report))
    except OSError as exc:
        raise ReportError(f"cannot write the class page in {out}: {exc.strerror or exc}") from None
    return ReportSummary(page=page, gradebook=gradebook, results=len(entries), queue=len(report.queue),
                         open_items=sum(not i.resolved for i in report.queue), problems=problems,
                         seconds=time.monotonic() - t0)
