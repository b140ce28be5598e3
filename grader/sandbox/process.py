"""The parent's handle on one sandboxed child: spawn, talk, time out, kill.

Everything the child says arrives through :mod:`grader.sandbox.wire` frames on a
dedicated pipe; its stdout and stderr are only captured (truncated) for
feedback, so printing fake results achieves nothing.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox import reaper, wire
from grader.sandbox.isolation import Isolation, NoIsolation
from grader.sandbox.limits import Limits

RUNNER_DIR = "_runner"
Handler = Callable[[Any], Any]


class ChildFailure(Exception):
    """The child could not answer: it crashed, hung, exited early or broke the protocol."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class SubmissionError(Exception):
    """The student's code raised inside a probe; the child itself is still alive."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        self.type = str(error.get("type", "Exception"))
        self.message = str(error.get("message", ""))
        self.traceback = str(error.get("traceback", ""))
        super().__init__(f"{self.type}: {self.message}")


class CallbackAbort(Exception):
    """Raised by a parent-side handler to refuse a callback (e.g. episode budget spent)."""


@dataclass
class ChildSpec:
    submission: Path
    probes: Path
    limits: Limits = field(default_factory=Limits)
    child_files: tuple[tuple[str, Path], ...] = ()     # (module name in the child, file)
    isolation: Isolation = field(default_factory=NoIsolation)
    env: Mapping[str, str] = field(default_factory=dict)
    hash_seed: int = 0
    device: str = "cpu"         # "cpu" or "cuda": the child's GRADER_DEVICE, its memory policy, its devices


class OutputCapture:
    """Drains a pipe in a thread, keeping at most ``limit`` bytes so a flood can't exhaust memory."""

    def __init__(self, fd: int, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._chunks: list[bytes] = []
        self._kept = 0
        self._thread = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        try:
            while chunk := os.read(fd, 65536):
                self.total += len(chunk)
                if self._kept < self.limit:
                    keep = chunk[: self.limit - self._kept]
                    self._chunks.append(keep)
                    self._kept += len(keep)
        except OSError:
            pass
        finally:
            os.close(fd)

    def text(self, wait: float = 1.0) -> str:
        self._thread.join(wait)
        out = b"".join(self._chunks).decode("utf-8", "replace")
        if self.total > self._kept:
            out += f"\n[... output truncated: {self.total} bytes printed, first {self._kept} kept]"
        return out


def scrubbed_env(workdir: Path, spec: ChildSpec) -> dict[str, str]:
    """A minimal environment: nothing inherited but what Python and BLAS need to run."""
    threads = str(spec.limits.threads)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(workdir / "tmp"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": str(spec.hash_seed),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MPLBACKEND": "Agg",
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "GRADER_DEVICE": spec.device,
    }
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # machine quirks, not secrets
        if key in os.environ:
            env[key] = os.environ[key]
    env.update(spec.env)
    return env


class Endpoint:
    """The parent's end of one request/reply pipe pair, with deadlines on every read and write."""

    def __init__(self, req_w: int, rep_r: int, is_alive: Callable[[], bool]) -> None:
        self.req_w, self.rep_r = req_w, rep_r
        self._is_alive = is_alive
        self._buffer = b""
        os.set_blocking(req_w, False)

    def send(self, message: Any, deadline: float) -> None:
        data = memoryview(wire.encode(message))
        while data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            _, writable, _ = select.select([], [self.req_w], [], min(remaining, 0.2))
            if writable:
                data = data[os.write(self.req_w, data):]  # BrokenPipeError: the child is gone
            elif not self._is_alive():
                raise EOFError

    def recv(self, deadline: float) -> Any:
        while True:
            if len(self._buffer) >= wire.PREFIX_BYTES:
                total = wire.frame_length(self._buffer[: wire.PREFIX_BYTES])
                if len(self._buffer) >= total:
                    frame, self._buffer = self._buffer[:total], self._buffer[total:]
                    return wire.decode(frame)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([self.rep_r], [], [], min(remaining, 0.2))
            if readable:
                chunk = os.read(self.rep_r, 1 << 20)
                if not chunk:
                    raise EOFError
                self._buffer += chunk
            elif not self._is_alive():
                raise EOFError

    def close(self) -> None:
        for fd in (self.req_w, self.rep_r):
            try:
                os.close(fd)
            except OSError:
                pass


class Child:
    """One child process serving probe calls for one test group.

    A group that needs a second process which must never see what the first
    is sent (the VAE's decoder and held-out images) starts a second, fresh
    ``Child`` (see ``GroupContext.call(..., endpoint=...)``): nothing but the
    parent connects the two.
    """

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.output: OutputCapture | None = None
        self.endpoint: Endpoint | None = None
        self.startup_seconds = 0.0

    # -- lifecycle -------------------------------------------------------
    def start(self, deadline: float) -> None:
        t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="grader-child-"))
        runner_dir = self.workdir / RUNNER_DIR
        runner_dir.mkdir()
        (self.workdir / "tmp").mkdir()
        here = Path(__file__).resolve().parent
        shutil.copy(here / "runner.py", runner_dir / "runner.py")
        shutil.copy(here / "wire.py", runner_dir / "wire.py")
        shutil.copy(self.spec.probes, runner_dir / "probes.py")
        for module, path in self.spec.child_files:
            shutil.copy(path, runner_dir / f"{module}.py")
        submission = self.workdir / self.spec.submission.name
        shutil.copy(self.spec.submission, submission)

        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        child_fds = (req_r, rep_w)
        argv = [sys.executable, "-I", "-B", str(runner_dir / "runner.py"), *map(str, child_fds), str(submission)]
        limits = self.spec.limits.for_device(self.spec.device)
        argv = self.spec.isolation.wrap(argv, self.workdir, limits, self.spec.device)
        if self.unconfined:
            reaper.become_subreaper()   # orphans come back to us, to be swept at close()
        try:
            self.proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=scrubbed_env(self.workdir, self.spec),
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=out_w,
                pass_fds=child_fds,
                start_new_session=True,
                preexec_fn=limits.apply_in_child,
            )
        except BaseException:
            for fd in (req_w, rep_r, out_r):
                os.close(fd)
            raise
        finally:
            for fd in (*child_fds, out_w):
                os.close(fd)
        reaper.register(self.proc.pid)
        self.endpoint = Endpoint(req_w, rep_r, lambda: self.alive)
        self.output = OutputCapture(out_r, self.spec.limits.output_bytes)
        hello = self._recv(deadline, "starting up and importing the submission")
        self.startup_seconds = time.monotonic() - t0
        if hello.get("status") == "import_error":
            error = SubmissionError(hello.get("error", {}))
            self.close()
            raise ChildFailure("import_error", f"the submission failed to import:\n{error.traceback or error}")
        if hello.get("status") != "ready":
            self.close()
            raise ChildFailure("protocol", "the child sent an unexpected greeting")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def unconfined(self) -> bool:
        """No PID namespace to die with: processes the child makes can outlive it unless swept."""
        return isinstance(self.spec.isolation, NoIsolation)

    def close(self) -> None:
        """Ask the child to exit, then kill its whole process group and remove the work directory."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    if self.endpoint is not None:
                        os.write(self.endpoint.req_w, wire.encode({"op": "exit"}))
                    self.proc.wait(timeout=0.5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            reaper.unregister(self.proc.pid)
            self.proc = None
            if self.unconfined:
                reaper.sweep()
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None
        if self.workdir is not None:
            self.spec.isolation.release(self.workdir)
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def captured_output(self) -> str:
        return self.output.text() if self.output else ""

    # -- calls -----------------------------------------------------------
    def call(self, op: str, args: Mapping[str, Any], deadline: float,
             handlers: Mapping[str, Handler] | None = None) -> Any:
        """Run probe ``op`` in the child and return its raw result.

        While the probe runs, the child may send callbacks (e.g. ``env_step``)
        which ``handlers`` answer; a handler raising :class:`CallbackAbort`
        stops the probe. Raises :class:`SubmissionError` if the student's code
        raised and :class:`ChildFailure` if the child died or ran out of time.
        """
        if not self.alive or self.endpoint is None:
            raise ChildFailure("crashed", "the child process is not running")
        self._send({"op": op, "args": dict(args)}, deadline, op)
        handlers = handlers or {}
        while True:
            reply = self._recv(deadline, f"running {op}")
            status = reply.get("status") if isinstance(reply, dict) else None
            if status == "ok":
                return reply.get("result")
            if status == "error":
                raise SubmissionError(reply.get("error", {}))
            if status == "callback":
                handler = handlers.get(str(reply.get("name")))
                if handler is None:
                    self._send({"status": "abort", "message": f"no such callback {reply.get('name')!r}"}, deadline, op)
                    continue
                try:
                    answer = {"status": "ok", "data": handler(reply.get("data"))}
                except CallbackAbort as exc:
                    answer = {"status": "abort", "message": str(exc)}
                self._send(answer, deadline, op)
                continue
            raise ChildFailure("protocol", f"unexpected reply while {op}")

    def _send(self, message: Any, deadline: float, doing: str) -> None:
        try:
            self._endpoint().send(message, deadline)
        except TimeoutError:
            raise self._timeout(doing) from None
        except (BrokenPipeError, EOFError):
            raise self._died(doing) from None

    def _recv(self, deadline: float, doing: str) -> Any:
        try:
            return self._endpoint().recv(deadline)
        except TimeoutError:
            raise self._timeout(doing) from None
        except EOFError:
            raise self._died(doing) from None
        except wire.WireError as exc:
            self.close()
            raise ChildFailure("protocol", f"unreadable reply while {doing}: {exc}") from None

    def _timeout(self, doing: str) -> ChildFailure:
        self.close()
        return ChildFailure("timeout", f"time limit reached while {doing}; the child was stopped")

    def _endpoint(self) -> Endpoint:
        if self.endpoint is None:
            raise EOFError
        return self.endpoint

    def _died(self, doing: str) -> ChildFailure:
        code = None
        if self.proc is not None:
            try:
                code = self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        self.close()
        return ChildFailure("crashed", f"the child exited while {doing} ({describe_exit(code)})")


def describe_exit(code: int | None) -> str:
    """Say why a child ended, in words a student can act on."""
    if code is None:
        return "exit status unknown"
    if code >= 0:
        hint = " — did the submission call sys.exit() or os._exit()?" if code in (0, 1) else ""
        return f"exit status {code}{hint}"
    sig = -code
    reasons = {
        signal.SIGKILL: "killed (memory or time limit, or the grader stopped it)",
        signal.SIGXCPU: "CPU time limit exceeded",
        signal.SIGXFSZ: "file size limit exceeded",
        signal.SIGSEGV: "segmentation fault (often: out of memory under the memory limit)",
        signal.SIGABRT: "aborted (often: out of memory under the memory limit)",
    }
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    return f"signal {name}: {reasons.get(sig, 'terminated by a signal')}"
