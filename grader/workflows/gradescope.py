"""Gradescope: build the autograder bundle, and the entry point that runs inside it.

Gradescope unpacks the bundle into ``/autograder/source``, runs ``setup.sh``
once to build the image, then for every submission copies the student's files
into ``/autograder/submission`` and runs ``run_autograder``, which must leave
``/autograder/results/results.json``. The root is ``$AUTOGRADER_ROOT`` when
set (tests use a temp dir), else ``/autograder``.

The bundle holds the ``grader`` package, every assignment (hidden tests
included: the bundle is for instructors' eyes and Gradescope only) and
``pyproject.toml``; never the reference solutions. Its two scripts are package
data (``gradescope_files/*.in``, shell a reader can check as it is), with the
torch pin the grader itself declares (:func:`torch_requirement`).

Results format: https://gradescope-autograders.readthedocs.io/en/latest/specs/
"""

from __future__ import annotations

import argparse
import io
import os
import re
import stat
import sys
import time
import zipfile
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

from grader.core.course import Course
from grader.core.version import __version__

DEFAULT_ROOT = "/autograder"
SCRIPTS = "gradescope_files"      # package data: setup.sh.in and run_autograder.in, @NAME@ filled in here


class BundleError(Exception):
    """The bundle cannot be built (unknown assignment, unwritable destination)."""


# -- the bundle's scripts -------------------------------------------------------------
def torch_requirement(pyproject: Path | None = None) -> str:
    """The grader's own requirement on torch (``torch==2.13.0``), read from one place: the installed
    distribution's metadata, else ``pyproject.toml`` (a grader run from a checkout it was not installed
    from). ``setup.sh`` installs that torch from the CPU wheel index before the grader."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from grader.core import tomlfile

    try:
        declared = metadata.requires("grader") or []
    except metadata.PackageNotFoundError:
        declared = []
    if not declared and pyproject is not None and pyproject.is_file():
        declared = tomlfile.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("dependencies", [])
    for line in declared:
        req = Requirement(line)
        if canonicalize_name(req.name) == "torch" and (req.marker is None or req.marker.evaluate({"extra": ""})):
            return f"{req.name}{req.specifier}"
    raise BundleError("the grader declares no requirement on torch (pyproject.toml's dependencies), "
                      "so setup.sh cannot pin one")


def script(name: str, **values: str) -> str:
    """The bundle's ``name`` (``setup.sh``, ``run_autograder``) from its template, each ``@KEY@`` filled in."""
    text = (resources.files(__package__) / SCRIPTS / f"{name}.in").read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"{SCRIPTS}/{name}.in: {', '.join(left)} not filled in")
    return text


# -- building the bundle --------------------------------------------------------------
def bundle_files(root: Path | None = None) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for everything the autograder needs."""
    root = root or Course.find().root
    picked: list[tuple[Path, str]] = []
    for top in ("grader", "assignments", "templates"):   # templates: the course's pipeline the thresholds train
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if (path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo")
                    and not any(part.startswith(".") for part in rel.parts)):
                picked.append((path, rel.as_posix()))
    for name in ("course.toml", "pyproject.toml", "README.md", "LICENSE"):
        if (root / name).is_file():
            picked.append((root / name, name))
    return picked


def build_bundle(out_zip: Path, assignment: str | None = None, root: Path | None = None) -> list[str]:
    """Write the autograder zip; return the names it holds. ``assignment`` fixes which one is graded
    (else it is told from the submitted file's name)."""
    from grader.core.assignment import UnknownAssignment

    course = Course.find(root)
    if assignment:
        try:
            course.assignment(assignment)
        except UnknownAssignment as exc:
            raise BundleError(str(exc).strip('"')) from None
    files = bundle_files(course.root)
    names = {n for _, n in files}
    setup = script("setup.sh", DEFAULT_ROOT=DEFAULT_ROOT, TORCH=torch_requirement(course.root / "pyproject.toml"))
    run = script("run_autograder", DEFAULT_ROOT=DEFAULT_ROOT,
                 ASSIGNMENT_ARGS=f" --assignment {assignment}" if assignment else "")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add_text(zf, "setup.sh", setup, executable=True)
        _add_text(zf, "run_autograder", run, executable=True)
        if "README.md" not in names:  # pyproject.toml names it; pip cannot build without it
            _add_text(zf, "README.md", "Autograder bundle built by `grader gradescope`.\n")
        for path, name in files:
            zf.write(path, name)
    try:
        out_zip.parent.mkdir(parents=True, exist_ok=True)
        out_zip.write_bytes(buf.getvalue())
    except OSError as exc:
        raise BundleError(f"cannot write {out_zip}: {exc.strerror or exc}") from None
    with zipfile.ZipFile(out_zip) as zf:
        return zf.namelist()


def _add_text(zf: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, text)


# -- inside the Gradescope container -------------------------------------------------------
def autograder_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("AUTOGRADER_ROOT") or DEFAULT_ROOT)


def run_autograder(root: Path, assignment: str | None = None, device: str = "auto") -> dict[str, Any]:
    """Grade the one submission under ``root/submission``; write and return ``root/results/results.json``."""
    from grader.core.grading import GradeOptions
    from grader.feedback.files import write_json_atomic
    from grader.feedback.gradescope import to_gradescope
    from grader.sandbox import NoIsolation
    from grader.workflows.batch import grade_one

    t0 = time.monotonic()
    course = Course.find(root / "source") if (root / "source" / "assignments").is_dir() else Course.find()
    isolation = course.isolation()
    if isinstance(isolation, NoIsolation):   # allowed here: Gradescope gives each submission its own container
        isolation = NoIsolation(reason=f"{isolation.reason}; on Gradescope each submission runs in a container "
                                       "of its own, which bounds what it can reach")
    result = grade_one(root / "submission", GradeOptions(device=device, isolation=isolation, course=course),
                       assignment)
    result.execution_time = time.monotonic() - t0
    data = to_gradescope(result)
    write_json_atomic(root / "results" / "results.json", data)
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m grader.workflows.gradescope``: what ``run_autograder`` calls."""
    parser = argparse.ArgumentParser(
        prog="python -m grader.workflows.gradescope",
        description="Grade the one hand-in in ROOT/submission and write ROOT/results/results.json, as Gradescope "
                    "expects (the bundle's run_autograder runs this inside Gradescope's container).")
    parser.add_argument("--root", help="the autograder root (default: $AUTOGRADER_ROOT or /autograder)")
    parser.add_argument("--assignment", help="the assignment (default: told from the submitted file's name)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    root = autograder_root(args.root)
    try:
        data = run_autograder(root, args.assignment, args.device)
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results file whatever happens
        from grader.feedback.files import write_json_atomic
        data = {"score": 0, "output": f"the autograder failed: {type(exc).__name__}: {exc}; "
                                      "please tell the course staff", "tests": [],
                "extra_data": {"grader_version": __version__}}
        write_json_atomic(root / "results" / "results.json", data)
        print(data["output"], file=sys.stderr)
        return 1
    print(f"score: {data['score']:g} / {data['extra_data'].get('max_score', 0):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
