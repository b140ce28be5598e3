"""Gradescope: build the autograder bundle, and the entry point that runs inside it.

Gradescope unpacks the bundle into ``/autograder/source``, runs ``setup.sh``
once to build the image, then for every submission copies the student's files
into ``/autograder/submission`` and runs ``run_autograder``, which must leave
``/autograder/results/results.json``. The root is ``$AUTOGRADER_ROOT`` when
set (tests use a temp dir), else ``/autograder``.

The bundle holds the ``grader`` package, every assignment (hidden tests
included: the bundle is for instructors' eyes and Gradescope only) and
``pyproject.toml``; never the reference solutions. A course that is a checkout
of the grader ships its own ``grader/``; any other course folder ships the
grader that built the bundle, with a ``pyproject.toml`` generated to install it
(:func:`grader_source`). Its two scripts are package
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
def installed_requirements() -> list[str] | None:
    """The installed ``grader`` distribution's requirements (PEP 508 lines, extras' included), or None
    where no ``grader`` distribution is installed (a run from a checkout on ``PYTHONPATH``)."""
    try:
        return metadata.requires("grader") or []
    except metadata.PackageNotFoundError:
        return None


def torch_requirement(pyproject: Path | None = None) -> str:
    """The grader's own requirement on torch (``torch==2.13.0``), read from one place: the installed
    distribution's metadata, else ``pyproject.toml`` (a grader run from a checkout it was not installed
    from). ``setup.sh`` installs that torch from the CPU wheel index before the grader."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    from grader.core import tomlfile

    declared = installed_requirements() or []
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
def _files_under(folder: Path, prefix: str) -> list[tuple[Path, str]]:
    """Every file below ``folder`` as (path, ``prefix/relative name``): no caches, no hidden files."""
    picked = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if (path.is_file() and "__pycache__" not in rel.parts and path.suffix not in (".pyc", ".pyo")
                and not any(part.startswith(".") for part in rel.parts)):
            picked.append((path, f"{prefix}/{rel.as_posix()}"))
    return picked


def grader_source(root: Path) -> tuple[Path, Path | None]:
    """Where the bundle takes the ``grader`` package from, and the ``pyproject.toml`` that installs it
    (None: one is generated, :func:`generated_pyproject`). A course that is a checkout of the grader
    (``grader/`` and ``pyproject.toml`` beside ``assignments/``) ships its own; any other course folder
    (``grader new --course``, beside a grader installed from a wheel) ships the grader that builds the
    bundle, the one it was checked with."""
    if (root / "grader" / "__init__.py").is_file() and (root / "pyproject.toml").is_file():
        return root / "grader", root / "pyproject.toml"
    package = Path(__file__).resolve().parent.parent     # grader/workflows/gradescope.py -> grader/
    checkout = package.parent / "pyproject.toml"      # an editable install, or a run from a checkout
    if checkout.is_file() and (package.parent / "grader" / "__init__.py").is_file():
        return package, checkout
    return package, None


def generated_pyproject(package_files: Sequence[str]) -> str:
    """A ``pyproject.toml`` that installs the bundled ``grader`` (a grader installed from a wheel has
    none to copy): its version, its installed requirements (extras left out), its package data, which
    are the bundled files that are not Python modules."""
    from packaging.requirements import Requirement

    requires = installed_requirements()
    if requires is None:
        raise BundleError("the grader building this bundle is neither installed nor a checkout, so the bundle "
                          "cannot say how to install it: run `grader gradescope` from an installed grader")
    # Every requirement but the extras' (test, dask); markers kept as declared: Gradescope's Python decides them.
    declared = [line for line in requires if "extra" not in str(Requirement(line).marker or "")]
    data: dict[str, list[str]] = {}
    names = set(package_files)
    for name in package_files:
        if name.endswith(".py"):
            continue
        parts = name.split("/")
        for cut in range(len(parts) - 1, 0, -1):       # the nearest package (a folder with __init__.py) above
            if "/".join(parts[:cut] + ["__init__.py"]) in names:
                data.setdefault(".".join(parts[:cut]), []).append("/".join(parts[cut:]))
                break
    lines = ["# Generated by `grader gradescope`: installs the grader bundled beside it.",
             "[build-system]", 'requires = ["setuptools>=68"]', 'build-backend = "setuptools.build_meta"', "",
             "[project]", 'name = "grader"', f"version = {_toml_string(__version__)}", 'requires-python = ">=3.10"',
             "dependencies = [" + ", ".join(_toml_string(line) for line in declared) + "]", "",
             "[project.scripts]", 'grader = "grader.cli.main:main"', "",
             "[tool.setuptools.packages.find]", 'include = ["grader*"]', "",
             "[tool.setuptools.package-data]"]
    lines += [f"{_toml_string(pkg)} = [" + ", ".join(_toml_string(f) for f in files) + "]"
              for pkg, files in sorted(data.items())]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bundle_files(root: Path | None = None) -> list[tuple[Path, str]]:
    """(file on disk, name in the zip) for everything the autograder needs, but a generated
    ``pyproject.toml`` (:func:`grader_source`)."""
    root = root or Course.find().root
    package, pyproject = grader_source(root)
    picked = _files_under(package, "grader")
    for top in ("assignments", "templates"):   # templates: the course's pipeline the thresholds train
        picked += _files_under(root / top, top) if (root / top).is_dir() else []
    for name in ("course.toml", "README.md", "LICENSE"):
        if (root / name).is_file():
            picked.append((root / name, name))
    if pyproject is not None:
        picked.append((pyproject, "pyproject.toml"))
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
    pyproject = None if "pyproject.toml" in names else generated_pyproject([n for _, n in files if n.startswith("grader/")])
    setup = script("setup.sh", DEFAULT_ROOT=DEFAULT_ROOT, TORCH=torch_requirement(course.root / "pyproject.toml"))
    run = script("run_autograder", DEFAULT_ROOT=DEFAULT_ROOT,
                 ASSIGNMENT_ARGS=f" --assignment {assignment}" if assignment else "")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        _add_text(zf, "setup.sh", setup, executable=True)
        _add_text(zf, "run_autograder", run, executable=True)
        if "README.md" not in names:  # pyproject.toml names it; pip cannot build without it
            _add_text(zf, "README.md", "Autograder bundle built by `grader gradescope`.\n")
        if pyproject is not None:
            _add_text(zf, "pyproject.toml", pyproject)
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
