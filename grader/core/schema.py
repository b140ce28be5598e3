"""The schema of ``assignment.toml``: every key, what it means, and the check that rejects the rest.

One place describes the file (``grader list --keys`` prints it; ``assignments/README.md``
points here), and :func:`validate` turns a parsed file into errors that name the line and
say how to fix it. A typo such as ``pionts = 3`` is an error, never a silently ignored key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from grader.sandbox.limits import LIMIT_DOCS, Limits


@dataclass(frozen=True)
class Key:
    kind: str                  # "str", "bool", "number", "list[str]", "table"
    doc: str
    required: bool = False
    choices: tuple[str, ...] = ()


TOP_LEVEL: dict[str, Key] = {
    "name": Key("str", "the assignment's name; must equal its folder's name (default: the folder's name)"),
    "title": Key("str", "one line shown to students above the statement, in `grader list` and the feedback",
                 required=True),
    "summary": Key("str", "a sentence on what the assignment teaches (`grader list`, the feedback page)"),
    "submission": Key("str", "the file a student hands in, e.g. `bandits.py` (default: `<name>.py`); the "
                             "reference is `solutions/<submission>`"),
    "holes": Key("list[str]", "the contract functions students write, one hidden test group each "
                              "(`grader list`, the variant tests and the feedback name them)", required=True),
    "uses_torch": Key("bool", "the child imports torch: `--device` applies and CUDA is offered (default false)"),
    "cpu_only": Key("str", "why this torch assignment grades on the CPU even where `--device` picks CUDA (networks "
                           "too small to gain from a GPU); said in the result's device line (default: follows "
                           "`--device`)"),
    "kits": Key("list[str]", "shared code the assignment uses (`grader.kits.<name>`): its child modules "
                             "are copied into every child and every release"),
    "child_files": Key("list[str]", "modules of this assignment's folder copied next to probes.py in the child "
                                    "(importable there by their stem)"),
    "limits": Key("table", "default limits of every group's child process (keys below)"),
    "groups": Key("table", "one `[groups.NAME]` table per test group of hidden/suite.py", required=True),
}

GROUP: dict[str, Key] = {
    "points": Key("number", "points of the group; its score is points × the passed share of its checks' weights",
                  required=True),
    "kind": Key("str", "`unit` (a hole's hidden tests) or `threshold` (the grader trains or runs the student's "
                       "model and the result must reach a bound; `grader check` runs these only with --full)",
                choices=("unit", "threshold")),
    "summary": Key("str", "one line on what the group checks (`grader list`, the feedback page)"),
    "visibility": Key("str", "Gradescope visibility of the group's result",
                      choices=("visible", "hidden", "after_due_date", "after_published")),
    "params": Key("table", "free-form parameters the suite reads as `ctx.params` (documented beside them)"),
    "limits": Key("table", "limits of this group's child, over the assignment's `[limits]` (keys below)"),
    "start_ahead": Key("number", "child processes the grading starts ahead for this group, while the group "
                                 "before runs (default 1: its first child; more for a group that runs several "
                                 "at once, e.g. training runs)"),
}


@dataclass(frozen=True)
class SchemaError:
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        at = f"line {self.line}: " if self.line else ""
        return f"{at}{self.where}: {self.message}"


def _line_of(text: str, key: str, after: int = 0) -> int | None:
    """The first line (1-based, at or after ``after``) where ``key`` is assigned or opens a table."""
    pattern = re.compile(rf"(^|[\s{{,.\[])[\"']?{re.escape(key)}[\"']?\s*(=|\])")
    for number, line in enumerate(text.splitlines(), start=1):
        if number >= after and pattern.search(line.split("#", 1)[0]):
            return number
    return None


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "table":
        return isinstance(value, dict)
    raise ValueError(kind)


def _check_table(data: Mapping[str, Any], keys: Mapping[str, Key], where: str, text: str, after: int,
                 errors: list[SchemaError]) -> None:
    for key, value in data.items():
        spec = keys.get(key)
        line = _line_of(text, key, after)
        if spec is None:
            close = [k for k in keys if _similar(k, key)]
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(keys)})"
            errors.append(SchemaError(line, f"{where}{key}", f"unknown key{hint}"))
            continue
        if not _type_ok(value, spec.kind):
            errors.append(SchemaError(line, f"{where}{key}", f"must be a {spec.kind}, got {type(value).__name__} "
                                                             f"{value!r}"[:160]))
        elif spec.choices and value not in spec.choices:
            errors.append(SchemaError(line, f"{where}{key}", f"must be one of {', '.join(spec.choices)}; got {value!r}"))
    for key, spec in keys.items():
        if spec.required and key not in data:
            errors.append(SchemaError(None, f"{where}{key}", "is required: " + spec.doc))


def _check_limits(data: Any, where: str, text: str, after: int, errors: list[SchemaError]) -> None:
    if not isinstance(data, dict):
        return
    known = {f.name for f in fields(Limits)}
    for key in data:
        if key not in known:
            close = [k for k in known if _similar(k, key)]
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(sorted(known))})"
            errors.append(SchemaError(_line_of(text, key, after), f"{where}{key}", f"unknown limit{hint}"))
    try:
        Limits.from_mapping({k: v for k, v in data.items() if k in known})
    except (TypeError, ValueError) as exc:
        errors.append(SchemaError(_line_of(text, "limits", after), where.rstrip("."), str(exc)))


def _similar(a: str, b: str) -> bool:
    """A one-edit typo (``pionts`` for ``points``, ``uses-torch``)."""
    a, b = a.replace("-", "_").lower(), b.replace("-", "_").lower()
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def validate(data: Mapping[str, Any], text: str) -> list[SchemaError]:
    """Every problem of a parsed ``assignment.toml`` (``text`` is its source, for line numbers)."""
    errors: list[SchemaError] = []
    _check_table(data, TOP_LEVEL, "", text, 0, errors)
    _check_limits(data.get("limits"), "limits.", text, _line_of(text, "limits") or 0, errors)
    groups = data.get("groups")
    if isinstance(groups, dict):
        if not groups:
            errors.append(SchemaError(_line_of(text, "groups"), "groups", "no test group: add a [groups.NAME] table"))
        for name, group in groups.items():
            start = _line_of(text, f"groups.{name}") or 0
            if not isinstance(group, dict):
                errors.append(SchemaError(start or None, f"groups.{name}", "must be a table"))
                continue
            _check_table(group, GROUP, f"groups.{name}.", text, start, errors)
            _check_limits(group.get("limits"), f"groups.{name}.limits.", text, start, errors)
    holes = data.get("holes")
    if isinstance(holes, list) and isinstance(groups, dict):
        for hole in holes:
            if isinstance(hole, str) and hole not in groups:
                errors.append(SchemaError(_line_of(text, "holes"), "holes",
                                          f"{hole!r} has no [groups.{hole}] table (each hole is a test group)"))
    return errors


def describe() -> str:
    """The schema as text, for ``grader list --keys``."""
    lines = ["assignment.toml — top level:"]
    lines += [f"  {k:<12} {v.kind:<10} {'required. ' if v.required else ''}{v.doc}" for k, v in TOP_LEVEL.items()]
    lines.append("[groups.NAME] — one per test group:")
    lines += [f"  {k:<12} {v.kind:<10} {'required. ' if v.required else ''}{v.doc}"
              + (f" ({' | '.join(v.choices)})" if v.choices else "") for k, v in GROUP.items()]
    lines.append("[limits] and groups.NAME.limits — a child process's budget:")
    defaults = Limits()
    lines += [f"  {f.name:<14} default {getattr(defaults, f.name)!r:<10} {LIMIT_DOCS.get(f.name, '')}"
              for f in fields(Limits)]
    return "\n".join(lines)
