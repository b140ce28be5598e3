"""Resource limits applied to every child, and how they are read from assignment.toml."""

from __future__ import annotations

import resource
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

LIMIT_DOCS = {
    "wall_seconds": "wall-clock seconds for the whole group (every check and process of it)",
    "cpu_seconds": "CPU seconds of the child (RLIMIT_CPU)",
    "memory_mb": "host memory: address space per process on CPU (RLIMIT_AS); on CUDA a cgroup where one is "
                 "writable, else RLIMIT_DATA per process and the resident memory of all the child's processes, "
                 "watched from the parent",
    "gpu_memory_mb": "GPU memory a CUDA child may use (its CUDA context included), watched from the parent "
                     "through NVML; a child over it is stopped (0: not watched)",
    "output_bytes": "what the child may print that is kept as feedback (the rest is counted, not kept)",
    "file_size_mb": "largest file the child may write (RLIMIT_FSIZE)",
    "open_files": "open file descriptors (RLIMIT_NOFILE)",
    "processes": "tasks (processes and threads) in the sandbox; needs namespace isolation",
    "disk_mb": "everything the child writes: its work folder and /tmp are one tmpfs of this size",
    "threads": "BLAS / OpenMP threads (OMP_NUM_THREADS and friends)",
    "address_space": "apply memory_mb as RLIMIT_AS (turned off on CUDA by the grader)",
    "data_segment": "apply memory_mb as RLIMIT_DATA (turned on on CUDA by the grader: CUDA's reserved, "
                    "inaccessible address space does not count there)",
}


@dataclass(frozen=True)
class Limits:
    """Budget of one child process (one test group).

    ``memory_mb`` caps the address space on CPU. CUDA maps far more virtual
    memory than it uses, so on a GPU RLIMIT_AS is off (``address_space=False``)
    and memory is capped by a cgroup where one is writable, else by
    RLIMIT_DATA (``data_segment``: private writable memory, which CUDA's
    ``PROT_NONE`` reservations are not) and by the parent, which watches the
    child's resident memory and its GPU memory (``gpu_memory_mb``; see
    :mod:`grader.sandbox.memwatch`). ``disk_mb`` caps everything the child writes
    (its work directory and /tmp are one size-limited tmpfs, so it also
    counts as memory); ``processes`` caps tasks (processes and threads) in
    the sandbox. Both need namespace isolation: without it RLIMIT_NPROC
    would count every process of the grader's user (or nothing, as root).
    """

    wall_seconds: float = 60.0
    cpu_seconds: int = 120
    memory_mb: int = 4096
    output_bytes: int = 64 * 1024
    file_size_mb: int = 256
    open_files: int = 256
    processes: int = 64
    disk_mb: int = 512
    threads: int = 2
    address_space: bool = True
    data_segment: bool = False
    gpu_memory_mb: int = 4096

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], base: Limits | None = None) -> Limits:
        """Overlay the keys of a ``[limits]`` table on ``base``; unknown keys are an error."""
        base = base or cls()
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown limit(s) {sorted(unknown)}; known: {sorted(known)}")
        return replace(base, **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

    def for_device(self, device: str) -> Limits:
        """The limits a child on ``device`` runs under. CUDA maps far more virtual memory than it
        uses, so no RLIMIT_AS there but RLIMIT_DATA, which counts only private writable memory; a
        cgroup caps the sandbox where one is writable (see
        :class:`grader.sandbox.isolation.NamespaceIsolation`), and the parent watches the child's
        resident and GPU memory (:mod:`grader.sandbox.memwatch`)."""
        return replace(self, address_space=False, data_segment=True) if device == "cuda" else self

    def apply_in_child(self) -> None:
        """Set rlimits; runs between fork and exec, so it must not allocate much."""
        def cap(which: int, value: int, slack: int = 0) -> None:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            top = value + slack if hard == resource.RLIM_INFINITY else min(value + slack, hard)
            resource.setrlimit(which, (value, top))

        # SIGXCPU at the soft limit names the cause; SIGKILL a second later if it is caught.
        cap(resource.RLIMIT_CPU, int(self.cpu_seconds), slack=1)
        cap(resource.RLIMIT_FSIZE, int(self.file_size_mb) << 20)
        cap(resource.RLIMIT_NOFILE, int(self.open_files))
        cap(resource.RLIMIT_CORE, 0)
        if self.address_space:
            cap(resource.RLIMIT_AS, int(self.memory_mb) << 20)
        if self.data_segment:
            cap(resource.RLIMIT_DATA, int(self.memory_mb) << 20)
        mark_no_new_privs()


def mark_no_new_privs() -> None:
    """``PR_SET_NO_NEW_PRIVS`` before ``exec``: no setuid program can raise the child's rights, and
    every process it ever makes carries the flag, which lets the reaper tell them apart (see
    :mod:`grader.sandbox.reaper`). Nothing to do where the call does not exist."""
    if _LIBC is not None:
        _LIBC.prctl(38, 1, 0, 0, 0)   # PR_SET_NO_NEW_PRIVS


def _load_libc():
    """libc, loaded in the parent: nothing may be imported between fork and exec."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl  # noqa: B018 - resolve the symbol now
        return libc
    except (OSError, AttributeError):
        return None


_LIBC = _load_libc()
