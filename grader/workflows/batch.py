"""Grade a folder of submissions: one task per (student, assignment), a gradebook at the end.

Input layout (``SUBMISSIONS_DIR``)::

    alice/bandits.py              a folder per student (files anywhere inside), or
    bob.py                        a file per student at the top level (student = file stem)

Output layout (``RESULTS_DIR``)::

    <student>/<assignment>/results.json     Gradescope shape, written atomically
    <student>/<assignment>/feedback.html    self-contained feedback page
    <student>/<assignment>/artifacts/       files the suites saved (plots, sample grids)
    gradebook.csv                            rebuilt from every results.json above (and overrides.csv)
    index.html                               the class page (grader.workflows.report)
    overrides.csv                            the instructor's overrides (grader.workflows.overrides)

Only regular files that really lie inside a student's folder are read
(:func:`grader.formats.source.read_beneath`): links, devices, FIFOs and hard links
to files outside give that student a ``refused: …`` row; archives are not
unpacked. Which assignment a file is comes from :func:`grader.core.identity.identify`,
as for ``grader grade``. Each student has one results folder
(:func:`student_dirname` is one-to-one), and results whose submission has gone are
marked ``missing``.

Tasks run through :mod:`grader.workflows.executors` (worker processes or Dask); each
task gets the submission's bytes, so a remote worker needs no shared disk.
The parent alone writes the results directory, one finished task at a time,
so an interrupted batch leaves only whole results behind; the gradebook is
always rebuilt from those files, never kept in memory.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.core.assignment import UnknownAssignment
from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file, grade_submission
from grader.core.identity import identify
from grader.core.results import Cause, GradeResult, TestResult
from grader.core.text import printable_text
from grader.core.version import __version__
from grader.feedback.files import write_json_atomic, write_text_atomic
from grader.feedback.gradebook import GradebookEntry, gradebook_csv, gradebook_table
from grader.feedback.gradescope import to_gradescope
from grader.formats.source import RefusedFile, SubmissionFormatError, read_beneath, refusal
from grader.formats.submission import supported_suffixes
from grader.workflows.overrides import OVERRIDES_NAME, with_overrides

RESULTS_NAME = "results.json"
HTML_NAME = "feedback.html"
ARTIFACTS_NAME = "artifacts"
GRADEBOOK_NAME = "gradebook.csv"
UNKNOWN = "unknown"
MISSING = "missing"
MAX_ARTIFACT_BYTES = 32 << 20          # per submission, all files together
SKIP_NAMES = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}
WATCHDOG_MARGIN_S = 60.0


class BatchError(Exception):
    """The batch cannot run (no submissions, results folder not writable); one line for the user."""


class BatchFailed(BatchError):
    """The batch stopped part-way (results folder became unwritable, the cluster went away).
    Finished results are kept and the gradebook is rebuilt from them."""


# -- names ------------------------------------------------------------------------
SIMILARITY_DIR = "similarity"      # grade-batch --similarity writes its report here
INDEX_NAME = "index.html"          # the class page
EXPORTS_DIR = "exports"            # grader export writes the LMS files here
RESERVED_NAMES = {GRADEBOOK_NAME, SIMILARITY_DIR, INDEX_NAME, OVERRIDES_NAME, EXPORTS_DIR}
_HASH_SUFFIX = re.compile(r"~[0-9a-f]{12}$")
MAX_PLAIN_BYTES = 200               # a folder name may have 255 bytes; leave room for the hash


def printable(name: str) -> str:
    """A file name as safe text: undecodable bytes and control characters escaped (not one-to-one:
    a literal backslash reads like an escape; :func:`student_dirname` is the one-to-one name)."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def student_dirname(student: str) -> str:
    """The student's folder in the results directory, one-to-one with the raw folder name.

    A plain name (printable, not hidden, not a name the results folder itself uses, not too long)
    is kept as it is. Any other is shown escaped, followed by ``~`` and 12 hex digits of a hash of
    the raw name; no plain name ends that way, so two students never share a folder (``x<TAB>y``
    is ``x\\x09y~…``, a folder literally named ``x\\x09y`` keeps its name)."""
    name = printable(student)
    if (name == student and name and not name.startswith(".") and name not in RESERVED_NAMES
            and not _HASH_SUFFIX.search(name) and len(name.encode()) <= MAX_PLAIN_BYTES):
        return name
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    shown = name.lstrip(".").encode()[:MAX_PLAIN_BYTES - 20].decode("utf-8", "ignore") or "_"
    return f"{shown}~{digest}"


# -- discovering submissions ------------------------------------------------------
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
ARCHIVE_ADVICE = ("archives are not unpacked by the grader (unpacking student archives safely is not its job); "
                  "unpack them first, e.g. python -m zipfile -e ARCHIVE.zip FOLDER, or hand in the .py/.ipynb itself")


