"""Entry point of the sandboxed child. Runs as a script in the child's work dir.

The parent copies this file, ``wire.py`` and the assignment's ``probes.py``
into ``<workdir>/_runner/`` and starts ``python -I _runner/runner.py``. It
imports the libraries the parent names (``GRADER_PRELOAD``) and the probes,
waits for the parent's ``go`` (a child may be started ahead of need; see
``grader/sandbox/spares.py``), imports the submission, then serves requests:
each request names a probe (a function of ``probes.py``) that calls the
student's code and returns raw values. The child never learns what the right answer is, and nothing it says
is taken as a verdict: the parent checks every value itself.

Only the standard library and numpy may be imported here at module level.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wire  # noqa: E402  (copied next to this file)

MAX_TRACEBACK_CHARS = 4000


class Context:
    """State a probe keeps between calls (e.g. a trained policy), plus callbacks to the parent."""

    def __init__(self, channel: Channel, submission_path: Path) -> None:
        self._channel = channel
        self.submission_path = submission_path
        self.state: dict[str, Any] = {}

    def callback(self, name: str, **data: Any) -> Any:
        """Ask the parent something mid-call (e.g. step the environment it owns)."""
        self._channel.send({"status": "callback", "name": name, "data": data})
        reply = self._channel.recv()
        if reply.get("status") == "abort":
            raise ProbeAbort(reply.get("message", "the grader stopped this call"))
        return reply.get("data")


class ProbeAbort(BaseException):
    """The parent refused a callback (budget spent); unwinds through student code."""


class Channel:
    """The child's end of the pipes. Every frame it sends during a call names that call and
    stays within the bytes of arrays the parent accepts for it (both told by the request):
    a reply over the limit raises WireError here, to be reported as an error, instead of being
    refused by the parent as a protocol violation."""

    def __init__(self, in_fd: int, out_fd: int) -> None:
        self.in_fd, self.out_fd = in_fd, out_fd
        self.call: Any = None
        self.max_body = 0          # the greeting carries no arrays

    def send(self, message: Any) -> None:
        wire.write_frame(self.out_fd, {**message, "call": self.call}, self.max_body)

    def recv(self) -> Any:
        return wire.read_frame(self.in_fd)


def describe_exception(exc: BaseException, submission_path: Path) -> dict[str, Any]:
    """Exception summary that shows the student's own frames, not the runner's (nor torch's).

    ``frames`` are those frames as data, ``[line, function, source line]``, outermost
    first: the parent tells from them where it happened (a ``<module>`` frame calling a
    function is code run at import) without reading the text; ``filename`` is the file
    an ``OSError`` names."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [_relative(f) for f in frames if Path(f.filename).name == submission_path.name][-8:]
    lines = traceback.format_list(own) if own else []
    text = "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))
    if isinstance(exc, SystemExit):
        text = f"the submission called sys.exit({_safe_repr(exc.code)})\n" + "".join(lines)
    described = {
        "type": type(exc).__name__,
        "message": _safe_str(exc),
        "traceback": text[-MAX_TRACEBACK_CHARS:],
        "frames": [[int(f.lineno or 0), str(f.name)[:100], str(f.line or "")[:200]] for f in own],
    }
    if isinstance(exc, OSError) and isinstance(exc.filename, str):
        described["filename"] = exc.filename[:300]
    if isinstance(exc, ModuleNotFoundError) and isinstance(exc.name, str):
        described["module"] = exc.name[:200]
    return described


def _relative(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    """The frame with the file's name alone: the child's work folder is a temporary path the student
    never saw (and it differs from one group to the next)."""
    name = Path(frame.filename).name
    try:   # Python 3.11+: keep the column range, which underlines the failing expression
        return traceback.FrameSummary(name, frame.lineno, frame.name, lookup_line=False, line=frame.line,
                                      end_lineno=frame.end_lineno, colno=frame.colno, end_colno=frame.end_colno)
    except (TypeError, AttributeError):
        return traceback.FrameSummary(name, frame.lineno, frame.name, lookup_line=False, line=frame.line)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:200]
    except BaseException:  # noqa: BLE001 - a hostile __repr__
        return "<unprintable>"


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)[:500]
    except BaseException:  # noqa: BLE001 - a hostile __str__
        return "<unprintable exception>"


