"""Processes a submission left behind when it had no PID namespace to die with.

Under namespace isolation, killing a child's PID 1 kills everything it made.
Without it (the rlimits-only fallback), a submission can leave its process
group (``setsid``) and fork again, and its processes would outlive the grading:
they could rewrite a result file after the grader wrote it. So the grading
process makes itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): every
orphan of its children is re-parented to it instead of to init, where
:func:`sweep` finds it and kills it, with everything it made since, before a
result is written.

What is swept: a direct child of this process that is not a live sandbox
child (:func:`register`), was not already our child before the first sandbox
started, and carries the mark every sandbox child is born with: the
``no_new_privs`` flag (set before ``exec``, inherited by every descendant,
impossible to clear), unless this process has that flag itself (then the
mark tells nothing, and every other new child counts).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_CHILD_SUBREAPER = 36

_lock = threading.Lock()
_live: set[int] = set()
_baseline: set[int] | None = None
_subreaper = False


def _children_of(pid: int) -> set[int]:
    """Direct children of ``pid``, read from /proc (``task/*/children`` where the kernel has it)."""
    found: set[int] = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    found.update(int(x) for x in fh.read().split())
            except OSError:
                return _children_by_stat(pid)
    except OSError:
        return _children_by_stat(pid)
    return found


def _children_by_stat(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry))
    return found


def become_subreaper() -> bool:
    """Make this process the subreaper of its descendants (once); False where Linux does not allow it."""
    global _subreaper, _baseline
    with _lock:
        if _baseline is None:
            _baseline = _children_of(os.getpid()) if sys.platform.startswith("linux") else set()
        if _subreaper or not sys.platform.startswith("linux"):
            return _subreaper
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _subreaper = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        except (OSError, AttributeError):
            _subreaper = False
        return _subreaper


def register(pid: int) -> None:
    with _lock:
        _live.add(pid)


def unregister(pid: int) -> None:
    with _lock:
        _live.discard(pid)


def _no_new_privs(pid: int | str) -> bool | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("NoNewPrivs:"):
                    return line.split()[1] == "1"
    except OSError:
        return None
    return None


def strays() -> set[int]:
    """Our direct children that no live sandbox child accounts for."""
    with _lock:
        keep = _live | (_baseline or set())
    marked_only = _no_new_privs("self") is False
    return {pid for pid in _children_of(os.getpid())
            if pid not in keep and (not marked_only or _no_new_privs(pid) is not False)}


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children_of(p))
    return out


def sweep(rounds: int = 50, pause: float = 0.02) -> int:
    """Kill every stray process tree until a scan finds none; returns how many processes were killed.

    Each round stops (SIGSTOP) a tree before killing it, so a process cannot fork a successor
    between being seen and being killed; orphans of killed processes come back to us and are
    found by the next round."""
    if not sys.platform.startswith("linux"):
        return 0
    killed = 0
    quiet = 0
    for _ in range(rounds):
        found = strays()
        if not found:
            quiet += 1
            if quiet >= 2:
                break
            time.sleep(pause)
            continue
        quiet = 0
        for root in found:
            tree = _tree(root)
            for pid in tree:
                _signal(pid, signal.SIGSTOP)
            for pid in _tree(root):
                killed += _signal(pid, signal.SIGKILL)
            _reap(root)
        time.sleep(pause)
    return killed


def _signal(pid: int, sig: int) -> int:
    try:
        os.kill(pid, sig)
        return 1
    except (ProcessLookupError, PermissionError):
        return 0


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except (ChildProcessError, OSError):
        pass
