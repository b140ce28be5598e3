"""Where the course material lives: next to the package in a checkout, or where GRADER_HOME says."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The directory holding ``assignments/``, ``solutions/`` and ``templates/``."""
    env = os.environ.get("GRADER_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


def assignments_dir() -> Path:
    return project_root() / "assignments"


def solutions_dir() -> Path:
    return project_root() / "solutions"


def templates_dir() -> Path:
    return project_root() / "templates"
