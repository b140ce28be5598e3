"""The memory of a CUDA child, watched from the parent.

CUDA maps far more address space than it uses, so a CUDA child runs without
RLIMIT_AS. Where a cgroup can be made it caps the sandbox; elsewhere the
child has RLIMIT_DATA (private writable memory; CUDA's ``PROT_NONE``
reservations do not count) — but gVisor, for one, does not enforce
RLIMIT_DATA on ``mmap``, and nothing set inside the child can cap its GPU
memory. So the parent, which the submission cannot touch, watches every
CUDA child every :data:`POLL_SECONDS`:

* host memory: the resident memory of the child's processes (its pid, its
  descendants, its session) that no file backs (anonymous and shared
  anonymous memory, which RLIMIT_DATA does not count), against ``memory_mb``
  (where the kernel tells only the whole resident set, as gVisor does, the
  libraries' pages count too and :data:`LIBRARY_PAGES_MB` more is allowed);
* GPU memory through NVML (``nvidia-ml-py``, imported on first use), against
  ``gpu_memory_mb``. NVML names the processes holding GPU memory by the pids
  the driver sees, which are the parent's when the grader runs in the host's
  PID namespace: then each child's own figure is used (method "per
  process"). In a container or under gVisor the driver's pids are not the
  parent's (or NVML lists none): then the growth of the GPU's total used
  memory since the child started is used (method "device total"), less the
  budgets of the other grader children alive on the machine (each CUDA child
  leaves its budget in a folder of the temp directory while it runs), so
  children sharing a GPU do not count against each other; that method
  cannot tell which child of several holds the memory (see the README's
  known limits).

A child over a budget is killed (its process group and every process of
its tree); :attr:`Watch.reason` says why, in words for the student's
feedback (:class:`grader.sandbox.process.Child` reports it).
"""

from __future__ import annotations

import functools
import json
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

POLL_SECONDS = 0.25
PER_PROCESS = "per process"
DEVICE_TOTAL = "device total"
MIB = 1 << 20
# Where the kernel tells only VmRSS (gVisor), the pages of the libraries a CUDA child maps (torch, CUDA,
# cuBLAS: about this much) count too; they are allowed on top of memory_mb.
LIBRARY_PAGES_MB = 2048
LOG_ENV = "GRADER_MEMWATCH_LOG"   # a file: one JSON line per watched child (peaks, method), for measurements


@dataclass
class Watch:
    """One watched child: its budgets (MiB, 0 = not watched), what was seen, why it was stopped."""
    pid: int
    host_mb: int = 0
    gpu_mb: int = 0
    gpu_baseline: int | None = None     # bytes used on the GPUs when the child started
    gpu_method: str = ""                # PER_PROCESS or DEVICE_TOTAL, as last measured
    host_peak: int = 0                  # bytes
    gpu_peak: int = 0                   # bytes
    reason: str = ""                    # why the child was stopped ('' while it was not)
    started: float = field(default_factory=time.monotonic)


class Nvml:
    """The GPUs as NVML sees them: per-process used memory (by the driver's pids) and the total used."""

    def __init__(self) -> None:
        import pynvml  # nvidia-ml-py

        self._nv = pynvml
        pynvml.nvmlInit()
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]

    def sample(self) -> tuple[dict[int, int], int]:
        """({pid: bytes}, total bytes used on every GPU); a process whose figure NVML lacks is left out."""
        per_pid: dict[int, int] = {}
        total = 0
        for handle in self._handles:
            total += int(self._nv.nvmlDeviceGetMemoryInfo(handle).used)
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                try:
                    processes = getattr(self._nv, getter)(handle)
                except self._nv.NVMLError:
                    continue
                for p in processes:
                    used = getattr(p, "usedGpuMemory", None)
                    if isinstance(used, int) and 0 <= used < (1 << 62):     # NVML_VALUE_NOT_AVAILABLE is huge
                        per_pid[int(p.pid)] = per_pid.get(int(p.pid), 0) + used
        return per_pid, total


@functools.cache
def _nvml() -> tuple[Nvml | None, str]:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        return None, "no NVML: nvidia-ml-py is not installed"
    try:
        return Nvml(), ""
    except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...: no GPU watch
        return None, f"no NVML: {type(exc).__name__}: {exc}".strip().rstrip(":")


def nvml_problem() -> str:
    """'' when NVML works here; else why the GPU memory cannot be watched."""
    return _nvml()[1]


