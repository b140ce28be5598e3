"""Builds a child's sandbox from Linux namespaces, then runs the child in it.

Started by the parent (see :mod:`grader.sandbox.isolation`) as::

    python -I -S nsinit.py CONFIG_JSON -- python -I -B .../runner.py ...

It runs before any student code, imports only the standard library, and
never imports ``grader`` (it must work from a bare file). Three processes:

``outer`` (in the grader's namespaces)
    Joins the child's cgroup (if any) first, then enters new PID, network,
    IPC and UTS namespaces (plus, in mode ``userns``, a user namespace that
    owns them), forks, waits, and exits the way the child did (signal deaths
    are re-raised) so the parent reads a normal exit status. Killing it kills
    the rest: its child has a parent-death signal. If the grader dies without
    closing it, it kills the sandbox and removes the work directory (it keeps
    the host's view of the file system for that). In mode ``root`` it also
    writes init's uid and gid maps (see below): only a process outside the
    new user namespace, with CAP_SETUID there, may map an arbitrary uid.
``init`` (PID 1 of the new PID namespace)
    Enters a new mount namespace and builds a new root on a tmpfs with read-only bind mounts of only what the
    config lists (the Python installation, a few /etc files, device nodes),
    a size-limited tmpfs as the work directory (the disk quota; only the
    prepared inputs are bound into it, read-only), a fresh /proc whose
    machine-wide counters (load, memory, CPU times, uptime) read as constants,
    and pivots into it so the old root is gone. (Mode ``root-no-userns``, for a
    root grader on a machine with user namespaces disabled, only drops to
    the fresh uid in the grader's user namespace.) In mode ``root`` it then enters
    a user namespace of its own, where the one inside id (1000) stands for
    an outside uid used by no one else, and becomes that id: RLIMIT_NPROC
    counts only this sandbox, and what the kernel keeps per user namespace
    (user keyrings, keyring names) is not shared with other children. The
    namespaces made before it stay owned by the grader's, so the child has no
    capability over its own mounts or network. In every mode it then joins a
    fresh session keyring (the grader's, when it has one, as a login session
    does, is shared with every child; a user namespace does not drop it),
    sets no-new-privileges,
    installs the seccomp filter the parent compiled (see
    :mod:`grader.sandbox.seccomp`) and forks the real command; its
    capabilities in the user namespace go at ``execve``. It reaps zombies
    until the command ends; when PID 1 exits the kernel kills everything
    left in the namespace.
``command`` (PID 2): ``execve`` of the argv after ``--``.

A setup failure exits with status 125 and one line on stderr.
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import platform
import resource
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
# statvfs f_flag bits with the same value as the MS_ flag they report (Linux)
_KEEP_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME
_ST_RELATIME = 4096
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 22
SECCOMP_SET_MODE_FILTER, SECCOMP_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW = 1, 2, 4
KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "ppc64le": 203, "s390x": 217, "riscv64": 41}
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "ppc64le": 271, "s390x": 280, "riscv64": 219}
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277, "ppc64le": 358, "s390x": 348, "riscv64": 277}

SETUP_FAILED = 125
INSIDE_ID = 1000          # the child's uid/gid as seen inside a user namespace
ROOT_DIR = ".sandbox-root"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long


class _SockFprog(ctypes.Structure):
    """``struct sock_fprog``: a classic-BPF program for PR_SET_SECCOMP."""
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class SetupError(Exception):
    """The sandbox could not be built; the grader reports it (never the student's fault)."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), f"mount {target}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


# -- outer --------------------------------------------------------------------
def main(argv: list[str]) -> int:
    try:
        sep = argv.index("--")
        config = json.loads(argv[1])
        command = argv[sep + 1:]
    except (ValueError, IndexError):
        print("nsinit: usage: nsinit.py CONFIG -- COMMAND...", file=sys.stderr)
        return SETUP_FAILED
    parent = config.get("parent_pid")
    signal.signal(signal.SIGUSR1, lambda signum, frame: _orphaned(config["workdir"]))
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0), "prctl")
        if parent is not None and os.getppid() != parent:
            _orphaned(config["workdir"])  # the grader is already gone
        for procs in config.get("cgroup_procs", []):
            _write(procs, "0")
        uid, gid = os.getuid(), os.getgid()
        userns = config["mode"] == "userns"
        root = os.path.join(config["workdir"], ROOT_DIR)
        os.makedirs(root, exist_ok=True)
        # The mount namespace is made in init; in mode root, so is the user namespace.
        flags = CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
        _check(_libc.unshare(flags | (CLONE_NEWUSER if userns else 0)), "unshare")
        if userns:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{INSIDE_ID} {uid} 1\n")
            _write("/proc/self/gid_map", f"{INSIDE_ID} {gid} 1\n")
        # Counted per (user namespace, uid): only this sandbox's tasks (see module doc).
        nproc = int(config.get("processes", 0))
        if nproc > 0:
            hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
            nproc = nproc if hard == resource.RLIM_INFINITY else min(nproc, hard)
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    except (SetupError, OSError, KeyError, ValueError) as exc:
        print(f"grader sandbox setup failed: {exc}", file=sys.stderr)
        return SETUP_FAILED
    global _child
    handshake = (os.pipe(), os.pipe()) if config["mode"] == "root" else None
    _child = pid = os.fork()
    if pid == 0:
        sync = None
        if handshake:
            (ready_r, ready_w), (mapped_r, mapped_w) = handshake
            os.close(ready_r)
            os.close(mapped_w)
            sync = (ready_w, mapped_r)
        os._exit(init_main(config, command, sync))
    if handshake:
        (ready_r, ready_w), (mapped_r, mapped_w) = handshake
        os.close(ready_w)
        os.close(mapped_r)
        _map_ids(pid, int(config["uid"]), ready_r, mapped_w)
    os.closerange(3, 1 << 16)  # the pipes belong to the child; EOF must come when it ends
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _, status = os.waitpid(pid, 0)
    if parent is not None and os.getppid() != parent:
        _orphaned(config["workdir"])
    return _mirror(status)


