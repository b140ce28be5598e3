"""The class page (``RESULTS_DIR/index.html``): every student's result on one self-contained page.

The batch's results model rendered once more, for the instructor: per assignment
a table (one row per student: total, each group's points, status, grading time,
a link to the student's ``feedback.html``) under a summary (counts by status,
the median grading time, the score distribution and each group's pass rate),
and above them the review queue that :mod:`grader.workflows.report` builds (the
rows a human should look at, and why).

Why it is made this way:

* **Self-contained and offline.** One file: CSS inline, the plots drawn as inline
  SVG from the numbers (matplotlib would cost ~50 ms a figure, a tenth of the 2 s
  budget for 300 students × 5 assignments per figure pair), no network. A
  Content-Security-Policy allows nothing but the page's own styles, ``data:``
  images and its one script, by hash: even a name that got past escaping could
  not run a script or fetch anything.
* **Student text stays text.** Rendered with Jinja2 with autoescaping on, so every
  value (folder names are student text: ``<script>`` is a valid folder name) is
  escaped unless marked safe; control characters are shown as escapes
  (:func:`grader.core.text.printable_text`); links are percent-encoded paths.
* **Works without the script.** Every row is in the HTML (the page reads the
  same with JavaScript off); the script only sorts (click a column heading) and
  filters (student name, status, assignment).
* **Overrides never hide the grader's verdict.** A group an instructor overrode
  shows the new points, marked, with the grader's points, the reason and who in
  its tooltip and in the row's note; pass rates count the grader's verdicts.
"""

from __future__ import annotations

import base64
import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from grader.core.text import printable_text
from grader.core.version import __version__
from grader.feedback.gradebook import GradebookEntry

TEMPLATE = "classpage.html.j2"
# Status kinds, in the order the page lists them; a batch status starts with one of these words.
KINDS = ("graded", "needs review", "refused", "invalid", "error", "missing")
HISTOGRAM_BINS = 10            # when an assignment is worth more than 20 points (else one bin per point)

SCRIPT = r"""
"use strict";
(function () {
  var q = document.getElementById("q"), kind = document.getElementById("kind"),
      only = document.getElementById("only"), count = document.getElementById("count");
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.rows"));
  function keep(tr, text, k, a) {
    var d = tr.dataset;
    if (text && d.student.indexOf(text) < 0) return false;
    if (k === "overridden" ? !d.overridden : (k && d.kind !== k)) return false;
    return !a || d.assignment === a;
  }
  function apply() {
    var text = q.value.trim().toLowerCase(), k = kind.value, a = only.value, shown = 0, total = 0;
    tables.forEach(function (table) {
      var rows = table.tBodies[0].rows, n = 0;
      for (var i = 0; i < rows.length; i++) {
        var ok = keep(rows[i], text, k, a);
        rows[i].hidden = !ok;
        if (ok) n++;
      }
      var section = table.closest("section");
      section.querySelector(".shown").textContent = n + " of " + rows.length + " shown";
      if (section.dataset.assignment !== undefined) {
        section.hidden = a !== "" && section.dataset.assignment !== a;
        shown += n; total += rows.length;
      }
    });
    count.textContent = shown + " of " + total + " results shown";
  }
  function sort(table, th) {
    var col = th.cellIndex, dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var numeric = th.dataset.type === "num";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var body = table.tBodies[0];
    var keyed = Array.prototype.map.call(body.rows, function (tr, i) {
      var cell = tr.cells[col], v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
      return {tr: tr, i: i, v: numeric ? (v === "" ? NaN : parseFloat(v)) : v.toLowerCase()};
    });
    keyed.sort(function (x, y) {
      if (numeric) {
        var nx = isNaN(x.v), ny = isNaN(y.v);
        if (nx || ny) return (nx - ny) || (x.i - y.i);     // no value: last, either way
        return (x.v - y.v) * dir || (x.i - y.i);
      }
      return (x.v < y.v ? -1 : x.v > y.v ? 1 : 0) * dir || (x.i - y.i);
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.tr); });
    body.appendChild(frag);
  }
  tables.forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var button = th.querySelector("button");
      if (button) button.addEventListener("click", function () { sort(table, th); });
    });
  });
  [q, kind, only].forEach(function (el) { el.addEventListener("input", apply); el.addEventListener("change", apply); });
  document.documentElement.classList.add("js");
  apply();
})();
"""


