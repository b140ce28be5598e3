"""The system-call filter (seccomp) every namespaced child runs under.

Namespaces give a child its own processes, network, IPC and mounts, but some
kernel objects are reachable from any process that can name them, whatever
its namespaces. Two were measured as channels between the children of one
grading: a kernel keyring key added by one group's child and read by the next
one's, and byte-range locks on a file of the read-only Python installation
(bound into every sandbox) held by a VAE training child and read back by the
decoder child alive at the same time. This module refuses the system calls
behind such objects, and the ones a sandbox could use to reach the kernel,
other processes or a new set of namespaces, none of which a student's code
needs.

Why it is built here and installed there: the parent compiles the filter once
per process with pyseccomp (a ctypes binding of libseccomp, which knows each
architecture's system-call numbers and argument layout, so no BPF is written
by hand) and exports the classic-BPF program; ``nsinit.py``, which must stay
standard-library only, receives the bytes in its JSON config and installs
them in the sandbox's init right before the command is started (after
``PR_SET_NO_NEW_PRIVS``), so everything the submission runs is filtered.

A refused call fails with ``EPERM`` (a ``PermissionError`` in Python), it
never kills the child: the student reads an exception naming the call. Two
exceptions: ``clone3`` fails with ``ENOSYS``, because its flags sit in a
struct the filter cannot read and ``ENOSYS`` makes glibc fall back to
``clone``, whose flags it can; and a system call made with another
architecture's calling convention (32-bit ``int 0x80`` on x86-64, AArch32 on
arm64, x32) fails with ``ENOSYS``, since the rules below only name the native
numbers.

Where pyseccomp or libseccomp is missing, :func:`unavailable` says why;
namespace isolation still works without the filter, ``describe()`` says that
it is off, and ``--require-isolation`` refuses to grade (see
:mod:`grader.sandbox.isolation`).
"""

from __future__ import annotations

import errno as _errno
import functools
import os
import platform
import sys
import tempfile
from dataclasses import dataclass

REFUSAL = _errno.EPERM          # what a refused call returns (PermissionError)

# Flags of clone() that make a new namespace. CLONE_NEWTIME is left out: in clone()'s
# flags its bit is part of the exit signal, and it only works through unshare/clone3.
CLONE_NEW = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
             "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
             "CLONE_NEWNET": 0x40000000}
# fcntl commands that take, test or watch something other processes can see on a shared file:
# record locks (classic and open-file-description), leases, directory change notification.
# Linux's values on x86-64 and arm64 (written out: this module is imported on every platform).
LOCK_COMMANDS = {"F_GETLK": 5, "F_SETLK": 6, "F_SETLKW": 7, "F_OFD_GETLK": 36, "F_OFD_SETLK": 37,
                 "F_OFD_SETLKW": 38, "F_SETLEASE": 1024, "F_NOTIFY": 1026}
POSIX_FADV_DONTNEED = 4
RWF_NOWAIT = 0x8
INT_MASK = 0xFFFF_FFFF          # int arguments: the kernel ignores the upper half, so must we


@dataclass(frozen=True)
class Rule:
    """Refuse ``syscall`` (when ``arg`` is set: only if ``(args[arg] & mask) == value``)."""
    syscall: str
    why: str
    arg: int | None = None
    mask: int = 0
    value: int = 0
    errno: int | None = None    # None: the filter's refusal errno
    case: str = ""              # which argument value is refused, for messages ("F_SETLK")

    @property
    def label(self) -> str:
        return f"{self.syscall}({self.case})" if self.case else self.syscall


def _always(why: str, *names: str) -> list[Rule]:
    return [Rule(name, why) for name in names]


# clone's flags are its first argument everywhere but on s390, where the stack pointer comes first.
_CLONE_FLAGS_ARG = 1 if platform.machine().startswith("s390") else 0

