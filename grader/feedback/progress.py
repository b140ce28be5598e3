"""Live progress of a grading: which group runs, for how long, what it is doing (a check, episodes).

A grading of the RL assignments takes a minute or more; without a sign of life
a student (or an instructor) cannot tell a training run from a hang. Shown with
rich only when the output is a terminal, and gone (``transient``) when the
report is printed; anywhere else (tests, CI, a pipe, a notebook) it prints
nothing. It only listens: :class:`grader.core.grading.GradeOptions` ``progress``
calls it with ``(event, group, fields)`` and nothing it does touches a score.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from grader.core.text import printable_text

SHOWN_FIELDS = ("episodes", "epochs", "run")     # what a group may report besides the check it is in


class LiveProgress:
    """``with LiveProgress(console) as progress: grade(..., GradeOptions(progress=progress))``."""

    def __init__(self, console: Console | None = None, title: str = "") -> None:
        self.console = console or Console()
        self.enabled = self.console.is_terminal
        self.title = title
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._state: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> LiveProgress:
        if self.enabled:
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.fields[group]}", style="bold"),
                                      TextColumn("{task.description}"), TimeElapsedColumn(),
                                      console=self.console, transient=True)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __call__(self, event: str, group: str, fields: dict[str, Any]) -> None:
        if self._progress is None:
            return
        if event == "start":
            self._state[group] = {}
            self._tasks[group] = self._progress.add_task("starting", total=None, group=printable_text(group))
        elif event == "progress" and group in self._tasks:
            state = self._state.setdefault(group, {})
            state.update({k: v for k, v in fields.items() if k == "check" or k in SHOWN_FIELDS})
            self._progress.update(self._tasks[group], description=describe(state))
        elif event == "end" and group in self._tasks:
            score = f"{fields.get('score', 0):g} / {fields.get('max_score', 0):g}"
            self._progress.update(self._tasks[group], description=f"done: {score}", total=1, completed=1)


def describe(state: dict[str, Any]) -> str:
    """"episodes 120 · training run 1 (350-episode budget) …": what a group is doing now, in one line."""
    parts = [f"{k} {_short(state[k])}" for k in SHOWN_FIELDS if k in state]
    if "check" in state:
        parts.append(_short(state["check"], 70))
    return printable_text(" · ".join(parts))


def _short(value: Any, limit: int = 20) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
