"""Where the course folder is: the places looked at, in order, and what is said when there is none.

:class:`grader.core.course.Course` is the course as a value; this is only the search for its
folder, kept apart so that :mod:`grader.core.assignment` can default to the course around
(``load_assignment("bandits")``) without importing :mod:`grader.core.course`, which loads
assignments (one direction, no cycle).

The order: the folder given, the environment variable ``GRADER_COURSE`` (``GRADER_HOME``, its
older name, still works), the nearest folder at or above the current directory that holds a
``course.toml``, and last the checkout an editable install of the grader lives in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

COURSE_FILE = "course.toml"
ASSIGNMENTS = "assignments"     # the folder of the course that holds one folder per assignment
ENV_VARS = ("GRADER_COURSE", "GRADER_HOME")
HOW_TO_POINT = "pass --course DIR (check(course=DIR) in a notebook) or set GRADER_COURSE"


class CourseNotFound(LookupError):
    """No course folder could be found; the message says where the grader looked and how to point at one."""


def course_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` resolved, refused (CourseNotFound) if it is not a course folder."""
    folder = Path(path).expanduser().resolve()
    if not (folder / COURSE_FILE).is_file() and not (folder / ASSIGNMENTS).is_dir():
        raise CourseNotFound(f"{path} is not a course folder (it has no {COURSE_FILE} and no assignments/)")
    return folder


def find_course_folder(explicit: str | os.PathLike[str] | None = None, *, cwd: Path | None = None,
                       environ: Mapping[str, str] | None = None) -> Path:
    """The course folder to use (see the module docstring for the order of the places looked at)."""
    if explicit is not None:
        return course_folder(explicit)
    environ = os.environ if environ is None else environ
    for var in ENV_VARS:
        if environ.get(var):
            return course_folder(environ[var])
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / COURSE_FILE).is_file():
        return checkout
    raise CourseNotFound(f"no course folder found: none of {here} and its parents holds a {COURSE_FILE}; "
                         f"{HOW_TO_POINT}")
