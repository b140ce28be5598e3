"""``grader release``: the student bundle, and the scan that proves it holds no answers.

The bundle is what a student needs to work and to run ``grader check``::

    README.md            how to install, work, check and hand in
    requirements.txt     the install line (pip install -r requirements.txt)
    pyproject.toml       so that the grader package installs as the ``grader`` command
    grader/              the grader package itself (no course material in it)
    assignments/<name>/  statement, assignment.toml, probes, public/ suite, child files, data —
                         every file of the assignment except its hidden/ folder
    templates/           <name>.py and <name>.ipynb, generated fresh from solutions/

Never in it: ``solutions/``, ``tests/``, ``bench/``, any ``hidden/`` folder. Before
the bundle is written out, :func:`scan_bundle` looks in every file for each
solution region (the code between ``# BEGIN SOLUTION`` and ``# END SOLUTION``)
and for the files and distinctive lines of every ``hidden/`` folder; any hit
aborts the release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grader.core.assignment import list_assignments, load_assignment
from grader.core.course import COURSE_FILE, Course
from grader.formats.markers import find_holes, make_template
from grader.workflows.templates import expected_templates

SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".DS_Store"}
SKIP_SUFFIXES = {".pyc", ".pyo"}
FORBIDDEN_DIRS = {"hidden", "solutions", "tests", "bench"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".json", ".ipynb", ".cfg", ".ini", ".rst", ".csv", ".yaml", ".yml"}
MIN_LINE = 20        # shorter solution lines (``return x``) are too common to mean a leak


class ReleaseError(Exception):
    """The bundle cannot be written (bad output path, unknown assignment); the message says why."""


class LeakError(ReleaseError):
    """The bundle would contain instructor material; the message lists each finding."""


@dataclass(frozen=True)
class Leak:
    file: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


# -- building ---------------------------------------------------------------------
def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_NAMES or Path(n).suffix in SKIP_SUFFIXES
            or (n == "hidden" and Path(directory, n).is_dir())}


def populate(target: Path, root: Path | None = None, only: Sequence[str] | None = None) -> None:
    """Write the bundle's files (of the assignments ``only``, default all) into the empty directory ``target``."""
    root = root or Course.find().root
    package = Path(__file__).resolve().parents[1]   # the grader package
    shutil.copytree(package, target / "grader", ignore=_ignore)
    adir = root / "assignments"
    available = list_assignments(adir)
    unknown = sorted(set(only or ()) - set(available))
    if unknown:
        raise ReleaseError(f"unknown assignment(s) {', '.join(unknown)} (known: {', '.join(available)})")
    names = [n for n in available if not only or n in only]
    submissions = set()
    for name in names:
        shutil.copytree(adir / name, target / "assignments" / name, ignore=_ignore)
        submissions.add(Path(load_assignment(name, adir).submission_name).stem)
    templates = target / "templates"
    templates.mkdir()
    for path, text in expected_templates(root / "solutions", templates).items():
        if path.stem in submissions:
            path.write_text(text, encoding="utf-8")
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        shutil.copy(pyproject, target / "pyproject.toml")
    course = root / COURSE_FILE   # `grader check` finds the bundle's assignments by walking up to it
    if course.is_file():
        shutil.copy(course, target / COURSE_FILE)
    else:
        (target / COURSE_FILE).write_text("[course]\n", encoding="utf-8")
    (target / "requirements.txt").write_text(_requirements(pyproject), encoding="utf-8")
    (target / "README.md").write_text(_readme(names, adir), encoding="utf-8")


def _requirements(pyproject: Path) -> str:
    from grader.core import tomlfile as tomllib

    deps: list[str] = []
    if pyproject.is_file():
        deps = list(tomllib.loads(pyproject.read_text()).get("project", {}).get("dependencies", []))
    lines = ["# Install everything, the grader command included:  pip install -r requirements.txt", *deps,
             "# the grader package of this bundle (gives the `grader` command)", "-e ."]
    return "\n".join(lines) + "\n"


