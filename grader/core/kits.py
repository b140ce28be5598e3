"""The kit registry: code shared by assignments, declared as data (``kits = ["holes"]`` in ``assignment.toml``).

A kit is a package: one bundled with the grader (a subpackage of :mod:`grader.kits`), or
one that another distribution registers under the entry-point group ``grader.kits`` (the
way Gymnasium registers environments by entry point). Its ``__init__`` says what the
sandboxed child needs::

    CHILD_MODULES = {"holes_child": "child.py"}   # module name in the child -> file of the kit

The registry lives in the core, not in :mod:`grader.kits`, because kits are built on the
core (their parent sides import :mod:`grader.core.suite`): the core finds a kit by its
package's name and imports it by name, so no arrow runs from the core up to the kits.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ENTRY_POINT_GROUP = "grader.kits"
BUNDLED = "grader.kits"          # the package whose subpackages are the kits that come with the grader


class UnknownKit(LookupError):
    """No kit of that name, or a kit naming child files it does not have; the message lists the kits."""


@dataclass(frozen=True)
class Kit:
    name: str
    package: str
    child_files: tuple[tuple[str, Path], ...] = ()     # (module name in the child, file)


def _packages() -> dict[str, str]:
    """Kit name -> package: the bundled ones first (a distribution cannot shadow them), then entry points."""
    spec = importlib.util.find_spec(BUNDLED)
    folders = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
    found = {p.name: f"{BUNDLED}.{p.name}" for folder in folders for p in sorted(folder.iterdir())
             if (p / "__init__.py").is_file()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


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
