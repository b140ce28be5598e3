"""The two training runs train at the same time, each in its own child. Each run's train() looks
for the other through what two processes on one machine usually share: an abstract Unix socket,
a file in /tmp and in /dev/shm (made with O_EXCL: the second maker fails), a SysV message queue
and a lock on a file of the Python installation. It keeps all of them open while it plays the
env for a while, so the runs overlap, and says what it found. Each run must find itself alone."""
import os
import socket
import time

import numpy as np
from torch import nn

NAME = "grader-runs-together"


def baseline_losses(logits, values, actions, returns):
    raise NotImplementedError


def _look_for_the_other_run(kept):
    found = []
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(b"\0" + NAME.encode())
        kept.append(sock)
        found.append("socket: alone")
    except OSError as exc:
        found.append(f"socket: PARTNER ({exc.errno})")
    for folder in ("/tmp", "/dev/shm"):
        try:
            path = os.path.join(folder, f"{NAME}{folder.replace('/', '-')}")   # (in the sandbox both are one folder)
            kept.append(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            found.append(f"{folder}: alone")
        except FileExistsError:
            found.append(f"{folder}: PARTNER")
        except OSError as exc:
            found.append(f"{folder}: refused ({exc.errno})")
    try:
        import sysv_ipc  # noqa: F401 - not installed: use the syscall through ctypes instead
    except ImportError:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        key = 0x5EED
        created = libc.msgget(key, 0o1000 | 0o2000 | 0o600)      # IPC_CREAT | IPC_EXCL
        errno = ctypes.get_errno()
        found.append("sysv queue: alone" if created >= 0 else
                     f"sysv queue: PARTNER ({errno})" if errno == 17 else f"sysv queue: refused ({errno})")
    try:
        import fcntl
        fd = os.open(os.__file__, os.O_RDONLY)
        kept.append(fd)
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        found.append("lock: taken")
    except OSError as exc:
        found.append(f"lock: refused ({exc.errno})")
    return found


def train(env, args):
    net = nn.Linear(4, 2)
    if not args.episodes:
        return net
    kept = []
    start = time.time()
    found = _look_for_the_other_run(kept)
    env.reset()
    rng = np.random.default_rng(0)
    try:
        while time.time() - start < 3.0:
            env.step(rng.integers(2, size=env.num_envs))
    except BaseException:  # noqa: BLE001 - the budget spent before the 3 s (the grader's abort is a BaseException)
        pass
    print(f"RUN {start:.3f} {time.time():.3f} " + "; ".join(found), flush=True)
    return net
