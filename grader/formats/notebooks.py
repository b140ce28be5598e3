"""Jupyter notebooks both ways: marked solution → notebook template, handed-in notebook → Python source.

Rendering (``grader templates``) splits the generated ``.py`` template into
cells without needing markers in the solution: one cell per top-level
``def``/``class``, consecutive simple statements (imports, constants) merged,
the ``if __name__ == "__main__":`` block on its own. Markdown cells carry the
assignment's statement (its README, else the module docstring) and a short
note before each cell with a hole; the last cell runs the public checks. Cell
ids are derived from positions, so the output is byte-for-byte deterministic
and ``grader templates --check`` is stable.

Extraction (``grader grade x.ipynb``) is static: the code cells, in order, are
joined into one module; outputs are ignored; IPython magics (``%…``, ``%%…``
cells) and shell escapes (``!…``) are commented out, never run, and the
student is told so. Everything that goes wrong is a
:class:`~grader.formats.submission.SubmissionFormatError` whose message names the
cell, so the feedback is readable and the result file is still written.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from grader.formats.markers import find_holes, make_template
from grader.formats.source import SubmissionFormatError, read_submission

PYTHON_KERNELS = {"python", "python3", "python2", "ipython", "ipython3", "pyodide", "xpython"}
PYTHON_CELL_MAGICS = {"%%time", "%%capture"}   # cell magics whose body runs as plain notebook code
CHECK_MARK = "# grader: public checks"
MAIN_GUARD_NOTE = "# In a notebook the kernel's own command-line arguments are not meant for main():"


# ---------------------------------------------------------------------------
# solution → notebook template
# ---------------------------------------------------------------------------
@dataclass
class Chunk:
    kind: str      # "simple", "def" or "main"
    text: str


def split_code(source: str) -> tuple[str, list[Chunk]]:
    """(module docstring, code chunks) of a Python module, split at top-level definitions."""
    tree = ast.parse(source)
    lines = source.splitlines()
    body = list(tree.body)
    docstring = ""
    prev_end = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        docstring = ast.get_docstring(tree) or ""
        prev_end = body[0].end_lineno or 0
        body = body[1:]
    chunks: list[Chunk] = []
    for stmt in body:
        kind = ("def" if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                else "main" if _is_main_guard(stmt) else "simple")
        end = stmt.end_lineno or stmt.lineno
        while end < len(lines) and lines[end].lstrip().startswith("#") \
                and len(lines[end]) - len(lines[end].lstrip()) > stmt.col_offset:
            end += 1   # comments indented into the body belong to it (e.g. '# END SOLUTION')
        text = "\n".join(lines[prev_end:end])
        prev_end = max(prev_end, end)
        if kind == "main":
            text = _notebook_main(text, stmt, lines)
        if kind == "simple" and chunks and chunks[-1].kind == "simple":
            chunks[-1].text += "\n" + text
        elif text.strip():
            chunks.append(Chunk(kind, text))
    trailing = "\n".join(lines[prev_end:])
    if trailing.strip() and chunks:
        chunks[-1].text += "\n" + trailing
    for c in chunks:
        c.text = c.text.strip("\n")
    return docstring, chunks


def _is_main_guard(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.If) or not isinstance(stmt.test, ast.Compare):
        return False
    names = [n for n in [stmt.test.left, *stmt.test.comparators] if isinstance(n, ast.Name)]
    consts = [n for n in [stmt.test.left, *stmt.test.comparators] if isinstance(n, ast.Constant)]
    return any(n.id == "__name__" for n in names) and any(c.value == "__main__" for c in consts)


def _notebook_main(text: str, stmt: ast.If, lines: list[str]) -> str:
    """The ``__main__`` block, made safe to run in a kernel (argparse would see ``-f kernel.json``)."""
    if_line = lines[stmt.lineno - 1]
    out = text.splitlines()
    if stmt.body[0].lineno == stmt.lineno:   # 'if __name__ == "__main__": main()' on one line
        head, body = if_line[:stmt.body[0].col_offset].rstrip(), if_line[stmt.body[0].col_offset:]
        at = max((i for i, ln in enumerate(out) if ln == if_line), default=None)
        if at is None or stmt.end_lineno != stmt.lineno:
            return text
        out[at:at + 1] = [head, "    " + body]
        if_line = head
    indent = " " * (stmt.body[0].col_offset if stmt.body[0].lineno != stmt.lineno else 4)
    insert = [f"{indent}{MAIN_GUARD_NOTE}", f"{indent}import sys", f"{indent}sys.argv = sys.argv[:1]"]
    # the if-line is the last line of the preamble that equals it (comments may precede it)
    at = max((i for i, ln in enumerate(out) if ln == if_line), default=None)
    if at is None:   # an unusual layout (e.g. 'x = 1; if ...' cannot happen, but be safe): leave it as written
        return text
    return "\n".join(out[:at + 1] + insert + out[at + 1:])


def _md(text: str) -> str:
    """reST-flavoured docstring text → Markdown (``code`` → `code`)."""
    return re.sub(r"``([^`]+)``", r"`\1`", text).strip()


def statement_sections(readme: str) -> list[str]:
    """A README split into markdown cells at its level-2 headings."""
    sections: list[str] = []
    current: list[str] = []
    fence = False
    for line in readme.strip().splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        if line.startswith("## ") and not fence and any(x.strip() for x in current):
            sections.append("\n".join(current).strip())
            current = []
        current.append(line)
    if any(x.strip() for x in current):
        sections.append("\n".join(current).strip())
    return sections


def check_cell_source(assignment: str) -> str:
    return (f"{CHECK_MARK} (not run when grading). Save the notebook first: the saved file is checked.\n"
            "from grader import check\n"
            f'check(assignment="{assignment}")')


def notebook_from_source(source: str, *, name: str, title: str = "", statement: str = "", assignment: str = "",
                         template: bool = True, path: str = "<solution>") -> nbformat.NotebookNode:
    """The notebook for a marked solution: a template (holes) or, with ``template=False``, the solution itself.

    ``name`` is the submission's stem (``bandits``), ``assignment`` the assignment's name (default: the same)."""
    assignment = assignment or name
    holes = find_holes(source, path)
    code = make_template(source, path) if template else source
    docstring, chunks = split_code(code)
    v4 = nbformat.v4
    cells: list[tuple[str, str]] = []   # (kind, text)
    if statement.strip():
        sections = statement_sections(statement)
        if not sections[0].startswith("# "):
            sections.insert(0, f"# {title or name}")
        cells += [("markdown", s) for s in sections]
    else:
        cells.append(("markdown", f"# {title or name}\n\n{_md(docstring)}".strip()))
    cells.append(("markdown", _HOW_TO.format(name=name)))
    for chunk in chunks:
        here = [h for h in holes if re.search(rf"\bdef {re.escape(h.name)}\b", chunk.text)]
        if here:
            cells.append(("markdown", "\n\n".join(f"### TODO: `{h.name}`\n\n{h.hint or 'Implement ' + h.name + '.'}"
                                                  for h in here)))
        if chunk.kind == "main":
            cells.append(("markdown", "## Run the experiment\n\nOptional, and it may take a while: the same as "
                                      f"`python {name}.py` on the command line."))
        cells.append(("code", chunk.text))
    cells.append(("markdown", "## Check your work\n\nRuns the public checks (`grader check`) on the saved "
                              "notebook: quick tests with the expected values in plain sight. Passing them does "
                              "not guarantee full marks; the graded tests use other inputs and secret seeds."))
    cells.append(("code", check_cell_source(assignment)))

    nb = v4.new_notebook()
    for i, (kind, text) in enumerate(cells):
        cell = v4.new_markdown_cell(text) if kind == "markdown" else v4.new_code_cell(text)
        cell["id"] = f"{name}-{i:02d}"
        nb.cells.append(cell)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "grader": {"assignment": assignment},
    }
    nbformat.validate(nb)
    return nb


_HOW_TO = """## How to work in this notebook