RULES: tuple[Rule, ...] = (
    *_always("kernel keyrings: a key opened to everyone, or in an inherited session keyring, "
             "reaches other sandboxes", "add_key", "request_key", "keyctl"),
    *_always("file locks: visible from every sandbox on the shared, read-only Python installation", "flock"),
    *(Rule("fcntl", "locks, leases and change notifications are visible across sandboxes",
           arg=1, mask=INT_MASK, value=value, case=name) for name, value in LOCK_COMMANDS.items()),
    *_always("another process's memory or file descriptors",
             "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp"),
    *_always("new namespaces, mounts and roots: the sandbox is built before the command starts",
             "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount",
             "fspick", "move_mount", "open_tree", "mount_setattr"),
    *(Rule("clone", "a new namespace", arg=_CLONE_FLAGS_ARG, mask=value, value=value, case=name)
      for name, value in CLONE_NEW.items()),
    Rule("clone3", "flags in a struct the filter cannot read: glibc falls back to clone", errno=_errno.ENOSYS),
    *_always("kernel interfaces a student never needs, each a history of privilege escalations",
             "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register"),
    *_always("the machine, not the sandbox: kernels, modules, swap, accounting, quotas, the kernel log",
             "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
             "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog", "lookup_dcookie"),
    *_always("files by handle, bypassing the paths the sandbox shows", "open_by_handle_at", "name_to_handle_at"),
    *_always("watching accesses to files shared with other sandboxes",
             "inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark"),
    *_always("page-cache state of files shared with other sandboxes", "cachestat"),
    Rule("fadvise64", "evicts a shared file's pages, for another sandbox to notice",
         arg=3, mask=INT_MASK, value=POSIX_FADV_DONTNEED, case="POSIX_FADV_DONTNEED"),
    Rule("preadv2", "tells whether a shared file's pages are cached",
         arg=5, mask=RWF_NOWAIT, value=RWF_NOWAIT, case="RWF_NOWAIT"),
)

SUMMARY = ("kernel keyrings, file locks and leases, ptrace and other processes' memory, new namespaces and "
           "mounts, bpf, perf events, io_uring, userfaultfd, kernel modules and other machine-wide calls")


def native_rules() -> list[tuple[Rule, int]]:
    """The rules whose system call exists on this machine's architecture, with its number
    (libseccomp resolves the names; a name it does not know for this architecture is skipped)."""
    import pyseccomp

    found = []
    for rule in RULES:
        number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, rule.syscall)
        if number >= 0:
            found.append((rule, number))
    return found


def build(refusal: int = REFUSAL) -> bytes:
    """Compile the filter for this machine's architecture to a classic-BPF program
    (the bytes of a ``struct sock_filter`` array). ``refusal`` is the errno refused calls get;
    tests pass an unusual one to tell the filter's refusals from the kernel's own."""
    import pyseccomp

    program = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    program.set_attr(pyseccomp.Attr.ACT_BADARCH, pyseccomp.ERRNO(_errno.ENOSYS))
    for rule, number in native_rules():
        action = pyseccomp.ERRNO(rule.errno if rule.errno is not None else refusal)
        args = [] if rule.arg is None else [pyseccomp.Arg(rule.arg, pyseccomp.MASKED_EQ, rule.mask, rule.value)]
        program.add_rule(action, number, *args)
    with tempfile.TemporaryFile() as fh:
        program.export_bpf(fh)
        fh.flush()
        os.lseek(fh.fileno(), 0, os.SEEK_SET)
        return fh.read()


@functools.cache
def program() -> bytes:
    """The filter every child gets, compiled once per process."""
    return build()


@functools.cache
def unavailable() -> str:
    """'' if the filter can be built here; otherwise why not (for ``describe()``)."""
    if not sys.platform.startswith("linux"):
        return f"seccomp needs Linux (this is {sys.platform})"
    try:
        program()
    except ImportError:
        return "pyseccomp is not installed"
    except (RuntimeError, OSError, AttributeError, ValueError) as exc:  # RuntimeError: no libseccomp
        return f"libseccomp could not build it: {exc}"
    return ""