_child: int | None = None


def _map_ids(pid: int, outside: int, ready: int, mapped: int) -> None:
    """Mode root: when init has entered its user namespace, map the inside id to ``outside``.

    Only a process with CAP_SETUID in the parent user namespace may map an id
    other than its own, so init cannot do it itself. If init failed before
    (EOF) it has said why; if this fails, init reads EOF and gives up.
    """
    if os.read(ready, 1) != b"u":
        return
    try:
        _write(f"/proc/{pid}/setgroups", "deny")
        _write(f"/proc/{pid}/uid_map", f"{INSIDE_ID} {outside} 1\n")
        _write(f"/proc/{pid}/gid_map", f"{INSIDE_ID} {outside} 1\n")
    except OSError as exc:
        print(f"grader sandbox setup failed: uid map: {exc}", file=sys.stderr)
        return
    os.write(mapped, b"m")


def _orphaned(workdir: str) -> None:
    """The grader died without closing us (SIGUSR1 is our parent-death signal): kill the
    sandbox and remove its work directory, which would otherwise stay on disk."""
    if _child:
        try:
            os.kill(_child, signal.SIGKILL)
            os.waitpid(_child, 0)
        except OSError:
            pass
    import shutil
    shutil.rmtree(workdir, ignore_errors=True)
    os._exit(128 + signal.SIGKILL)


def _mirror(status: int) -> int:
    """Exit the way the child did: a signal death (or PID 1's 128+N) is re-raised as that signal."""
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 0
    if not sig and 128 < code < 128 + 65 and code != SETUP_FAILED:
        sig = code - 128
    if sig:
        try:
            if sig not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)
        except (OSError, ValueError):
            pass
        return 128 + sig
    return code


