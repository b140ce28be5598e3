"""``grader check``: the student's quick self-test with the public suite only.

It runs ``assignments/<name>/public/suite.py`` (expected values in plain sight)
through the same sandboxed machinery as grading, never the hidden suite, so it
cannot reveal a hidden expected value. Threshold groups (``kind = "threshold"``:
the model must learn) are slow and run only with ``full=True`` / ``--full``.

From a notebook: ``from grader import check; check()`` finds the notebook being
edited (VS Code's ``__vsc_ipynb_file__``, ipykernel's ``__session__``, Jupyter's
``JPY_SESSION_NAME``), else the newest file of the assignment in the working
directory. It checks the *saved* file, and says so.

(The module is ``checking`` rather than ``check`` so that ``grader.check`` stays
the function a notebook calls.)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.core.assignment import Assignment, AssignmentError, UnknownAssignment
from grader.core.course import Course, CourseNotFound
from grader.core.environment import describe_offered, offered_packages, unavailable_imports
from grader.core.grading import GradeOptions, grade_file
from grader.core.identity import assignment_from_name, identify_file
from grader.core.results import GradeResult
from grader.feedback.selfcheck import render_check_report

PUBLIC_SEED = 0          # public checks are reproducible: same file, same feedback
DISCLAIMER = ("These public checks use fixed inputs; the graded tests use other inputs, more cases and secret "
              "seeds, so passing here does not guarantee full marks.")


class CheckError(Exception):
    """The check could not start (no file found, unknown assignment); the message says what to do."""


@dataclass
class CheckReport:
    assignment: Assignment
    path: Path
    result: GradeResult
    skipped: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)      # hole → the template's # TODO (for holes not done yet)
    warnings: list[str] = field(default_factory=list)       # e.g. imports the grader does not have

    @property
    def passed(self) -> bool:
        return bool(self.result.tests) and all(t.status == "passed" for t in self.result.tests)


def assignment_for(path: Path, name: str | None = None, course: Course | None = None) -> Assignment:
    """The assignment ``name``, or the one the file is (see :mod:`grader.core.identity`)."""
    return resolve_assignment(path, name, course)[0]


def resolve_assignment(path: Path, name: str | None = None, course: Course | None = None) -> tuple[Assignment, list[str]]:
    """(the assignment, notes for the report) by the identity every command uses."""
    try:
        course = course or Course.find()
        identity = identify_file(path, name, course.assignments_dir)
        return course.assignment(identity.assignment), identity.notes
    except (UnknownAssignment, CourseNotFound) as exc:
        raise CheckError(str(exc).strip('"')) from None


def public_groups(assignment: Assignment, full: bool) -> tuple[list[str], list[str]]:
    """(groups to run, threshold groups skipped) of the public suite."""
    try:
        suite = assignment.suite("public")
    except AssignmentError as exc:
        raise CheckError(f"{assignment.name} has no public checks ({exc})") from None
    run, skipped = [], []
    for name in suite:
        config = assignment.groups.get(name)
        if config is not None and config.kind == "threshold" and not full:
            skipped.append(name)
        else:
            run.append(name)
    return run, skipped


def template_hints(assignment: Assignment) -> dict[str, str]:
    """Hole name → the ``# TODO:`` hint of the student template (what the student already sees)."""
    path = assignment.template_path
    if not path.is_file():
        return {}
    hints: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith(("def ", "async def ")):
            current = stripped.split("def ", 1)[1].split("(", 1)[0]
        elif stripped.startswith("# TODO:") and current and current not in hints:
            hints[current] = stripped[len("# TODO:"):].strip()
    return hints


def run_check(path: Path, assignment: Assignment | None = None, full: bool = False, device: str = "cpu",
              seed: int = PUBLIC_SEED, notes: Sequence[str] = (), **options: Any) -> CheckReport:
    """Run the public suite on ``path`` (``.py`` or ``.ipynb``); ``notes`` are shown with the report."""
    path = Path(path)
    if not path.is_file():
        raise CheckError(f"no such file: {path}")
    if assignment is None:
        assignment, notes = resolve_assignment(path)
    groups, skipped = public_groups(assignment, full)
    if groups:
        result = grade_file(path, assignment, GradeOptions(device=device, seed=seed, only=groups, suite="public",
                                                           **options), notes=notes)
    else:   # only threshold groups, and no --full
        result = GradeResult(assignment=assignment.name, submission=path.name,
                             extra_data={"notes": list(notes)} if notes else {})
    return CheckReport(assignment, path, result, skipped, template_hints(assignment), import_warnings(path, assignment))


