"""The results model as plain text: Gradescope's per-test ``output``, ``grader check``, one-line summaries,
and the sandbox paragraph that closes a page.

Every renderer says the same things in the same order, from the model's
fields: the group's cause once (what stopped it, the student's frames, the
hint), then each check (✓ passed, ✗ failed with what was expected, what came
back and a hint when one fits, – not run), the notes, and what the program
printed. Student text goes through :func:`grader.core.text.printable_text`.
"""

from __future__ import annotations

from collections.abc import Iterable

from grader.core.results import CAUSE_KINDS, FAILED, NOT_RUN, PASSED, Cause, CheckResult, GradeResult, TestResult
from grader.core.text import printable_text

MARKS = {PASSED: "✓", FAILED: "✗", NOT_RUN: "–"}
PRINTED_HEADING = "--- your program printed ---"
SUMMARY_CHARS = 160


def cause_heading(cause: Cause) -> str:
    """"your file failed to import: ModuleNotFoundError: No module named 'tqdm'"."""
    label = CAUSE_KINDS.get(cause.kind, cause.kind)
    where = f" ({cause.where})" if cause.where and not cause.traceback else ""
    return printable_text(f"{label}{where}: {cause.summary}")


def cause_lines(cause: Cause, indent: str = "    ") -> list[str]:
    lines = [cause_heading(cause)]
    lines += [indent + ln for ln in printable_text(cause.traceback).rstrip().splitlines()]
    if cause.hint:
        lines.append(f"{indent}hint: {printable_text(cause.hint)}")
    return lines


def check_lines(check: CheckResult, indent: str = "    ") -> list[str]:
    """The check's mark and name, then (failed or not run) why, expected, got, hint and the traceback."""
    head = f"{MARKS.get(check.status, '?')} {printable_text(check.name)}"
    if check.status == NOT_RUN or check.by_cause:
        return [f"{head} — {printable_text(check.message or 'not run')}"]
    if check.passed:
        return [head]
    lines = [head]
    lines += [indent + ln for ln in printable_text(check.message).splitlines()]
    if check.expected:
        lines.append(f"{indent}expected: {printable_text(check.expected)}")
    if check.got:
        lines.append(f"{indent}got:      {printable_text(check.got)}")
    if check.hint:
        lines.append(f"{indent}hint: {printable_text(check.hint)}")
    lines += [indent + "  " + ln for ln in printable_text(check.traceback).rstrip().splitlines()]
    return lines


def group_lines(test: TestResult, printed: bool = True, same_cause_as: str = "") -> list[str]:
    """All the feedback of one group. ``same_cause_as``: an earlier group with this very cause, named
    instead of repeating it."""
    lines: list[str] = []
    if test.cause is not None:
        if same_cause_as:
            lines.append(printable_text(f"{CAUSE_KINDS.get(test.cause.kind, test.cause.kind)}: "
                                        f"the same as in {same_cause_as} (see there)"))
        else:
            lines += cause_lines(test.cause)
    for check in test.checks:
        lines += check_lines(check)
    for note in test.notes:
        lines += printable_text(note).splitlines()
    if printed and test.student_output.strip():
        lines += [PRINTED_HEADING, *printable_text(test.student_output.rstrip()).splitlines()]
    return lines


def group_text(test: TestResult) -> str:
    """Gradescope's ``output`` of one test: self-contained (each test is shown on its own there)."""
    return "\n".join(group_lines(test))


def summary_line(test: TestResult, limit: int = SUMMARY_CHARS) -> str:
    """One line for a table: the cause, else the first note of a passed group, else the first failure."""
    if test.cause is not None:
        text = cause_heading(Cause(test.cause.kind, test.cause.summary))
    elif test.status == "passed":
        text = test.notes[0] if test.notes else f"all {len(test.checks)} checks passed"
    else:
        failed = [c for c in test.checks if c.status != PASSED]
        first = failed[0] if failed else None
        detail = first.message.splitlines()[0] if first and first.message else ""
        text = f"{len(failed)} of {len(test.checks)} checks failed"
        if first is not None:
            text += f" — {first.name}" + (f": {detail}" if detail else "")
    return shorten(printable_text(text), limit)


def sandbox_lines(result: GradeResult) -> list[str]:
    """What protected the grading (a paragraph), for the END of a page: what a student reads first is the
    score and what failed. A grading without isolation says so at the top as well (its warning is the
    first line of ``result.output``)."""
    sandbox = result.extra_data.get("sandbox")
    return [printable_text(sandbox)] if isinstance(sandbox, str) and sandbox else []


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters, marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:—") + "…"


def repeated_causes(tests: Iterable[TestResult]) -> dict[str, str]:
    """Group name → the earlier group whose cause is the very same (an import error stops every group)."""
    seen: dict[tuple[str, str, str], str] = {}
    same: dict[str, str] = {}
    for t in tests:
        if t.cause is None:
            continue
        key = (t.cause.kind, t.cause.summary, t.cause.traceback)
        if key in seen:
            same[t.name] = seen[key]
        else:
            seen[key] = t.name
    return same
