"""``--device auto|cpu|cuda``: resolved once in the parent, passed to every child.

CUDA is used only where a sandboxed child can really compute on it: the grader's
own torch seeing a GPU is not enough (the sandbox must show the child the driver
and the device files, its environment must not hide the GPU, its memory limits
must let CUDA start). So before grading on CUDA a child started exactly as the
real ones are (same isolation, limits and environment, device ``cuda``) runs a
tiny CUDA computation, once per process and isolation (:func:`probe_cuda`). If it
cannot, ``--device cuda`` refuses with the reason in one line, and ``--device
auto`` grades on CPU and says why in the result: no student loses a point
because the grader's GPU set-up is broken.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

DEVICES = ("auto", "cpu", "cuda")
PROBE_SECONDS = 120.0        # torch's import and CUDA's start-up, on a busy machine
PROBE_CODE = ("import torch\n"
              "x = torch.ones(8, device='cuda').mul(2).sum().item()\n"
              "assert x == 16, f'computed {x} on the GPU instead of 16'\n")

# What ``auto`` stands for. The test suite sets it from GRADER_TEST_DEVICE (tests/conftest.py) to run every
# grading that does not name a device on that one, failing loudly where it is not usable.
AUTO_MEANS = "auto"


class DeviceError(ValueError):
    pass


@dataclass(frozen=True)
class DeviceChoice:
    """The device a grading uses (``device``: "cpu" or "cuda") and, when ``auto`` fell back to the CPU
    on a machine with a GPU, why (``note``). A resolved choice handed to another process (a batch's
    workers) is used as it is, without probing again."""
    device: str
    note: str = ""

    def header(self) -> str:
        return f"device: {self.device}" + (f" ({self.note})" if self.note else "")

    def __str__(self) -> str:
        return self.device


# Device files without which no CUDA (or ROCm, or WSL's GPU) runtime sees a GPU.
GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/nvidiactl", "/dev/dxg", "/dev/kfd")


def gpu_device_files() -> bool:
    """Whether this machine has any GPU device file at all."""
    return any(glob.glob(pattern) for pattern in GPU_DEVICE_FILES)


def cuda_available() -> bool:
    """Whether the grader's torch sees a CUDA device. A machine without a GPU device file is told at
    once: importing torch to ask costs ≈ 0.8 s, which a grading then pays later, while its first child
    starts up (:mod:`grader.core.warmup`), instead of before it."""
    if not gpu_device_files():
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve(requested: str | DeviceChoice, isolation=None, cpu_only: str = "") -> DeviceChoice:
    """The device to grade on. ``auto`` means CUDA when torch sees a GPU and a sandboxed child can
    compute on it, else the CPU (with the reason when a GPU is there); asking for CUDA where it cannot
    be used is an error (one line), not a silent CPU run. ``cpu_only``: why this grading stays on the
    CPU whatever was asked (an assignment too small to gain from a GPU): the CPU, with that reason as
    the note where CUDA was asked for or ``auto`` would have picked it, and CUDA is never probed."""
    if isinstance(requested, DeviceChoice):
        if cpu_only:
            return DeviceChoice("cpu", cpu_only if requested.device == "cuda" else "")
        return requested
    if requested not in DEVICES:
        raise DeviceError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    if requested == "auto" and AUTO_MEANS != "auto":
        requested = AUTO_MEANS
    if requested == "cpu":
        return DeviceChoice("cpu")
    if cpu_only:
        return DeviceChoice("cpu", cpu_only if requested == "cuda" or cuda_available() else "")
    if not cuda_available():
        if requested == "cuda":
            raise DeviceError("--device cuda was requested but torch sees no CUDA device")
        return DeviceChoice("cpu")
    why = probe_cuda(isolation)
    if not why:
        return DeviceChoice("cuda")
    if requested == "cuda":
        raise DeviceError(f"--device cuda was requested but CUDA is not usable in the sandbox: {why}")
    return DeviceChoice("cpu", f"CUDA not usable in the sandbox: {why}")


def resolve_device(requested: str | DeviceChoice, isolation=None) -> str:
    """:func:`resolve`, the device's name only."""
    return resolve(requested, isolation).device


_probed: dict[object, str] = {}
_probe_lock = threading.Lock()


def probe_cuda(isolation=None) -> str:
    """'' when a child sandboxed by ``isolation`` (default: this machine's) computes on CUDA; else why not,
    in one line. Probed once per process and isolation."""
    if isolation is None:
        from grader.sandbox import select_isolation
        isolation = select_isolation()
    key: object = isolation
    try:
        hash(key)
    except TypeError:
        key = id(isolation)
    with _probe_lock:
        if key not in _probed:
            _probed[key] = _probe(isolation)
        return _probed[key]


def _probe(isolation) -> str:
    from grader.sandbox import memwatch
    from grader.sandbox.limits import Limits
    from grader.sandbox.process import ChildSpec, scrubbed_env

    limits = Limits().for_device("cuda")
    workdir = Path(tempfile.mkdtemp(prefix="grader-child-"))
    (workdir / "tmp").mkdir()
    spec = ChildSpec(submission=workdir / "probe.py", probes=workdir / "probe.py", limits=limits,
                     isolation=isolation, device="cuda")
    watch = None
    try:
        argv = isolation.wrap([sys.executable, "-I", "-B", "-c", PROBE_CODE], workdir, limits, "cuda")
        proc = subprocess.Popen(argv, cwd=workdir, env=scrubbed_env(workdir, spec), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=limits.apply_in_child)
        # watched like every CUDA child: its GPU memory is then one other children may allow for
        watch = memwatch.watch(proc.pid, int(limits.memory_mb), int(limits.gpu_memory_mb))
        try:
            stdout, stderr = proc.communicate(timeout=PROBE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return f"a sandboxed child did not finish a tiny CUDA computation in {PROBE_SECONDS:g} s"
    except OSError as exc:
        return f"the sandboxed child did not start: {exc}"
    finally:
        memwatch.unwatch(watch)
        try:
            isolation.release(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if proc.returncode == 0:
        return ""
    if watch is not None and watch.reason:
        return f"the probe {watch.reason}"
    lines = [line.strip() for line in (stderr or stdout).decode("utf-8", "replace").splitlines() if line.strip()]
    last = lines[-1] if lines else f"exit status {proc.returncode}"
    return " ".join(last.split())[:300]
