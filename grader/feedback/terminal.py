"""The terminal report: one row per test group, then the feedback of failed groups."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader.core.results import GradeResult
from grader.core.text import printable_text

STATUS_STYLE = {"passed": "green", "failed": "red"}


def print_report(result: GradeResult, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    warning = result.extra_data.get("isolation_warning")
    if warning:
        console.print(Text(str(warning), style="bold red"))
    table = Table(title=Text(printable_text(f"{result.assignment} — {result.submission}")), title_justify="left")
    table.add_column("test group")
    table.add_column("points", justify="right")
    table.add_column("max", justify="right")
    table.add_column("status")
    table.add_column("message", overflow="fold", max_width=90)
    for t in result.tests:
        table.add_row(Text(printable_text(t.name)), f"{t.score:g}", f"{t.max_score:g}",
                      Text(t.status, style=STATUS_STYLE.get(t.status, "")), Text(printable_text(t.summary)))
    table.add_section()
    table.add_row("total", f"{result.score:g}", f"{result.max_score:g}", "", f"{result.execution_time:.1f} s")
    console.print(table)
    for note in result.extra_data.get("notes", []):
        console.print(Text(printable_text(f"note: {note}"), style="yellow"))
    for t in result.tests:
        if verbose or t.status != "passed":
            console.rule(Text(printable_text(f"{t.name} ({t.score:g}/{t.max_score:g})")), align="left")
            console.print(Text(printable_text(t.output)))
