"""The house: wings that own their things, no import cycles, no arrows back up.

Every ``import`` of a ``grader`` module inside the package counts, at module level or
inside a function (a lazy import is still a dependency). The wings form layers (``ALLOWED``):
an import may only point down. Two arrows ran back up before (issue 22): the core imported
the kit registry from ``grader.kits`` while the kits import the core (the registry is
``grader.core.kits`` now), and every wing imported ``__version__`` from the top package, which
imports the workflows and the command line (it is ``grader.core.version`` now).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grader

PACKAGE = Path(grader.__file__).resolve().parent
CHILD_SIDE = {"grader.sandbox.nsinit", "grader.sandbox.runner", "grader.sandbox.wire"}   # run as bare files

# wing -> the wings it may import besides itself. Arrows only point down: the sandbox knows nothing
# else; the command line knows everything; nothing imports the top package ("").
ALLOWED = {
    "sandbox": set(),
    "formats": set(),
    "core": {"sandbox", "formats"},
    "kits": {"core", "sandbox"},
    "feedback": {"core"},
    "workflows": {"core", "formats", "feedback", "sandbox", "kits"},
    "cli": {"workflows", "core", "formats", "feedback", "sandbox", "kits"},
    "": {"workflows", "cli", "core"},   # grader/__init__.py (__version__, check() for notebooks), grader/__main__.py
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name and t.startswith("grader"):
                    graph[name].add(t)
    return graph


def wing(module: str) -> str:
    """The folder of ``grader`` a module lives in ('' for grader/__init__.py and grader/__main__.py)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else ""


def module_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle a depth-first walk meets, but a package's ``__init__`` re-exporting its own members
    while they import it (``grader.sandbox`` and ``grader.sandbox.process``)."""
    seen, stack, cycles = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            visit(nxt)
        stack.pop()

    for module in sorted(graph):
        visit(module)
    return [c for c in cycles if not _package_and_its_members(c)]


def _package_and_its_members(cycle: list[str]) -> bool:
    """The top package does not count as a package of its members here: ``grader`` imports half the house."""
    package = min(cycle, key=len)
    return package != "grader" and all(m == package or m.startswith(package + ".") for m in cycle)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports from one wing into another that ``ALLOWED`` does not list (arrows running back up)."""
    bad = []
    for module, deps in sorted(graph.items()):
        own = wing(module)
        for dep in sorted(deps):
            other = wing(dep)
            if other != own and other not in ALLOWED.get(own, set()):
                bad.append(f"{module} imports {dep}")
    return bad


def wing_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles between wings (a wing is one node): two wings importing each other, at any distance."""
    wings: dict[str, set[str]] = {}
    for module, deps in graph.items():
        wings.setdefault(wing(module), set()).update(wing(d) for d in deps if wing(d) != wing(module))
    return module_cycles({f"wing:{w}": {f"wing:{d}" for d in ds} for w, ds in wings.items()})


def test_no_import_cycles():
    cycles = module_cycles(import_graph())
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_wings_only_import_downwards():
    bad = upward_imports(import_graph())
    assert not bad, "\n".join(bad)


def test_no_arrow_runs_back_up_between_wings():
    """Whatever ALLOWED says, two wings never depend on each other (farm-studio's "arrows running back up")."""
    cycles = wing_cycles(import_graph())
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)
    layers = module_cycles({f"wing:{w}": {f"wing:{d}" for d in ds} for w, ds in ALLOWED.items()})
    assert not layers, f"ALLOWED itself lets wings import each other: {layers}"


def test_the_checks_fail_on_the_arrows_that_ran_back_up():
    """The two arrows of issue 22, put back in a copy of the real graph, are found by every check."""
    graph = {m: set(d) for m, d in import_graph().items()}
    graph["grader.core.assignment"].add("grader.kits")                 # the registry in grader.kits
    assert "grader.core.assignment imports grader.kits" in upward_imports(graph)
    assert any("wing:core" in c and "wing:kits" in c for c in wing_cycles(graph))

    graph = {m: set(d) for m, d in import_graph().items()}
    graph["grader.core.grading"].add("grader")                          # from grader import __version__
    assert "grader.core.grading imports grader" in upward_imports(graph)
    assert any("grader.core.grading" in c and "grader" in c for c in module_cycles(graph))
    assert wing_cycles(graph)

    graph = {m: set(d) for m, d in import_graph().items()}
    graph["grader.core.course"].add("grader.core.assignment")          # a cycle inside one wing
    graph["grader.core.assignment"].add("grader.core.course")
    assert module_cycles(graph) and not upward_imports(graph)


def test_the_core_does_not_import_the_kits():
    """The core finds kits by name (grader.core.kits); kits are built on the core, never the reverse."""
    graph = import_graph()
    assert not [f"{m} -> {d}" for m, ds in graph.items() if wing(m) == "core" for d in ds if wing(d) == "kits"]
    assert not [m for m, ds in graph.items() if "grader" in ds], "nothing imports the top package"


def test_child_side_files_import_only_the_standard_library_and_numpy():
    """nsinit, runner and wire run as bare files in the child: no grader import."""
    for name in CHILD_SIDE:
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        assert not [d for d in import_graph()[name]], name
        assert "import grader" not in path.read_text() and "from grader" not in path.read_text()
