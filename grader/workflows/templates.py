"""Generate (or check) what students get that is made from one source: every template, from the
marked reference solution, and every statement's block of importable packages, from course.toml
(:mod:`grader.core.environment`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grader.core.assignment import AssignmentError, list_assignments, load_assignment
from grader.core.course import Course
from grader.core.environment import with_statement_block
from grader.formats.markers import make_template

# One renderer per template format; the notebook renderer registers itself here too.
Renderer = Callable[[Path, str], str]
RENDERERS: dict[str, Renderer] = {".py": lambda path, source: make_template(source, str(path))}


def _render_notebook(solution: Path, source: str) -> str:
    """The notebook template for ``solutions/<name>.py``: the assignment's title and statement
    become its first cells (nbformat is imported only when notebooks are wanted)."""
    from grader.formats.notebooks import notebook_from_source, write_notebook

    title, statement, assignment = "", "", ""
    root = solution.resolve().parent.parent / "assignments"     # the solution's own course
    for name in list_assignments(root):
        try:
            a = load_assignment(name, root)
        except AssignmentError:   # another assignment being written must not break this one
            continue
        if a.submission_name == solution.name:
            title, assignment = a.title, a.name
            readme = a.directory / "README.md"
            statement = with_statement_block(readme.read_text()) if readme.is_file() else ""
            break
    return write_notebook(notebook_from_source(source, name=solution.stem, title=title, statement=statement,
                                               assignment=assignment, path=str(solution)))


RENDERERS[".ipynb"] = _render_notebook


def expected_templates(solutions: Path | None = None, templates: Path | None = None,
                       course: Course | None = None) -> dict[Path, str]:
    course = course or (Course.find() if solutions is None or templates is None else None)
    solutions = solutions or course.solutions_dir
    templates = templates or course.templates_dir
    out: dict[Path, str] = {}
    for solution in sorted(solutions.glob("*.py")):
        if solution.name.startswith("_"):
            continue
        source = solution.read_text()
        for suffix, render in RENDERERS.items():
            out[templates / (solution.stem + suffix)] = render(solution, source)
    return out


def expected_statements(course: Course | None = None) -> dict[Path, str]:
    """Each assignment's README.md with its packages block as course.toml makes it now."""
    from grader.core.environment import offered_packages, statement_block

    course = course or Course.find()
    block = statement_block(offered_packages(course))
    out: dict[Path, str] = {}
    for name in course.assignment_names():
        readme = course.assignments_dir / name / "README.md"
        if readme.is_file():
            out[readme] = with_statement_block(readme.read_text(encoding="utf-8"), block)
    return out


def _generated(course: Course | None, solutions: Path | None, templates: Path | None) -> dict[Path, str]:
    """Templates, plus the course's statements when the course's own folders are meant."""
    out = expected_templates(solutions, templates, course)
    if solutions is None and templates is None:
        out.update(expected_statements(course))
    return out


def stale_templates(course: Course | None = None, solutions: Path | None = None,
                    templates: Path | None = None) -> list[Path]:
    """Generated files (templates; statements' package blocks) that are missing or out of date."""
    return [p for p, text in _generated(course, solutions, templates).items()
            if not p.is_file() or p.read_text() != text]


def write_templates(course: Course | None = None, solutions: Path | None = None,
                    templates: Path | None = None) -> list[Path]:
    written = []
    for path, text in _generated(course, solutions, templates).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