@dataclass(frozen=True)
class Job:
    """One (student, assignment) to grade. ``problem`` set: graded as zero with that message."""
    student: str
    assignment: str                 # "" when it could not be told
    source: str                     # printable path relative to SUBMISSIONS_DIR
    path: str = ""                  # real path (may hold surrogate escapes); "" when there is no file
    sha256: str = ""                # of the file's bytes; "" when unreadable (never skipped on resume)
    problem: str = ""
    root: str = ""                  # the submissions folder ``path`` lies in (read only beneath it)
    note: str = ""                  # one line for the result: why this assignment (name and functions disagree)

    @property
    def display(self) -> str:
        """The submitted file's name, or the listing of files when there is not exactly one."""
        return Path(self.source).name if self.path else self.source

    @property
    def folder(self) -> str:
        return f"{student_dirname(self.student)}/{self.assignment or UNKNOWN}"

    @property
    def status(self) -> str:
        """The gradebook status of a job that cannot be graded ('refused: symlink: …', 'invalid: …')."""
        first = self.problem.splitlines()[0] if self.problem else ""
        return first if first.startswith("refused:") else f"invalid: {first}"


@dataclass
class Discovery:
    jobs: list[Job] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)   # files that are no submission (notes for the user)
    archives: list[str] = field(default_factory=list)  # archives met at the top level (not unpacked)


@dataclass
class _Found:
    """What a student's folder holds: regular files, and entries refused without being read."""
    files: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)     # (path, message)


def _walk(root: Path, folder: Path, found: _Found) -> None:
    """Every non-hidden entry below ``folder``, never following a symbolic link: regular files are kept,
    links (to files or folders, broken or not), devices, FIFOs and sockets are refused by their own lstat."""
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        kept = []
        for d in sorted(dirnames):
            if d.startswith(".") or d in SKIP_NAMES:
                continue
            if (base / d).is_symlink():          # os.walk lists links to folders here; it does not enter them
                found.refused.append((base / d, str(RefusedFile("symlink", _rel(root, base / d),
                                                                "is a symbolic link to a folder, not a folder "
                                                                "handed in"))))
            else:
                kept.append(d)
        dirnames[:] = kept
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            try:
                mode = os.lstat(base / f).st_mode
            except OSError:
                continue
            problem = refusal(mode, _rel(root, base / f))
            if problem is None:
                found.files.append(base / f)
            else:
                found.refused.append((base / f, str(problem)))


def _rel(root: Path, path: Path) -> str:
    return printable(str(path.relative_to(root)))


def _links_inside(root: Path) -> dict[tuple[int, int], int]:
    """(device, inode) → how many of its names lie inside ``root``, for files with several hard links:
    a file whose every link is inside may be read, one linked in from outside may not."""
    count: dict[tuple[int, int], int] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for f in filenames:
            try:
                st = os.lstat(os.path.join(dirpath, f))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                count[key] = count.get(key, 0) + 1
    return count


@dataclass
class _Entry:
    """A candidate file of a student, read (or refused) once at discovery."""
    path: Path
    label: str
    sha256: str = ""
    problem: str = ""
    note: str = ""


def discover_student(folder: Path, student: str, assignment: str | None = None,
                     course: Course | None = None) -> list[Job]:
    """The jobs of one student's folder (e.g. Gradescope's ``/autograder/submission``) in ``course``."""
    found = _Found()
    _walk(folder, folder, found)
    return _student_jobs(folder, student, found, assignment, [], _links_inside(folder), course or Course.find())


def discover(root: Path, assignment: str | None = None, exclude: Sequence[Path] = (),
             course: Course | None = None) -> Discovery:
    """The jobs of a submissions folder: one per (student, assignment) found. Only regular files that
    really lie inside it are read: a symbolic link anywhere (the student's folder itself included), a
    hard link to a file outside, a device or a FIFO gives that student a 'refused: …' result instead."""
    root = Path(root)
    course = course or Course.find()
    suffixes = {s.lower() for s in supported_suffixes()}
    skip = set()
    for p in exclude:
        try:
            st = os.stat(p)
            skip.add((st.st_dev, st.st_ino))
        except OSError:
            continue
    per_student: dict[str, _Found] = {}
    result = Discovery()
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise BatchError(f"cannot list {root}: {exc.strerror or exc}") from None
    for entry in entries:
        path = Path(entry.path)
        if entry.name.startswith(".") or entry.name in SKIP_NAMES:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in skip:
            continue
        lowered = entry.name.lower()
        if stat.S_ISDIR(st.st_mode):
            _walk(root, path, per_student.setdefault(entry.name, _Found()))
        elif lowered.endswith(ARCHIVE_SUFFIXES):
            result.archives.append(printable(entry.name))
            result.ignored.append(f"{printable(entry.name)} (an archive: {ARCHIVE_ADVICE})")
        elif stat.S_ISLNK(st.st_mode) and path.suffix.lower() not in suffixes:   # a link to a student's folder?
            per_student.setdefault(entry.name, _Found()).refused.append((path, str(RefusedFile(
                "symlink", printable(entry.name), "is a symbolic link, not a folder handed in"))))
        elif path.suffix.lower() in suffixes:
            problem = refusal(st.st_mode, printable(entry.name))
            found = per_student.setdefault(path.stem, _Found())
            if problem is None:
                found.files.append(path)
            else:
                found.refused.append((path, str(problem)))
        else:
            result.ignored.append(printable(entry.name))

    links = _links_inside(root) if per_student else {}
    for student, found in per_student.items():
        result.jobs.extend(_student_jobs(root, student, found, assignment, result.ignored, links, course))
    return result


