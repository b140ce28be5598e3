"""The parent's handle on one sandboxed child: spawn, talk, time out, kill.

Everything the child says arrives through :mod:`grader.sandbox.wire` frames on a
dedicated pipe; its stdout and stderr are only captured (truncated) for
feedback, so printing fake results achieves nothing. Writing on the pipe
itself achieves nothing either: every frame is bounded (its header by
``wire``, its arrays by what the call accepts) and must answer the call in
progress, and anything else stops the child as a protocol violation.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.sandbox import memwatch, reaper, wire
from grader.sandbox.isolation import Isolation, NoIsolation, driver_library_path, secret_paths
from grader.sandbox.limits import Limits

RUNNER_DIR = "_runner"
Handler = Callable[[Any], Any]

# The most bytes of arrays a reply may carry unless the suite asks for more
# (``ctx.call(..., reply_bytes=N)``: the VAE's state_dict, encodings and decoded
# images). The other calls' honest replies are at most ~1 MB (20,000 bandit
# choices: 160 KB; 20,000 x 6 reparametrized samples in float64: 960 KB; an
# RL training curve: a few KB), so 16 MiB leaves room for bigger inputs. It
# is also what a flood of the reply pipe can make the parent hold during a
# call: this buffer plus a header of at most wire.MAX_HEADER_BYTES (1 MiB),
# well under 64 MB.
DEFAULT_REPLY_BYTES = 16 * 1024 * 1024
GREETING_BYTES = 0        # "ready" or "import_error": no arrays

# What a student reads after the channel carried something no runner sends: only a
# submission writing on the grader's pipe (or patching the runner) does that.
PROTOCOL_HINT = ("your program wrote to the grader's channel: a submission may print, but must never write "
                 "to file descriptors it did not open; this process was stopped and is not restarted")


class ChildFailure(Exception):
    """The child could not answer: it crashed, hung, exited early or broke the protocol.

    Besides the message, what the feedback needs as data: ``error``, the student's
    exception (type, message, traceback, frames) when the submission failed to import;
    ``doing``, what the child was doing; ``skipped``, a call refused because of this
    earlier failure (the child is not restarted after it); ``final``, a failure a fresh child would
    meet again (stopped by the parent's memory watch): the group does not restart it."""

    def __init__(self, kind: str, message: str, *, error: Mapping[str, Any] | None = None, doing: str = "",
                 skipped: bool = False, final: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.error = dict(error) if error else None
        self.doing = doing
        self.skipped = skipped
        self.final = final

    def again(self, message: str | None = None, *, skipped: bool | None = None) -> ChildFailure:
        """The same failure with another message (or marked as the reason a later call was skipped)."""
        return ChildFailure(self.kind, self.message if message is None else message, error=self.error,
                            doing=self.doing, skipped=self.skipped if skipped is None else skipped, final=self.final)


class SubmissionError(Exception):
    """The student's code raised inside a probe; the child itself is still alive."""

    def __init__(self, error: Mapping[str, Any]) -> None:
        self.error = dict(error)       # as sent: type, message, traceback, frames (see runner.describe_exception)
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
    preload: tuple[str, ...] = ()   # libraries imported before the child waits to be used (e.g. torch)


class OutputCapture:
    """Drains a pipe in a thread, keeping at most ``limit`` bytes so a flood can't exhaust memory."""

    def __init__(self, fd: int, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self._chunks: list[bytes] = []
        self._kept = 0
        self._noticed = False
        self._fd = fd
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._drain, args=(fd,), daemon=True)
        self._thread.start()

    def _drain(self, fd: int) -> None:
        """Read until the pipe ends. Each read and its bookkeeping happen under the lock, so that
        :meth:`settle` can tell an empty pipe from data read and not yet kept."""
        try:
            while True:
                select.select([fd], [], [])
                with self._lock:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        break
                    self.total += len(chunk)
                    if self._kept < self.limit:
                        keep = chunk[: self.limit - self._kept]
                        self._chunks.append(keep)
                        self._kept += len(keep)
        except OSError:
            pass
        finally:
            with self._lock:
                os.close(fd)
                self._fd = -1

    def text(self, wait: float = 1.0) -> str:
        """What was printed since the last :meth:`take` (everything, at first); waits up to ``wait``
        seconds for the pipe to end (the child is gone)."""
        self._thread.join(wait)
        return self.take()

    def take(self) -> str:
        """What was printed since the last take, and the truncation notice once the limit is hit."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        out = b"".join(chunks).decode("utf-8", "replace")
        if self.total > self._kept and not self._noticed:
            self._noticed = True
            out += f"\n[... output truncated: {self.total} bytes printed, first {self._kept} kept]"
        return out

    def settle(self, timeout: float = 0.05) -> None:
        """Wait (briefly) until the pipe holds nothing unread: what a live child printed before its
        last reply is then taken with it, not with the next group's output."""
        end = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < end:
            with self._lock:
                if self._fd < 0:
                    return
                try:
                    pending = struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"))[0]
                except OSError:
                    return
            if pending <= 0:
                return
            time.sleep(0.002)


def scrubbed_env(workdir: Path, spec: ChildSpec) -> dict[str, str]:
    """A minimal environment: nothing inherited but what Python and BLAS need to run, and on CUDA what
    the driver needs: ``CUDA_VISIBLE_DEVICES`` (and ``CUDA_DEVICE_ORDER``) only where the grader's
    environment sets it (an empty value hides every GPU), and an ``LD_LIBRARY_PATH`` of the grader's
    folders that hold the driver's libraries, nothing else of it. A CPU child sees no GPU."""
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
        "GRADER_DEVICE": spec.device,
        "GRADER_PRELOAD": ",".join(spec.preload),
    }
    if spec.device == "cuda":
        for key in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
            if key in os.environ:
                env[key] = os.environ[key]
        hidden = getattr(spec.isolation, "hidden", None)
        library_path = driver_library_path(hidden=tuple(secret_paths() if hidden is None else hidden))
        if library_path:
            env["LD_LIBRARY_PATH"] = library_path
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
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
        self._reader = wire.FrameReader(rep_r)
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

    def recv(self, deadline: float, max_body: int) -> Any:
        """The next frame, decoded; at most ``max_body`` bytes of arrays.

        Raises TimeoutError at ``deadline`` even while a frame is still
        arriving (a slow trickle ends there), EOFError when the child is
        gone, and WireError for a frame over the limits or malformed: such a
        frame is refused by its prefix, before its body is read.
        """
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([self.rep_r], [], [], min(remaining, 0.2))
            if readable:
                if self._reader.feed(max_body):
                    return self._reader.take()
            elif not self._is_alive():
                raise EOFError

    @property
    def partial(self) -> tuple[int, int] | None:
        """(received, announced) bytes of a reply cut off part-way, else None."""
        return self._reader.progress

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
        self.watch: memwatch.Watch | None = None   # a CUDA child's memory, watched from here
        self._started = False
        self._calls = 0     # numbers each call; every reply names the call it answers

    # -- lifecycle -------------------------------------------------------
    def launch(self) -> None:
        """Spawn the process: it imports the libraries and probes, then waits for :meth:`start`
        before it imports the submission (a spare started ahead of need runs nothing of it)."""
        if self.proc is not None:
            return
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
        if self.spec.device == "cuda":
            self.watch = memwatch.watch(self.proc.pid, int(limits.memory_mb), int(limits.gpu_memory_mb))
        self.endpoint = Endpoint(req_w, rep_r, lambda: self.alive)
        self.output = OutputCapture(out_r, self.spec.limits.output_bytes)

    @property
    def started(self) -> bool:
        """Launched and told to import the submission (it has answered, or failed to)."""
        return self._started

    def start(self, deadline: float, meanwhile: Callable[[], None] | None = None) -> None:
        """Launch the process if it is not yet, tell it to import the submission, and wait until it
        has (``startup_seconds``: the wait, which is less for a child launched ahead of need).
        ``meanwhile``: the parent's own work, done while the child starts up instead of waiting idle
        (``startup_seconds`` then includes it where it outlasts the child's start-up)."""
        t0 = time.monotonic()
        self.launch()
        self._started = True
        doing = "starting up and importing the submission"
        self._send({"op": "go"}, deadline, doing)
        if meanwhile is not None:
            meanwhile()
        hello = self._recv(deadline, doing, GREETING_BYTES)
        self.startup_seconds = time.monotonic() - t0
        status = hello.get("status") if isinstance(hello, dict) else None
        if status == "import_error" and isinstance(hello.get("error"), dict):
            error = SubmissionError(hello["error"])
            self.close()
            raise ChildFailure("import_error", f"the submission failed to import:\n{error.traceback or error}",
                               error=hello["error"], doing=doing)
        if status != "ready":
            raise self._violation(doing, "an unexpected greeting")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def unconfined(self) -> bool:
        """No PID namespace to die with: processes the child makes can outlive it unless swept."""
        return isinstance(self.spec.isolation, NoIsolation)

    def close(self) -> None:
        """Ask the child to exit, then kill its whole process group and remove the work directory."""
        memwatch.unwatch(self.watch)
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
        """What the child printed since this was last asked (all of it, at its end)."""
        if self.output is None:
            return ""
        if self.alive:              # handed on to the next group: take what is printed so far, without waiting
            self.output.settle()
            return self.output.take()
        return self.output.text()

    # -- calls -----------------------------------------------------------
    def call(self, op: str, args: Mapping[str, Any], deadline: float,
             handlers: Mapping[str, Handler] | None = None, reply_bytes: int = DEFAULT_REPLY_BYTES,
             doing: str = "") -> Any:
        """Run probe ``op`` in the child and return its raw result (``doing``: what a failure message says
        the child was doing, "running OP" by default; a call of a student's function names it).

        While the probe runs, the child may send callbacks (e.g. ``env_step``)
        which ``handlers`` answer; a handler raising :class:`CallbackAbort`
        stops the probe. Every frame of the call may carry at most
        ``reply_bytes`` bytes of arrays; the child is told, so an honest reply
        over it comes back as an error, while a frame announcing more is a
        protocol violation (refused unread). Raises :class:`SubmissionError`
        if the student's code raised and :class:`ChildFailure` if the child
        died, ran out of time or broke the protocol (kind ``"protocol"``).
        """
        if not self.alive or self.endpoint is None:
            raise ChildFailure("crashed", "the child process is not running" + self._stopped_for(),
                               final=bool(self._stopped_for()))
        self._calls += 1
        call = self._calls
        doing = doing or f"running {op}"
        self._send({"op": op, "args": dict(args), "call": call, "reply_bytes": int(reply_bytes)}, deadline, op)
        handlers = handlers or {}
        while True:
            reply = self._recv(deadline, doing, reply_bytes)
            status = reply.get("status") if isinstance(reply, dict) else None
            if status in ("ok", "error", "callback") and reply.get("call") != call:
                raise self._violation(doing, "a reply that does not answer this call")
            if status == "ok":
                return reply.get("result")
            if status == "error" and isinstance(reply.get("error"), dict):
                raise SubmissionError(reply["error"])
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
            raise self._violation(doing, "a message that is not a reply")

    def _send(self, message: Any, deadline: float, doing: str) -> None:
        try:
            self._endpoint().send(message, deadline)
        except TimeoutError:
            raise self._timeout(doing) from None
        except (BrokenPipeError, EOFError):
            raise self._died(doing) from None

    def _recv(self, deadline: float, doing: str, max_body: int) -> Any:
        try:
            return self._endpoint().recv(deadline, max_body)
        except TimeoutError:
            raise self._timeout(doing) from None
        except EOFError:
            raise self._died(doing) from None
        except wire.WireError as exc:
            raise self._violation(doing, str(exc)) from None

    def _violation(self, doing: str, what: str) -> ChildFailure:
        """The child broke the protocol: stop it; the group must not restart it (see GroupContext)."""
        self.close()
        return ChildFailure("protocol", f"the grader refused what it received while {doing} ({what}): {PROTOCOL_HINT}",
                            doing=doing)

    def _timeout(self, doing: str) -> ChildFailure:
        partial = self.endpoint.partial if self.endpoint is not None else None
        self.close()
        where = ""
        if partial is not None:
            got, total = partial
            where = f", part-way through a reply ({got:,} of {total:,} bytes received)" if total else \
                f", part-way through a reply ({got} bytes received)"
        return ChildFailure("timeout", f"time limit reached while {doing}{where}; the child was stopped", doing=doing)

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
        stopped = self._stopped_for()
        self.close()
        if stopped:
            return ChildFailure("crashed", f"the child was stopped while {doing}{stopped}", doing=doing, final=True)
        return ChildFailure("crashed", f"the child exited while {doing} ({describe_exit(code)})", doing=doing)

    def _stopped_for(self) -> str:
        """': it used ... over the ... budget' when the parent's memory watch stopped this child, else ''."""
        return f": it {self.watch.reason}" if self.watch is not None and self.watch.reason else ""


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