@dataclass
class ReviewItem:
    """One row of the review queue: which result, why a human should look, and where."""
    student: str                 # results folder name
    assignment: str
    kind: str                    # "needs review", "similarity", "error", "time limit", "refused", "invalid"
    detail: str                  # one line: what was found
    href: str = ""               # where to look first, a file relative to RESULTS_DIR (the similarity report)
    anchor: str = ""             # and the place in it (a pair)
    link_text: str = ""
    resolved: str = ""           # the overrides applied to that result, if any


@dataclass
class ClassReport:
    """Everything the page shows; built by :mod:`grader.workflows.report` from a results folder."""
    title: str
    entries: Sequence[GradebookEntry]          # overrides applied
    queue: Sequence[ReviewItem] = ()
    problems: Sequence[str] = ()               # refused override lines
    links: Sequence[tuple[str, str]] = ()      # (label, href relative to RESULTS_DIR): gradebook, similarity, ...
    feedback: frozenset[str] | set[str] = frozenset()   # results folders that have a feedback.html
    generated: str = ""
    notes: Sequence[str] = field(default_factory=list)


def status_kind(status: str) -> str:
    """The kind of a batch status ('needs review (elbo)' → 'needs review', 'refused: symlink: …' → 'refused')."""
    for kind in KINDS:
        if status.startswith(kind):
            return kind
    return "error"


def href(path: str, anchor: str = "") -> str:
    """A relative link to ``path`` (a results folder name may hold any character but '/': '#', '?' and '%'
    are encoded too), and to ``anchor`` in it."""
    return quote(path, safe="/") + (f"#{quote(anchor, safe='')}" if anchor else "")


def _num(x: float | None, digits: int = 2) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return f"{round(x, digits):g}"


def _row(e: GradebookEntry, feedback: frozenset[str] | set[str]) -> dict[str, Any]:
    r = e.result
    kind = status_kind(e.status)
    adjusted = {a.group: a for a in e.adjustments}
    groups = {}
    for t in r.tests if r is not None else []:
        a = adjusted.get(t.name)
        part = "full" if t.score >= t.max_score > 0 else "zero" if t.score <= 0 else "part"
        title = f"{t.name}: {_num(t.score)} / {_num(t.max_score)}"
        if t.cause is not None:
            title += f" — {printable_text(t.cause.summary)[:200]}"
        if a is not None:
            title = f"{t.name}: overridden {_num(a.original)} → {_num(a.points)}: {a.reason} ({a.who})"
        groups[t.name] = {"text": _num(t.score) if e.scored else "", "v": _num(t.score) if e.scored else "",
                          "cls": ("ov " if a is not None else "") + part, "title": printable_text(title),
                          "ov": a is not None}
    score = r.score if r is not None and e.scored else None
    page = f"{e.folder}/feedback.html"
    return {
        "student": printable_text(e.student), "key": printable_text(e.student).lower(),
        "assignment": printable_text(e.assignment), "kind": kind, "status": printable_text(e.status),
        "file": printable_text(e.file), "href": href(page) if e.folder in feedback else "",
        "score": _num(score), "max": _num(r.max_score) if r is not None else "",
        "groups": groups, "seconds": _num(r.execution_time, 1) if r is not None else "",
        "overridden": bool(e.adjustments),
        "override": printable_text("; ".join(a.describe() for a in e.adjustments)),
        "original": _num(e.original_score) if e.adjustments else "",
    }


