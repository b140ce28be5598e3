"""A vae.py whose train() sets up a channel from the encoding process to the decoding one:
a MAP_SHARED anonymous mmap (__CHANNEL__ = "mmap") or a pipe enlarged to 1 MiB ("pipe"),
which a fork() of the trained process would share, or ("socket") an abstract Unix socket
served by a thread of the first process that trains, which a process in the same network
namespace could reach, or ("lock") byte-range read locks on a file of the Python
installation, which every sandbox sees: the lock offsets carry the pixels, and another
process reads them with F_GETLK (the first LOCKED images only, to keep the lock count small).
encode writes every image it is given into the channel; decode reads
them back and replays the remembered digit, with a latent code that is just the image's
index. Against a decoder forked from the trained process (or, for the socket, in the same
network namespace; for the locks, on the same machine) this beats the threshold by far;
against a fresh decoder process in its own namespaces (whose own train makes a new, empty
channel), under a filter that refuses file locks, it finds nothing."""
import fcntl
import mmap
import os
import socket
import struct
import threading

import numpy as np
import torch
from torch import nn

CHANNEL = "__CHANNEL__"
PIXELS = 784
CAPACITY = 4096
_MAP = None        # mmap: an int64 count, then uint8 pixels
_PIPE = None       # pipe: (read end, write end), uint8 pixels
_RECEIVED = []     # what this process has read from the pipe
_SENT = [0]
_STORED = []       # socket: what this process's encode was given, served to whoever connects
ADDRESS = "\0grader-vae-replay"
_LOCKS = []        # lock: the descriptor of the shared file, opened by train
_SAID = []         # lock: a refusal, printed once
LOCKED = 16        # lock: images published
FLOCK = "hhqqi4x"  # struct flock on x86-64 and arm64
SLOT = 512         # lock: one pixel per 512 bytes of offset, its value at 2 * value within the slot


def reparametrize(mean, sd):
    return mean + sd * torch.randn_like(mean)


def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)


def _store(images):
    """Append images to the channel; return the index of the first."""
    pixels = (images.reshape(len(images), PIXELS) * 255).round().to(torch.uint8).numpy()
    if CHANNEL == "socket":
        _STORED.append(pixels.tobytes())
        return sum(len(b) for b in _STORED[:-1]) // PIXELS
    if CHANNEL == "lock":
        first = _SENT[0]
        try:
            for i, image in enumerate(pixels[: max(0, LOCKED - first)]):
                for j, value in enumerate(image):
                    start = ((first + i) * PIXELS + j) * SLOT + 2 * int(value)
                    fcntl.fcntl(_LOCKS[0], fcntl.F_SETLK, struct.pack(FLOCK, fcntl.F_RDLCK, 0, start, 1, 0))
        except OSError as exc:
            if not _SAID:
                _SAID.append(exc)
                print(f"encode: cannot publish pixels as locks: {exc}", flush=True)
        _SENT[0] += len(pixels)
        return first
    if CHANNEL == "pipe":
        first = _SENT[0]
        try:
            os.write(_PIPE[1], pixels.tobytes())
        except OSError:
            pass
        _SENT[0] += len(pixels)
        return first
    count = int(np.frombuffer(_MAP, dtype=np.int64, count=1)[0])
    n = min(len(pixels), CAPACITY - count)
    _MAP[8 + count * PIXELS: 8 + (count + n) * PIXELS] = pixels[:n].tobytes()
    _MAP[:8] = np.int64(count + n).tobytes()
    return count


def _serve(server):
    while True:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"".join(_STORED))


def _recall():
    if CHANNEL == "socket":
        raw = b""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(ADDRESS)
                while chunk := s.recv(1 << 20):
                    raw += chunk
        except OSError:
            pass
        pixels = np.frombuffer(raw[: len(raw) // PIXELS * PIXELS], dtype=np.uint8)
    elif CHANNEL == "lock":
        found = []
        try:
            for k in range(LOCKED * PIXELS):
                probe = struct.pack(FLOCK, fcntl.F_WRLCK, 0, k * SLOT, SLOT, 0)
                kind, _, start, _, _ = struct.unpack(FLOCK, fcntl.fcntl(_LOCKS[0], fcntl.F_GETLK, probe))
                if kind == fcntl.F_UNLCK:
                    break
                found.append((start - k * SLOT) // 2)
        except OSError as exc:
            print(f"decode: cannot test the locks: {exc}", flush=True)
        pixels = np.array(found[: len(found) // PIXELS * PIXELS], dtype=np.uint8)
    elif CHANNEL == "pipe":
        try:
            while chunk := os.read(_PIPE[0], 1 << 20):
                _RECEIVED.append(chunk)
        except BlockingIOError:
            pass
        raw = b"".join(_RECEIVED)
        pixels = np.frombuffer(raw[: len(raw) // PIXELS * PIXELS], dtype=np.uint8)
    else:
        count = int(np.frombuffer(_MAP, dtype=np.int64, count=1)[0])
        pixels = np.frombuffer(_MAP, dtype=np.uint8, count=count * PIXELS, offset=8)
    return torch.tensor(pixels.reshape(-1, 28, 28), dtype=torch.float32) / 255.0


class VAE(nn.Module):
    def __init__(self, z_dim=2):
        super().__init__()
        self.enc = nn.Linear(PIXELS, 2 * z_dim)
        self.dec = nn.Linear(z_dim, PIXELS)

    def encode(self, images):
        first = _store(images)
        n = len(images)
        index = torch.arange(n, dtype=torch.float32) + first
        mean = torch.stack([index / 400.0, torch.zeros(n)], dim=1)
        return mean, torch.full((n, 2), 1e-4)

    def decode(self, z):
        seen = _recall()
        index = torch.round(z[:, 0] * 400.0).long()
        print(f"decode: {len(seen)} images in the shared {CHANNEL}", flush=True)
        if len(seen) == 0 or index.max() >= len(seen) or index.min() < 0:
            return torch.zeros(len(z), 28, 28)
        return torch.logit(seen[index].clamp(1e-3, 1 - 1e-3))


def train(images, args):
    global _MAP, _PIPE
    if CHANNEL == "socket":
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.bind(ADDRESS)        # taken already: another process here serves; decode asks it
            server.listen(4)
            threading.Thread(target=_serve, args=(server,), daemon=True).start()
        except OSError:
            server.close()
    elif CHANNEL == "lock":
        _LOCKS.append(os.open(os.path.realpath(np.__file__), os.O_RDONLY))
    elif CHANNEL == "pipe":
        _PIPE = os.pipe()
        for fd in _PIPE:
            os.set_blocking(fd, False)
        fcntl.fcntl(_PIPE[1], getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    else:
        _MAP = mmap.mmap(-1, 8 + CAPACITY * PIXELS)   # MAP_SHARED | MAP_ANONYMOUS: a fork shares it
    torch.manual_seed(args.seed)
    return VAE(args.z_dim)
