"""Not a submission: the code two sandboxed children run at the same time (see
tests/test_sandbox_isolation.py), with __ROLE__ filled in. The publisher takes locks on a
file of the read-only Python installation, which every sandbox sees (the same inode): a
whole-file flock, classic and open-file-description byte-range read locks whose offsets
carry a message. The observer, another child alive meanwhile, tests the same file: F_GETLK
and F_OFD_GETLK over the ranges, and a non-blocking exclusive flock. Measured before the fix:
a VAE training child published held-out pixels this way and the decoder child read them.
Sets ``result`` to what each attempt did."""
import fcntl
import os
import struct

ROLE = "__ROLE__"
FLOCK = "hhqqi4x"                    # struct flock on x86-64 and arm64
MESSAGE = b"pixels"
BASE = 1 << 40                       # far past the end of the file: locks may go anywhere
path = os.path.realpath(os.__file__)
fd = os.open(path, os.O_RDONLY)
result = {"path": path}


def _outcome(call):
    try:
        value = call()
    except OSError as exc:
        return f"refused: {type(exc).__name__}: [Errno {exc.errno}] {os.strerror(exc.errno)}"
    return "succeeded" if value is None or isinstance(value, bytes) else value


def _lock(cmd, start):
    return fcntl.fcntl(fd, cmd, struct.pack(FLOCK, fcntl.F_RDLCK, os.SEEK_SET, start, 1, 0))


def _test(cmd, start, length):
    kind, _, where, _, _ = struct.unpack(FLOCK, fcntl.fcntl(fd, cmd, struct.pack(
        FLOCK, fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)))
    return "no lock" if kind == fcntl.F_UNLCK else where - start


def _flock_exclusive():
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return "another process holds it"
    fcntl.flock(fd, fcntl.LOCK_UN)
    return "free"


if ROLE == "publish":
    result["flock"] = _outcome(lambda: fcntl.flock(fd, fcntl.LOCK_SH))
    result["F_SETLK"] = [_outcome(lambda: _lock(fcntl.F_SETLK, BASE + 512 * i + 2 * b)) for i, b in enumerate(MESSAGE)]
    ofd = os.open(path, os.O_RDONLY)   # OFD locks belong to the open file, not the process
    result["F_OFD_SETLK"] = _outcome(lambda: fcntl.fcntl(ofd, fcntl.F_OFD_SETLK, struct.pack(
        FLOCK, fcntl.F_RDLCK, os.SEEK_SET, 2 * BASE, 1, 0)))
    result["lockf"] = _outcome(lambda: fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 3 * BASE))
else:
    offsets = [_outcome(lambda i=i: _test(fcntl.F_GETLK, BASE + 512 * i, 512)) for i in range(len(MESSAGE))]
    result["F_GETLK"] = offsets
    result["message"] = bytes(o // 2 for o in offsets if isinstance(o, int)).decode("latin-1")
    result["F_OFD_GETLK"] = _outcome(lambda: _test(fcntl.F_OFD_GETLK, 2 * BASE, 1))
    result["flock"] = _outcome(_flock_exclusive)
    with open("/proc/locks") as fh:
        inode = os.fstat(fd).st_ino
        result["/proc/locks"] = [line.strip() for line in fh if f":{inode} " in line]
