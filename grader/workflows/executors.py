"""Where batch tasks run: local worker processes or a Dask cluster. No scheduling of our own.

Both executors take a list of ``(key, args)`` and yield ``(key, value, error)``
as tasks finish, in completion order: ``value`` is what ``fn(*args)``
returned, ``error`` a one-line reason when the task could not run at all (the
grading function itself never raises for anything a submission does).

* ``LocalExecutor``: ``concurrent.futures.ProcessPoolExecutor``. A worker
  process that dies (killed by the OOM killer, a grader crash) breaks the
  standard pool; the pool is then replaced and the tasks that were in flight
  are tried again one at a time, so the one that kills its worker is known and
  costs only its own row.
* ``DaskExecutor``: ``distributed.Client.submit`` per task and
  ``distributed.as_completed``; the cluster does the scheduling.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

Task = tuple[Hashable, tuple[Any, ...]]
Completion = tuple[Hashable, Any, str]


class ExecutorError(RuntimeError):
    """The executor could not be set up (e.g. no Dask scheduler at that address)."""


class BatchExecutor(Protocol):
    def run(self, fn: Callable[..., Any], tasks: Sequence[Task]) -> Iterator[Completion]:
        """Run every task; yield each as it finishes."""

    def interrupt(self) -> None:
        """Stop what is running as soon as possible (Ctrl-C)."""

    def close(self) -> None:
        """Release workers or the connection."""


# -- local processes ----------------------------------------------------------
_busy = False


def _worker_init() -> None:
    """SIGINT stops a running task (its ``finally`` blocks kill sandbox children) but not an idle worker."""
    def on_sigint(signum: int, frame: Any) -> None:
        if _busy:
            raise KeyboardInterrupt
    signal.signal(signal.SIGINT, on_sigint)


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    global _busy
    _busy = True
    try:
        return fn(*args)
    finally:
        _busy = False


def _mp_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers do not inherit the parent's threads (the progress bar's, Dask's).
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


class LocalExecutor:
    """``jobs`` worker processes on this machine."""

    def __init__(self, jobs: int) -> None:
        self.jobs = max(1, int(jobs))
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future, Task] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.jobs, mp_context=_mp_context(), initializer=_worker_init)

    def run(self, fn: Callable[..., Any], tasks: Sequence[Task]) -> Iterator[Completion]:
        queue: deque[Task] = deque(tasks)
        suspects: deque[Task] = deque()     # in flight when a worker died: retried one at a time
        solo: Hashable | None = None        # the key of the suspect running alone, if any
        self._running = {}
        while queue or suspects or self._running:
            if self._pool is None:
                self._pool = self._new_pool()
            if suspects and not self._running:
                task = suspects.popleft()
                solo = task[0]
                self._running[self._pool.submit(_call, fn, task[1])] = task
            elif not suspects:
                # No more tasks than workers in flight: what is not submitted needs no cancelling,
                # and a dying worker then implicates only the tasks really running.
                while queue and len(self._running) < self.jobs:
                    task = queue.popleft()
                    self._running[self._pool.submit(_call, fn, task[1])] = task
            done, _ = wait(list(self._running), timeout=1.0, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                key, args = self._running.pop(future)
                try:
                    value = future.result()
                except BrokenProcessPool:
                    broken = True
                    if key == solo:
                        yield key, None, "the grading process died while grading this submission"
                    else:
                        suspects.append((key, args))
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # noqa: BLE001 - reported as this task's row
                    yield key, None, f"grading failed: {type(exc).__name__}: {exc}"
                else:
                    yield key, value, ""
                if key == solo:
                    solo = None
            if broken:
                for future, task in list(self._running.items()):
                    future.cancel()
                    suspects.append(task)
                self._running = {}
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None

    def interrupt(self) -> None:
        if self._pool is None:
            return
        for future in self._running:
            future.cancel()
        # Interrupt tasks already running (the workers only react while busy); terminal Ctrl-C
        # reaches them anyway, a SIGINT sent to this process alone does not.
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            try:
                os.kill(proc.pid, signal.SIGINT)
            except (OSError, AttributeError):
                pass

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- Dask ------------------------------------------------------------------------
class DaskExecutor:
    """Tasks on a Dask distributed cluster; each worker needs this package and the assignments installed."""

    def __init__(self, address: str, connect_timeout: float = 15.0) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ExecutorError("the Dask executor needs the 'dask' extra: pip install 'grader[dask]'") from None
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ExecutorError(f"cannot connect to the Dask scheduler at {address}: {exc}") from None
        self._futures: dict[Any, Task] = {}

    def run(self, fn: Callable[..., Any], tasks: Sequence[Task]) -> Iterator[Completion]:
        from distributed import as_completed

        self._futures = {self.client.submit(fn, *args, pure=False, retries=1): (key, args) for key, args in tasks}
        with self.client.as_current():   # as_completed finds the client this way, not as the global default
            completed = as_completed(list(self._futures))
        for future in completed:
            key, _ = self._futures.pop(future)
            try:
                with self.client.as_current():
                    value = future.result()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - a worker died or the task was lost
                yield key, None, f"grading failed on the Dask cluster: {type(exc).__name__}: {exc}"
            else:
                yield key, value, ""

    def interrupt(self) -> None:
        if self._futures:
            self.client.cancel(list(self._futures))
            self._futures = {}

    def close(self) -> None:
        self.client.close()


def make_executor(kind: str, jobs: int = 1, scheduler: str | None = None) -> BatchExecutor:
    if kind == "local":
        return LocalExecutor(jobs)
    if kind == "dask":
        if not scheduler:
            raise ExecutorError("--executor dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        return DaskExecutor(scheduler)
    raise ExecutorError(f"unknown executor {kind!r} (local or dask)")
