"""Solutions → templates: each ``# BEGIN SOLUTION`` … ``# END SOLUTION`` region becomes a hole.

In a reference solution::

    def epsilon_greedy(estimates, epsilon, rng):
        # BEGIN SOLUTION: explore with probability epsilon, else take argmax
        ...
        # END SOLUTION

becomes, in the template::

    def epsilon_greedy(estimates, epsilon, rng):
        # TODO: explore with probability epsilon, else take argmax
        raise NotImplementedError("epsilon_greedy")

The hole is named after the enclosing ``def``. ``# BEGIN SOLUTION`` regions
must be balanced and not nested; violations name the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = re.compile(r"^(?P<indent>\s*)#\s*BEGIN SOLUTION\b:?\s*(?P<hint>.*)$")
END = re.compile(r"^\s*#\s*END SOLUTION\b")
DEF = re.compile(r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)")
HIDE_LINE = re.compile(r"#\s*SOLUTION ONLY\s*$")


class MarkerError(ValueError):
    def __init__(self, path: str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line = path, line


@dataclass(frozen=True)
class Hole:
    name: str
    hint: str
    begin_line: int
    end_line: int
    solution: str


def find_holes(source: str, path: str = "<solution>") -> list[Hole]:
    holes: list[Hole] = []
    lines = source.splitlines()
    open_at: int | None = None
    hint = ""
    for i, line in enumerate(lines, start=1):
        if BEGIN.match(line):
            if open_at is not None:
                raise MarkerError(path, i, f"nested '# BEGIN SOLUTION' (the region opened on line {open_at} is not closed)")
            open_at, hint = i, BEGIN.match(line).group("hint").strip()
        elif END.match(line):
            if open_at is None:
                raise MarkerError(path, i, "'# END SOLUTION' without a matching '# BEGIN SOLUTION'")
            name = _enclosing_name(lines, open_at - 1)
            if name is None:
                raise MarkerError(path, open_at, "a solution region must be inside a function")
            holes.append(Hole(name, hint, open_at, i, "\n".join(lines[open_at:i - 1])))
            open_at = None
    if open_at is not None:
        raise MarkerError(path, open_at, "'# BEGIN SOLUTION' is never closed by '# END SOLUTION'")
    return holes


def _enclosing_name(lines: list[str], index: int) -> str | None:
    indent = len(lines[index]) - len(lines[index].lstrip())
    for j in range(index - 1, -1, -1):
        m = DEF.match(lines[j])
        if m and len(m.group("indent")) < indent:
            return m.group("name")
    return None


def make_template(source: str, path: str = "<solution>") -> str:
    """The student template for a marked reference solution."""
    holes = {h.begin_line: h for h in find_holes(source, path)}
    out: list[str] = []
    lines = source.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        hole = holes.get(i + 1)
        if hole is not None:
            indent = BEGIN.match(line).group("indent")
            out.append(f"{indent}# TODO: {hole.hint or 'implement ' + hole.name}")
            out.append(f'{indent}raise NotImplementedError("{hole.name}")')
            i = hole.end_line
            continue
        if not HIDE_LINE.search(line):
            out.append(line)
        i += 1
    return "\n".join(out) + "\n"
