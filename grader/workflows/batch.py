"""Grade a folder of submissions: one task per (student, assignment), a gradebook at the end.

Input layout (``SUBMISSIONS_DIR``)::

    alice/bandits.py              a folder per student (files anywhere inside), or
    bob.py                        a file per student at the top level (student = file stem)

Output layout (``RESULTS_DIR``)::

    <student>/<assignment>/results.json     Gradescope shape, written atomically
    <student>/<assignment>/feedback.html    self-contained feedback page
    <student>/<assignment>/artifacts/       files the suites saved (plots, sample grids)
    gradebook.csv                            rebuilt from every results.json above

Tasks run through :mod:`grader.workflows.executors` (worker processes or Dask); each
task gets the submission's bytes, so a remote worker needs no shared disk.
The parent alone writes the results directory, one finished task at a time,
so an interrupted batch leaves only whole results behind; the gradebook is
always rebuilt from those files, never kept in memory.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import __version__
from grader.core.assignment import UnknownAssignment, infer_assignment, list_assignments, load_assignment
from grader.core.grading import GradeOptions, grade_file, grade_submission
from grader.core.results import GradeResult, TestResult, write_json_atomic
from grader.core.text import printable_text
from grader.formats.source import SubmissionFormatError, read_submission
from grader.formats.submission import supported_suffixes

RESULTS_NAME = "results.json"
HTML_NAME = "feedback.html"
ARTIFACTS_NAME = "artifacts"
GRADEBOOK_NAME = "gradebook.csv"
UNKNOWN = "unknown"
MAX_ARTIFACT_BYTES = 32 << 20          # per submission, all files together
SKIP_NAMES = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}
WATCHDOG_MARGIN_S = 60.0


class BatchError(Exception):
    """The batch cannot run (no submissions, results folder not writable); one line for the user."""


class BatchFailed(BatchError):
    """The batch stopped part-way (results folder became unwritable, the cluster went away).
    Finished results are kept and the gradebook is rebuilt from them."""


# -- names ------------------------------------------------------------------------
def printable(name: str) -> str:
    """A file name as safe, unique-enough text: undecodable bytes and control characters escaped."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def student_dirname(student: str) -> str:
    """Folder name for a student in the results directory (never hidden, never the gradebook)."""
    name = printable(student) or "_"
    if name.startswith(".") or name == GRADEBOOK_NAME:
        name = "_" + name
    return name


# -- discovering submissions ------------------------------------------------------
@dataclass(frozen=True)
class Job:
    """One (student, assignment) to grade. ``problem`` set: graded as zero with that message."""
    student: str
    assignment: str                 # "" when it could not be told
    source: str                     # printable path relative to SUBMISSIONS_DIR
    path: str = ""                  # real path (may hold surrogate escapes); "" when there is no file
    sha256: str = ""                # of the file's bytes; "" when unreadable (never skipped on resume)
    problem: str = ""

    @property
    def display(self) -> str:
        """The submitted file's name, or the listing of files when there is not exactly one."""
        return Path(self.source).name if self.path else self.source

    @property
    def folder(self) -> str:
        return f"{student_dirname(self.student)}/{self.assignment or UNKNOWN}"


@dataclass
class Discovery:
    jobs: list[Job] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # files that are no submission (notes for the user)