Fill in every cell marked `TODO` (each raises `NotImplementedError` until you do), run the cells top to
bottom, and run the last cell for the public checks (or `grader check {name}.ipynb` in a terminal).
Hand in this notebook as it is (`{name}.ipynb`), or the same code as `{name}.py`: both are graded alike.

When grading, only the code cells are used, in order, as one Python module: outputs are ignored,
IPython magics (`%…`, `%%…`) and shell escapes (`!…`) are not run, and the `if __name__ == "__main__":`
cell does not run. Keep long experiments inside that cell so that grading stays fast."""


def write_notebook(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------
# handed-in notebook → Python source
# ---------------------------------------------------------------------------
FUTURE = re.compile(r"^from\s+__future__\s+import\b")
SHIMS = {"display": "def display(*objects, **kwargs): pass"}
_LINE_MAGIC = re.compile(r"^\s*(%|!|\?)|^\s*[\w.]+\?{1,2}\s*$|^\s*[\w.,\s()\[\]]+=\s*[%!]")


def parse_notebook(data: bytes, name: str) -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook ``data`` (read safely from a file called ``name``) as nbformat v4 (older versions are
    upgraded) and notes on how it was read, or a readable SubmissionFormatError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SubmissionFormatError(f"{name} is not a notebook: it is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SubmissionFormatError(
            f"{name} is not a valid notebook: it is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). "
            "Was it saved completely? Open it in Jupyter, save it again and hand it in again, "
            "or hand in your code as a .py file.") from None
    if not isinstance(data, dict) or not ("cells" in data or "worksheets" in data):
        raise SubmissionFormatError(f"{name} is JSON but not a Jupyter notebook (it has no cells)")
    major = data.get("nbformat")
    if not isinstance(major, int) or not 1 <= major <= 4:
        raise SubmissionFormatError(f"{name}: unsupported notebook format version {major!r} (expected 4)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nbformat.reads(text, as_version=4), []
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on malformed files
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if major == 4 and isinstance(data.get("cells"), list):
            # Jupyter is lenient with small schema slips (a missing metadata key): so are we
            cells = [c for c in data["cells"] if isinstance(c, dict)]
            meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
            nb = nbformat.from_dict({"nbformat": 4, "nbformat_minor": 0, "metadata": meta, "cells": cells})
            return nb, [f"{name} does not follow the notebook format ({problem}); its code cells were read anyway"]
        raise SubmissionFormatError(f"{name} is not a readable notebook: {problem}") from None


def kernel_notes(nb: nbformat.NotebookNode, name: str) -> list[str]:
    """Refuse notebooks of other languages; note unknown Python kernels."""
    meta = nb.get("metadata", {}) or {}
    spec = meta.get("kernelspec", {}) if isinstance(meta.get("kernelspec"), dict) else {}
    kernel = str(spec.get("name", "") or "")
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    languages = {str(x).lower() for x in (spec.get("language"), info.get("name")) if x}
    if languages - {"python", "python3", "ipython", "ipython3"}:
        raise SubmissionFormatError(
            f"{name} is a notebook for {', '.join(sorted(languages))} (kernel {kernel or 'unknown'!r}); "
            "this assignment needs Python 3: open it with a Python 3 kernel and hand it in again")
    if not kernel:
        return [f"{name}: the notebook names no kernel; its code cells are graded as Python 3"]
    if kernel.lower() not in PYTHON_KERNELS:
        return [f"{name}: unknown kernel {kernel!r}; its code cells are graded as Python 3"]
    return []


@dataclass
class CodeCell:
    number: int          # 1-based position among all cells, as the student sees them
    source: str

    @property
    def label(self) -> str:
        first = next((ln.strip() for ln in self.source.splitlines() if ln.strip()), "")
        return f"cell {self.number} (`{first[:50]}`)"


def code_cells(nb: nbformat.NotebookNode) -> list[CodeCell]:
    out = []
    for i, cell in enumerate(nb.get("cells", []), start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(source)
            out.append(CodeCell(i, str(source)))
    return out


def _clean_cell(cell: CodeCell, notes: list[str]) -> str:
    """The cell's Python: magics and shell escapes commented out; a syntax error is a SubmissionFormatError."""
    lines = cell.source.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), 0)
    if lines and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip().split()[0]
        if magic in PYTHON_CELL_MAGICS:   # the body is ordinary code run in the notebook's namespace: keep it
            notes.append(f"{cell.label}: the {magic} line is not run when grading; the code below it is")
            lines[first] = "# not run by the grader: " + lines[first]
            cell = CodeCell(cell.number, "\n".join(lines))
        else:
            notes.append(f"{cell.label} is a cell magic ({magic}): not run when grading")
            return "\n".join("# " + ln for ln in lines)
    try:
        compile(cell.source, cell.label, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
        return cell.source
    except SyntaxError:
        pass
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SubmissionFormatError(f"{cell.label} cannot be read: {type(exc).__name__} {exc}".rstrip()) from None
    out, dropped = [], []
    for ln in lines:
        if _LINE_MAGIC.match(ln):
            indent = ln[: len(ln) - len(ln.lstrip())]
            out.append(f"{indent}pass  # not run by the grader: {ln.strip()}")
            dropped.append(ln.strip())
        else:
            out.append(ln)
    text = textwrap.dedent("\n".join(out))   # IPython accepts a cell indented as a whole
    try:
        compile(text, cell.label, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SubmissionFormatError(f"{cell.label} cannot be read: {type(exc).__name__} {exc}".rstrip()) from None
    except SyntaxError as exc:
        bad = lines[exc.lineno - 1].rstrip() if exc.lineno and exc.lineno <= len(lines) else (exc.text or "").rstrip()
        where = f"line {exc.lineno} of the cell" + (f", column {exc.offset}" if exc.offset else "")
        raise SubmissionFormatError(
            f"the notebook does not parse: {cell.label} has a syntax error: {exc.msg} ({where})"
            + (f"\n    {bad}" if bad else "") + "\nFix or delete that cell and hand in again.") from None
    if dropped:
        shown = "; ".join(d[:40] for d in dropped[:3]) + ("; …" if len(dropped) > 3 else "")
        notes.append(f"{cell.label}: IPython magics / shell escapes not run when grading: {shown}")
    return text


def _drop_grader_calls(text: str, cell: CodeCell, notes: list[str]) -> str:
    """Comment out ``import grader`` / ``from grader import check`` and the ``check(...)`` calls of a cell."""
    tree = ast.parse(text)
    imported: set[str] = set()
    drop: list[ast.stmt] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Import) and any(a.name.split(".")[0] == "grader" for a in stmt.names):
            imported |= {a.asname or a.name.split(".")[0] for a in stmt.names}
            drop.append(stmt)
        elif isinstance(stmt, ast.ImportFrom) and (stmt.module or "").split(".")[0] == "grader":
            imported |= {a.asname or a.name for a in stmt.names}
            drop.append(stmt)
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            f = stmt.value.func
            root = f
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in imported:
                drop.append(stmt)
    if not drop:
        return text
    lines = text.splitlines()
    for stmt in drop:   # top-level statements: commenting them out leaves no empty block
        for i in range(stmt.lineno - 1, (stmt.end_lineno or stmt.lineno)):
            lines[i] = "# not run by the grader: " + lines[i]
    if CHECK_MARK not in text:
        notes.append(f"{cell.label}: the call of the public checks (grader) is not run when grading")
    return "\n".join(lines)


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds in the module (function and lambda bodies not entered)."""
    names: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
        elif not isinstance(node, ast.Lambda):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            stack.extend(ast.iter_child_nodes(node))
    return names


def _used_at_import(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement looks up while the module is imported: not in function bodies, not in
    annotations (postponed or not, they rarely matter), not the names the statement binds itself."""
    if _is_main_guard(stmt):
        return set()
    used: set[str] = set()
    stack: list[ast.AST] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            stack.extend([*getattr(node, "decorator_list", []), *args.defaults, *(d for d in args.kw_defaults if d)])
            continue
        if isinstance(node, ast.AnnAssign):
            stack.extend(x for x in (node.target, node.value) if x is not None)
            continue
        if isinstance(node, ast.arg):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            used.add(node.id)
        stack.extend(ast.iter_child_nodes(node))
    return used - _bound_names(stmt)


def order_notes(cells: list[tuple[CodeCell, str]]) -> list[str]:
    """Warn when a cell uses, at import time, a name that only a later cell defines (a NameError when graded)."""
    defined_in: dict[str, int] = {}
    parsed = []
    for index, (_cell, text) in enumerate(cells):
        tree = ast.parse(text)
        parsed.append(tree)
        for stmt in tree.body:
            for n in _bound_names(stmt):
                defined_in.setdefault(n, index)
    notes: list[str] = []
    seen: set[str] = set(dir(builtins)) | {"__name__", "__file__", "__doc__", "__builtins__", "__spec__"}
    for index, tree in enumerate(parsed):
        for stmt in tree.body:
            for n in sorted(_used_at_import(stmt) - seen):
                later = defined_in.get(n)
                if later is not None and later > index:
                    notes.append(
                        f"{cells[index][0].label} uses `{n}` when the notebook is loaded, but `{n}` is only defined "
                        f"in {cells[later][0].label}, further down. When graded, the cells run top to bottom once, "
                        f"so this is a NameError: move that definition above its first use.")
                    seen.add(n)
            seen |= _bound_names(stmt)
    return notes


def notebook_to_python(path: Path) -> tuple[str, list[str]]:
    """The Python module graded for the notebook at ``path``, and notes for the feedback."""
    return notebook_source(read_submission(path), path.name)


def notebook_source(data: bytes, name: str) -> tuple[str, list[str]]:
    """:func:`notebook_to_python` for bytes already read from a file called ``name``."""
    nb, notes = parse_notebook(data, name)
    notes += kernel_notes(nb, name)
    original = (nb.get("metadata", {}) or {}).get("orig_nbformat")
    if original and int(original) < 4:
        notes.append(f"{name} is in the old notebook format v{original}; it was read as v4")
    cells = code_cells(nb)
    if not any(c.source.strip() for c in cells):
        raise SubmissionFormatError(f"{name} has no code cells: there is nothing to grade")
    cleaned = [(cell, _drop_grader_calls(_clean_cell(cell, notes), cell, notes)) for cell in cells]
    notes.extend(order_notes(cleaned))
    future: list[str] = []
    body: list[str] = []
    for cell, text in cleaned:
        kept = []
        for ln in text.splitlines():
            if FUTURE.match(ln):       # must come first in a module; a cell of its own in a notebook may not be
                future.append(ln)
                ln = "# (moved to the top) " + ln
            kept.append(ln)
        body.append(f"# %% cell {cell.number}\n" + "\n".join(kept))
    code = "\n\n".join(body)
    tree = ast.parse(code)
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    bound = set().union(*(_bound_names(stmt) for stmt in tree.body))
    prelude = [f"{shim}  # IPython's {shimmed}(): nothing to do when grading" for shimmed, shim in SHIMS.items()
               if shimmed in loaded and shimmed not in bound]
    header = f"# Code cells of {name}, extracted by the grader (outputs ignored, magics not run)."
    return "\n".join([*dict.fromkeys(future), header, *prelude, "", code, ""]), notes


def convert_notebook(source: Path, destination: Path) -> list[str]:
    """``CONVERTERS[".ipynb"]``: write the graded Python for a notebook; return notes for the feedback."""
    try:
        code, notes = notebook_to_python(source)
    except SubmissionFormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - a malformed notebook must still give a result file
        raise SubmissionFormatError(f"{source.name} could not be read as a notebook "
                                    f"({type(exc).__name__}: {exc}); hand in the code as a .py file") from None
    destination.write_text(code, encoding="utf-8")
    return notes


def notebook_metadata(data: bytes, name: str) -> dict[str, Any]:
    """The notebook's metadata (used to find its assignment); {} when ``data`` is no readable notebook."""
    try:
        return dict(parse_notebook(data, name)[0].get("metadata", {}) or {})
    except (SubmissionFormatError, RecursionError, MemoryError):
        return {}
