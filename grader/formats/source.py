"""Reading a handed-in file safely, and telling whether its Python parses.

Shared by every format (the ``.py`` path, the notebook converter) and every
workflow that reads hand-ins (grade, batch, Gradescope).
"""

from __future__ import annotations

import os
import stat
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
            kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise SubmissionFormatError(f"the submission {name} is {kind}, not a regular file")
        if st.st_size > limit:
            raise SubmissionFormatError(f"the submission {name} is too large ({st.st_size / 2**20:.1f} MB; at most "
                                        f"{limit >> 20} MB): hand in the code only (clear a notebook's outputs)")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 20):
            total += len(chunk)
            if total > limit:
                raise SubmissionFormatError(f"the submission {name} is larger than {limit >> 20} MB")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SubmissionFormatError(f"cannot read the submission {name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


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
