"""Grade a folder of submissions: one task per (student, assignment), a gradebook at the end.

The hand-ins are found by :mod:`grader.workflows.discovery` (who handed in what, what is refused);
the results land in RESULTS_DIR as :mod:`grader.workflows.results_dir` lays it out, results whose
submission has gone marked ``missing``. Here: the task one job is (:func:`grade_job`, run by a
worker), the batch that plans and runs the tasks (:func:`plan`, :func:`run_batch`), and the one
hand-in of a folder graded in this process (:func:`grade_one`, the Gradescope runner's entry).

Tasks run through :mod:`grader.workflows.executors` (worker processes or Dask); each
task gets the submission's bytes, so a remote worker needs no shared disk.
The parent alone writes the results directory, one finished task at a time,
so an interrupted batch leaves only whole results behind; the gradebook is
always rebuilt from those files, never kept in memory.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file, grade_submission
from grader.core.progress import JobEnded, Observer
from grader.core.results import Cause, GradeResult, TestResult
from grader.core.version import __version__
from grader.feedback.files import write_json_atomic, write_text_atomic
from grader.feedback.gradescope import to_gradescope
from grader.formats.submission import supported_suffixes
from grader.workflows.discovery import ARCHIVE_ADVICE, BatchError, Discovery, Job, discover, discover_student, read_payload
from grader.workflows.results_dir import (
    ARTIFACTS_NAME,
    HTML_NAME,
    MISSING,
    RESULTS_NAME,
    UNKNOWN,
    mark_missing,
    student_dirname,
    write_gradebook,
)

MAX_ARTIFACT_BYTES = 32 << 20          # per submission, all files together
WATCHDOG_MARGIN_S = 60.0


class BatchFailed(BatchError):
    """The batch stopped part-way (results folder became unwritable, the cluster went away).
    Finished results are kept and the gradebook is rebuilt from them."""


# -- the task a worker runs -----------------------------------------------------------
@dataclass
class TaskOutcome:
    """What a worker sends back: everything the parent writes for one job."""
    results: dict[str, Any]
    html: str
    artifacts: dict[str, bytes]
    status: str


def assignment_fingerprint(name: str, course: Course | None = None) -> str:
    """Hash of an assignment's files (tests, toml, probes) and its template (the course's pipeline):
    results from older tests are regraded."""
    if not name:
        return ""
    try:
        a = (course or Course.find()).assignment(name)
    except Exception:  # noqa: BLE001 - an unknown name simply has no fingerprint
        return ""
    h = hashlib.sha256()
    files = sorted(p for p in a.directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix in (".py", ".toml"))
    template = [a.template_path] if a.template_path.is_file() else []
    for p in [*files, *sorted(path for _, path in a.child_files), *template]:
        h.update(str(p.relative_to(a.directory) if p.is_relative_to(a.directory) else p.name).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


class _Watchdog(BaseException):
    """Raised in a worker whose task overran every group's limit together (a grader hang)."""


def _time_budget(assignment, options: GradeOptions) -> float:
    return sum(g.limits.wall_seconds for g in assignment.groups.values()) * options.time_scale + WATCHDOG_MARGIN_S


