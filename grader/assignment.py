"""An assignment is data: a directory with ``assignment.toml``, a statement,
child-side probes, and suites of test groups. Adding one needs no change here.

Layout of ``assignments/<name>/``::

    README.md          task statement (released to students)
    assignment.toml    points, limits, parameters of each test group
    probes.py          child-side calls into the submission (no answers in it)
    public/suite.py    checks a student may run (``grader check``)
    hidden/suite.py    graded checks and their expected values (never released)
"""

from __future__ import annotations

import importlib.util
import sys
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .paths import assignments_dir
from .sandbox.limits import Limits

GroupFunction = Callable[[Any], None]


class AssignmentError(Exception):
    """The assignment's own files are inconsistent (an instructor's mistake, not a student's)."""


class UnknownAssignment(LookupError):
    pass


@dataclass(frozen=True)
class GroupConfig:
    name: str
    points: float
    limits: Limits
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "unit"          # "unit" (a hole) or "threshold" (the model must learn)
    summary: str = ""
    visibility: str = "visible"


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    directory: Path
    submission_name: str
    groups: dict[str, GroupConfig]
    uses_torch: bool = False
    holes: tuple[str, ...] = ()
    child_files: tuple[Path, ...] = ()   # extra modules copied next to probes.py in the child

    @property
    def probes_path(self) -> Path:
        return self.directory / "probes.py"

    @property
    def max_score(self) -> float:
        return sum(g.points for g in self.groups.values())

    def suite(self, kind: str = "hidden") -> dict[str, GroupFunction]:
        """Group functions of the ``hidden`` or ``public`` suite, by group name."""
        path = self.directory / kind / "suite.py"
        if not path.is_file():
            raise AssignmentError(f"{self.name}: missing {path}")
        module_name = f"_grader_suite_{self.name}_{kind}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_file_location(module_name, path)
            assert spec and spec.loader
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        from .suite import collect_groups

        found = collect_groups(module)
        if kind == "hidden":
            missing = set(self.groups) - set(found)
            extra = set(found) - set(self.groups)
            if missing or extra:
                raise AssignmentError(
                    f"{self.name}: assignment.toml groups and {path.name} disagree "
                    f"(no function for {sorted(missing)}, no config for {sorted(extra)})"
                )
        return found


def load_assignment(name: str, root: Path | None = None) -> Assignment:
    root = root or assignments_dir()
    directory = root / name
    toml_path = directory / "assignment.toml"
    if not toml_path.is_file():
        known = ", ".join(list_assignments(root)) or "none"
        raise UnknownAssignment(f"unknown assignment {name!r} (known: {known})")
    try:
        data = tomllib.loads(toml_path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{toml_path}: {exc}") from None
    try:
        base = Limits.from_mapping(data.get("limits", {}))
        groups = {}
        for gname, g in data.get("groups", {}).items():
            groups[gname] = GroupConfig(
                name=gname,
                points=float(g["points"]),
                limits=Limits.from_mapping(g.get("limits", {}), base),
                params=dict(g.get("params", {})),
                kind=g.get("kind", "unit"),
                summary=g.get("summary", ""),
                visibility=g.get("visibility", "visible"),
            )
        return Assignment(
            name=data.get("name", name),
            title=data.get("title", name),
            directory=directory,
            submission_name=data.get("submission", f"{name}.py"),
            groups=groups,
            uses_torch=bool(data.get("uses_torch", False)),
            holes=tuple(data.get("holes", [])),
            child_files=tuple((directory / f).resolve() for f in data.get("child_files", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AssignmentError(f"{toml_path}: {exc}") from None


def list_assignments(root: Path | None = None) -> list[str]:
    root = root or assignments_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "assignment.toml").is_file())


def infer_assignment(submission: Path, root: Path | None = None) -> str:
    """Guess the assignment from a file name such as ``reinforce_baseline.py`` or ``hw2-vae (3).ipynb``."""
    stem = submission.stem.lower().replace("-", "_").replace(" ", "_")
    names = list_assignments(root)
    if stem in names:
        return stem
    # Longest name first, so 'reinforce_baseline' wins over 'reinforce'.
    for name in sorted(names, key=len, reverse=True):
        if name in stem:
            return name
    raise UnknownAssignment(
        f"cannot tell the assignment from the file name {submission.name!r}; "
        f"pass --assignment (one of: {', '.join(names)})"
    )