def _walk_files(folder: Path) -> list[Path]:
    """Every non-hidden entry below ``folder`` that is not a directory (dangling links included)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_NAMES)
        found.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return found


def _inferred(path: Path, known: Sequence[str]) -> str | None:
    """The assignment a file name points to, or None."""
    try:
        return infer_assignment(path) if known else None
    except UnknownAssignment:
        return None


def _file_problem_and_hash(path: Path) -> tuple[str, str]:
    """('', sha256) for a readable regular file, else (why it cannot be graded, '')."""
    if path.is_symlink() and not path.exists():
        return f"cannot read the submission {printable(path.name)}: a broken link", ""
    try:
        data = read_submission(path)
    except SubmissionFormatError as exc:
        return printable(str(exc)), ""
    return "", hashlib.sha256(data).hexdigest()


def discover_student(folder: Path, student: str, assignment: str | None = None) -> list[Job]:
    """The jobs of one student's folder (e.g. Gradescope's ``/autograder/submission``)."""
    suffixes = {s.lower() for s in supported_suffixes()}
    return _student_jobs(folder, student, _walk_files(folder), assignment, list_assignments(), suffixes, [])


def discover(root: Path, assignment: str | None = None, exclude: Sequence[Path] = ()) -> Discovery:
    """The jobs of a submissions folder: one per (student, assignment) found."""
    root = Path(root)
    known = list_assignments()
    suffixes = {s.lower() for s in supported_suffixes()}
    skip = {p.resolve() for p in exclude if p.exists()}
    per_student: dict[str, list[Path]] = {}
    result = Discovery()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise BatchError(f"cannot list {root}: {exc.strerror or exc}") from None
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".") or entry.name in SKIP_NAMES or path.resolve() in skip:
            continue
        if path.is_dir():
            per_student.setdefault(entry.name, []).extend(_walk_files(path))
        elif path.suffix.lower() in suffixes:
            per_student.setdefault(path.stem, []).append(path)
        else:
            result.ignored.append(printable(entry.name))

    for student, files in per_student.items():
        result.jobs.extend(_student_jobs(root, student, files, assignment, known, suffixes, result.ignored))
    return result


def _student_jobs(root: Path, student: str, files: list[Path], wanted: str | None, known: Sequence[str],
                  suffixes: set[str], ignored: list[str]) -> list[Job]:
    by_assignment: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for f in files:
        if f.suffix.lower() not in suffixes:
            ignored.append(printable(str(f.relative_to(root))))
            continue
        name = _inferred(f, known)
        if name is None:
            unknown.append(f)
        elif wanted and name != wanted:
            ignored.append(printable(str(f.relative_to(root))))
        else:
            by_assignment.setdefault(name, []).append(f)
    if wanted and wanted not in by_assignment and unknown:
        # Files not named after any assignment count when one is given, unless one is named after it.
        by_assignment[wanted], unknown = unknown, []

    def rel(p: Path) -> str:
        return printable(str(p.relative_to(root)))

    jobs = []
    for name, paths in sorted(by_assignment.items()):
        if len(paths) > 1:
            listed = ", ".join(rel(p) for p in paths)
            jobs.append(Job(student, name, listed, problem=(
                f"{len(paths)} files for the assignment {name} ({listed}); hand in exactly one")))
            continue
        problem, digest = _file_problem_and_hash(paths[0])
        jobs.append(Job(student, name, rel(paths[0]), str(paths[0]), digest, problem))
    if jobs:
        ignored.extend(rel(p) for p in unknown)   # helper modules, notes: not graded
    else:
        if unknown:
            listed = ", ".join(rel(p) for p in unknown)
            jobs.append(Job(student, wanted or "", listed, problem=(
                f"cannot tell the assignment from the file name(s) {listed}; "
                f"name the file after the assignment (one of: {', '.join(known)}) or pass --assignment")))
        else:
            wanted_files = load_assignment(wanted).submission_name if wanted else "e.g. " + ", ".join(
                load_assignment(n).submission_name for n in known[:3])
            jobs.append(Job(student, wanted or "", printable(student), problem=(
                f"no submission file found ({wanted_files}; formats: {', '.join(sorted(suffixes))})")))
    return jobs


# -- the task a worker runs -----------------------------------------------------------
@dataclass
class TaskOutcome:
    """What a worker sends back: everything the parent writes for one job."""
    results: dict[str, Any]
    html: str
    artifacts: dict[str, bytes]
    status: str


def assignment_fingerprint(name: str) -> str:
    """Hash of an assignment's files (tests, toml, probes): results from older tests are regraded."""
    if not name:
        return ""
    try:
        a = load_assignment(name)
    except Exception:  # noqa: BLE001 - an unknown name simply has no fingerprint
        return ""
    h = hashlib.sha256()
    files = sorted(p for p in a.directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".toml"))
    for p in [*files, *sorted(path for _, path in a.child_files)]:
        h.update(str(p.relative_to(a.directory) if p.is_relative_to(a.directory) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


class _Watchdog(BaseException):
    """Raised in a worker whose task overran every group's limit together (a grader hang)."""


def _time_budget(assignment, options: GradeOptions) -> float:
    return sum(g.limits.wall_seconds for g in assignment.groups.values()) * options.time_scale + WATCHDOG_MARGIN_S


def _failed_result(job: Job, message: str) -> GradeResult:
    """A zero for every group of the job's assignment (or no group when it is unknown)."""
    result = GradeResult(assignment=job.assignment or UNKNOWN, submission=Path(job.source).name)
    try:
        a = load_assignment(job.assignment) if job.assignment else None
    except Exception:  # noqa: BLE001
        a = None
    if a is not None:
        result.tests = [TestResult(name=g.name, score=0.0, max_score=g.points, status="failed", summary=message,
                                   output=message, visibility=g.visibility, kind=g.kind)
                        for g in a.groups.values()]
    result.output = message
    result.extra_data = {"grader_version": __version__, "submission_sha256": job.sha256}
    return result


def grade_job(job: Job, payload: bytes | None, options: GradeOptions, fingerprint: str,
              html: bool = True) -> TaskOutcome:
    """Grade one job in this process and build its results, page and artifacts. Never raises
    for anything the submission does; a grader hang is cut off by a watchdog (main thread only)."""
    from grader.feedback.html import render_html

    with tempfile.TemporaryDirectory(prefix="grader-batch-") as tmp:
        artifacts = Path(tmp) / ARTIFACTS_NAME
        status = "graded"
        try:
            result = _grade_in(Path(tmp), job, payload, replace(options, artifacts_dir=artifacts))
            if job.problem:
                status = "invalid: " + job.problem.splitlines()[0]
        except _Watchdog as exc:
            status = f"error: {exc}"
            result = _failed_result(job, f"grading was stopped: {exc}")
        except Exception as exc:  # noqa: BLE001 - a grader bug: this row only
            status = f"error: internal grader error: {type(exc).__name__}: {exc}"
            result = _failed_result(job, status[len("error: "):])
        result.submission = job.display
        result.extra_data["batch"] = {"student": job.student, "source": job.source, "file_sha256": job.sha256,
                                      "assignment_fingerprint": fingerprint, "status": status}
        data = _relocate(result.to_gradescope(), str(artifacts), ARTIFACTS_NAME)
        page = render_html(data, roots=[Path(tmp)]) if html else ""
        return TaskOutcome(results=data, html=page, artifacts=_collect(artifacts), status=status)


def grade_discovered(job: Job, options: GradeOptions, folder: Path, path: Path | None,
              unreadable: str = "the submission could not be read") -> GradeResult:
    """Grade one discovered submission at ``path``; a job with a problem (or no file) still gets
    a result for every test group of its assignment, each failed with the problem (placeholder in ``folder``)."""
    if not job.assignment:
        return _failed_result(job, job.problem or "cannot tell the assignment")
    assignment = load_assignment(job.assignment)
    if job.problem or path is None:
        return grade_submission(folder / assignment.submission_name, assignment, options,
                                problem=job.problem or unreadable)
    return grade_file(path, assignment, options)


def _grade_in(tmp: Path, job: Job, payload: bytes | None, options: GradeOptions) -> GradeResult:
    target = None
    if job.assignment and not job.problem and payload is not None:
        # Graded under the assignment's own file name: tracebacks then name what the student knows.
        assignment = load_assignment(job.assignment)
        suffix = Path(job.source).suffix.lower() or ".py"
        target = tmp / "submission" / (Path(assignment.submission_name).stem + suffix)
        target.parent.mkdir()
        target.write_bytes(payload)
        with _watchdog(_time_budget(assignment, options)):
            return grade_discovered(job, options, tmp, target)
    return grade_discovered(job, options, tmp, target, unreadable=(
        "the submission could not be read, or it changed while the batch ran: grade it again"))


class _watchdog:
    """SIGALRM after ``seconds`` in the main thread (process-pool workers); a no-op elsewhere (Dask threads)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")

    def __enter__(self) -> None:
        if self.armed:
            def fire(signum: int, frame: Any) -> None:
                raise _Watchdog(f"grading took longer than {self.seconds:.0f} s")
            self._old = signal.signal(signal.SIGALRM, fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)


def _relocate(value: Any, old: str, new: str) -> Any:
    """Rewrite paths under the worker's temp artifacts folder to ``artifacts/...`` (next to results.json)."""
    if isinstance(value, str):
        return new + value[len(old):] if value.startswith(old) else value
    if isinstance(value, dict):
        return {k: _relocate(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, old, new) for v in value]
    return value


def _collect(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    if not folder.is_dir():
        return files
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if total + size > MAX_ARTIFACT_BYTES:
                break
            files[str(path.relative_to(folder))] = path.read_bytes()
            total += size
    return files


# -- resuming ------------------------------------------------------------------------
def is_current(results_file: Path, job: Job, fingerprint: str) -> bool:
    """True when ``results_file`` graded exactly this file with this grader and these tests."""
    if not job.sha256:
        return False
    try:
        import json
        data = json.loads(results_file.read_text())
        extra = data["extra_data"]
        batch = extra["batch"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return (batch.get("file_sha256") == job.sha256 and extra.get("grader_version") == __version__
            and batch.get("assignment_fingerprint") == fingerprint and batch.get("source") == job.source
            and not str(batch.get("status", "")).startswith("error"))


# -- writing ------------------------------------------------------------------------
def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise BatchError(f"cannot write to the results folder {out}: {exc.strerror or exc}") from None


def write_outcome(out: Path, job: Job, outcome: TaskOutcome) -> None:
    folder = out / job.folder
    folder.mkdir(parents=True, exist_ok=True)
    if outcome.artifacts:
        for rel, data in outcome.artifacts.items():
            target = (folder / ARTIFACTS_NAME / rel)
            if not target.resolve().is_relative_to((folder / ARTIFACTS_NAME).resolve()):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    if outcome.html:
        from grader.feedback.html import write_text_atomic
        write_text_atomic(folder / HTML_NAME, outcome.html)
    write_json_atomic(folder / RESULTS_NAME, outcome.results)   # last: its presence means "done"
    stale = out / student_dirname(job.student) / UNKNOWN
    if job.assignment and stale.is_dir():   # an earlier run could not tell this student's assignment
        shutil.rmtree(stale, ignore_errors=True)


def gradebook_rows(out: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gradebook, read from every results.json under ``out``."""
    import json

    records = []
    for path in sorted(out.glob(f"*/*/{RESULTS_NAME}")):
        try:
            data = json.loads(path.read_text())
            extra = data.get("extra_data", {})
            batch = extra.get("batch", {})
            records.append({
                "student": batch.get("student", path.parent.parent.name),
                "assignment": extra.get("assignment", path.parent.name),
                "groups": [(t["name"], t["score"]) for t in data.get("tests", [])],
                "total": data.get("score", 0), "max": extra.get("max_score", ""),
                "time": data.get("execution_time", ""), "status": _status(batch.get("status", "graded"), data),
                "file": batch.get("source", ""),
            })
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            records.append({"student": path.parent.parent.name, "assignment": path.parent.name, "groups": [],
                            "total": 0, "max": "", "time": "", "file": "",
                            "status": f"error: unreadable {RESULTS_NAME}: {type(exc).__name__}"})
    assignments = sorted({r["assignment"] for r in records if r["groups"]})
    prefix = len(assignments) > 1

    def column(assignment: str, group: str) -> str:
        return f"{assignment}:{group}" if prefix else group

    columns: list[str] = []
    for r in records:
        for g, _ in r["groups"]:
            c = column(r["assignment"], g)
            if c not in columns:
                columns.append(c)
    header = ["student", "assignment", *columns, "total", "max_score", "time_s", "status", "file"]
    rows = []
    for r in sorted(records, key=lambda r: (printable(str(r["student"])), r["assignment"])):
        scores = {column(r["assignment"], g): s for g, s in r["groups"]}
        rows.append([printable(str(r["student"])), r["assignment"], *(_num(scores.get(c, "")) for c in columns),
                     _num(r["total"]), _num(r["max"]), _num(r["time"]), r["status"], r["file"]])
    return header, rows


def _status(status: str, data: dict[str, Any]) -> str:
    """``needs review`` when a test was flagged for an instructor (e.g. a VAE bound below the physical
    floor: 0 points until someone has looked), else the batch status."""
    flagged = [t["name"] for t in data.get("tests", []) if isinstance(t.get("extra_data"), dict)
               and t["extra_data"].get("needs_review")]
    if status == "graded" and flagged:
        return f"needs review ({', '.join(flagged)})"
    return status


def _num(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def write_gradebook(out: Path) -> Path:
    """Rebuild ``gradebook.csv`` from the results files (atomically)."""
    from grader.feedback.html import write_text_atomic

    header, rows = gradebook_rows(out)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([printable_text(c) for c in header])
    writer.writerows([printable_text(c) for c in row] for row in rows)
    path = out / GRADEBOOK_NAME
    write_text_atomic(path, buf.getvalue())
    return path


# -- the batch ------------------------------------------------------------------------
@dataclass
class BatchConfig:
    submissions: Path
    out: Path
    jobs: int = 1
    regrade: bool = False
    assignment: str | None = None
    options: GradeOptions = field(default_factory=GradeOptions)
    executor: str = "local"
    scheduler: str | None = None
    html: bool = True


@dataclass
class BatchSummary:
    total: int = 0
    graded: int = 0
    skipped: int = 0
    invalid: int = 0
    errors: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    gradebook: Path | None = None
    ignored: list[str] = field(default_factory=list)


def plan(config: BatchConfig) -> tuple[list[Job], list[Job], Discovery]:
    """(jobs to grade, jobs already graded) for this batch."""
    if not config.submissions.is_dir():
        raise BatchError(f"{config.submissions} is not a folder of submissions")
    found = discover(config.submissions, config.assignment, exclude=[config.out])
    if not found.jobs:
        raise BatchError(f"no submissions found in {config.submissions} (expected a folder per student, "
                         f"or files such as {', '.join(supported_suffixes())} named after the assignment)")
    todo, done = [], []
    fingerprints = {j.assignment: assignment_fingerprint(j.assignment) for j in found.jobs}
    for job in found.jobs:
        current = not config.regrade and is_current(config.out / job.folder / RESULTS_NAME, job,
                                                   fingerprints[job.assignment])
        (done if current else todo).append(job)
    return todo, done, found


def run_batch(config: BatchConfig, on_progress: Callable[[Job, str], None] | None = None,
              on_start: Callable[[int], None] | None = None,
              planned: tuple[list[Job], list[Job], Discovery] | None = None) -> BatchSummary:
    """Grade every pending job; the gradebook is rebuilt at the end, interrupted or not.

    ``planned`` is what :func:`plan` returned, when the caller checked the input first."""
    from grader.workflows.executors import ExecutorError, make_executor

    t0 = time.monotonic()
    if planned is None:
        check_writable(config.out)
        planned = plan(config)
    todo, done, found = planned
    summary = BatchSummary(total=len(todo) + len(done), skipped=len(done), ignored=found.ignored)
    if on_start:
        on_start(len(todo))
    fingerprints = {j.assignment: assignment_fingerprint(j.assignment) for j in todo}
    try:
        executor = make_executor(config.executor, config.jobs, config.scheduler) if todo else None
    except ExecutorError as exc:
        raise BatchError(str(exc)) from None
    try:
        if executor is not None:
            tasks = [(i, (job, _payload(job), config.options, fingerprints[job.assignment], config.html))
                     for i, job in enumerate(todo)]
            for index, outcome, error in executor.run(grade_job, tasks):
                job = todo[index]
                if outcome is None:
                    outcome = _error_outcome(job, error, fingerprints[job.assignment], config.html)
                try:
                    write_outcome(config.out, job, outcome)
                except OSError as exc:
                    raise BatchFailed(f"cannot write the results of {job.folder}: {exc.strerror or exc}") from None
                kind = outcome.status.split(":")[0]
                summary.graded += kind == "graded"
                summary.invalid += kind == "invalid"
                summary.errors += kind == "error"
                if on_progress:
                    on_progress(job, outcome.status)
    except KeyboardInterrupt:
        summary.interrupted = True
        if executor is not None:
            executor.interrupt()
    except BatchFailed:
        if executor is not None:
            executor.interrupt()
        raise
    except Exception as exc:  # noqa: BLE001 - the executor's own failure (the Dask scheduler went away)
        if executor is not None:
            executor.interrupt()
        raise BatchFailed(f"grading stopped: {type(exc).__name__}: {exc}; finished results are kept, "
                          f"run the same command again to resume") from None
    finally:
        if executor is not None:
            try:
                executor.close()
            except KeyboardInterrupt:
                summary.interrupted = True
        try:
            summary.gradebook = write_gradebook(config.out)
        except OSError as exc:
            raise BatchFailed(f"cannot write the gradebook: {exc.strerror or exc}") from None
        summary.seconds = time.monotonic() - t0
    return summary


def _payload(job: Job) -> bytes | None:
    if job.problem or not job.path:
        return None
    try:
        data = Path(job.path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == job.sha256 else None


def _error_outcome(job: Job, error: str, fingerprint: str, html: bool) -> TaskOutcome:
    from grader.feedback.html import render_html

    result = _failed_result(job, error)
    status = f"error: {error}"
    result.extra_data["batch"] = {"student": job.student, "source": job.source, "file_sha256": job.sha256,
                                  "assignment_fingerprint": fingerprint, "status": status}
    data = result.to_gradescope()
    return TaskOutcome(results=data, html=render_html(data) if html else "", artifacts={}, status=status)


def iter_statuses(out: Path) -> Iterable[tuple[str, str, str]]:
    """(student, assignment, status) of every row of the gradebook (for summaries and tests)."""
    _, rows = gradebook_rows(out)
    for r in rows:
        yield r[0], r[1], r[-2]
