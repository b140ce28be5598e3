"""What a grading tells whoever watches it, as typed events (never anything that decides a score).

``grade``, ``check`` and ``grade-batch`` all speak these: a group started, a check started, run ``k`` of
a group has done so many episodes (steps, epochs, updates), a group ended, a batch job ended. An
observer is any callable taking one event (:class:`Observer`); the terminal's live display
(:class:`grader.feedback.progress.LiveProgress`) is one, a test's list ``append`` another. Each
training run is its own line: the two runs of a threshold group never share a counter.

Suites keep writing ``ctx.progress(run=2, episodes=380)`` or ``ctx.progress(check=...)``;
:func:`from_fields` turns such fields into events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

UNITS = ("episodes", "steps", "epochs", "updates")     # what a run may count


@dataclass(frozen=True)
class GroupStarted:
    group: str
    points: float = 0.0
    kind: str = "unit"
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class CheckStarted:
    group: str
    check: str


@dataclass(frozen=True)
class RunProgress:
    """Run ``run`` (1-based) of ``group`` has done ``done`` ``unit`` (of ``total``, when known)."""
    group: str
    run: int
    done: int
    unit: str = "episodes"
    total: int | None = None


@dataclass(frozen=True)
class GroupEnded:
    group: str
    score: float
    max_score: float


@dataclass(frozen=True)
class JobEnded:
    """A batch job (one student's hand-in of one assignment) is written; ``status`` as in the gradebook."""
    job: str
    status: str


Event = GroupStarted | CheckStarted | RunProgress | GroupEnded | JobEnded


class Observer(Protocol):
    def __call__(self, event: Event) -> None: ...


def from_fields(group: str, fields: Mapping[str, Any]) -> list[Event]:
    """Events for what a suite (or a child's kit code) said with ``ctx.progress(**fields)``: ``check=NAME``
    starts a check; ``run=K`` (or ``search=K``; default 1) with one of :data:`UNITS` reports that run. Anything else is
    not shown (numbers a child sends are display only, never trusted)."""
    events: list[Event] = []
    if isinstance(fields.get("check"), str):
        events.append(CheckStarted(group, fields["check"]))
    for unit in UNITS:
        value = fields.get(unit)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            run = fields.get("run", fields.get("search", 1))
            total = fields.get("total")
            events.append(RunProgress(group, int(run) if isinstance(run, (int, float)) else 1, int(value), unit,
                                      int(total) if isinstance(total, (int, float)) and total else None))
            break
    return events
