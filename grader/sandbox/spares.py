"""Children of one grading that are ready before a group asks: started ahead of need, or handed on.

Starting a child costs seconds where the assignment uses torch (Python, then ``import torch``),
and a grading starts several: one per test group, and more for a threshold group (a training
run each, a fresh policy or decoder process). Two ways save that wait, and neither lets two
children of one submission run its code at once:

* **started ahead** (:meth:`Spares.prestart`, or :meth:`Spares.defer` until the child the grading
  waits for is up): the process is launched, in its own sandbox
  as always; the grader's runner imports the libraries and the probes, and then waits. The
  submission is imported only when a group takes the child (:meth:`Child.start`), which the
  pool does after it has stopped the child before it. Until then the process has run nothing
  but the grader's own code, so it holds nothing a submission could have left there; meanwhile
  its start-up uses a core the grading leaves idle (the parent mostly waits for its child).
* **handed on** (:meth:`Spares.hand_on`): the live child of a hole group that ended with every
  check passed goes on to the next group of the same spec (the grading decides which groups
  share one; see :mod:`grader.core.grading`). A group whose child failed, or whose code failed
  a check, leaves the next group a fresh child, so a broken hole costs its own group only.

The grading's own first-use costs go in the same waits (:meth:`Spares.meanwhile`): work the
parent would otherwise do later, on the critical path (importing what torch's optimizers import on
first use, ≈ 0.8 s), done while it waits for a child to start up anyway.

The grading closes what is left (:meth:`Spares.close`).
"""

from __future__ import annotations

from collections.abc import Callable

from grader.sandbox.process import Child, ChildSpec

MAX_WAITING = 3        # children started ahead per spec (a suite calling prestart() in a loop gets no more)


class Spares:
    """Children waiting to be taken by the group whose spec they were started with (compared by identity)."""

    def __init__(self) -> None:
        self._waiting: list[tuple[ChildSpec, Child]] = []
        self._deferred: list[ChildSpec] = []
        self._meanwhile: list[Callable[[], None]] = []

    def meanwhile(self, work: Callable[[], None]) -> None:
        """Run ``work`` (the parent's own, never the submission's) the next time the grading waits for
        a child to start up: once, after the child is launched and told to go, before the wait."""
        self._meanwhile.append(work)

    def take_meanwhile(self) -> Callable[[], None] | None:
        """The work to do during the child start-up about to be waited for (all of it, once), or None."""
        if not self._meanwhile:
            return None
        work, self._meanwhile = self._meanwhile, []

        def run() -> None:
            for item in work:
                item()

        return run

    def defer(self, spec: ChildSpec, count: int = 1) -> None:
        """Prestart ``count`` children of ``spec`` at the next :meth:`release`: once the child the grading
        waits for now is up, so that they start on the core it leaves idle, not against it."""
        self._deferred.extend([spec] * count)

    def release(self) -> None:
        """Start what was deferred (the pool calls this once its child is ready, or when it closes)."""
        deferred, self._deferred = self._deferred, []
        for spec in deferred:
            self.prestart(spec)

    def prestart(self, spec: ChildSpec) -> None:
        """Launch a child of ``spec`` now (unless ``MAX_WAITING`` already wait); it imports nothing of
        the submission until it is taken."""
        if sum(1 for s, c in self._waiting if s is spec and not c.started) >= MAX_WAITING:
            return
        child = Child(spec)
        try:
            child.launch()
        except BaseException:
            child.close()
            raise
        self._waiting.append((spec, child))

    def hand_on(self, spec: ChildSpec, child: Child) -> None:
        """Keep a live child of ``spec`` whose group is over, for the next group of the same spec."""
        self._waiting.insert(0, (spec, child))

    def take(self, spec: ChildSpec) -> Child | None:
        """A waiting child of ``spec`` (a handed-on one first, else the oldest started ahead), or None.
        A child that died while it waited is closed and passed over."""
        for i, (s, child) in enumerate(self._waiting):
            if s is spec:
                del self._waiting[i]
                if child.alive:
                    return child
                child.close()
                return self.take(spec)
        return None

    def close(self) -> None:
        """Stop every child still waiting (the grading is over)."""
        self._deferred.clear()
        self._meanwhile.clear()
        waiting, self._waiting = self._waiting, []
        for _, child in waiting:
            child.close()

    def __len__(self) -> int:
        return len(self._waiting)
