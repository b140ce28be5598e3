"""Reading a handed-in file safely, and telling whether its Python parses.

Shared by every format (the ``.py`` path, the notebook converter) and every
workflow that reads hand-ins (grade, batch, Gradescope).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path


class SubmissionFormatError(ValueError):
    """The file cannot be turned into Python source; the message is shown to the student."""


MAX_SUBMISSION_BYTES = 32 << 20     # a .py is kilobytes; a notebook with images a few megabytes


def read_submission(path: Path, limit: int = MAX_SUBMISSION_BYTES) -> bytes:
    """The bytes of a handed-in file, or a SubmissionFormatError that says why not.

    Opened without blocking and checked on the open descriptor: a FIFO or a device is refused
    instead of hanging the grader (or reading forever), and so is a file over ``limit``."""
    name = path.name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SubmissionFormatError(f"cannot read the submission {name}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionFormatError(f"the submission {name} is {file_kind(st.st_mode)}, not a regular file")
        return _read_open(fd, st, name, limit)
    finally:
        os.close(fd)


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words ('a FIFO (named pipe)')."""
    return ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a symbolic link" if stat.S_ISLNK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def _read_open(fd: int, st: os.stat_result, name: str, limit: int) -> bytes:
    if st.st_size > limit:
        raise SubmissionFormatError(f"the submission {name} is too large ({st.st_size / 2**20:.1f} MB; at most "
                                    f"{limit >> 20} MB): hand in the code only (clear a notebook's outputs)")
    chunks, total = [], 0
    try:
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:
                raise SubmissionFormatError(f"the submission {name} is larger than {limit >> 20} MB")
            chunks.append(chunk)
    except OSError as exc:
        raise SubmissionFormatError(f"cannot read the submission {name}: {exc.strerror or exc}") from None
    return b"".join(chunks)


# -- reading inside a submissions folder ---------------------------------------------
class RefusedFile(SubmissionFormatError):
    """A hand-in that is not a regular file really inside its folder: never read, never followed.
    ``reason`` is short ('symlink', 'hard link', 'FIFO', 'device', 'socket') for a gradebook's status."""

    def __init__(self, reason: str, label: str, why: str) -> None:
        super().__init__(f"refused: {reason}: {label} {why}")
        self.reason = reason


REFUSED_KINDS = {stat.S_IFLNK: ("symlink", "is a symbolic link, not a file handed in: hand in the file itself"),
                 stat.S_IFIFO: ("FIFO", "is a FIFO (named pipe), not a file handed in"),
                 stat.S_IFCHR: ("device", "is a device, not a file handed in"),
                 stat.S_IFBLK: ("device", "is a device, not a file handed in"),
                 stat.S_IFSOCK: ("socket", "is a socket, not a file handed in"),
                 stat.S_IFDIR: ("folder", "is a folder, not a file")}


def refusal(mode: int, label: str) -> RefusedFile | None:
    """Why an entry of mode ``mode`` (from ``lstat``) is no hand-in, or None for a regular file."""
    kind = REFUSED_KINDS.get(stat.S_IFMT(mode))
    if stat.S_ISREG(mode):
        return None
    reason, why = kind or ("not a regular file", "is not a regular file")
    return RefusedFile(reason, label, why)


def read_beneath(root: Path, relative: str | os.PathLike[str], label: str, limit: int = MAX_SUBMISSION_BYTES,
                 links_inside: Mapping[tuple[int, int], int] | None = None) -> bytes:
    """The bytes of ``root/relative``, read only if every part of the path below ``root`` is a real
    folder and the file a regular one: each component is opened relative to the one before it with
    ``O_NOFOLLOW``, so a symbolic link anywhere below ``root`` is refused, never followed (and nothing
    it points at is read or named). A device or FIFO is refused before it is opened (opening some
    devices acts). The file must still be the one looked at when it is read (same device and inode).

    A file with several hard links may be a file from outside the folder linked in: it is refused
    unless ``links_inside`` (the names per (device, inode) counted inside the submissions folder)
    accounts for every link. ``None`` skips that check (the caller checks a hash instead).
    ``label`` names the file in messages (a printable path relative to the submissions folder)."""
    parts = Path(relative).parts
    if not parts or any(p in ("", ".", "..") for p in parts) or Path(relative).is_absolute():
        raise SubmissionFormatError(f"cannot read the submission {label}: not a path inside the submissions folder")
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    try:
        folder = os.open(root, flags | os.O_DIRECTORY)
    except OSError as exc:
        raise SubmissionFormatError(f"cannot read the submission {label}: {exc.strerror or exc}") from None
    fd = -1
    try:
        for part in parts[:-1]:
            try:
                st = os.lstat(part, dir_fd=folder)
            except OSError as exc:
                raise SubmissionFormatError(f"cannot read the submission {label}: {exc.strerror or exc}") from None
            if not stat.S_ISDIR(st.st_mode):
                problem = refusal(st.st_mode, label)
                raise problem or SubmissionFormatError(f"cannot read the submission {label}: not a folder")
            try:
                inner = os.open(part, flags | os.O_DIRECTORY | nofollow, dir_fd=folder)
            except OSError as exc:
                raise SubmissionFormatError(f"cannot read the submission {label}: {exc.strerror or exc}") from None
            os.close(folder)
            folder = inner
        try:
            seen = os.lstat(parts[-1], dir_fd=folder)
        except OSError as exc:
            raise SubmissionFormatError(f"cannot read the submission {label}: {exc.strerror or exc}") from None
        problem = refusal(seen.st_mode, label)
        if problem:
            raise problem
        try:
            fd = os.open(parts[-1], flags | os.O_NONBLOCK | nofollow, dir_fd=folder)
        except OSError as exc:
            raise SubmissionFormatError(f"cannot read the submission {label}: {exc.strerror or exc}") from None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != (seen.st_dev, seen.st_ino) or not stat.S_ISREG(st.st_mode):
            raise SubmissionFormatError(f"cannot read the submission {label}: it changed while it was read")
        if st.st_nlink > 1 and links_inside is not None:
            inside = links_inside.get((st.st_dev, st.st_ino), 0)
            if inside < st.st_nlink:
                raise RefusedFile("hard link", label, f"has {st.st_nlink} names (hard links), {st.st_nlink - inside} "
                                  "of them outside the submissions folder: hand in a copy of the file itself")
        return _read_open(fd, st, label, limit)
    finally:
        if fd >= 0:
            os.close(fd)
        os.close(folder)


def syntax_problem(source: str, label: str) -> str:
    """'' if ``source`` compiles, else one readable paragraph. Never raises: a file nested
    300,000 deep makes the compiler raise RecursionError or MemoryError, not SyntaxError."""
    try:
        compile(source, label, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        snippet = (exc.text or "").rstrip()[:200]
        return f"the submission does not parse: {exc.msg} ({label}, {where})" + (f"\n    {snippet}" if snippet else "")
    except (RecursionError, MemoryError):
        return (f"the submission does not parse: {label} nests expressions too deeply for Python's compiler "
                "(maximum recursion depth or memory exceeded)")
    except (ValueError, OverflowError) as exc:
        return f"the submission does not parse: {exc}"
    return ""
