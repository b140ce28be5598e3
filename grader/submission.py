"""Turn a handed-in file into the Python source the sandbox runs.

``.py`` files are used as they are. Other formats register a converter in
``CONVERTERS`` (the notebook converter does). The grader core only ever sees
the prepared ``.py`` file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

# suffix -> function(source_path, destination_py_path) -> list of notes for the feedback
Converter = Callable[[Path, Path], list[str]]
CONVERTERS: dict[str, Converter] = {}


def _convert_notebook(source: Path, destination: Path) -> list[str]:
    from .notebooks import convert_notebook  # nbformat is imported only for notebooks
    return convert_notebook(source, destination)


CONVERTERS[".ipynb"] = _convert_notebook


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


@dataclass
class PreparedSubmission:
    original: Path
    python_file: Path
    notes: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "PreparedSubmission":
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def supported_suffixes() -> list[str]:
    return [".py", *CONVERTERS]


def prepare_submission(path: Path, module_name: str | None = None) -> PreparedSubmission:
    """A ``.py`` file to grade for ``path``; converted files are named ``module_name`` (e.g. ``vae.py``)."""
    suffix = path.suffix.lower()
    if suffix == ".py" or suffix not in CONVERTERS:
        return PreparedSubmission(path, path)
    tmp = tempfile.TemporaryDirectory(prefix="grader-submission-")
    target = Path(tmp.name) / (module_name or (path.stem + ".py"))
    try:
        notes = CONVERTERS[suffix](path, target)
    except SubmissionFormatError:
        tmp.cleanup()
        raise
    return PreparedSubmission(path, target, notes, tmp)
