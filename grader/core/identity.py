"""Which assignment a handed-in file is: one answer for ``grade``, ``check``, ``grade-batch`` and Gradescope.

Students name files as they please (``HW3 - reinforce with baseline.py``,
``Untitled.ipynb``, ``main.py``), so the file name alone is a weak guess. In order:

1. the instructor's ``--assignment``;
2. a notebook's metadata (``metadata.grader.assignment``, written into every notebook template);
3. the file name, read tolerantly (words in any case and order, separators and
   filler ignored: ``reinforce-baseline``, ``REINFORCE_Baseline``, ``hw3_baseline``);
4. the functions the file defines: the ``holes`` of each ``assignment.toml``.

When the name and the functions disagree, the functions win (they are what is
graded) and the identity carries a one-line note that the result shows. When
nothing decides, :class:`UnclearAssignment` lists the candidates.

The file is parsed, never run, and parsing is guarded: a hostile file nested
300,000 levels deep makes the compiler raise RecursionError or MemoryError; a
plain scan for ``def name(`` takes over then (and for files that do not parse).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from grader.core.assignment import UnknownAssignment, assignment_holes, list_assignments, load_assignment

BY_OPTION = "--assignment"
PARSE_LIMIT = 1_000_000      # characters of source parsed with ast to tell the assignment; beyond, a plain scan
BY_METADATA = "notebook metadata"
BY_NAME = "file name"
BY_FUNCTIONS = "functions"
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_DEF = re.compile(r"(?:^|[\s\"'])(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)


class UnclearAssignment(UnknownAssignment):
    """Neither the file's name nor its functions tell its assignment; the message lists the candidates."""


@dataclass(frozen=True)
class Identity:
    assignment: str
    decided_by: str           # BY_OPTION, BY_METADATA, BY_NAME or BY_FUNCTIONS
    note: str = ""            # one line for the result when the name and the functions disagree

    @property
    def notes(self) -> list[str]:
        """What a result's output should say about how its assignment was chosen (mostly nothing)."""
        return [self.note] if self.note else []


def identify(filename: str | PurePath, data: bytes | None = None, wanted: str | None = None,
             root: Path | None = None) -> Identity:
    """The assignment of a file called ``filename`` with content ``data`` (None: unreadable, the name only).

    Raises :class:`UnknownAssignment` for an unknown ``wanted``, :class:`UnclearAssignment` when nothing decides."""
    if wanted:
        load_assignment(wanted, root)    # an unknown name is a usage error, with the known ones
        return Identity(wanted, BY_OPTION)
    holes = assignment_holes(root)
    names = list(holes)
    label = PurePath(filename).name
    if data is not None and label.lower().endswith(".ipynb"):
        declared = _notebook_assignment(data, label)
        if declared in names:
            return Identity(declared, BY_METADATA)
    by_name = name_matches(label, names)
    defined = defined_names(_source(data, label)) if data is not None else set()
    complete = [n for n in names if holes[n] and set(holes[n]) <= defined]
    if len(by_name) == 1 and (not complete or by_name[0] in complete):
        return Identity(by_name[0], BY_NAME)
    if len(complete) == 1:
        note = ""
        if by_name and complete[0] not in by_name:
            said = " or ".join(by_name)
            functions = ", ".join(holes[complete[0]])
            note = (f"the file name {label} says {said}, but the file defines {functions} of {complete[0]}: "
                    f"graded as {complete[0]} (pass --assignment to choose)")
        return Identity(complete[0], BY_FUNCTIONS, note)
    candidates = [n for n in names if n in by_name or n in complete]
    partial = [n for n in names if defined & set(holes[n]) and n not in candidates]
    listed = "; ".join(n + ": " + ", ".join(holes[n]) for n in names if holes[n])
    if len(complete) > 1:
        why = f"it defines the functions of {' and '.join(complete)}" + (
            f", and its name says {' or '.join(by_name)}" if by_name else ", and its name names none of them")
    elif candidates:
        why = f"its name fits {' and '.join(by_name)} alike" + (
            f", and it defines the functions of {complete[0]}" if complete else "")
    elif partial:
        why = "its name names no assignment and it defines only some of the functions of " + \
              " and ".join(f"{n} ({', '.join(h for h in holes[n] if h in defined)} of {', '.join(holes[n])})"
                           for n in partial)
    else:
        why = f"its name names no assignment and it defines none of their functions ({listed})"
    candidates = candidates or partial
    raise UnclearAssignment(f"cannot tell the assignment of {label}: {why}; pass --assignment "
                            f"(one of: {', '.join(candidates or names)})")