def format_report(report: CheckReport) -> str:
    """Plain text (a terminal and a notebook cell show it alike): one line per group, details for failures."""
    return render_check_report(report.result, heading=f"Public checks of {report.path.name} — {report.assignment.title}",
                               skipped=report.skipped, todos=report.hints, warnings=report.warnings,
                               disclaimer=DISCLAIMER)


def import_warnings(path: Path, assignment: Assignment) -> list[str]:
    """What ``path`` imports that the grader does not offer (course.toml's packages): one warning, or none.

    ``grader check`` runs on the student's own Python, where ``import tqdm`` may work;
    graded, it fails and the file scores nothing. Said before the checks run."""
    from grader.formats.source import SubmissionFormatError
    from grader.formats.submission import prepare_submission

    try:
        with prepare_submission(path, assignment.submission_name) as prepared:
            source = prepared.python_file.read_text(encoding="utf-8")
    except (SubmissionFormatError, OSError, UnicodeDecodeError, RecursionError, MemoryError, ValueError):
        return []
    course = Course(assignment.course_root)
    missing = unavailable_imports(source, Path(assignment.submission_name).stem, course)
    if not missing:
        return []
    where = path.suffix.lower() == ".py"
    names = ", ".join(f"`{m}`" + (f" (line {line})" if where else "") for m, line in missing)
    return [f"your file imports {names}, which the grader does not have: graded, that import fails and every "
            f"group scores 0. A submission may import {describe_offered(offered_packages(course))}."]


# -- from a notebook or a script -------------------------------------------------
def find_submission(assignment: str | None = None, namespace: Mapping[str, Any] | None = None,
                    cwd: Path | None = None, course: Course | None = None) -> Path:
    """The file a ``check()`` call is about: the running notebook or script, else the newest matching file."""
    namespace = namespace or {}
    cwd = cwd or Path.cwd()
    for candidate in (namespace.get("__vsc_ipynb_file__"), namespace.get("__session__"),
                      os.environ.get("JPY_SESSION_NAME"), namespace.get("__file__")):
        if isinstance(candidate, str) and candidate.endswith((".ipynb", ".py")):
            # the session path may be relative to the Jupyter server's root, not to the kernel's directory
            for path in (Path(candidate), cwd / candidate, cwd / Path(candidate).name):
                if path.is_file():
                    return path
    from grader.formats.submission import supported_suffixes

    course = course or Course.find()
    names = [assignment] if assignment else course.assignment_names()
    in_notebook = "get_ipython" in namespace or hasattr(sys.modules.get("builtins"), "get_ipython")
    found = []
    for p in cwd.iterdir():
        if p.is_file() and p.suffix.lower() in supported_suffixes():
            if assignment_from_name(p.name, course.assignments_dir) in names:
                found.append(p)
    if not found:
        what = f"a {assignment}.ipynb or {assignment}.py" if assignment else "a submission file"
        raise CheckError(f"cannot find {what} in {cwd}; pass its path: check('path/to/file.ipynb')")
    found.sort(key=lambda p: ((p.suffix.lower() == ".ipynb") == in_notebook, p.stat().st_mtime), reverse=True)
    return found[0]


def check(path: str | os.PathLike[str] | None = None, *, assignment: str | None = None, full: bool = False,
          device: str = "cpu", namespace: Mapping[str, Any] | None = None,
          course: str | os.PathLike[str] | Course | None = None) -> None:
    """Print the public checks of ``path`` (default: the calling notebook or script) against ``course``
    (default: found from $GRADER_COURSE or the folders around). Does nothing when the calling code is
    being imported (e.g. by the grader) rather than run."""
    caller = namespace if namespace is not None else sys._getframe(1).f_globals
    if path is None and caller.get("__name__") != "__main__":
        return None
    try:
        try:
            found = Course.find(course)
        except CourseNotFound as exc:
            raise CheckError(str(exc)) from None
        file = Path(path) if path is not None else find_submission(assignment, caller, course=found)
        chosen, notes = resolve_assignment(file, assignment, found)
        if file.suffix.lower() == ".ipynb":
            saved = time.strftime("%H:%M:%S", time.localtime(file.stat().st_mtime))
            print(f"Checking {file} as saved at {saved} (save the notebook first to check your latest changes).")
        print(format_report(run_check(file, chosen, full=full, device=device, notes=notes)))
    except CheckError as exc:
        print(f"grader check: {exc}")
    return None