# -- init (PID 1) ---------------------------------------------------------------
def init_main(config: dict, command: list[str], sync: tuple[int, int] | None = None) -> int:
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    try:
        _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")
        # Our own mount namespace: pivot_root moves every process of the namespace, and the
        # outer process must keep the host's view to clean up after an orphaned sandbox.
        _check(_libc.unshare(CLONE_NEWNS), "unshare mount namespace")
        build_root(config)
        if config["mode"] in ("root", "root-no-userns"):
            if config["mode"] == "root":
                enter_user_namespace(sync)
                uid = INSIDE_ID              # stands for config["uid"] outside
            else:                            # user namespaces disabled: the fresh uid in the host's
                uid = int(config["uid"])
                os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _check(_libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl")  # cleared by setuid
        join_session_keyring()
        _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl")
        os.chdir(config["workdir"])
        if config.get("seccomp"):
            install_filter(base64.b64decode(config["seccomp"]))
    except (SetupError, OSError, KeyError, ValueError) as exc:
        print(f"grader sandbox setup failed: {exc}", file=sys.stderr)
        return SETUP_FAILED
    try:
        child = os.fork()
    except OSError as exc:
        print(f"grader sandbox setup failed: fork: {exc}", file=sys.stderr)
        return SETUP_FAILED
    if child == 0:
        try:
            os.execve(command[0], command, os.environ)
        except OSError as exc:
            print(f"grader sandbox: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)
    while True:  # reap every orphan; leave when the command itself ends
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 0
        if pid == child:
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)


def enter_user_namespace(sync: tuple[int, int] | None) -> None:
    """Mode root: a user namespace of our own, mapped by the outer process (see :func:`_map_ids`).

    Supplementary groups go first, while we may still drop them; ``setgroups``
    is denied inside afterwards.
    """
    if sync is None:
        raise SetupError("user namespace: no handshake with the outer process")
    ready, mapped = sync
    os.setgroups([])
    _check(_libc.unshare(CLONE_NEWUSER), "unshare user namespace")
    os.write(ready, b"u")
    if os.read(mapped, 1) != b"m":
        raise SetupError("user namespace: the outer process did not map our ids")
    os.close(ready)
    os.close(mapped)


def join_session_keyring() -> None:
    """Replace the session keyring inherited from the grader, if it has one (shared with every
    other child, and kept across a new user namespace), with a fresh, empty one.

    Best effort: a kernel without keyrings has nothing to share (ENOSYS), and a
    full key quota (EDQUOT) must not fail grading; the seccomp filter refuses
    the keyring calls anyway.
    """
    number = SYS_KEYCTL.get(platform.machine())
    if number is not None:
        _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)


def install_filter(program: bytes) -> None:
    """Install the classic-BPF ``program`` (compiled by the parent with libseccomp) as this
    process's seccomp filter; every process it starts inherits it.

    Through ``seccomp(2)`` with SECCOMP_FILTER_FLAG_SPEC_ALLOW where the kernel has it:
    without the flag, kernels before 5.16 also force the speculative-store-bypass
    mitigation on every filtered process, which slows training down and protects
    nothing here (the child holds no secret of its own). ``prctl`` otherwise.
    """
    if not program or len(program) % 8:
        raise SetupError(f"seccomp: a filter of {len(program)} bytes is not a BPF program")
    code = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.addressof(code))
    number = SYS_SECCOMP.get(platform.machine())
    if number is not None and _libc.syscall(number, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW,
                                            ctypes.byref(fprog)) == 0:
        return
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog), 0, 0), "seccomp")


def _inside(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _mountpoint(target: str, is_dir: bool) -> None:
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o644))


def bind(source: str, target: str, readonly: bool = True, device: bool = False) -> None:
    """Bind ``source`` at ``target``; read-only, no setuid, keeping the flags the source mount has."""
    _mountpoint(target, os.path.isdir(source))
    mount(source, target, None, MS_BIND)
    if device:
        return
    st = os.statvfs(source)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (st.f_flag & _KEEP_FLAGS)
    if st.f_flag & _ST_RELATIME:
        flags |= MS_RELATIME
    if readonly:
        flags |= MS_RDONLY
    mount(None, target, None, flags)


def _readable(path: str) -> None:
    """Let any uid read the grader's copy of an input (the work directory itself stays 0700)."""
    if os.path.isdir(path) and not os.path.islink(path):
        os.chmod(path, 0o755)
        for name in os.listdir(path):
            _readable(os.path.join(path, name))
    elif os.path.isfile(path):
        os.chmod(path, 0o644)


