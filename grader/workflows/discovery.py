"""Finding the hand-ins of a submissions folder: who handed in what, what is refused, and the bytes read.

Input layout (``SUBMISSIONS_DIR``)::

    alice/bandits.py              a folder per student (files anywhere inside), or
    bob.py                        a file per student at the top level (student = file stem)

Only regular files that really lie inside a student's folder are read
(:func:`grader.formats.source.read_beneath`): links, devices, FIFOs and hard links
to files outside give that student a ``refused: …`` job; archives are not
unpacked. Which assignment a file is comes from :func:`grader.core.identity.identify`,
as for ``grader grade``. A job carries the hash of the bytes read here, and
:func:`read_payload` reads them again the same way for grading, or refuses them if
they changed: what is graded is what was found.

Used by ``grade-batch`` (:mod:`grader.workflows.batch`), the similarity report and
the Gradescope runner (one student's folder, :func:`discover_student`).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader.core.assignment import UnknownAssignment
from grader.core.course import Course
from grader.core.identity import identify
from grader.core.text import printable_text
from grader.formats.source import RefusedFile, SubmissionFormatError, read_beneath, refusal
from grader.formats.submission import supported_suffixes
from grader.workflows.results_dir import UNKNOWN, printable, student_dirname

SKIP_NAMES = {"__MACOSX", "__pycache__", ".ipynb_checkpoints"}
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")
ARCHIVE_ADVICE = ("archives are not unpacked by the grader (unpacking student archives safely is not its job); "
                  "unpack them first, e.g. python -m zipfile -e ARCHIVE.zip FOLDER, or hand in the .py/.ipynb itself")


class BatchError(Exception):
    """The batch cannot run (the submissions folder cannot be listed or holds none, the results folder is
    not writable); one line for the user. Everything that works on a submissions folder raises it."""


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
