"""Where the course lives: the folder with ``course.toml``, ``assignments/``, ``solutions/``, ``templates/``.

Found, in this order, from ``--course DIR`` (:func:`use_course`), the environment
variable ``GRADER_COURSE`` (``GRADER_HOME``, its older name, still works), the nearest
folder at or above the current directory that holds a ``course.toml``, and last the
checkout an editable install of the grader lives in. So the grader installs as a wheel
and grades any course folder; this repository is one such course.
"""

from __future__ import annotations

import os
from pathlib import Path

COURSE_FILE = "course.toml"
ENV_VARS = ("GRADER_COURSE", "GRADER_HOME")

_chosen: Path | None = None


class CourseNotFound(LookupError):
    """No course folder could be found; the message says where the grader looked."""


def use_course(path: str | os.PathLike[str] | None) -> None:
    """Use the course at ``path`` from now on in this process (``--course``); None forgets the choice."""
    global _chosen
    if path is None:
        _chosen = None
        return
    folder = Path(path).expanduser().resolve()
    if not (folder / COURSE_FILE).is_file() and not (folder / "assignments").is_dir():
        raise CourseNotFound(f"{path} is not a course folder (it has no {COURSE_FILE} and no assignments/)")
    _chosen = folder


def course_root() -> Path:
    """The course folder (see the module docstring for the order of the places looked at)."""
    if _chosen is not None:
        return _chosen
    for var in ENV_VARS:
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser().resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / COURSE_FILE).is_file():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / COURSE_FILE).is_file():
        return checkout
    raise CourseNotFound(f"no course folder found: none of {here} and its parents holds a {COURSE_FILE}; "
                         f"pass --course DIR or set GRADER_COURSE")


def assignments_dir() -> Path:
    return course_root() / "assignments"


def solutions_dir() -> Path:
    return course_root() / "solutions"


def templates_dir() -> Path:
    return course_root() / "templates"


def protected_paths() -> tuple[str, ...]:
    """What no child may see: the course folder and its parts (each resolved, as any may be a link)."""
    try:
        root = course_root()
    except CourseNotFound:
        return ()
    return tuple(sorted({str(p.resolve()) for p in (root, root / "assignments", root / "solutions",
                                                     root / "templates")}))


def sandbox_isolation(require: bool = False):  # -> grader.sandbox.Isolation
    """The strongest isolation here, with the course among what a child must never see."""
    from grader.sandbox import select_isolation

    return select_isolation(require=require, protected=protected_paths())