def _read_entry(root: Path, path: Path, links: dict[tuple[int, int], int]) -> tuple[_Entry, bytes | None]:
    entry = _Entry(path, _rel(root, path))
    try:
        data = read_beneath(root, path.relative_to(root), entry.label, links_inside=links)
    except SubmissionFormatError as exc:
        entry.problem = printable_text(str(exc))
        return entry, None
    entry.sha256 = hashlib.sha256(data).hexdigest()
    return entry, data


def _student_jobs(root: Path, student: str, found: _Found, wanted: str | None, ignored: list[str],
                  links: dict[tuple[int, int], int], course: Course) -> list[Job]:
    """One job per assignment the student's files are (told by :func:`grader.core.identity.identify`)."""
    suffixes = {s.lower() for s in supported_suffixes()}
    by_assignment: dict[str, list[_Entry]] = {}
    unknown: list[_Entry] = []
    candidates = [(p, None) for p in found.files] + [(p, why) for p, why in found.refused]
    for path, refused in sorted(candidates, key=lambda c: str(c[0])):
        # A refused entry of any name counts (a link to a folder may hold the submission); a regular file
        # counts when it has a submission's suffix.
        if path.suffix.lower() not in suffixes and refused is None:
            if path.suffix.lower() in ARCHIVE_SUFFIXES:
                entry = _Entry(path, _rel(root, path), problem=f"refused: archive: {_rel(root, path)}: {ARCHIVE_ADVICE}")
                unknown.append(entry)
            else:
                ignored.append(_rel(root, path))
            continue
        if refused is not None:
            entry, data = _Entry(path, _rel(root, path), problem=refused), None
        else:
            entry, data = _read_entry(root, path, links)
        try:
            identity = identify(path.name, data, root=course.assignments_dir)
        except UnknownAssignment:
            unknown.append(entry)
            continue
        entry.note = identity.note
        if wanted and identity.assignment != wanted:
            ignored.append(entry.label)
        else:
            by_assignment.setdefault(identity.assignment, []).append(entry)
    if wanted and wanted not in by_assignment and unknown:
        # Files that are no assignment by name or functions count when one is given, unless one is that one.
        by_assignment[wanted], unknown = unknown, []

    jobs = []
    for name, entries in sorted(by_assignment.items()):
        if len(entries) > 1:
            listed = ", ".join(e.label for e in entries)
            jobs.append(Job(student, name, listed, problem=(
                f"{len(entries)} files for the assignment {name} ({listed}); hand in exactly one"), root=str(root)))
            continue
        e = entries[0]
        jobs.append(Job(student, name, e.label, str(e.path), e.sha256, e.problem, str(root), e.note))
    if jobs:
        ignored.extend(e.label + (f" ({e.problem.split(':')[1].strip()})" if e.problem.startswith("refused:") else "")
                       for e in unknown)   # helper modules, notes: not graded
    elif any(e.problem for e in unknown):    # refused, or unreadable (too large): say that, not 'which one?'
        problems = [e for e in unknown if e.problem]
        more = f" (and {len(problems) - 1} more like it)" if len(problems) > 1 else ""
        jobs.append(Job(student, wanted or "", ", ".join(e.label for e in unknown), root=str(root),
                        problem=problems[0].problem + more))
    elif unknown:
        listed = ", ".join(e.label for e in unknown)
        known = course.assignment_names()
        jobs.append(Job(student, wanted or "", listed, root=str(root), problem=(
            f"cannot tell the assignment of {listed} from the file name(s) or the functions defined; "
            f"name the file after the assignment (one of: {', '.join(known)}) or pass --assignment")))
    else:
        known = course.assignment_names()
        wanted_files = course.assignment(wanted).submission_name if wanted else "e.g. " + ", ".join(
            course.assignment(n).submission_name for n in known[:3])
        jobs.append(Job(student, wanted or "", printable(student), root=str(root), problem=(
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


def gradebook_rows(out: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gradebook, read from every results.json under ``out`` (overrides applied)."""
    return gradebook_table(with_overrides(out, gradebook_entries(out))[0])


def gradebook_entries(out: Path) -> list[GradebookEntry]:
    """One entry per results.json under ``out``, as the grader left it (no override applied)."""
    import json

    entries = []
    for path in sorted(out.glob(f"*/*/{RESULTS_NAME}")):
        try:
            data = json.loads(path.read_text())
            extra = data.get("extra_data", {})
            batch = extra.get("batch", {})
            status = _status(str(batch.get("status", "graded")), data)
            entries.append(GradebookEntry(path.parent.parent.name,     # the one-to-one name (student_dirname)
                                          str(extra.get("assignment", path.parent.name)),
                                          GradeResult.from_gradescope(data), status, str(batch.get("source", "")),
                                          scored=not status.startswith(MISSING),   # no score for one that is gone
                                          folder=f"{path.parent.parent.name}/{path.parent.name}"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            entries.append(GradebookEntry(path.parent.parent.name, path.parent.name, None,
                                          f"error: unreadable {RESULTS_NAME}: {type(exc).__name__}",
                                          folder=f"{path.parent.parent.name}/{path.parent.name}"))
    return entries


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


def write_gradebook(out: Path, entries: list[GradebookEntry] | None = None) -> Path:
    """Rebuild ``gradebook.csv`` from the results files and overrides.csv (atomically); ``entries``:
    those already read and overridden (:func:`gradebook_entries`, then ``with_overrides``)."""
    path = out / GRADEBOOK_NAME
    if entries is None:
        entries = with_overrides(out, gradebook_entries(out))[0]   # a refused line is listed by grader report
    write_text_atomic(path, gradebook_csv(entries))   # escaped, no cell a spreadsheet runs
    return path


def mark_missing(out: Path, present: Iterable[str], assignment: str | None = None) -> list[str]:
    """Mark the results of submissions no longer in the submissions folder as ``missing`` (their
    scores leave the gradebook; the file stays, for the record). ``present``: the folders
    (``student/assignment``) of this batch's jobs; with ``assignment``, only that one's results are
    looked at (a batch of one assignment says nothing about the others). Returns the folders marked."""
    import json

    present = set(present)
    marked = []
    for path in sorted(out.glob(f"*/*/{RESULTS_NAME}")):
        folder = f"{path.parent.parent.name}/{path.parent.name}"
        if folder in present or (assignment and path.parent.name != assignment):
            continue
        try:
            data = json.loads(path.read_text())
            batch = data["extra_data"]["batch"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if str(batch.get("status", "")).startswith(MISSING):
            continue
        was = f"{_num(data.get('score', ''))}/{_num(data['extra_data'].get('max_score', ''))}"
        batch["status"] = (f"{MISSING}: {batch.get('source') or folder} is no longer in the submissions folder "
                           f"(it was graded {was}, {batch.get('status', 'graded')})")
        write_json_atomic(path, data)
        marked.append(folder)
    return marked


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


def concrete_device(options: GradeOptions) -> GradeOptions:
    """``options`` with the device resolved here, once (the CUDA probe runs in this process), for every
    worker to use as it is (a :class:`~grader.core.devices.DeviceChoice`, which no worker probes again)."""
    from grader.core.devices import DeviceError, resolve

    try:
        return replace(options, device=resolve(options.device, options.isolation))
    except DeviceError as exc:
        raise BatchError(str(exc)) from None


def read_payload(job: Job) -> bytes | None:
    """The bytes discovery read for ``job``, read again the same safe way (never following a link);
    None when they cannot be read or are no longer the bytes discovery hashed."""
    if job.problem or not job.path or not job.root:
        return None
    try:
        data = read_beneath(Path(job.root), Path(job.path).relative_to(job.root), job.source)
    except (SubmissionFormatError, ValueError):
        return None
    return data if hashlib.sha256(data).hexdigest() == job.sha256 else None


def _error_outcome(job: Job, error: str, fingerprint: str, html: bool, course: Course | None = None) -> TaskOutcome:
    from grader.feedback.html import render_html

    result = _failed_result(job, error, course)
    status = f"error: {error}"
    result.extra_data["batch"] = {"student": job.student, "source": job.source, "file_sha256": job.sha256,
                                  "assignment_fingerprint": fingerprint, "status": status}
    data = to_gradescope(result)
    return TaskOutcome(results=data, html=render_html(data) if html else "", artifacts={}, status=status)