def load_module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def parent_gone() -> int:
    """The pipe ended without the parent's ``exit``: the grader died. Wait a moment before exiting, so
    that the sandbox's outer process learns it from its parent-death signal, kills this sandbox and
    removes the work directory (grader/sandbox/nsinit.py); exiting at once can beat that signal, and
    the outer process then ends as if the grader had closed it, leaving the work directory behind."""
    import time

    time.sleep(ORPHAN_PAUSE_SECONDS)
    return 0


ORPHAN_PAUSE_SECONDS = 2.0


def preload(names: str) -> None:
    """Import the libraries the assignment's code needs (``GRADER_PRELOAD``: torch takes seconds) while
    the child waits to be used; a library that is missing is left for the submission's own import to
    report."""
    for name in filter(None, names.split(",")):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - reported, if it matters, when the submission imports it
            pass


NOT_AVAILABLE = "not available to submissions"


def guard_imports(allowed: str, module: str) -> None:
    """Make an import the submission itself writes fail unless it names the standard library or a
    package of ``allowed`` (the course's list, ``GRADER_ALLOWED_IMPORTS``), wherever the grader is
    installed: what else this Python has (copydetect, tqdm's dependencies, the grader's own test tools)
    is the grader's, not the course's, and ``grader check`` runs this same child, so a student sees
    exactly what grading will do. Imports made by the libraries themselves are not concerned (the
    importing module is theirs). This is about agreeing with the statement, not security (the sandbox
    is): ``importlib.import_module`` is not guarded. Empty ``allowed``: the course declares no list."""
    names = {n for n in allowed.split(",") if n}
    if not names:
        return
    import builtins

    names |= set(getattr(sys, "stdlib_module_names", ())) | {"__future__", module}
    original = builtins.__import__

    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and isinstance(globals, dict) and globals.get("__name__") == module:
            top = str(name).partition(".")[0]
            if top not in names:
                raise ModuleNotFoundError(f"No module named '{top}' ({NOT_AVAILABLE})", name=top)
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = guarded


def main(argv: list[str]) -> int:
    in_fd, out_fd = (int(a) for a in argv[1:3])
    submission_path = Path(argv[3]).resolve()
    for fd in (in_fd, out_fd):
        os.set_inheritable(fd, False)
    sys.stdin = open(os.devnull)
    channel = Channel(in_fd, out_fd)
    preload(os.environ.get("GRADER_PRELOAD", ""))
    probes = load_module("_grader_probes", HERE / "probes.py")
    # Started ahead of need, a child waits here until the parent hands it a call: nothing of the
    # submission runs before the child it follows (if any) is stopped (grader.sandbox.spares).
    try:
        go = channel.recv()
    except EOFError:
        return parent_gone()
    if not isinstance(go, dict) or go.get("op") != "go":
        return 0
    try:
        guard_imports(os.environ.get("GRADER_ALLOWED_IMPORTS", ""), submission_path.stem)
        submission = load_module(submission_path.stem, submission_path)
    except BaseException as exc:  # noqa: BLE001 - SystemExit at import included
        channel.send({"status": "import_error", "error": describe_exception(exc, submission_path)})
        return 0
    channel.send({"status": "ready"})
    ctx = Context(channel, submission_path)
    return serve(channel, ctx, probes, submission)


def serve(channel: Channel, ctx: Context, probes: Any, submission: Any) -> int:
    while True:
        try:
            request = channel.recv()
        except EOFError:
            return parent_gone()
        op = request.get("op")
        if op == "exit":
            return 0
        channel.call = request.get("call")
        channel.max_body = int(request.get("reply_bytes", wire.MAX_FRAME_BYTES))
        probe = getattr(probes, str(op), None)
        if probe is None or str(op).startswith("_"):
            channel.send({"status": "error",
                          "error": {"type": "ProbeError", "message": f"unknown probe {op!r}", "traceback": ""}})
            continue
        try:
            reply = {"status": "ok", "result": probe(submission, ctx, **request.get("args", {}))}
        except BaseException as exc:  # noqa: BLE001 - the student may raise anything
            reply = {"status": "error", "error": describe_exception(exc, ctx.submission_path)}
        try:
            channel.send(reply)
        except wire.WireError as wexc:  # not data, too deep, or more than the parent accepts
            channel.send({"status": "error", "error": {"type": "WireError", "traceback": "",
                                                       "message": f"the reply of {op} could not be sent: {wexc}"}})


if __name__ == "__main__":
    sys.exit(main(sys.argv))
