"""A class of students made from what the repository has: the templates, the reference solutions
and the variants catalogues (``tests/variants/<assignment>.py``). Used by the similarity tests
and ``bench/bench_similarity.py``.

* :func:`independent` — the template with every hole filled by one implementation of the
  catalogue (or the reference's): written without looking at anyone else's code;
* :func:`disguised` — a copy with its variables renamed and its functions reordered, the
  first things someone who copies does.
"""

from __future__ import annotations

import ast
import importlib
import io
import keyword
import random
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def reference(assignment: str) -> str:
    return (ROOT / "solutions" / f"{assignment}.py").read_text()


def template(assignment: str) -> str:
    return (ROOT / "templates" / f"{assignment}.py").read_text()


def implementations(assignment: str, hole: str, wrong: bool = True) -> list[str]:
    """Every catalogued implementation of ``hole`` (the correct ones first), each a ``def`` of its own."""
    catalogue = importlib.import_module(f"tests.variants.{assignment}")
    found = list(getattr(catalogue, "CORRECT", {}).get(hole, {}).values())
    if wrong:
        found += list(getattr(catalogue, "WRONG", {}).get(hole, {}).values())
    return found


def holes(assignment: str) -> list[str]:
    catalogue = importlib.import_module(f"tests.variants.{assignment}")
    return sorted(set(getattr(catalogue, "CORRECT", {})) | set(getattr(catalogue, "WRONG", {})))


def fill(source: str, functions: dict[str, str]) -> str:
    """``source`` with each top-level ``def NAME`` in ``functions`` replaced by the given code."""
    tree = ast.parse(source)
    lines = source.splitlines()
    spans = [(min([n.lineno, *[d.lineno for d in n.decorator_list]]), n.end_lineno, n.name)
             for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in functions]
    for start, end, name in sorted(spans, reverse=True):
        lines[start - 1:end] = functions[name].strip("\n").splitlines()
    return "\n".join(lines) + "\n"


def independent(assignment: str, choice: int, wrong: bool = False) -> str:
    """The template filled with implementation number ``choice`` of every hole of the catalogue
    (cycling through each hole's list); the template's own code is untouched."""
    defs = {}
    for hole in holes(assignment):
        options = implementations(assignment, hole, wrong)
        if options:
            defs[hole] = options[choice % len(options)]
    return fill(template(assignment), defs)


def disguised(source: str, seed: int = 0) -> str:
    """A copy of ``source`` with local variables and arguments renamed and the top-level functions
    in another order (comments and layout as they were)."""
    rng = random.Random(seed)
    tree = ast.parse(source)
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.arg not in ("self", "cls"):
            local.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    local -= top | set(dir(__builtins__)) | set(keyword.kwlist)
    renamed = {name: f"{rng.choice(['my', 'the', 'tmp', 'val'])}_{name[::-1]}_{rng.randrange(100)}" for name in local}
    lines = source.splitlines(keepends=True)
    edits = [(tok.start[0] - 1, tok.start[1], tok.string) for tok in
             tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.NAME and tok.string in renamed]
    for row, col, old in sorted(edits, reverse=True):     # right to left: earlier columns stay valid
        lines[row] = lines[row][:col] + renamed[old] + lines[row][col + len(old):]
    return _reorder("".join(lines), rng)


def _reorder(source: str, rng: random.Random) -> str:
    """The top-level functions shuffled among the places functions held (imports and the rest stay)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    spans = []
    for n in tree.body:
        if isinstance(n, ast.FunctionDef):
            end = n.end_lineno
            while end < len(lines) and lines[end].startswith((" ", "\t")) and lines[end].lstrip().startswith("#"):
                end += 1      # comments indented into the body belong to it ('# END SOLUTION')
            spans.append((min([n.lineno, *[d.lineno for d in n.decorator_list]]), end))
    blocks = ["\n".join(lines[s - 1:e]) for s, e in spans]
    order = list(range(len(blocks)))
    while len(order) > 1 and order == sorted(order):
        rng.shuffle(order)
    for (start, end), index in sorted(zip(spans, order), reverse=True):
        lines[start - 1:end] = blocks[index].splitlines()
    return "\n".join(lines) + "\n"