def describe_cuda(cgroup: bool) -> str:
    """What caps a CUDA child's memory, for the sandbox's line in every result."""
    host = ("cgroup memory.max" if cgroup else
            "RLIMIT_DATA per process (gVisor does not enforce it on mmap) and the resident memory of all the "
            "child's processes, watched from the parent (stopped over memory_mb)")
    problem = nvml_problem()
    gpu = (f"device memory not watched ({problem})" if problem else
           "device memory watched from the parent through NVML (stopped over gpu_memory_mb; each child's own "
           "figure where NVML shows the child's processes, else the GPU's total growth less the other children's "
           "budgets)")
    return f"host memory: {host}; {gpu}"


# -- the process tree as the parent sees it -------------------------------------------------------
def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


def process_table(proc: str = "/proc") -> dict[int, tuple[int, int, int]]:
    """pid → (parent pid, process group, session) of every process this one can see."""
    table = {}
    try:
        names = os.listdir(proc)
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        stat = _read(f"{proc}/{name}/stat")
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) >= 4:
            try:
                table[int(name)] = (int(fields[1]), int(fields[2]), int(fields[3]))
            except ValueError:
                continue
    return table


def process_tree(root: int, table: dict[int, tuple[int, int, int]]) -> set[int]:
    """``root``, its descendants, and whatever shares its process group or session (the child was started as a
    session of its own: a process that left the tree by a double fork still carries the session, unless it
    made a new one, and then it is still a descendant until its parent dies — in namespaces PID 1 of the
    sandbox, a descendant, adopts it)."""
    if root not in table:
        return set()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found = {pid for pid, (_, pgrp, sid) in table.items() if pgrp == root or sid == root} | {root}
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def resident_bytes(pids: Iterable[int], proc: str = "/proc") -> tuple[int, bool]:
    """(resident memory of ``pids`` that no file backs, whether that is what was counted): anonymous and
    shared-anonymous pages (``RssAnon`` + ``RssShmem``: shared memory escapes RLIMIT_DATA, not this), or
    ``VmRSS`` where the kernel does not split it (gVisor), which counts the libraries' pages too (False)."""
    total, exact = 0, True
    for pid in pids:
        fields = {}
        for line in _read(f"{proc}/{pid}/status").splitlines():
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssShmem", "VmRSS"):
                try:
                    fields[key] = int(value.split()[0]) << 10
                except (ValueError, IndexError):
                    continue
        if "RssAnon" in fields:
            total += fields["RssAnon"] + fields.get("RssShmem", 0)
        elif "VmRSS" in fields:
            total += fields["VmRSS"]
            exact = False
    return total, exact