def build_root(config: dict) -> None:
    """Everything the child may see, under a fresh tmpfs; then pivot into it.

    Order matters: the private ``/tmp`` comes before the binds (a Python installation under
    ``/tmp`` is bound on top of it, not hidden by it); the masks come before the work directory
    (the grader's temp folder may be masked, and the work directory lies inside it)."""
    workdir = config["workdir"]
    root = os.path.join(workdir, ROOT_DIR)
    uid = INSIDE_ID if config["mode"] == "userns" else int(config["uid"])  # as the kernel sees it now
    mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing we do propagates back to the host
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,nr_inodes=4096,mode=0755")

    # The work directory: a size-limited tmpfs (the disk quota) with the inputs bound read-only;
    # its tmp/ is also /tmp and /dev/shm. Built at /.work first, because the work directory
    # itself usually lives below /tmp.
    staging = os.path.join(root, ".work")
    os.makedirs(staging)
    mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV,
          f"size={int(config['disk_mb'])}m,nr_inodes={int(config.get('inodes', 65536))},mode=0700,uid={uid},gid={uid}")
    for name in sorted(os.listdir(workdir)):
        if name in (ROOT_DIR, "tmp"):
            continue
        _readable(os.path.join(workdir, name))  # the child's uid is not the grader's
        bind(os.path.join(workdir, name), os.path.join(staging, name))
    tmp = os.path.join(staging, "tmp")
    os.makedirs(tmp)
    os.chmod(tmp, 0o700)
    os.chown(tmp, uid, uid)
    for shared in ("/tmp", "/dev/shm"):
        target = _inside(root, shared)
        os.makedirs(target, exist_ok=True)
        mount(tmp, target, None, MS_BIND)

    for link, target in config.get("symlinks", []):
        path = _inside(root, link)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.symlink(target, path)
    for source in config.get("binds", []):
        if os.path.exists(source):
            bind(source, _inside(root, source))
    for source in config.get("devices", []):
        if os.path.exists(source):
            bind(source, _inside(root, source), device=True)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        path = _inside(root, "/dev/" + name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.lexists(path):
            os.symlink(target, path)

    masked_dirs = []
    for path in config.get("mask", []):  # secrets that sit below a bound directory
        target = _inside(root, path)
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,nr_inodes=64,mode=0555")
            masked_dirs.append(target)
        elif os.path.exists(target):
            mount("/dev/null", target, None, MS_BIND)
    inner_work = _inside(root, workdir)
    os.makedirs(inner_work, exist_ok=True)   # possibly inside a masked folder: made before it turns read-only
    for target in masked_dirs:
        mount(None, target, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount(staging, inner_work, None, MS_BIND | MS_REC)
    _check(_libc.umount2(_b(staging), MNT_DETACH), "umount staging")
    os.rmdir(staging)

    proc = _inside(root, "/proc")
    os.makedirs(proc, exist_ok=True)
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    hide_counters(root, config.get("proc_files", {}))

    for path, text in config.get("files", {}).items():
        target = _inside(root, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as fh:
            fh.write(text)

    hostname = b"sandbox"
    _libc.sethostname(hostname, len(hostname))
    mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
    pivot(root)


def hide_counters(root: str, files: dict[str, str]) -> None:
    """Bind a file of fixed text over each of /proc's machine-wide counters (load, memory, CPU time,
    uptime, ...) in the fresh /proc: children alive together read the same constants, so the
    machine's load carries no signal from one to another. The files are made in the new root and
    unlinked once bound (the mounts keep them). A counter this kernel does not have is skipped."""
    staging = os.path.join(root, ".proc-constants")
    os.makedirs(staging)
    for i, (path, text) in enumerate(sorted(files.items())):
        target = _inside(root, path)
        if not os.path.isfile(target):
            continue
        source = os.path.join(staging, str(i))
        with open(source, "w") as fh:
            fh.write(text)
        os.chmod(source, 0o444)
        try:
            bind(source, target)
        except SetupError as exc:
            raise SetupError(f"cannot hide {path}: {exc}") from None
        os.unlink(source)
    os.rmdir(staging)


def pivot(root: str) -> None:
    """Make ``root`` the filesystem root and detach the old one entirely."""
    os.chdir(root)
    number = SYS_PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise SetupError(f"pivot_root: unsupported architecture {platform.machine()}")
    _check(_libc.syscall(number, b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