def _readme(names: list[str], adir: Path) -> str:
    """The bundle's README: its assignments, and examples that name one of them (a student copies the
    commands as they are, so they must name a file this bundle has a template for)."""
    rows, stems = [], []
    for name in names:
        a = load_assignment(name, adir)
        stems.append(Path(a.submission_name).stem)
        rows.append(f"| `{name}` | {a.title} | `templates/{stems[-1]}.py` or `.ipynb` | "
                    f"[statement](assignments/{name}/README.md) |")
    table = "\n".join(rows)
    example = stems[0] if stems else "<name>"
    return f"""# Course assignments: student bundle

## Install (Python ≥ 3.10)

```
python -m venv .venv && . .venv/bin/activate
pip install -r requirements.txt
```

## Assignments

| assignment | topic | start from | read |
| --- | --- | --- | --- |
{table}

Copy a template (`.py` for your editor, `.ipynb` for Jupyter), fill in every `TODO`, and keep the
names and signatures of the functions: the grader calls exactly those.

## Check your work

```
grader check {example}.ipynb          # or {example}.py: the quick public checks
grader check {example}.py --full      # also the slow training / threshold checks
```

Inside a notebook the last cell does the same (`from grader import check; check()`).
The public checks use fixed inputs in plain sight (`assignments/<name>/public/`);
the graded tests use other inputs and secret seeds, so passing the public checks
does not guarantee full marks.

## Hand in

One file per assignment: the filled-in `<name>.py` or `<name>.ipynb`.
"""


def build_release(out: Path, root: Path | None = None, only: Sequence[str] | None = None,
                  reveal: Sequence[str] = ()) -> Path:
    """Write the bundle to the new directory ``out`` or the zip file ``out`` (``*.zip``); return it.

    ``only`` releases some assignments (e.g. one per week); the scan still looks for
    the solution regions of *every* assignment, so a template that gives away another
    assignment's hole stops the release, unless that assignment is in ``reveal`` (its
    deadline is over, e.g. ``reinforce`` when ``reinforce_baseline`` builds on it)."""
    out = Path(out)
    is_zip = out.suffix.lower() == ".zip"
    if not is_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReleaseError(f"{out} already exists and is not an empty directory; choose a new one")
    if is_zip and out.is_dir():
        raise ReleaseError(f"{out} is a directory")
    root = root or Course.find().root
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        populate(stage, root, only)
        unknown = sorted(set(reveal) - set(list_assignments(root / "assignments")))
        if unknown:
            raise ReleaseError(f"unknown assignment(s) {', '.join(unknown)} in --reveal")
        leaks = scan_bundle(stage, root, reveal)
        if leaks:
            shown = "\n  ".join(map(str, leaks[:20]))
            raise LeakError(f"the bundle would leak instructor material ({len(leaks)} finding(s)); nothing written:"
                            f"\n  {shown}\n(a template built on an earlier assignment shows its solution: release "
                            "them in turn with --only, and --reveal the earlier one once its deadline is over)")
        if is_zip:
            out.parent.mkdir(parents=True, exist_ok=True)
            partial = out.with_name(out.name + ".partial")
            _zip(stage, partial, top=out.stem)
            partial.replace(out)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(stage, out, dirs_exist_ok=True)
    return out


def _zip(stage: Path, dest: Path, top: str) -> None:
    """Deterministic zip: sorted names, fixed timestamps, everything under one top folder."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in stage.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{top}/{path.relative_to(stage).as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


# -- scanning ---------------------------------------------------------------------
def _text_of(path: Path) -> str | None:
    """What a reader of the file would see as text; notebooks as their cells' sources."""
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return None
    text = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix.lower() == ".ipynb":
        try:
            nb = json.loads(text)
            text = "\n".join("".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                             for c in nb.get("cells", []))
        except (ValueError, AttributeError, TypeError, KeyError):
            pass
    return text


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def solution_lines(root: Path, reveal: Sequence[str] = ()) -> dict[str, str]:
    """Distinctive stripped lines of every solution region → where they come from.

    ``reveal`` names assignments whose solutions may appear (their deadline is over)."""
    found: dict[str, str] = {}
    folder = root / "solutions"
    revealed = {load_assignment(n, root / "assignments").submission_name for n in reveal}
    for sol in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if sol.name in revealed:
            continue
        source = sol.read_text(encoding="utf-8")
        template = make_template(source, str(sol))   # what the template shows anyway (hints, docstrings)
        for hole in find_holes(source, str(sol)):
            for line in hole.solution.splitlines():
                s = line.strip()
                if len(s) >= MIN_LINE and not s.startswith("#") and s not in template:
                    found.setdefault(s, f"solution line of {sol.name}:{hole.name}")
    return found