# -- the watcher ------------------------------------------------------------------------------------
class Watcher:
    """Polls every watched child in one thread (started with the first, ended with the last)."""

    def __init__(self, gpu: Callable[[], tuple[Nvml | None, str]] = _nvml, proc: str = "/proc",
                 interval: float = POLL_SECONDS, registry: Path | None = None) -> None:
        self._gpu = gpu
        self._proc = proc
        self.interval = interval
        self.registry = registry or Path(tempfile.gettempdir()) / f"grader-gpu-budgets-{os.getuid()}"
        self._watches: list[Watch] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, pid: int, host_mb: int = 0, gpu_mb: int = 0) -> Watch:
        gpu = self._gpu()[0] if gpu_mb else None
        watch = Watch(pid, int(host_mb), int(gpu_mb) if gpu is not None else 0)
        if watch.gpu_mb:
            try:
                watch.gpu_baseline = gpu.sample()[1]
            except Exception:  # noqa: BLE001 - NVML failing now: the total method has no baseline; per process still works
                watch.gpu_baseline = None
            self._register(watch)
        with self._lock:
            self._watches.append(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="grader-memwatch", daemon=True)
                self._thread.start()
        return watch

    def remove(self, watch: Watch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)
        if watch.gpu_mb:
            try:
                (self.registry / str(watch.pid)).unlink()
            except OSError:
                pass
        log = os.environ.get(LOG_ENV)
        if log:
            try:
                with open(log, "a") as fh:
                    fh.write(json.dumps({"pid": watch.pid, "seconds": round(time.monotonic() - watch.started, 2),
                                         "host_peak_mb": watch.host_peak // MIB, "host_mb": watch.host_mb,
                                         "gpu_peak_mb": watch.gpu_peak // MIB, "gpu_mb": watch.gpu_mb,
                                         "gpu_method": watch.gpu_method, "reason": watch.reason}) + "\n")
            except OSError:
                pass

    def _run(self) -> None:
        while True:
            with self._lock:
                watches = list(self._watches)
                if not watches:
                    self._thread = None
                    return
            try:
                self.check(watches)
            except Exception:  # noqa: BLE001 - a watcher error must not end the watch of every other child
                pass
            self._wake.wait(self.interval)

    def check(self, watches: list[Watch]) -> None:
        """One look at ``watches``: record what they use, stop those over a budget."""
        live = [w for w in watches if not w.reason]
        if not live:
            return
        table = process_table(self._proc)
        sample = None
        if any(w.gpu_mb for w in live):
            gpu = self._gpu()[0]
            try:
                sample = gpu.sample() if gpu is not None else None
            except Exception:  # noqa: BLE001 - NVML failed this time: try again at the next look
                sample = None
        for w in live:
            pids = process_tree(w.pid, table)
            if not pids:
                continue
            if w.host_mb:
                used, exact = resident_bytes(pids, self._proc)
                w.host_peak = max(w.host_peak, used)
                allowance = 0 if exact else LIBRARY_PAGES_MB      # VmRSS counts the libraries' pages too
                if used > (w.host_mb + allowance) * MIB:
                    what = "resident, all its processes" if exact else \
                        f"resident, all its processes, libraries included: {allowance} MiB allowed for them"
                    self._stop(w, pids, f"used {used // MIB} MiB of host memory ({what}), over the {w.host_mb} MiB "
                                        "budget")
                    continue
            if w.gpu_mb and sample is not None:
                self._check_gpu(w, pids, sample)

    def _check_gpu(self, w: Watch, pids: set[int], sample: tuple[dict[int, int], int]) -> None:
        per_pid, total = sample
        mine = [per_pid[p] for p in pids if p in per_pid]
        if mine:
            w.gpu_method, used = PER_PROCESS, sum(mine)
            how = "measured by the grader through NVML, for this child's processes"
        elif w.gpu_baseline is not None:
            others = self._others_budget(w) if total - w.gpu_baseline > w.gpu_mb * MIB else 0
            w.gpu_method, used = DEVICE_TOTAL, total - w.gpu_baseline - others * MIB
            how = ("measured by the grader as the growth of the GPU's total use since this child started"
                   + (f", less the {others} MiB budget of the other grader children alive on this machine"
                      if others else "") + ": NVML does not show the sandbox's processes here")
        else:
            return
        w.gpu_peak = max(w.gpu_peak, used)
        if used > w.gpu_mb * MIB:
            self._stop(w, pids, f"used {used // MIB} MiB of GPU memory, over the {w.gpu_mb} MiB budget ({how})")

    def _stop(self, w: Watch, pids: set[int], reason: str) -> None:
        w.reason = reason
        for kill in (lambda: os.killpg(w.pid, signal.SIGKILL), *(lambda p=p: os.kill(p, signal.SIGKILL) for p in pids)):
            try:
                kill()
            except OSError:
                pass

    # -- the budgets of the CUDA children alive on this machine (for the device-total method) ---------
    def _register(self, w: Watch) -> None:
        try:
            self.registry.mkdir(mode=0o700, exist_ok=True)
            (self.registry / str(w.pid)).write_text(str(w.gpu_mb))
        except OSError:
            pass

    def _others_budget(self, w: Watch) -> int:
        total = 0
        try:
            entries = list(self.registry.iterdir())
        except OSError:
            return 0
        for entry in entries:
            if entry.name == str(w.pid) or not entry.name.isdigit():
                continue
            try:
                os.kill(int(entry.name), 0)
            except ProcessLookupError:
                try:
                    entry.unlink()          # its grader died without removing it
                except OSError:
                    pass
                continue
            except OSError:
                pass                        # alive, another user's
            try:
                total += int(entry.read_text().strip() or 0)
            except (OSError, ValueError):
                continue
        return total


_WATCHER: Watcher | None = None
_WATCHER_LOCK = threading.Lock()


def watcher() -> Watcher:
    global _WATCHER
    with _WATCHER_LOCK:
        if _WATCHER is None:
            _WATCHER = Watcher()
        return _WATCHER


def watch(pid: int, host_mb: int, gpu_mb: int) -> Watch:
    """Start watching child ``pid`` (a session leader) against these budgets (MiB; 0: not watched)."""
    return watcher().add(pid, host_mb, gpu_mb)


def unwatch(w: Watch | None) -> None:
    if w is not None:
        watcher().remove(w)
