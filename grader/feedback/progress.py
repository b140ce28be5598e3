"""Live progress of a grading: which group runs, for how long, what it is doing (a check, each run's
episodes).

A grading of the RL assignments takes a while; without a sign of life a student (or an instructor)
cannot tell a training run from a hang. Shown with rich only when the output is a terminal, and gone
(``transient``) when the report is printed; anywhere else (tests, CI, a pipe, a notebook) it prints
nothing. It only listens: it is an observer of :mod:`grader.core.progress`'s events, and nothing it
does touches a score. A group is one line; each of its training runs gets a line of its own.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from grader.core.progress import CheckStarted, Event, GroupEnded, GroupStarted, RunProgress
from grader.core.text import printable_text


class LiveProgress:
    """``with LiveProgress(console) as progress: grade(..., GradeOptions(progress=progress))``."""

    def __init__(self, console: Console | None = None, title: str = "") -> None:
        self.console = console or Console()
        self.enabled = self.console.is_terminal
        self.title = title
        self._progress: Progress | None = None
        self._groups: dict[str, TaskID] = {}
        self._runs: dict[tuple[str, int], TaskID] = {}

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.fields[label]}", style="bold"),
                                      TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: Event) -> None:
        bar = self._progress
        if bar is None:
            return
        if isinstance(event, GroupStarted):
            self._groups[event.group] = bar.add_task("starting", total=None, label=printable_text(event.group))
        elif isinstance(event, CheckStarted) and event.group in self._groups:
            bar.update(self._groups[event.group], description=_short(printable_text(event.check), 70))
        elif isinstance(event, RunProgress) and event.group in self._groups:
            key = (event.group, event.run)
            if key not in self._runs:
                self._runs[key] = bar.add_task("", total=event.total,
                                               label=printable_text(f"  {event.group} run {event.run}"))
            of = f" of {event.total}" if event.total else ""
            bar.update(self._runs[key], description=f"{event.unit} {event.done}{of}", completed=event.done)
        elif isinstance(event, GroupEnded) and event.group in self._groups:
            bar.update(self._groups[event.group], description=f"done: {event.score:g} / {event.max_score:g}",
                       total=1, completed=1)
            for (group, _), task in self._runs.items():
                if group == event.group:
                    bar.remove_task(task)
            self._runs = {k: v for k, v in self._runs.items() if k[0] != event.group}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