def _failed_result(job: Job, message: str, course: Course | None = None) -> GradeResult:
    """A zero for every group of the job's assignment (or no group when it is unknown)."""
    result = GradeResult(assignment=job.assignment or UNKNOWN, submission=Path(job.source).name)
    try:
        a = (course or Course.find()).assignment(job.assignment) if job.assignment else None
    except Exception:  # noqa: BLE001
        a = None
    if a is not None:
        result.tests = [TestResult(name=g.name, score=0.0, max_score=g.points, status="failed",
                                   cause=Cause("ungraded", message), visibility=g.visibility, kind=g.kind)
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
            result = grade_payload(job, payload, replace(options, artifacts_dir=artifacts), Path(tmp))
            if job.problem:
                status = job.status
        except _Watchdog as exc:
            status = f"error: {exc}"
            result = _failed_result(job, f"grading was stopped: {exc}", options.course)
        except Exception as exc:  # noqa: BLE001 - a grader bug: this row only
            status = f"error: internal grader error: {type(exc).__name__}: {exc}"
            result = _failed_result(job, status[len("error: "):], options.course)
        result.submission = job.display
        result.extra_data["batch"] = {"student": job.student, "source": job.source, "file_sha256": job.sha256,
                                      "assignment_fingerprint": fingerprint, "status": status}
        data = _relocate(to_gradescope(result), str(artifacts), ARTIFACTS_NAME)
        page = render_html(data, roots=[Path(tmp)]) if html else ""
        return TaskOutcome(results=data, html=page, artifacts=_collect(artifacts), status=status)


def grade_payload(job: Job, payload: bytes | None, options: GradeOptions, workdir: Path) -> GradeResult:
    """Grade a discovered job from the bytes read at discovery (never from its path again: what is
    graded is what was read, under the assignment's own file name so that tracebacks name what the
    student knows). A job with a problem, or no bytes, still gets a result for every test group of
    its assignment, each failed with the problem. Used by the batch's workers and by Gradescope."""
    notes = [job.note] if job.note else []
    course = options.course or Course.find()
    if not job.assignment:
        return _failed_result(job, job.problem or "cannot tell the assignment", course)
    assignment = course.assignment(job.assignment)
    if job.problem or payload is None:
        return grade_submission(workdir / assignment.submission_name, assignment, options, notes=notes,
                                problem=job.problem or ("the submission could not be read, or it changed while "
                                                        "it was being graded: grade it again"))
    suffix = Path(job.source).suffix.lower() or ".py"
    target = workdir / "submission" / (Path(assignment.submission_name).stem + suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    with _watchdog(_time_budget(assignment, options)):
        return grade_file(target, assignment, options, notes=notes)


def grade_one(folder: Path, options: GradeOptions, assignment: str | None = None,
              student: str = "submission") -> GradeResult:
    """Grade the one hand-in of a student's ``folder`` (Gradescope's ``/autograder/submission``) in this
    process, found and read as a batch finds and reads it (the same refusals, the same identification,
    the bytes read once). An empty folder, or files of several assignments, still gets a result for
    every group, each failed with the reason."""
    course = options.course or Course.find()
    jobs = discover_student(folder, student, assignment, course) if folder.is_dir() else []
    if not jobs:
        jobs = [Job(student, assignment or "", "", problem=f"no submission file found in {folder}")]
    graded = [j for j in jobs if j.assignment and not j.problem]
    job = graded[0] if len(graded) == 1 else jobs[0]
    if len(graded) > 1:
        names = ", ".join(j.source for j in graded)
        job = Job(student, graded[0].assignment, names,
                  problem=f"files for several assignments were handed in ({names}); hand in one")
    with tempfile.TemporaryDirectory(prefix="grader-one-") as tmp:
        return grade_payload(job, read_payload(job), replace(options, course=course), Path(tmp))


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
            and not str(batch.get("status", "")).startswith(("error", MISSING)))


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
        write_text_atomic(folder / HTML_NAME, outcome.html)
    write_json_atomic(folder / RESULTS_NAME, outcome.results)   # last: its presence means "done"
    stale = out / student_dirname(job.student) / UNKNOWN
    if job.assignment and stale.is_dir():   # an earlier run could not tell this student's assignment
        shutil.rmtree(stale, ignore_errors=True)


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
    missing: list[str] = field(default_factory=list)    # results folders whose submission is gone


def plan(config: BatchConfig) -> tuple[list[Job], list[Job], Discovery]:
    """(jobs to grade, jobs already graded) for this batch."""
    if not config.submissions.is_dir():
        raise BatchError(f"{config.submissions} is not a folder of submissions")
    course = config.options.course or Course.find()
    found = discover(config.submissions, config.assignment, exclude=[config.out], course=course)
    if not found.jobs:
        archives = (f"; found only archive(s) {', '.join(found.archives[:3])}: {ARCHIVE_ADVICE}"
                    if found.archives else "")
        raise BatchError(f"no submissions found in {config.submissions} (expected a folder per student, "
                         f"or files such as {', '.join(supported_suffixes())} named after the assignment){archives}")
    by_folder: dict[str, list[Job]] = {}
    for job in found.jobs:
        by_folder.setdefault(job.folder, []).append(job)
    clashes = [(folder, jobs) for folder, jobs in by_folder.items() if len(jobs) > 1]
    if clashes:   # never one result overwriting another: stop before anything is graded
        folder, jobs = clashes[0]
        raise BatchError(f"{len(jobs)} submissions would share the results folder {folder} "
                         f"({', '.join(j.source for j in jobs)}); rename one of them"
                         + (f" ({len(clashes) - 1} more such clashes)" if len(clashes) > 1 else ""))
    todo, done = [], []
    fingerprints = {j.assignment: assignment_fingerprint(j.assignment, course) for j in found.jobs}
    for job in found.jobs:
        current = not config.regrade and is_current(config.out / job.folder / RESULTS_NAME, job,
                                                   fingerprints[job.assignment])
        (done if current else todo).append(job)
    return todo, done, found


def run_batch(config: BatchConfig, on_progress: Observer | None = None,
              on_start: Callable[[int], None] | None = None,
              planned: tuple[list[Job], list[Job], Discovery] | None = None) -> BatchSummary:
    """Grade every pending job; the gradebook is rebuilt at the end, interrupted or not.

    ``on_progress`` observes a :class:`grader.core.progress.JobEnded` per job written (the events a
    grading's observer gets, at the batch's level); ``planned`` is what :func:`plan` returned, when the
    caller checked the input first."""
    from grader.workflows.executors import ExecutorError, make_executor

    t0 = time.monotonic()
    if planned is None:
        check_writable(config.out)
        planned = plan(config)
    todo, done, found = planned
    summary = BatchSummary(total=len(todo) + len(done), skipped=len(done), ignored=found.ignored)
    try:
        summary.missing = mark_missing(config.out, [j.folder for j in found.jobs], config.assignment)
    except OSError as exc:
        raise BatchFailed(f"cannot mark missing submissions in {config.out}: {exc.strerror or exc}") from None
    if on_start:
        on_start(len(todo))
    fingerprints = {j.assignment: assignment_fingerprint(j.assignment, config.options.course) for j in todo}
    options = concrete_device(config.options) if todo else config.options
    try:
        executor = make_executor(config.executor, config.jobs, config.scheduler) if todo else None
    except ExecutorError as exc:
        raise BatchError(str(exc)) from None
    try:
        if executor is not None:
            tasks = [(i, (job, read_payload(job), options, fingerprints[job.assignment], config.html))
                     for i, job in enumerate(todo)]
            for index, outcome, error in executor.run(grade_job, tasks):
                job = todo[index]
                if outcome is None:
                    outcome = _error_outcome(job, error, fingerprints[job.assignment], config.html, options.course)
                try:
                    write_outcome(config.out, job, outcome)
                except OSError as exc:
                    raise BatchFailed(f"cannot write the results of {job.folder}: {exc.strerror or exc}") from None
                kind = outcome.status.split(":")[0]
                summary.graded += kind == "graded"
                summary.invalid += kind in ("invalid", "refused")
                summary.errors += kind == "error"
                if on_progress:
                    on_progress(JobEnded(job.folder, outcome.status))
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


def concrete_device(options: GradeOptions) -> GradeOptions:
    """``options`` with the device resolved here, once (the CUDA probe runs in this process), for every
    worker to use as it is (a :class:`~grader.core.devices.DeviceChoice`, which no worker probes again)."""
    from grader.core.devices import DeviceError, resolve

    try:
        return replace(options, device=resolve(options.device, options.isolation))
    except DeviceError as exc:
        raise BatchError(str(exc)) from None



def _error_outcome(job: Job, error: str, fingerprint: str, html: bool, course: Course | None = None) -> TaskOutcome:
    from grader.feedback.html import render_html

    result = _failed_result(job, error, course)
    status = f"error: {error}"
    result.extra_data["batch"] = {"student": job.student, "source": job.source, "file_sha256": job.sha256,
                                  "assignment_fingerprint": fingerprint, "status": status}
    data = to_gradescope(result)
    return TaskOutcome(results=data, html=render_html(data) if html else "", artifacts={}, status=status)
