"""The course as a value: the folder with ``course.toml``, ``assignments/``, ``solutions/``, ``templates/``.

A :class:`Course` is resolved once, where a command starts (the CLI's ``--course``, ``check(course=...)``
in a notebook, the Gradescope runner's root), and then passed explicitly: in the grading options, in
every batch job (local worker processes and Dask workers alike, since it is a plain picklable value),
to every workflow. Nothing is remembered in the process, so no process boundary can lose it (the way
nbgrader passes its course directory).

:meth:`Course.find` looks, in this order, at the folder it is given, the environment variable
``GRADER_COURSE`` (``GRADER_HOME``, its older name, still works), the nearest folder at or above the
current directory that holds a ``course.toml``, and last the checkout an editable install of the grader
lives in. So the grader installs as a wheel and grades any course folder; this repository is one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.core.assignment import Assignment
    from grader.sandbox import Isolation

COURSE_FILE = "course.toml"
ENV_VARS = ("GRADER_COURSE", "GRADER_HOME")
HOW_TO_POINT = "pass --course DIR (check(course=DIR) in a notebook) or set GRADER_COURSE"


class CourseNotFound(LookupError):
    """No course folder could be found; the message says where the grader looked and how to point at one."""


@dataclass(frozen=True)
class Course:
    """One course folder. Cheap to make, compare and pickle (only its resolved ``root``)."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> Course:
        """The course at ``path``, refused (CourseNotFound) if it is not a course folder."""
        folder = Path(path).expanduser().resolve()
        if not (folder / COURSE_FILE).is_file() and not (folder / "assignments").is_dir():
            raise CourseNotFound(f"{path} is not a course folder (it has no {COURSE_FILE} and no assignments/)")
        return cls(folder)

    @classmethod
    def find(cls, explicit: str | os.PathLike[str] | Course | None = None, *, cwd: Path | None = None,
             environ: Mapping[str, str] | None = None) -> Course:
        """The course to use (see the module docstring for the order of the places looked at)."""
        if isinstance(explicit, Course):
            return explicit
        if explicit is not None:
            return cls.at(explicit)
        environ = os.environ if environ is None else environ
        for var in ENV_VARS:
            if environ.get(var):
                return cls.at(environ[var])
        here = (cwd or Path.cwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / COURSE_FILE).is_file():
                return cls(folder)
        checkout = Path(__file__).resolve().parents[2]
        if (checkout / COURSE_FILE).is_file():
            return cls(checkout)
        raise CourseNotFound(f"no course folder found: none of {here} and its parents holds a {COURSE_FILE}; "
                             f"{HOW_TO_POINT}")

    # -- its parts -------------------------------------------------------------------------
    @property
    def assignments_dir(self) -> Path:
        return self.root / "assignments"

    @property
    def solutions_dir(self) -> Path:
        return self.root / "solutions"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def course_file(self) -> Path:
        return self.root / COURSE_FILE

    def assignment(self, name: str) -> Assignment:
        from grader.core.assignment import load_assignment

        return load_assignment(name, self.assignments_dir)

    def assignment_names(self) -> list[str]:
        from grader.core.assignment import list_assignments

        return list_assignments(self.assignments_dir)

    def settings(self) -> dict[str, Any]:
        """``course.toml`` as data ({} when it is missing or unreadable: its users say what they miss)."""
        from grader.core import tomlfile

        try:
            return tomlfile.loads(self.course_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomlfile.TOMLDecodeError):
            return {}

    def protected_paths(self) -> tuple[str, ...]:
        """What no child may see: the course folder and its parts (each resolved, as any may be a link)."""
        return tuple(sorted({str(p.resolve()) for p in (self.root, self.assignments_dir, self.solutions_dir,
                                                         self.templates_dir)}))

    def isolation(self, require: bool = False) -> Isolation:
        """The strongest sandbox here, with this course among what a child must never see."""
        from grader.sandbox import select_isolation

        return select_isolation(require=require, protected=self.protected_paths())