def _histogram(scores: list[float], top: float) -> dict[str, Any]:
    """Bins of the totals (one per point up to 20 points, else :data:`HISTOGRAM_BINS`), as bars to draw."""
    if top <= 0:
        return {"bars": [], "max": 0}
    whole = top <= 20 and float(top).is_integer()
    n = int(top) + 1 if whole else HISTOGRAM_BINS
    width = 1.0 if whole else top / n
    counts = [0] * n
    for s in scores:
        counts[min(n - 1, max(0, int(s // width)))] += 1
    labels = [f"{i:g}" if whole else f"{_num(i * width, 1)}–{_num((i + 1) * width, 1)}" for i in range(n)]
    peak = max(counts) if counts else 0
    w = 300 / n
    bars = [{"x": round(i * w + 1, 1), "w": round(max(w - 2, 1), 1), "h": round(80 * c / peak, 1) if peak else 0,
             "label": labels[i], "count": c} for i, c in enumerate(counts)]
    return {"bars": bars, "max": peak, "first": labels[0], "last": labels[-1]}


def _assignment(name: str, entries: list[GradebookEntry], feedback: frozenset[str] | set[str]) -> dict[str, Any]:
    groups: dict[str, float] = {}
    for e in entries:
        for t in e.result.tests if e.result is not None else []:
            groups.setdefault(t.name, t.max_score)
    scored = [e for e in entries if e.result is not None and e.scored]
    top = max((e.result.max_score for e in scored), default=0.0)
    kinds: dict[str, int] = {}
    for e in entries:
        kinds[status_kind(e.status)] = kinds.get(status_kind(e.status), 0) + 1
    times = [e.result.execution_time for e in entries if e.result is not None and e.result.execution_time > 0]
    totals = [e.result.score for e in scored]
    rates = []
    for g, worth in groups.items():
        tests = [t for e in scored for t in e.result.tests if t.name == g]
        passed = sum(t.status == "passed" for t in tests)
        grader_points = []
        for e in scored:
            adjusted = {a.group: a.original for a in e.adjustments}
            grader_points += [adjusted.get(t.name, t.score) for t in e.result.tests if t.name == g]
        pct = 100 * passed / len(tests) if tests else 0
        rates.append({"group": g, "worth": _num(worth), "passed": passed, "n": len(tests), "pct": round(pct),
                      "mean": _num(statistics.fmean(grader_points)) if grader_points else ""})
    overridden = sum(bool(e.adjustments) for e in entries)
    return {
        "name": printable_text(name), "groups": [{"name": printable_text(g), "worth": _num(w)} for g, w in groups.items()],
        "rows": [_row(e, feedback) for e in entries], "n": len(entries), "scored": len(scored),
        "kinds": [(k, kinds[k]) for k in (*KINDS, *sorted(set(kinds) - set(KINDS))) if kinds.get(k)],
        "overridden": overridden, "top": _num(top),
        "median_time": _num(statistics.median(times), 1) if times else "",
        "median_score": _num(statistics.median(totals)) if totals else "",
        "mean_score": _num(statistics.fmean(totals)) if totals else "",
        "histogram": _histogram(totals, top), "rates": rates,
    }


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).resolve().parent / "templates")),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template(TEMPLATE)


def script_hash(script: str = SCRIPT) -> str:
    """The page's script as a CSP source: only this exact script may run on the page."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def render_class_page(report: ClassReport) -> str:
    """The class page as one HTML document."""
    from markupsafe import Markup

    by_assignment: dict[str, list[GradebookEntry]] = {}
    for e in sorted(report.entries, key=lambda e: (e.assignment, printable_text(e.student))):
        by_assignment.setdefault(e.assignment, []).append(e)
    feedback = report.feedback
    assignments = [_assignment(name, rows, feedback) for name, rows in sorted(by_assignment.items())]
    rows = {(e.student, e.assignment): e for e in report.entries}
    queue = []
    for item in report.queue:
        entry = rows.get((item.student, item.assignment))
        folder = entry.folder if entry is not None else ""
        queue.append({"student": printable_text(item.student), "key": printable_text(item.student).lower(),
                      "assignment": printable_text(item.assignment), "reason": item.kind,
                      "detail": printable_text(item.detail), "href": href(item.href, item.anchor) if item.href else "",
                      "link_text": printable_text(item.link_text or "look"),
                      "feedback": href(f"{folder}/feedback.html") if folder in feedback else "",
                      "resolved": printable_text(item.resolved),
                      "kind": status_kind(entry.status) if entry is not None else "error",
                      "overridden": bool(entry is not None and entry.adjustments)})
    students = {e.student for e in report.entries}
    return _template().render(
        title=printable_text(report.title), generated=printable_text(report.generated), version=__version__,
        assignments=assignments, queue=queue, problems=[printable_text(p) for p in report.problems],
        links=[(printable_text(label), href(target)) for label, target in report.links],
        notes=[printable_text(n) for n in report.notes], n_students=len(students), n_results=len(report.entries),
        kinds=KINDS, script=Markup(SCRIPT), csp_script=script_hash())
