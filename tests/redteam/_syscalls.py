# Raw system calls for the cases that try the kernel directly, appended by the test (a line
# starting with "# SYSCALLS" in a case is replaced by this file): a submission is a single
# file. Numbers for x86-64 and arm64; tests/test_sandbox_isolation.py checks them against
# libseccomp's tables.
import ctypes as _ctypes
import os as _os
import platform as _platform

TABLE = {
    "x86_64": {"add_key": 248, "keyctl": 250, "ptrace": 101, "process_vm_readv": 310, "unshare": 272,
               "setns": 308, "mount": 165, "pivot_root": 155, "chroot": 161, "clone": 56,
               "io_uring_setup": 425, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323},
    "aarch64": {"add_key": 217, "keyctl": 219, "ptrace": 117, "process_vm_readv": 270, "unshare": 97,
                "setns": 268, "mount": 40, "pivot_root": 41, "chroot": 51, "clone": 220,
                "io_uring_setup": 425, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282},
}
_NUMBERS = TABLE.get(_platform.machine(), {})
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = _ctypes.c_long


def syscall(name, *args):
    """The raw system call ``name``: its return value, or OSError with its errno."""
    if name not in _NUMBERS:
        raise OSError(38, f"no number for {name} on {_platform.machine()}")
    _ctypes.set_errno(0)
    ret = _libc.syscall(_NUMBERS[name], *(_ctypes.c_long(a) if isinstance(a, int) else a for a in args))
    if ret == -1:
        err = _ctypes.get_errno()
        raise OSError(err, _os.strerror(err))
    return ret


def attempt(what, call, *args):
    """Print whether ``call(*args)`` worked; return its value, or None if it raised OSError."""
    try:
        value = call(*args)
    except OSError as exc:
        print(f"{what}: refused: {type(exc).__name__}: {exc}", flush=True)
        return None
    print(f"{what}: succeeded ({value})", flush=True)
    return value
