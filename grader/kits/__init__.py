"""Code shared by assignments, declared as data: ``kits = ["cartpole"]`` in ``assignment.toml``.

A kit is a package: ``grader.kits.<name>`` here, or one that another distribution
registers under the entry-point group ``grader.kits`` (the way Gymnasium registers
environments by entry point). Its ``__init__`` says what the sandboxed child needs::

    CHILD_MODULES = {"cartpole_child": "child.py"}   # module name in the child -> file of the kit

Suites import the parent side like any module (``grader.kits.cartpole.parent``). The
child side is copied next to ``probes.py`` in every child of an assignment that declares
the kit, and a release bundle carries it because it carries the grader package: one rule
for both, so an assignment never reaches into a sibling's folder.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "grader.kits"


class UnknownKit(LookupError):
    pass


@dataclass(frozen=True)
class Kit:
    name: str
    package: str
    child_files: tuple[tuple[str, Path], ...] = ()     # (module name in the child, file)


def _packages() -> dict[str, str]:
    found = {p.name: f"{__name__}.{p.name}" for p in Path(__file__).resolve().parent.iterdir()
             if (p / "__init__.py").is_file()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def available_kits() -> list[str]:
    return sorted(_packages())


def load_kit(name: str) -> Kit:
    """The kit ``name`` with its child files resolved, or UnknownKit listing the ones there are."""
    packages = _packages()
    if name not in packages:
        raise UnknownKit(f"unknown kit {name!r} (kits: {', '.join(sorted(packages)) or 'none'})")
    module = importlib.import_module(packages[name])
    folder = Path(module.__file__).resolve().parent
    child = tuple((str(mod), folder / str(file)) for mod, file in getattr(module, "CHILD_MODULES", {}).items())
    missing = [str(path) for _, path in child if not path.is_file()]
    if missing:
        raise UnknownKit(f"kit {name!r} names child files that do not exist: {', '.join(missing)}")
    return Kit(name, packages[name], child)
