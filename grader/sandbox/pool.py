"""The child processes of one test group, by name, and when each may be (re)started.

A group talks to its ``main`` child and, when it needs one, to other named
children (the VAE's ``decoder``): each name is a fresh process with its own work
folder and namespaces, started on first use. The policy lives here, in one place:

* **one at a time** — when the group moves on to another name, the current child
  is stopped for good before the new one gets anything (it is *retired*; calling
  it again is the suite's bug, :class:`RetiredEndpoint`). Two live children of one
  submission could pass data through kernel objects every sandbox shares; one
  after the other, they have nothing in common but what the parent carries.
* **restarts** — a crashed child is restarted for the next call, ``MAX_RESPAWNS``
  times at most; never after a failure a fresh child would only repeat or that
  must not get a second go (``FINAL_FAILURES``: it failed to import, ran out of
  the group's time, or wrote on the grader's channel) — later calls are refused
  with the same message, marked ``skipped:``;
* **the deadline** — no child is started once the group's wall time is spent;
* **ready children** — a new child is taken from the grading's :class:`Spares` when one
  of this spec waits there (started ahead of need, or handed on by the group before),
  and is told to import the submission only then; :meth:`ChildPool.prestart` starts
  one ahead, and :meth:`ChildPool.close` can hand the main child on.

What every child printed is kept, in order, for the feedback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from grader.sandbox.process import DEFAULT_REPLY_BYTES, Child, ChildFailure, ChildSpec
from grader.sandbox.spares import Spares

MAIN = "main"
MAX_RESPAWNS = 2
FINAL_FAILURES = ("import_error", "timeout", "protocol")


class RetiredEndpoint(RuntimeError):
    """A suite called a child again after moving on to another one (a bug in the suite)."""


@dataclass
class _Slot:
    """One named child and its restart bookkeeping."""
    child: Child | None = None
    respawns: int = 0
    last_failure: ChildFailure | None = None
    retired: bool = False


def _named(endpoint: str, failure: ChildFailure) -> ChildFailure:
    """Say which process failed when a group runs more than the main one."""
    if endpoint == MAIN:
        return failure
    return failure.again(f"[{endpoint} process] {failure.message}")


class ChildPool:
    """The named children of one group under one wall-clock ``deadline``."""

    def __init__(self, spec: ChildSpec, deadline: float, wall_seconds: float, spares: Spares | None = None) -> None:
        self.spec = spec
        self.deadline = deadline
        self.wall_seconds = wall_seconds
        self.spares = spares if spares is not None else Spares()
        self.startup_seconds: list[float] = []
        self._slots: dict[str, _Slot] = {}
        self._outputs: list[str] = []

    def call(self, endpoint: str, op: str, args: Mapping[str, Any], deadline: float,
             handlers: Mapping[str, Callable[[Any], Any]] | None = None,
             reply_bytes: int = DEFAULT_REPLY_BYTES, doing: str = "") -> Any:
        """Probe ``op`` in the child ``endpoint``; raises ChildFailure (named) or SubmissionError."""
        slot = self._slots.setdefault(endpoint, _Slot())
        if slot.retired:
            raise RetiredEndpoint(f"the suite called the {endpoint!r} process again after moving on to another one")
        self._retire_others(endpoint)
        child = self._ensure_child(endpoint, slot, deadline)
        try:
            return child.call(op, args, deadline, handlers, reply_bytes, doing)
        except ChildFailure as exc:
            slot.last_failure = exc
            self._stop(endpoint, slot)
            raise _named(endpoint, exc) from None

    def _retire_others(self, *endpoints: str) -> None:
        for name, other in self._slots.items():
            if name not in endpoints and other.child is not None:
                self._stop(name, other)
                other.retired = True

    def _ensure_child(self, name: str, slot: _Slot, deadline: float) -> Child:
        if slot.child is not None and slot.child.alive:
            return slot.child
        if slot.last_failure is not None:
            failure = slot.last_failure
            if failure.kind in FINAL_FAILURES or failure.final or slot.respawns >= MAX_RESPAWNS:
                raise _named(name, failure.again(f"skipped: {failure.message}", skipped=True))
            slot.respawns += 1
        if time.monotonic() >= self.deadline:
            raise ChildFailure("timeout", f"skipped: the group's time limit ({self.wall_seconds:g} s) was used up",
                               doing="starting a process", skipped=True)
        child = self.spares.take(self.spec) or Child(self.spec)
        if not child.started:       # (one handed on alive by the group before has nothing to wait for)
            try:
                child.start(deadline, meanwhile=self.spares.take_meanwhile())
            except ChildFailure as exc:
                self.spares.release()
                child.close()
                self._keep_output(name, child)
                slot.last_failure = exc
                raise _named(name, exc) from None
            except BaseException:
                child.close()       # interrupted mid-start (Ctrl-C, SIGTERM): no slot holds it yet, so close it here
                raise
            self.startup_seconds.append(child.startup_seconds)
        slot.child = child
        self.spares.release()       # what was deferred starts now, beside this child, not against its start-up
        return child

    def _stop(self, name: str, slot: _Slot) -> None:
        if slot.child is not None:
            slot.child.close()
            self._keep_output(name, slot.child)
            slot.child = None

    def _keep_output(self, name: str, child: Child) -> None:
        text = child.captured_output()
        if text.strip() and name != MAIN:
            text = f"[{name} process]\n{text}"
        self._outputs.append(text)

    def prestart(self) -> None:
        """Start a fresh child of this group now, for the next endpoint that needs one (it waits,
        running nothing of the submission, until then)."""
        if time.monotonic() < self.deadline:
            self.spares.prestart(self.spec)

    def close(self, hand_on: bool = False) -> str:
        """Stop every child; return everything they printed, in order. With ``hand_on``, a live main
        child that never failed goes to the spares instead, for the next group of the same spec."""
        self.spares.release()
        for name, slot in self._slots.items():
            child = slot.child
            if hand_on and name == MAIN and child is not None and child.alive and slot.last_failure is None:
                self._keep_output(name, child)
                slot.child = None
                self.spares.hand_on(self.spec, child)
            else:
                self._stop(name, slot)
        return "\n".join(o for o in self._outputs if o.strip())

    def child(self, endpoint: str = MAIN) -> Child | None:
        """The live child of ``endpoint``, if any (tests and benches look at its process)."""
        slot = self._slots.get(endpoint)
        return slot.child if slot is not None else None
