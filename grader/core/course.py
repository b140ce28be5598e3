"""The course as a value: the folder with ``course.toml``, ``assignments/``, ``solutions/``, ``templates/``.

A :class:`Course` is resolved once, where a command starts (the CLI's ``--course``, ``check(course=...)``
in a notebook, the Gradescope runner's root), and then passed explicitly: in the grading options, in
every batch job (local worker processes and Dask workers alike, since it is a plain picklable value),
to every workflow. Nothing is remembered in the process, so no process boundary can lose it (the way
nbgrader passes its course directory).

:meth:`Course.find` looks, in this order, at the folder it is given, the environment variable
``GRADER_COURSE`` (``GRADER_HOME``, its older name, still works), the nearest folder at or above the
current directory that holds a ``course.toml``, and last the checkout an editable install of the grader
lives in (:mod:`grader.core.locate`). So the grader installs as a wheel and grades any course folder;
this repository is one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.core.locate import ASSIGNMENTS, COURSE_FILE, CourseNotFound, course_folder, find_course_folder

if TYPE_CHECKING:
    from grader.core.assignment import Assignment
    from grader.sandbox import Isolation

__all__ = ["COURSE_FILE", "Course", "CourseNotFound"]


@dataclass(frozen=True)
class Course:
    """One course folder. Cheap to make, compare and pickle (only its resolved ``root``)."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike[str]) -> Course:
        """The course at ``path``, refused (CourseNotFound) if it is not a course folder."""
        return cls(course_folder(path))

    @classmethod
    def find(cls, explicit: str | os.PathLike[str] | Course | None = None, *, cwd: Path | None = None,
             environ: Mapping[str, str] | None = None) -> Course:
        """The course to use (:func:`grader.core.locate.find_course_folder` says where it looks)."""
        if isinstance(explicit, Course):
            return explicit
        return cls(find_course_folder(explicit, cwd=cwd, environ=environ))

    # -- its parts -------------------------------------------------------------------------
    @property
    def assignments_dir(self) -> Path:
        return self.root / ASSIGNMENTS

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

    def protected_paths(self) -> tuple[str, ...]:
        """What no child may see: the course folder and its parts (each resolved, as any may be a link)."""
        return tuple(sorted({str(p.resolve()) for p in (self.root, self.assignments_dir, self.solutions_dir,
                                                         self.templates_dir)}))

    def isolation(self, require: bool = False) -> Isolation:
        """The strongest sandbox here, with this course among what a child must never see."""
        from grader.sandbox import select_isolation

        return select_isolation(require=require, protected=self.protected_paths())
