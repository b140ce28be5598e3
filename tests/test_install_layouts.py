"""Isolation holds in every ordinary install layout (the README's layout table is this file).

Each case builds an interpreter where users put one — a venv inside the course checkout,
tox's ``.tox/<env>`` (with TMPDIR inside it, as tox sets it), a venv under /tmp, a venv
elsewhere (pipx), a full Python prefix (conda, pyenv, a system Python) — and grades the
bandits reference with ``--require-isolation`` from it: the probe must find nothing of the
course readable in the child, and the grading must score. Site-packages are hard links to
this interpreter's (no download, no copy of torch where /tmp and it share a file system).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from grader.core.course import Course
from tests.conftest import ROOT, needs_isolation

pytestmark = [needs_isolation, pytest.mark.timeout(180)]

PY = f"python{sys.version_info.major}.{sys.version_info.minor}"


def _site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def _fill_site_packages(target: Path) -> None:
    """This interpreter's packages (the grader's editable hook included) in ``target``: hard links
    where /tmp and this interpreter share a file system, copies elsewhere."""
    source = _site_packages()
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        dest = target / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, dest, copy_function=_link_or_copy, dirs_exist_ok=True, symlinks=True)
        elif not dest.exists():
            _link_or_copy(str(entry), str(dest))


def make_venv(where: Path) -> Path:
    """A venv at ``where`` (no pip) with this interpreter's packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True,
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    _fill_site_packages(where / "lib" / PY / "site-packages")
    return where / "bin" / "python"


def make_prefix(where: Path) -> Path:
    """A full, stand-alone Python prefix (as conda, pyenv or a distribution installs one)."""
    base = Path(sys.base_prefix)
    shutil.copytree(base, where, copy_function=_link_or_copy, symlinks=True)
    packages = where / "lib" / PY / "site-packages"
    _fill_site_packages(packages)
    return where / "bin" / PY


def _link_or_copy(src: str, dst: str) -> None:
    if os.path.lexists(dst):   # a prefix's own pip or setuptools: keep it
        return
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def grade_with(python: Path, tmp_path: Path, env: dict[str, str] | None = None) -> dict:
    out = tmp_path / "results.json"
    run = subprocess.run(
        [str(python), "-m", "grader", "grade", str(ROOT / "solutions" / "bandits.py"), "--require-isolation",
         "--only", "epsilon_greedy,update_estimate", "--seed", "3", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(tmp_path),
             **(env or {})})
    assert run.returncode == 0, run.stderr[-2000:] + run.stdout[-2000:]
    data = json.loads(out.read_text())
    assert data["extra_data"]["isolation"] == "namespaces", data["output"]
    assert data["score"] == 7, data["output"]
    return data


@pytest.fixture
def inside_checkout():
    """A folder inside the checkout, removed afterwards (.tox/ is git-ignored)."""
    folder = Path(tempfile.mkdtemp(prefix="layout-test-", dir=_ensure(ROOT / ".tox")))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def elsewhere():
    """A folder neither in the checkout nor under /tmp (where pipx or conda would put one)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-layout-test-", dir="/var/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _ensure(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    return folder


def test_venv_inside_the_checkout(inside_checkout, tmp_path):
    grade_with(make_venv(inside_checkout / ".venv"), tmp_path)


def test_tox_env_inside_the_checkout_with_its_tmpdir(inside_checkout, tmp_path):
    """tox's env lies in the checkout and TMPDIR points inside it: the grader's own temp files
    (other children's work folders, a batch's other submissions) must stay masked."""
    env = inside_checkout / "tests"
    python = make_venv(env)
    (env / "tmp").mkdir()
    grade_with(python, tmp_path, {"TMPDIR": str(env / "tmp")})


def test_venv_under_tmp(tmp_path):
    grade_with(make_venv(tmp_path / "venv"), tmp_path)


def test_venv_elsewhere_like_pipx(elsewhere, tmp_path):
    grade_with(make_venv(elsewhere / "pipx" / "venvs" / "grader"), tmp_path)


def test_full_prefix_like_conda_or_a_system_python(elsewhere, tmp_path):
    grade_with(make_prefix(elsewhere / "conda"), tmp_path)


def test_full_prefix_under_tmp(tmp_path):
    grade_with(make_prefix(tmp_path / "prefix"), tmp_path)


def test_python_installation_that_is_the_course_folder_is_refused_with_a_reason(monkeypatch):
    """A Python installation that *is* the course folder cannot be bound without showing it: the
    probe says so (and the grader falls back loudly) instead of grading unprotected."""
    from grader.sandbox import isolation as iso

    original = iso.python_paths
    monkeypatch.setattr(iso, "python_paths", lambda secrets=(): sorted({*original(secrets), str(ROOT)}))
    why = iso.probe("userns", Course.find().protected_paths())
    assert "is itself a folder the child must not see" in why and "make the venv in a folder of its own" in why


def test_a_venv_inside_the_course_is_never_a_sentinel(tmp_path, monkeypatch):
    """The probe opens a few course files that must be unreadable in the child; a file of a venv
    inside the course (`<course>/.venv/pyvenv.cfg`, first in sorted order where `.git` is a file,
    as in a git worktree) is bound in on purpose and must not be one of them."""
    from grader.sandbox import isolation as iso

    course = tmp_path / "course"
    (course / ".venv").mkdir(parents=True)
    (course / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (course / ".git").write_text("gitdir: elsewhere\n")
    (course / "solutions").mkdir()
    (course / "solutions" / "x.py").write_text("secret = 1\n")
    original = iso.python_paths
    monkeypatch.setattr(iso, "python_paths", lambda secrets=(): sorted({*original(secrets), str(course / ".venv")}))
    sentinels = iso.sentinel_files((str(course),))
    assert str(course / "solutions" / "x.py") in sentinels and str(course / ".git") in sentinels
    assert not [s for s in sentinels if s.startswith(str(course / ".venv"))]
