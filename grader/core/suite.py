"""What a test suite is written against: ``@group`` functions and their context.

A group function runs in the trusted parent. It asks the sandboxed child for
raw values with ``ctx.call(probe, **inputs)`` and scores them with
``ctx.check``::

    @group("update_estimate")
    def update_estimate(ctx: GroupContext) -> None:
        with ctx.check("sample average, first update"):
            got = ctx.call("update_estimate", estimate=0.0, count=1, reward=2.0, alpha=0.0)
            ctx.require(is_close(got, 2.0), "...")

A check that raises (the student's code raised, the child died, a
requirement failed) fails alone; the group's score is the passed share of
its checks' weights. What each check found is kept as data (message,
expected, got, hint; the sandbox's failure), and :mod:`grader.core.causes`
turns it into the results model: a failure that stopped every check is said
once, for the group.

A hint (``ctx.require(..., hint=...)``) should be given only when the values
the check observed match the mistake it names, so that it never sends a
student the wrong way.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.assignment import GroupConfig, group
from grader.core.causes import Failure, Record
from grader.core.progress import Event, from_fields
from grader.core.results import MODEL_KEYS
from grader.sandbox import ChildFailure, ChildSpec, SubmissionError
from grader.sandbox.pool import ChildPool, RetiredEndpoint
from grader.sandbox.process import DEFAULT_REPLY_BYTES
from grader.sandbox.spares import Spares

# What a suite is written against (assignments import these from here).
__all__ = ["DEFAULT_REPLY_BYTES", "CheckFailed", "CheckSkipped", "GroupContext", "SuiteError", "as_array",
           "as_float", "describe", "explain_submission_error", "factor_hint", "group", "import_local", "seed_for", "sig"]


class CheckFailed(Exception):
    """A requirement on the student's values did not hold; the message is feedback.

    ``expected`` and ``got`` are what the grader wanted and what it observed, as the
    student should read them; ``hint`` names the likely mistake and is given only when
    the observed values match it."""

    def __init__(self, message: str, *, expected: Any = None, got: Any = None, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.expected = "" if expected is None else str(expected)
        self.got = "" if got is None else str(got)
        self.hint = hint or ""


class CheckSkipped(Exception):
    """The check cannot run (what it needs failed earlier); it scores nothing and says why."""


CheckRecord = Record     # what ``ctx.check`` yields


@dataclass
class GroupOutcome:
    """Everything a group produced; the parent turns it into a test result."""
    checks: list[CheckRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    student_output: str = ""
    seconds: float = 0.0
    startup_seconds: list[float] = field(default_factory=list)
    error: str = ""             # the grader's own failure, never the student's

    @property
    def fraction(self) -> float:
        total = sum(c.weight for c in self.checks)
        if total <= 0 or self.error:
            return 0.0
        return sum(c.weight for c in self.checks if c.passed) / total


def seed_for(master_seed: int, *names: str) -> np.random.SeedSequence:
    """Independent, reproducible seed per (run, group, purpose); never shown to the student."""
    return np.random.SeedSequence([master_seed & (2**63 - 1), *(zlib.crc32(n.encode()) for n in names)])


class SuiteError(Exception):
    """The suite used the context wrongly (a bug in the assignment's tests, never the student's)."""


class GroupContext:
    """The parent's side of one test group: inputs, calls into its child processes, verdicts."""

    def __init__(self, config: GroupConfig, spec: ChildSpec, master_seed: int, device: str,
                 artifacts_dir: Path | None = None, spares: Spares | None = None, hand_on: bool = False) -> None:
        self.name = config.name
        self.config = config
        self.params: Mapping[str, Any] = config.params
        self.device = device
        self.rng = np.random.default_rng(seed_for(master_seed, config.name))
        self.artifacts_dir = artifacts_dir
        self.outcome = GroupOutcome()
        self._t0 = time.monotonic()
        self.deadline = self._t0 + config.limits.wall_seconds
        self._pool = ChildPool(spec, self.deadline, config.limits.wall_seconds, spares)
        self._hand_on = hand_on     # the next group shares this group's child if every check passes
        self.on_progress: Callable[[Event], None] | None = None

    # -- talking to the children -----------------------------------------
    def call(self, op: str, *, timeout: float | None = None,
             handlers: Mapping[str, Callable[[Any], Any]] | None = None,
             endpoint: str = "main", reply_bytes: int = DEFAULT_REPLY_BYTES, doing: str = "", **args: Any) -> Any:
        """Raw result of probe ``op``; raises SubmissionError / ChildFailure for the check to record.

        ``endpoint`` names the child process that answers. Each name is its own
        fresh child (same submission, probes and limits), started on first use:
        separate processes, work directories and namespaces, so one learns
        nothing of what another is sent (the VAE decodes in ``"decoder"``,
        which never receives a held-out image); only the parent carries data
        between them. Calling another endpoint retires the current one: it
        cannot be called again (the policy is :mod:`grader.sandbox.pool`'s).

        ``reply_bytes`` is the most bytes of arrays the reply may carry (16 MiB
        by default); raise it only for a call that legitimately returns more
        (a state_dict, thousands of decoded images): it is also what a hostile
        child can make the parent hold during that call.
        """
        handlers = {"progress": self._child_progress, **(handlers or {})}
        try:
            return self._pool.call(endpoint, op, args, self._deadline(timeout), handlers, reply_bytes, doing)
        except RetiredEndpoint as exc:
            raise SuiteError(str(exc)) from None

    @property
    def time_left(self) -> float:
        """Seconds of the group's wall time still to spend (a suite decides whether another run fits)."""
        return max(0.0, self.deadline - time.monotonic())

    def _deadline(self, timeout: float | None) -> float:
        return self.deadline if timeout is None else min(self.deadline, time.monotonic() + timeout)

    def prestart(self) -> None:
        """Start the group's next fresh child now, so that it is ready when the next endpoint needs it
        (a training run while the one before trains). It imports the libraries and probes, and the
        submission only once it is used, after the child before it is stopped."""
        self._pool.prestart()

    def close(self) -> None:
        clean = bool(self.outcome.checks) and all(c.passed for c in self.outcome.checks) and not self.outcome.error
        self.outcome.student_output = self._pool.close(hand_on=self._hand_on and clean)
        self.outcome.startup_seconds = list(self._pool.startup_seconds)
        self.outcome.seconds = time.monotonic() - self._t0

    # -- verdicts ----------------------------------------------------------
    @contextmanager
    def check(self, name: str, weight: float = 1.0) -> Iterator[CheckRecord]:
        record = CheckRecord(name, weight)
        self.outcome.checks.append(record)
        self.progress(check=name)
        try:
            yield record
        except CheckFailed as exc:
            record.message, record.expected, record.got, record.hint = exc.message, exc.expected, exc.got, exc.hint
        except CheckSkipped as exc:
            record.message, record.not_run = str(exc), True
        except SubmissionError as exc:
            record.message = explain_submission_error(exc)
            record.failure = Failure.from_error("raised", exc.error)
        except ChildFailure as exc:
            record.message = exc.message
            record.failure = Failure.from_error(exc.kind, exc.error, exc.message, exc.doing, exc.skipped)
        else:
            record.passed = True

    @staticmethod
    def require(condition: Any, message: str, *, expected: Any = None, got: Any = None, hint: str = "") -> None:
        """Fail the check with ``message`` (and what was expected and observed, and the hint that
        fits) unless ``condition`` is exactly true."""
        if condition is not True and not (isinstance(condition, (bool, np.bool_)) and bool(condition)):
            raise CheckFailed(message, expected=expected, got=got, hint=hint)

    @staticmethod
    def fail(message: str, *, expected: Any = None, got: Any = None, hint: str = "") -> None:
        raise CheckFailed(message, expected=expected, got=got, hint=hint)

    @staticmethod
    def skip(reason: str) -> None:
        """End the check unscored as "not run" (e.g. there is no trained model to evaluate)."""
        raise CheckSkipped(reason)

    def _child_progress(self, data: Any) -> None:
        """The ``progress`` callback a child's kit code may send (e.g. episodes finished so far): numbers
        only, for the display; nothing the child says here is kept or scored."""
        if isinstance(data, dict):
            self.progress(**{str(k)[:20]: v for k, v in list(data.items())[:4]
                             if isinstance(v, (int, float)) and not isinstance(v, bool)})

    def progress(self, **fields: Any) -> None:
        """Tell whoever watches the grading how this group is doing: ``check=NAME``, or a run's count
        (``run=K, episodes=N``; ``steps``, ``epochs``, ``updates`` alike): typed events
        (:mod:`grader.core.progress`), shown live in a terminal, ignored otherwise."""
        if self.on_progress is not None:
            for event in from_fields(self.name, fields):
                self.on_progress(event)

    def seed(self) -> int:
        """A fresh seed for one run or input (31 bits, as torch and gymnasium want), drawn from
        ``ctx.rng``: reproducible with ``--seed``, never known to the student."""
        return int(self.rng.integers(2**31 - 1))

    def note(self, line: str) -> None:
        """A line of feedback that is not a verdict (e.g. a learning-curve summary)."""
        self.outcome.notes.append(line)

    def leaderboard(self, name: str, value: float, order: str = "desc") -> None:
        """A figure for Gradescope's leaderboard; non-finite values (a diverged model) are left out."""
        if math.isfinite(float(value)):
            self.outcome.leaderboard.append({"name": name, "value": float(value), "order": order})

    def extra(self, key: str, value: Any) -> None:
        """Keep ``value`` in results.json (this test's ``extra_data``) and for the HTML page."""
        if key in MODEL_KEYS:
            raise SuiteError(f"ctx.extra({key!r}, ...): that key belongs to the results model")
        self.outcome.extra[key] = value

    def artifact_path(self, filename: str) -> Path | None:
        """Where to write a file the student should see (a plot); None when artifacts are off."""
        if self.artifacts_dir is None:
            return None
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        return self.artifacts_dir / f"{self.name}-{filename}"


