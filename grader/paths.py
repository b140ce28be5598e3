"""Where the course material lives: next to the package in a checkout, or where GRADER_HOME says."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The directory holding ``assignments/``, ``solutions/`` and ``templates/``.

    ``GRADER_HOME`` if set; else the checkout the package lives in (editable
    install); else the current directory when it holds ``assignments/`` (a
    non-editable install run from the course folder, e.g. by tox).
    """
    env = os.environ.get("GRADER_HOME")
    if env:
        return Path(env).resolve()
    beside = Path(__file__).resolve().parent.parent
    if (beside / "assignments").is_dir() or not (Path.cwd() / "assignments").is_dir():
        return beside
    return Path.cwd().resolve()


def assignments_dir() -> Path:
    return project_root() / "assignments"


def solutions_dir() -> Path:
    return project_root() / "solutions"


def templates_dir() -> Path:
    return project_root() / "templates"
