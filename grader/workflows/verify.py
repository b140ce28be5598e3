"""Instructor self-check behind ``tox -e solutions`` / ``tox -e templates``."""

from __future__ import annotations

from rich.console import Console

from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file
from grader.feedback.terminal import print_report


def verify(what: str, assignment: str | None = None, device: str = "auto", seed: int | None = None,
           course: Course | None = None) -> int:
    """Grade every reference solution (expect full marks) or template (expect exactly 0) of ``course``."""
    console = Console()
    course = course or Course.find()
    folder = course.solutions_dir if what == "solutions" else course.templates_dir
    names = [assignment] if assignment else course.assignment_names()
    if not names:
        console.print(f"[red]FAILED[/red]: no assignments found under {course.root} "
                      "(pass --course DIR or set GRADER_COURSE)")
        return 1
    bad = []
    for name in names:
        a = course.assignment(name)
        paths = [folder / a.submission_name]
        if what == "templates":   # the notebook template must score zero without crashing too
            paths.append(paths[0].with_suffix(".ipynb"))
        for path in paths:
            result = grade_file(path, a, GradeOptions(device=device, seed=seed))
            print_report(result, console)
            ok = result.score == result.max_score if what == "solutions" else result.score == 0
            if not ok:
                bad.append(f"{path.name}: {result.score:g}/{result.max_score:g}")
    expectation = "full marks" if what == "solutions" else "zero"
    if bad:
        console.print(f"[red]FAILED[/red]: expected {expectation} for every {what[:-1]}: " + "; ".join(bad))
        return 1
    console.print(f"[green]OK[/green]: every {what[:-1]} scored {expectation} ({len(names)} assignments)")
    return 0