def explain_submission_error(exc: SubmissionError) -> str:
    if exc.type == "WireError":   # the reply itself could not be sent (not data, or too large)
        return exc.message
    if exc.type == "NotImplementedError":
        return f"not implemented yet (NotImplementedError: {exc.message})" if exc.message else \
            "not implemented yet (NotImplementedError)"
    text = f"your code raised {exc.type}: {exc.message}"
    if exc.traceback.strip() and exc.traceback.strip() != f"{exc.type}: {exc.message}":
        text += "\n" + exc.traceback.rstrip()
    return text


# -- helpers suites share ---------------------------------------------------
def as_float(value: Any, what: str) -> float:
    """A finite float from a probe's reply, or a CheckFailed naming what was wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckFailed(f"{what} should be a number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise CheckFailed(f"{what} is {value}")
    return value


def as_array(value: Any, what: str, shape: tuple[int, ...] | None = None, kind: str | None = None) -> np.ndarray:
    """A numpy array of the expected shape and dtype kind ('f', 'i', 'b'), else CheckFailed."""
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{what} should be an array, got {describe(value)}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckFailed(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if kind is not None and value.dtype.kind not in kind:
        wanted = "a float" if kind == "f" else "an integer" if kind in ("i", "iu") else kind
        raise CheckFailed(f"{what} has dtype {value.dtype}, expected {wanted} dtype")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        raise CheckFailed(f"{what} contains NaN or infinite values")
    return value


def sig(value: Any, digits: int = 4, items: int = 8) -> str:
    """A number, or a short list of them, in significant digits: ``sig(1e-6)`` reads "1e-06", not the
    "0.0" of a fixed number of decimals, and ``sig(0.123456)`` reads "0.1235"."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        shown = [sig(v, digits, items) for v in list(value)[:items]]
        return "[" + ", ".join(shown) + (", …" if len(value) > items else "") + "]"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return describe(value)


