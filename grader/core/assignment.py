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

import hashlib
import importlib.util
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.core import tomlfile as tomllib
from grader.core.kits import UnknownKit, load_kit
from grader.core.locate import ASSIGNMENTS, find_course_folder
from grader.core.schema import validate
from grader.sandbox.limits import Limits

GroupFunction = Callable[[Any], None]
_SUITE_LOCK = threading.RLock()
_GROUP_ATTR = "__grader_group__"


def group(name: str) -> Callable[[GroupFunction], GroupFunction]:
    """Mark a function as the test group ``name`` (the key of ``[groups.NAME]`` in assignment.toml).
    Part of the suite API (re-exported by :mod:`grader.core.suite`); it lives here because the
    loader collects the marked functions."""
    def mark(fn: GroupFunction) -> GroupFunction:
        setattr(fn, _GROUP_ATTR, name)
        return fn
    return mark


def collect_groups(module: Any) -> dict[str, GroupFunction]:
    found = {}
    for value in vars(module).values():
        name = getattr(value, _GROUP_ATTR, None)
        if name is not None:
            found[name] = value
    return found


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
    start_ahead: int = 1        # child processes started ahead for this group (grader.sandbox.spares)


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    directory: Path
    submission_name: str
    groups: dict[str, GroupConfig]
    uses_torch: bool = False
    cpu_only: str = ""          # why it grades on the CPU whatever --device says ('' : it follows --device)
    holes: tuple[str, ...] = ()
    summary: str = ""
    kits: tuple[str, ...] = ()
    # (module name, file) copied next to probes.py in the child: the assignment's own, then its kits'
    child_files: tuple[tuple[str, Path], ...] = ()

    @property
    def probes_path(self) -> Path:
        return self.directory / "probes.py"

    @property
    def course_root(self) -> Path:
        """The course folder this assignment belongs to (``<course>/assignments/<name>``)."""
        return self.directory.parent.parent

    @property
    def template_path(self) -> Path:
        """The course's template of this assignment (``templates/<submission>``): its given code is the
        pipeline the thresholds train (:func:`grader.kits.holes.parent.load_pipeline`)."""
        return self.course_root / "templates" / self.submission_name

    @property
    def max_score(self) -> float:
        return sum(g.points for g in self.groups.values())

    def suite(self, kind: str = "hidden") -> dict[str, GroupFunction]:
        """Group functions of the ``hidden`` or ``public`` suite, by group name."""
        path = self.directory / kind / "suite.py"
        if not path.is_file():
            raise AssignmentError(f"{self.name}: missing {path}")
        # One module per file: two courses (or two copies of one) in a process never share a suite.
        module_name = f"_grader_suite_{self.name}_{kind}_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
        with _SUITE_LOCK:   # threads (Dask workers) must not see a module that is still being executed
            module = sys.modules.get(module_name)
            if module is None:
                spec = importlib.util.spec_from_file_location(module_name, path)
                assert spec and spec.loader
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[module_name]
                    raise
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
    """The assignment ``name`` of the course (or of ``root``), its ``assignment.toml`` checked
    against the schema: every problem is reported at once, with its line."""
    root = root or find_course_folder() / ASSIGNMENTS
    directory = root / name
    toml_path = directory / "assignment.toml"
    if not toml_path.is_file():
        known = ", ".join(list_assignments(root)) or "none"
        raise UnknownAssignment(f"unknown assignment {name!r} (known: {known})")
    text = toml_path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{toml_path}: {exc}") from None
    problems = [str(e) for e in validate(data, text)]
    if data.get("name", name) != name:
        problems.append(f"name: {data['name']!r} differs from the folder's name {name!r}")
    try:
        kits = tuple(load_kit(k) for k in data.get("kits", []))
    except UnknownKit as exc:
        problems.append(f"kits: {exc}")
        kits = ()
    local = [(Path(f).stem, (directory / f).resolve()) for f in data.get("child_files", [])]
    problems += [f"child_files: {path} does not exist" for _, path in local if not path.is_file()]
    if problems:
        raise AssignmentError(f"{toml_path} has {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    base = Limits.from_mapping(data.get("limits", {}))
    groups = {
        gname: GroupConfig(
            name=gname,
            points=float(g["points"]),
            limits=Limits.from_mapping(g.get("limits", {}), base),
            params=dict(g.get("params", {})),
            kind=g.get("kind", "unit"),
            summary=g.get("summary", ""),
            visibility=g.get("visibility", "visible"),
            start_ahead=max(0, int(g.get("start_ahead", 1))),
        )
        for gname, g in data["groups"].items()
    }
    return Assignment(
        name=name,
        title=data["title"],
        directory=directory,
        submission_name=data.get("submission", f"{name}.py"),
        groups=groups,
        uses_torch=bool(data.get("uses_torch", False)),
        cpu_only=str(data.get("cpu_only", "")),
        holes=tuple(data.get("holes", [])),
        summary=data.get("summary", ""),
        kits=tuple(k.name for k in kits),
        child_files=tuple(local) + tuple(f for k in kits for f in k.child_files),
    )


def list_assignments(root: Path | None = None) -> list[str]:
    root = root or find_course_folder() / ASSIGNMENTS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "assignment.toml").is_file())


def assignment_holes(root: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Each assignment's ``holes`` (the functions students write), read from its ``assignment.toml``
    alone: cheap enough to ask for every file of a batch (:func:`load_assignment` also loads kits and
    checks the schema). An unreadable toml has no holes here; loading it reports why."""
    root = root or find_course_folder() / ASSIGNMENTS
    holes = {}
    for name in list_assignments(root):
        try:
            data = tomllib.loads((root / name / "assignment.toml").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        listed = data.get("holes", [])
        holes[name] = tuple(h for h in listed if isinstance(h, str)) if isinstance(listed, list) else ()
    return holes
