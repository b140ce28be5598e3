"""The house: wings that own their things, no import cycles, no arrows back up.

Every ``import`` of a ``grader`` module inside the package counts, at module level or
inside a function (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import grader

PACKAGE = Path(grader.__file__).resolve().parent
CHILD_SIDE = {"grader.sandbox.nsinit", "grader.sandbox.runner", "grader.sandbox.wire"}   # run as bare files

# wing -> what it may import besides itself: a wing ("kits") or one module ("grader.kits" alone, the
# registry). Arrows only point down: the sandbox knows nothing else; the command line knows everything.
ALLOWED = {
    "sandbox": set(),
    "formats": {"grader.core.text"},
    "core": {"sandbox", "formats", "grader.kits"},
    "kits": {"core", "sandbox"},
    "feedback": {"core"},
    "workflows": {"core", "formats", "feedback", "sandbox", "kits"},
    "cli": {"workflows", "core", "formats", "feedback", "sandbox", "kits"},
    "": {"workflows", "cli"},          # grader/__init__.py (check() for notebooks), grader/__main__.py
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


def test_no_import_cycles():
    graph = import_graph()
    # package __init__ re-exports are edges too, except a package importing its own members
    seen, stack, cycles = set(), [], []

    def visit(node: str) -> None:
        if node in stack:
            cycles.append(stack[stack.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        stack.append(node)
        for nxt in sorted(graph[node]):
            visit(nxt)
        stack.pop()

    for module in sorted(graph):
        visit(module)
    cycles = [c for c in cycles if not all(m == c[0] or m.startswith(c[0] + ".") or c[0].startswith(m + ".")
                                          for m in c)]
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_wings_only_import_downwards():
    bad = []
    for module, deps in import_graph().items():
        own = wing(module)
        for dep in deps:
            other = wing(dep)
            if other == own or other == "" and dep == "grader":   # __version__
                continue
            allowed = ALLOWED.get(own, set())
            if other not in allowed and dep not in allowed:
                bad.append(f"{module} imports {dep}")
    assert not bad, "\n".join(bad)


def test_child_side_files_import_only_the_standard_library_and_numpy():
    """nsinit, runner and wire run as bare files in the child: no grader import."""
    for name in CHILD_SIDE:
        path = PACKAGE.parent / (name.replace(".", "/") + ".py")
        assert not [d for d in import_graph()[name]], name
        assert "import grader" not in path.read_text() and "from grader" not in path.read_text()