def factor_hint(got: float, want: float, factors: Mapping[float, str], rtol: float = 1e-3) -> str:
    """The hint of the first ``factor`` for which ``got ≈ factor × want`` (e.g. ``{64: "you summed over the
    batch of 64 ..."}``), or ''. A hint is given only when the observed value matches that mistake."""
    try:
        got, want = float(got), float(want)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(got) and math.isfinite(want)) or abs(want) < 1e-12:
        return ""
    for factor, hint in factors.items():
        if factor != 1 and math.isclose(got, factor * want, rel_tol=rtol, abs_tol=1e-9):
            return hint
    return ""


def describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, dict) and "type" in value:
        return f"a value of type {value['type']}"
    return f"{type(value).__name__} {value!r}"[:120]


def import_local(anchor: str, name: str) -> Any:
    """Import ``name.py`` from the suite's folder or its assignment folder (suites are not packages)."""
    import importlib.util
    import sys

    here = Path(anchor).resolve().parent
    for folder in (here, here.parent):
        path = folder / f"{name}.py"
        if path.is_file():
            key = f"_grader_local_{abs(hash(str(path)))}_{name}"
            if key not in sys.modules:
                spec = importlib.util.spec_from_file_location(key, path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[key] = module
                spec.loader.exec_module(module)
            return sys.modules[key]
    raise ImportError(f"no {name}.py next to {anchor}")
