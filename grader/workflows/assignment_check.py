"""``grader verify assignment NAME``: small checks of one assignment, each saying how to fix what it finds.

In the spirit of Gymnasium's ``env_checker``: an instructor writing an assignment
runs it early and often. Every check is a function that yields findings; a
finding is an error (the assignment cannot be graded as it is) or a warning
(it can, but something a student or an instructor expects is missing). The
last checks grade the reference (full marks expected) and the template (zero
expected) unless ``quick`` is asked for.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from grader.core.assignment import Assignment, AssignmentError, UnknownAssignment
from grader.core.course import Course
from grader.core.environment import with_statement_block
from grader.core.grading import GradeOptions, grade_file
from grader.formats.markers import MarkerError, find_holes
from grader.workflows.templates import expected_templates

# What a child may import at the top of probes.py: the standard library, numpy, torch,
# gymnasium, and the child modules of the assignment's kits (never the grader).
CHILD_IMPORTS = {"numpy", "torch", "gymnasium"}


@dataclass(frozen=True)
class Finding:
    check: str
    level: str          # "error" | "warning"
    message: str        # what is wrong and how to fix it


@dataclass
class Report:
    assignment: str
    findings: list[Finding]
    passed: list[str]
    folder: str = ""

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)


Check = Callable[[Assignment], Iterator[Finding]]


def _error(check: str, message: str) -> Finding:
    return Finding(check, "error", message)


def _warning(check: str, message: str) -> Finding:
    return Finding(check, "warning", message)


def check_statement(a: Assignment) -> Iterator[Finding]:
    readme = a.directory / "README.md"
    if not readme.is_file():
        yield _error("statement", f"{readme} is missing: write the task statement students read (the maths, "
                                  "the contract of each hole, how it is scored)")
        return
    text = readme.read_text(encoding="utf-8")
    for hole in a.holes:
        if hole not in text:
            yield _warning("statement", f"the statement never names the hole {hole!r}: add it to the contract section")


def check_probes(a: Assignment) -> Iterator[Finding]:
    path = a.probes_path
    if not path.is_file():
        yield _error("probes", f"{path} is missing: the child-side functions that call the submission "
                               "(see assignments/README.md, 'How a test group runs')")
        return
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except SyntaxError as exc:
        yield _error("probes", f"{path}:{exc.lineno}: {exc.msg}")
        return
    allowed = CHILD_IMPORTS | {name for name, _ in a.child_files}
    for node in tree.body:
        names = ([n.name for n in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        for name in names:
            top = name.split(".")[0]
            if top == "grader":
                yield _error("probes", f"{path.name}:{node.lineno} imports {name}: the child never sees the grader "
                                       "package; put shared child code in a kit (kits = [...] in assignment.toml)")
            elif top not in allowed and not _is_stdlib(top):
                yield _warning("probes", f"{path.name}:{node.lineno} imports {name} at the top: make sure the "
                                         "grader's environment has it, or import it inside the probe that needs it")


def _is_stdlib(name: str) -> bool:
    import sys

    return name in sys.stdlib_module_names or name == "__future__"


def check_suites(a: Assignment) -> Iterator[Finding]:
    try:
        hidden = a.suite("hidden")
    except AssignmentError as exc:
        yield _error("hidden suite", f"{exc}: one @group function per [groups.NAME] of assignment.toml")
        return
    except Exception as exc:  # noqa: BLE001 - the instructor's suite may raise anything on import
        yield _error("hidden suite", f"hidden/suite.py does not import: {type(exc).__name__}: {exc}")
        return
    for hole in a.holes:
        if hole in a.groups and a.groups[hole].kind != "unit":
            yield _error("hidden suite", f"the hole {hole!r} is a {a.groups[hole].kind} group: hole groups are "
                                         'kind = "unit" (the hidden tests of that function)')
    del hidden
    public = a.directory / "public" / "suite.py"
    if not public.is_file():
        yield _warning("public suite", "public/suite.py is missing: `grader check` has nothing to run for "
                                       "students; add quick checks with fixed inputs for each hole")
        return
    try:
        groups = a.suite("public")
    except Exception as exc:  # noqa: BLE001 - as above
        yield _error("public suite", f"public/suite.py does not import: {type(exc).__name__}: {exc}")
        return
    for hole in a.holes:
        if hole not in groups:
            yield _warning("public suite", f"no public check for the hole {hole!r}: students cannot self-check it "
                                           f"(add @group({hole!r}) to public/suite.py)")


def check_solution(a: Assignment) -> Iterator[Finding]:
    path = Course(a.course_root).solutions_dir / a.submission_name
    if not path.is_file():
        yield _error("solution", f"{path} is missing: the reference solution, with # BEGIN SOLUTION / "
                                 "# END SOLUTION around each hole")
        return
    try:
        holes = {h.name for h in find_holes(path.read_text(encoding="utf-8"), str(path))}
    except MarkerError as exc:
        yield _error("solution", str(exc))
        return
    for hole in a.holes:
        if hole not in holes:
            yield _error("solution", f"{path.name} marks no solution region inside def {hole}: put "
                                     "# BEGIN SOLUTION: <hint> / # END SOLUTION around its body")


def check_templates(a: Assignment) -> Iterator[Finding]:
    course = Course(a.course_root)
    solution = course.solutions_dir / a.submission_name
    if not solution.is_file():
        return
    try:
        expected = expected_templates(course=course)
    except MarkerError as exc:
        yield _error("templates", f"the templates cannot be generated: {exc}")
        return
    for path, text in expected.items():
        if path.stem != Path(a.submission_name).stem:
            continue
        if not path.is_file():
            yield _error("templates", f"{path} is missing: run `grader templates`")
        elif path.read_text(encoding="utf-8") != text:
            yield _error("templates", f"{path} is out of sync with {solution.name}: run `grader templates`")
    readme = a.directory / "README.md"
    if readme.is_file() and readme.read_text(encoding="utf-8") != with_statement_block(readme.read_text(encoding="utf-8")):
        yield _error("templates", f"{readme}'s block of importable packages is out of date (course.toml): "
                                  "run `grader templates`")


def check_grading(a: Assignment, device: str = "cpu", seed: int = 0) -> Iterator[Finding]:
    """The reference must score full marks and the templates (.py and .ipynb) exactly zero."""
    course = Course(a.course_root)
    solution = course.solutions_dir / a.submission_name
    if solution.is_file():
        result = grade_file(solution, a, GradeOptions(device=device, seed=seed))
        if result.score != result.max_score:
            lost = ", ".join(f"{t.name} {t.score:g}/{t.max_score:g}" for t in result.tests if t.score < t.max_score)
            yield _error("reference", f"the reference scores {result.score:g}/{result.max_score:g} ({lost}): "
                                      "fix the reference or the hidden suite (`grader grade solutions/"
                                      f"{a.submission_name} -v` shows why)")
    stem = Path(a.submission_name).stem
    for template in (course.templates_dir / f"{stem}.py", course.templates_dir / f"{stem}.ipynb"):
        if not template.is_file():
            continue
        result = grade_file(template, a, GradeOptions(device=device, seed=seed))
        if result.score != 0:
            won = ", ".join(f"{t.name} {t.score:g}" for t in result.tests if t.score > 0)
            yield _error("template", f"{template.name} scores {result.score:g} ({won}): a template must score "
                                     "zero; a group that passes without the holes needs a check that fails on "
                                     "NotImplementedError")


CHECKS: list[tuple[str, Check]] = [
    ("statement", check_statement),
    ("probes", check_probes),
    ("suites", check_suites),
    ("solution", check_solution),
    ("templates", check_templates),
]


def check_assignment(name: str, quick: bool = False, device: str = "cpu", seed: int = 0,
                     course: Course | None = None) -> Report:
    """Every check of the assignment ``name``; ``quick`` skips grading the reference and the templates."""
    course = course or Course.find()
    try:
        a = course.assignment(name)
    except UnknownAssignment:
        raise
    except AssignmentError as exc:
        return Report(name, [_error("assignment.toml", str(exc))], [], str(course.assignments_dir / name))
    findings: list[Finding] = []
    passed: list[str] = []
    for label, check in CHECKS:
        found = list(check(a))
        findings.extend(found)
        if not any(f.level == "error" for f in found):
            passed.append(label)
    if not quick:
        if any(f.level == "error" for f in findings):
            findings.append(_warning("grading", "not graded: fix the errors above first"))
        else:
            found = list(check_grading(a, device, seed))
            findings.extend(found)
            if not found:
                passed.append("grading")
    return Report(name, findings, ["assignment.toml", *passed], str(course.assignments_dir / name))


def format_report(report: Report) -> str:
    lines = [f"{report.assignment} ({report.folder or report.assignment}):"]
    lines += [f"  ✓ {label}" for label in report.passed]
    lines += [f"  {'✗' if f.level == 'error' else '!'} {f.check}: {f.message}" for f in report.findings]
    errors = sum(f.level == "error" for f in report.findings)
    warnings = len(report.findings) - errors
    lines.append(f"{'OK' if report.ok else 'FAILED'}: {errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)