def hidden_material(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """(sha256 of every hidden/solution file → its name, distinctive hidden lines → their file).

    A hidden line that also appears in a released file of the source tree (a shared
    import, a helper call) is not distinctive and is left out.
    """
    hashes: dict[str, str] = {}
    lines: dict[str, str] = {}
    adir = root / "assignments"
    hidden_files = [f for d in sorted(adir.glob("*/hidden")) for f in _files(d)]
    solution_files = _files(root / "solutions") if (root / "solutions").is_dir() else []
    for f in hidden_files + solution_files:
        hashes[hashlib.sha256(f.read_bytes()).hexdigest()] = str(f.relative_to(root))
    public_text = "\n".join(filter(None, (_text_of(f) for f in _released_sources(root))))
    for f in hidden_files:
        text = _text_of(f)
        if text is None or f.suffix == ".md":
            continue
        for ln in text.splitlines():
            s = ln.strip()
            # a hidden line the course's public files already hold (also inside a longer line: an import
            # the public suite extends) gives nothing away
            if len(s) >= 30 and not s.startswith("#") and s not in public_text:
                lines.setdefault(s, str(f.relative_to(root)))
    return hashes, lines


def _released_sources(root: Path) -> list[Path]:
    out = [f for f in _files(Path(__file__).resolve().parents[1]) if not set(f.parts) & SKIP_NAMES]
    adir = root / "assignments"
    for f in _files(adir):
        rel = f.relative_to(adir).parts
        if "hidden" not in rel and not set(rel) & SKIP_NAMES:
            out.append(f)
    return out


def scan_bundle(bundle: Path, root: Path | None = None, reveal: Sequence[str] = ()) -> list[Leak]:
    """Every trace of instructor material in ``bundle`` (a directory): empty means safe to release.

    The course's files are scanned, not the grader's: a file of the bundle's ``grader/`` that is byte for
    byte the installed grader's own (its scaffold of a new assignment holds a model solution, say) is
    the grader's code, which every course ships; only a changed one is scanned."""
    root = root or Course.find().root
    leaks: list[Leak] = []
    sol_lines = solution_lines(root, reveal)
    hashes, hidden_lines = hidden_material(root)
    package = Path(__file__).resolve().parents[1]
    for f in _files(bundle):
        rel = f.relative_to(bundle)
        parts = set(rel.parts[:-1])
        if parts & FORBIDDEN_DIRS:
            leaks.append(Leak(str(rel), f"inside a forbidden folder ({', '.join(sorted(parts & FORBIDDEN_DIRS))})"))
        data = f.read_bytes()
        if rel.parts[0] == "grader" and _same_file(package.joinpath(*rel.parts[1:]), data):
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest in hashes:
            leaks.append(Leak(str(rel), f"identical to {hashes[digest]}"))
        text = _text_of(f)
        if text is None:
            continue
        for line, origin in sol_lines.items():
            if line in text:
                leaks.append(Leak(str(rel), f"contains the {origin}: {line[:60]}"))
        for line, origin in hidden_lines.items():
            if line in text:
                leaks.append(Leak(str(rel), f"contains a line of {origin}: {line[:60]}"))
    return leaks


def _same_file(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.read_bytes() == data
    except OSError:
        return False


def scan_zip(path: Path, root: Path | None = None) -> list[Leak]:
    with tempfile.TemporaryDirectory(prefix="grader-scan-") as tmp:
        with zipfile.ZipFile(path) as zf:
            zf.extractall(tmp)
        return scan_bundle(Path(tmp), root)
