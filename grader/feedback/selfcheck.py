"""The report of ``grader check`` (the student's public self-check), as plain text.

A terminal and a notebook cell show it alike. One line per group; for a failed
group its cause once (with the hint), then each failed check with what was
expected, what came back and the hint that fits; the template's ``# TODO``
only for a hole that is not implemented yet. Warnings come first: an import the
grader does not have costs every point once graded, whatever the checks say here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from grader.core.results import CAUSE_KINDS, PASSED, GradeResult
from grader.core.text import printable_text
from grader.feedback.text import cause_lines, check_lines, repeated_causes

INDENT = "      "


def render_check_report(result: GradeResult, *, heading: str, skipped: Sequence[str] = (),
                        todos: Mapping[str, str] | None = None, warnings: Sequence[str] = (),
                        disclaimer: str = "") -> str:
    todos = todos or {}
    lines = [f"warning: {w}" for w in warnings]
    if result.extra_data.get("isolation_warning"):
        reason = str(result.extra_data["isolation_warning"]).split(":", 1)[0].replace("WARNING: graded WITHOUT",
                                                                                     "without")
        lines.append(f"note: checked {reason} (fine for a self-check; the course grades isolated)")
    lines.append(heading)
    if result.cause is not None:
        lines += ["  " + ln for ln in cause_lines(result.cause)]
    width = max([len(t.name) for t in result.tests] + [len(s) for s in skipped] + [8])
    same = repeated_causes(result.tests)
    for t in result.tests:
        good = sum(1 for c in t.checks if c.status == PASSED)
        mark = "✓" if t.status == "passed" else "✗"
        lines.append(f"  {mark} {t.name:<{width}}  {good}/{len(t.checks)} checks pass")
        if t.status == "passed":
            continue
        if t.cause is not None and t.cause.kind == "not_run":
            lines[-1] = f"  – {t.name:<{width}}  not run: see above"
            continue
        if t.cause is not None and t.name in same:
            lines.append(f"{INDENT}{CAUSE_KINDS.get(t.cause.kind, t.cause.kind)}: the same as in {same[t.name]}")
        elif t.cause is not None:
            lines += [INDENT + ln for ln in cause_lines(t.cause)]
        stopped = [c for c in t.checks if c.by_cause]
        for c in t.checks:
            if not c.passed and not c.by_cause:
                lines += [INDENT + ln for ln in check_lines(c)]
        if stopped:
            lines.append(f"{INDENT}({len(stopped)} of {len(t.checks)} checks stopped by this)")
        if todos.get(t.name) and _not_implemented(t):
            lines.append(f"{INDENT}todo: {todos[t.name]}")
    for name in skipped:
        lines.append(f"  – {name:<{width}}  skipped: a training/threshold run (run with --full, or check(full=True))")
    for note in result.extra_data.get("notes", []):
        lines.append(f"  note: {note}")
    good = sum(1 for t in result.tests if t.status == "passed")
    lines.append(f"{good} of {len(result.tests)} groups pass ({result.execution_time:.1f} s). {disclaimer}".rstrip())
    return printable_text("\n".join(lines))


def _not_implemented(test) -> bool:
    return (test.cause is not None and test.cause.kind == "todo") or \
        any(c.message.startswith("not implemented yet") for c in test.checks)
