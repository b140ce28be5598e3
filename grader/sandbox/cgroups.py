"""A per-child cgroup memory cap, for CUDA children (CUDA does not run under ``RLIMIT_AS``).

Only used where this process may create cgroups below its own (cgroup v2 with
the memory controller delegated, or a writable cgroup v1 memory hierarchy);
elsewhere :func:`find_cgroup_root` returns None and the caller says so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CgroupRoot:
    """Where this process may make child cgroups: ``path`` (memory), ``version`` 1 or 2."""
    path: Path
    version: int

    def create(self, name: str, memory_bytes: int, processes: int = 0) -> list[str]:
        """Make cgroup ``name`` with the caps; returns the ``cgroup.procs`` files to join."""
        group = self.path / name
        group.mkdir(exist_ok=True)
        if self.version == 2:
            _write(group / "memory.max", str(memory_bytes))
            _write(group / "memory.swap.max", "0", required=False)
            if processes > 0:
                _write(group / "pids.max", str(processes), required=False)
        else:
            _write(group / "memory.limit_in_bytes", str(memory_bytes))
            _write(group / "memory.memsw.limit_in_bytes", str(memory_bytes), required=False)
        return [str(group / "cgroup.procs")]

    def remove(self, name: str, wait: float = 2.0) -> None:
        """Remove cgroup ``name`` once its processes are gone (they were killed by then)."""
        group = self.path / name
        end = time.monotonic() + wait
        while group.exists():
            try:
                group.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > end:
                    return
                time.sleep(0.05)


def _write(path: Path, text: str, required: bool = True) -> None:
    try:
        path.write_text(text)
    except OSError:
        if required:
            raise


def find_cgroup_root(fs: Path = CGROUP_FS, proc_cgroup: Path = Path("/proc/self/cgroup")) -> CgroupRoot | None:
    """A cgroup below ours where memory limits can be set, or None."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hier, controllers, rel = parts
        if hier == "0" and controllers == "" and (fs / "cgroup.controllers").exists():
            base = fs / rel.lstrip("/")
            try:
                delegated = "memory" in (base / "cgroup.subtree_control").read_text().split()
            except OSError:
                delegated = False
            if delegated and os.access(base, os.W_OK):
                return CgroupRoot(base, 2)
        elif "memory" in controllers.split(","):
            base = fs / "memory" / rel.lstrip("/")
            if (base / "memory.limit_in_bytes").exists() and os.access(base, os.W_OK):
                return CgroupRoot(base, 1)
    return None
