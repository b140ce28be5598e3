"""Turn a handed-in file into the Python source the sandbox runs.

``.py`` files are used as they are. Other formats register a converter in
``CONVERTERS`` (the notebook converter does). The grader core only ever sees
the prepared ``.py`` file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from grader.formats.source import SubmissionFormatError

# suffix -> function(source_path, destination_py_path) -> list of notes for the feedback
Converter = Callable[[Path, Path], list[str]]
CONVERTERS: dict[str, Converter] = {}


def _convert_notebook(source: Path, destination: Path) -> list[str]:
    from grader.formats.notebooks import convert_notebook  # nbformat is imported only for notebooks
    return convert_notebook(source, destination)


CONVERTERS[".ipynb"] = _convert_notebook


@dataclass
class PreparedSubmission:
    original: Path
    python_file: Path
    notes: list[str] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> PreparedSubmission:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


def supported_suffixes() -> list[str]:
    return [".py", *CONVERTERS]


def prepare_submission(path: Path, module_name: str | None = None) -> PreparedSubmission:
    """A ``.py`` file to grade for ``path``; converted files are named ``module_name`` (e.g. ``vae.py``)."""
    suffix = path.suffix.lower()
    if suffix == ".py" or suffix not in CONVERTERS:
        return PreparedSubmission(path, path)
    tmp = tempfile.TemporaryDirectory(prefix="grader-submission-")
    target = Path(tmp.name) / (module_name or (path.stem + ".py"))
    try:
        notes = CONVERTERS[suffix](path, target)
    except SubmissionFormatError:
        tmp.cleanup()
        raise
    return PreparedSubmission(path, target, notes, tmp)
