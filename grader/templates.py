"""Generate (or check) every student template from the marked reference solutions."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .markers import make_template
from .paths import solutions_dir, templates_dir

# One renderer per template format; the notebook renderer registers itself here too.
Renderer = Callable[[Path, str], str]
RENDERERS: dict[str, Renderer] = {".py": lambda path, source: make_template(source, str(path))}


def _render_notebook(path: Path, source: str) -> str:
    from .notebooks import render_template  # nbformat is imported only when notebooks are wanted
    return render_template(path, source)


RENDERERS[".ipynb"] = _render_notebook


def expected_templates(solutions: Path | None = None, templates: Path | None = None) -> dict[Path, str]:
    solutions = solutions or solutions_dir()
    templates = templates or templates_dir()
    out: dict[Path, str] = {}
    for solution in sorted(solutions.glob("*.py")):
        if solution.name.startswith("_"):
            continue
        source = solution.read_text()
        for suffix, render in RENDERERS.items():
            out[templates / (solution.stem + suffix)] = render(solution, source)
    return out


def stale_templates(solutions: Path | None = None, templates: Path | None = None) -> list[Path]:
    """Templates that are missing or differ from what the solutions generate."""
    return [p for p, text in expected_templates(solutions, templates).items()
            if not p.is_file() or p.read_text() != text]


def write_templates(solutions: Path | None = None, templates: Path | None = None) -> list[Path]:
    written = []
    for path, text in expected_templates(solutions, templates).items():
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
