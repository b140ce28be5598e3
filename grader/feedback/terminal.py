"""The terminal report of ``grader grade``: one row per test group, then the feedback of failed groups.

Drawn with rich from the results model (the same fields and order as
:mod:`grader.feedback.text`): the cause of a group once (a cause shared by
several groups, such as an import error, is printed for the first and named
for the others), each check with what was expected and what came back, the
hint when one fits. Student text is escaped and wrapped in ``Text`` objects,
so it is never read as markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.core.results import CAUSE_KINDS, NOT_RUN, GradeResult, TestResult
from grader.core.text import printable_text
from grader.feedback.text import MARKS, PRINTED_HEADING, cause_heading, repeated_causes, summary_line

STATUS_STYLE = {"passed": "green", "failed": "red", NOT_RUN: "dim"}


def print_report(result: GradeResult, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    warning = result.extra_data.get("isolation_warning")
    if warning:
        console.print(Text(printable_text(warning), style="bold red"))
    table = Table(title=Text(printable_text(f"{result.assignment} — {result.submission}")), title_justify="left")
    table.add_column("test group")
    table.add_column("points", justify="right")
    table.add_column("max", justify="right")
    table.add_column("status")
    table.add_column("message", overflow="fold", max_width=90)
    for t in result.tests:
        table.add_row(Text(printable_text(t.name)), f"{t.score:g}", f"{t.max_score:g}",
                      Text(t.status, style=STATUS_STYLE.get(t.status, "")), Text(summary_line(t)))
    table.add_section()
    table.add_row("total", f"{result.score:g}", f"{result.max_score:g}", "", f"{result.execution_time:.1f} s")
    if result.cause is not None:      # what stopped every group: once, at the top
        console.print(cause_block(result.cause))
    console.print(table)
    for note in result.extra_data.get("notes", []):
        console.print(Text(printable_text(f"note: {note}"), style="yellow"))
    same = repeated_causes(result.tests)
    for t in result.tests:
        if (verbose or t.status != "passed") and not (result.cause is not None and t.cause is not None
                                                     and t.cause.kind == "not_run" and not t.student_output):
            console.rule(Text(printable_text(f"{t.name} ({t.score:g}/{t.max_score:g})")), align="left")
            console.print(group_block(t, same.get(t.name, "")))


def cause_block(cause) -> Text:
    """What stopped every group, once: the heading, the student's frames and the hint."""
    out = Text()
    out.append(cause_heading(cause) + "\n", style="bold red")
    for ln in printable_text(cause.traceback).rstrip().splitlines():
        out.append("    " + ln + "\n", style="dim")
    if cause.hint:
        out.append("    hint: " + printable_text(cause.hint) + "\n", style="yellow")
    out.rstrip()
    return out


def group_block(test: TestResult, same_cause_as: str = "") -> Text:
    """The feedback of one group as styled text."""
    out = Text()

    def line(text: str, style: str = "", indent: str = "") -> None:
        out.append(indent + printable_text(text) + "\n", style=style)

    if test.cause is not None:
        if same_cause_as:
            line(f"{CAUSE_KINDS.get(test.cause.kind, test.cause.kind)}: the same as in {same_cause_as} (see above)",
                 "bold red")
        else:
            line(cause_heading(test.cause), "bold red")
            for ln in test.cause.traceback.rstrip().splitlines():
                line(ln, "dim", "    ")
            if test.cause.hint:
                line(f"hint: {test.cause.hint}", "yellow", "    ")
    for c in test.checks:
        mark = MARKS.get(c.status, "?")
        if c.passed:
            line(f"{mark} {c.name}", "green")
            continue
        if c.status == NOT_RUN or c.by_cause:
            line(f"{mark} {c.name} — {c.message or 'not run'}", "dim" if c.status == NOT_RUN else "red")
            continue
        line(f"{mark} {c.name}", "red")
        for ln in c.message.splitlines():
            line(ln, "", "    ")
        if c.expected:
            line(f"expected: {c.expected}", "cyan", "    ")
        if c.got:
            line(f"got:      {c.got}", "cyan", "    ")
        if c.hint:
            line(f"hint: {c.hint}", "yellow", "    ")
        for ln in c.traceback.rstrip().splitlines():
            line(ln, "dim", "      ")
    for note in test.notes:
        line(note)
    if test.student_output.strip():
        line(PRINTED_HEADING, "dim")
        for ln in test.student_output.rstrip().splitlines():
            line(ln)
    out.rstrip()
    return out