def assignment_from_name(filename: str | PurePath, root: Path | None = None) -> str | None:
    """The one assignment a file name points to, or None (for finding files, e.g. ``check()``)."""
    found = name_matches(PurePath(filename).name, list_assignments(root))
    return found[0] if len(found) == 1 else None


def name_matches(filename: str, names: list[str]) -> list[str]:
    """The assignments a file name fits best. The name is cut into words (at separators, case changes
    and digits: ``HW3-REINFORCE_withBaseline`` is hw 3 reinforce with baseline); an assignment's words
    must appear among them (a plural 's' optional), or, for a name of several words, the words run
    together (``reinforcebaseline``). Those with all their words come first, then most words;
    [] when no word of any assignment's name appears."""
    stem = filename.rsplit(".", 1)[0] if "." in filename.lstrip(".") else filename
    tokens = {t.lower() for t in _WORD.findall(stem)}
    tokens |= {t[:-1] for t in tokens if len(t) > 4 and t.endswith("s")}
    joined = "".join(t.lower() for t in _WORD.findall(stem))
    scores = {}
    for name in names:
        words = [w for w in re.split(r"[^0-9a-z]+", name.lower()) if w]
        if len(words) > 1 and "".join(words) in joined:
            hits = len(words)
        else:
            hits = sum(1 for w in words if w in tokens or (len(w) > 4 and w.endswith("s") and w[:-1] in tokens))
        if hits:
            scores[name] = (hits == len(words), hits)
    if not scores:
        return []
    best = max(scores.values())
    return [n for n in names if scores.get(n) == best]


def defined_names(source: str) -> set[str]:
    """Names a module defines at its top level (functions, classes, assignments, imports; inside
    ``if``/``try``/``with`` blocks too). A file that does not parse, or one too large to parse cheaply (a
    7.8 MB hand-in cost a batch's discovery 30 s and 1.4 GB), is scanned for ``def name(`` instead."""
    if len(source) > PARSE_LIMIT:
        return set(_DEF.findall(source))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return set(_DEF.findall(source))
    found: set[str] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found |= {a.asname or a.name.split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for block in ("body", "orelse", "finalbody"):
                stack.extend(getattr(node, block, []))
            stack.extend(s for h in getattr(node, "handlers", []) for s in h.body)
    return found


def _source(data: bytes, label: str) -> str:
    """The Python of a file, for finding what it defines: a notebook's code cells, else the text."""
    text = data.decode("utf-8", "replace")
    if label.lower().endswith(".ipynb"):
        from grader.formats.notebooks import notebook_source
        from grader.formats.source import SubmissionFormatError
        try:
            return notebook_source(data, label)[0]
        except (SubmissionFormatError, ValueError, RecursionError, MemoryError):
            return text.replace("\\n", "\n")    # the cells' JSON strings: the scan still finds 'def name('
    return text


def _notebook_assignment(data: bytes, label: str) -> str | None:
    from grader.formats.notebooks import notebook_metadata

    meta = notebook_metadata(data, label).get("grader", {})
    value = meta.get("assignment") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def identify_file(path: Path, wanted: str | None = None, root: Path | None = None) -> Identity:
    """:func:`identify` for a file named on the command line (read once, size-limited; a file that
    cannot be read is told by its name, and its grading says why it could not be read)."""
    from grader.formats.source import SubmissionFormatError, read_submission

    data = None
    if not wanted:
        try:
            data = read_submission(Path(path))
        except SubmissionFormatError:
            data = None
    return identify(Path(path).name, data, wanted, root)
