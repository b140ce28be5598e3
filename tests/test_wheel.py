"""The grader installs as a wheel and grades a course folder it was not installed from.

A wheel is built from this checkout and installed into a fresh venv outside it (its
other packages are hard links to this interpreter's, so nothing is downloaded); from
a neutral folder, that venv's `grader verify solutions --course <checkout>` must give
every reference full marks, with namespace isolation.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import ROOT, needs_isolation, twin_course

pytestmark = [needs_isolation, pytest.mark.timeout(900), pytest.mark.xdist_group("test_wheel")]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)


def _is_grader(entry: Path) -> bool:
    """The editable install of this checkout: its path hooks and metadata must not come along."""
    name = entry.name.lower()
    return name.startswith(("grader-", "__editable__.grader", "__editable___grader")) or name == "grader"


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy of the checkout: setuptools builds in the source tree's build/, where an earlier or
    # concurrent build (an editable install, another test run) left a dist-info it refuses to overwrite.
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "*.egg-info",
                                                                "__pycache__", ".whl", ".pytest_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(work / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    wheel = next((work / "dist").glob("grader-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    packages = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if _is_grader(entry) or (packages / entry.name).exists():
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, packages / entry.name, copy_function=_link_or_copy, symlinks=True)
        else:
            _link_or_copy(str(entry), str(packages / entry.name))
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    return venv


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(cwd)}
    return subprocess.run([str(venv / "bin" / "grader"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=800)


def test_the_wheel_holds_the_package_not_the_course(wheel_venv):
    code = ("import grader, pathlib; p = pathlib.Path(grader.__file__).parent; "
            "print(p); print((p / 'sandbox' / 'nsinit.py').is_file(), (p / 'kits' / 'holes' / 'child.py').is_file())")
    out = subprocess.run([str(wheel_venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                         cwd=wheel_venv, timeout=60).stdout.split()
    assert out[0].startswith(str(wheel_venv)) and out[1:] == ["True", "True"]
    assert not (Path(out[0]).parent / "assignments").exists()


def test_the_wheel_carries_the_package_data(wheel_venv):
    """Files that are no module travel as package data: the HTML templates and the Gradescope bundle's scripts."""
    import zipfile

    with zipfile.ZipFile(next((wheel_venv.parent / "dist").glob("grader-*.whl"))) as zf:
        names = set(zf.namelist())
    assert {"grader/workflows/gradescope_files/setup.sh.in", "grader/workflows/gradescope_files/run_autograder.in",
            "grader/core/kits.py", "grader/kits/holes/child.py"} <= names
    assert any(n.startswith("grader/feedback/templates/") and n.endswith(".j2") for n in names)


def test_the_gradescope_bundle_from_the_wheel_pins_the_graders_torch(wheel_venv, tmp_path):
    """setup.sh comes from the wheel's package data, its torch pin from the installed distribution's metadata."""
    import zipfile

    from grader.core import tomlfile

    result = run(wheel_venv, "gradescope", str(tmp_path / "autograder.zip"), "--course", str(ROOT), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        setup = zf.read("setup.sh").decode()
    pin = next(d for d in tomlfile.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch"))
    assert setup.count(f'"{pin}"') == 2 and "@" not in setup, setup


def test_without_a_course_the_wheel_says_where_it_looked(wheel_venv, tmp_path):
    result = run(wheel_venv, "list", cwd=tmp_path)
    assert result.returncode == 2 and "no course folder found" in result.stderr and "--course" in result.stderr


def test_verify_a_solution_of_another_folder(wheel_venv, tmp_path):
    """The installed wheel grades a course it does not contain: reinforce_baseline uses the holes kit (its
    child file) and the cartpole kit, so the kits must be in the wheel (the whole verify is the slow test below)."""
    result = run(wheel_venv, "verify", "solutions", "--assignment", "reinforce_baseline", "--course", str(ROOT),
                 cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "OK: every solution scored full marks" in result.stdout
    assert "WITHOUT namespace isolation" not in result.stdout


@pytest.mark.slow
def test_verify_every_solution_of_another_folder(wheel_venv, tmp_path):
    result = run(wheel_venv, "verify", "solutions", "--course", str(ROOT), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "OK: every solution scored full marks" in result.stdout
    assert "WITHOUT namespace isolation" not in result.stdout


def test_a_batch_from_the_wheel_grades_in_the_course_it_was_given(wheel_venv, tmp_path):
    """grade-batch --course from a wheel install (issue 22: every row was "CourseNotFound", the worker
    processes never saw --course): the local workers grade in that course, a twin whose agent group is
    worth 5 points (12 in all), not in any other."""
    course = twin_course(tmp_path / "course")
    subs = tmp_path / "subs"
    for student, source in (("alice", "solutions"), ("bob", "templates")):
        (subs / student).mkdir(parents=True)
        (subs / student / "bandits.py").write_text((ROOT / source / "bandits.py").read_text())
    result = run(wheel_venv, "grade-batch", str(subs), "--out", str(tmp_path / "out"), "-j", "2", "--seed", "3",
                 "-q", "--course", str(course), cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    with open(tmp_path / "out" / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert (rows["alice"]["total"], rows["alice"]["status"]) == ("12", "graded"), rows
    assert (rows["bob"]["total"], rows["bob"]["status"]) == ("0", "graded"), rows


def test_check_in_a_notebook_outside_any_course(wheel_venv, tmp_path):
    """check() with no course around says in one line how to point at one; check(course=...) checks."""
    (tmp_path / "bandits.py").write_text((ROOT / "solutions" / "bandits.py").read_text())
    env = {"PATH": f"{wheel_venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path)}

    def check(call: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(wheel_venv / "bin" / "python"), "-c", f"from grader import check; {call}"],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    lost = check("check('bandits.py')")
    assert lost.returncode == 0 and not lost.stderr, lost.stderr
    assert lost.stdout.count("\n") == 1 and "no course folder found" in lost.stdout, lost.stdout
    assert "check(course=" in lost.stdout
    found = check(f"check('bandits.py', course={str(ROOT)!r})")
    assert "✓ epsilon_greedy" in found.stdout and "✓ update_estimate" in found.stdout, found.stdout + found.stderr


@pytest.mark.parametrize("package, points", [("tqdm", "4"), ("copydetect", "0")])
def test_allowed_imports_are_the_same_from_the_wheel(wheel_venv, tmp_path, package, points):
    """issue 22: `grader check` warned that tqdm "fails and every group scores 0", while grading imported it
    (copydetect brought it in) and gave 10/10. The course's list is enforced in the child, so a wheel
    install grades an import as the editable checkout does: tqdm (listed) works, copydetect (on this
    machine, not listed) fails."""
    path = tmp_path / "bandits.py"
    path.write_text((ROOT / "solutions" / "bandits.py").read_text().replace(
        "import numpy as np", f"import numpy as np\nimport {package}", 1))
    out = tmp_path / "r.json"
    result = run(wheel_venv, "grade", str(path), "--only", "epsilon_greedy", "--seed", "3", "--json", str(out),
                 "--course", str(ROOT), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    import json

    data = json.loads(out.read_text())
    assert f"{data['score']:g}" == points, data["output"]
    if points == "0":
        assert "not available to submissions" in json.dumps(data)


def test_a_course_apart_from_the_grader_gets_a_bundle_that_installs_it(wheel_venv, tmp_path):
    """A course made with `grader new` beside a wheel-installed grader has no grader/ and no pyproject.toml
    of its own: its Gradescope bundle carries the installed grader and a pyproject.toml that installs it
    (its torch pin, its package data), and grades the course's hand-in full marks inside /autograder."""
    import json
    import zipfile

    from grader.core import tomlfile

    course = tmp_path / "course"
    course.mkdir()
    (course / "course.toml").write_text("")
    made = run(wheel_venv, "new", "demo", "--course", str(course), cwd=tmp_path)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    built = run(wheel_venv, "gradescope", str(tmp_path / "autograder.zip"), cwd=course)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        names = set(zf.namelist())
        zf.extractall(root / "source")
    assert {"grader/cli/main.py", "grader/kits/holes/child.py", "grader/workflows/gradescope_files/setup.sh.in",
            "pyproject.toml", "assignments/demo/assignment.toml", "templates/demo.py"} <= names
    assert not any(n.startswith("solutions/") or "__pycache__" in n for n in names)
    pin = next(d for d in tomlfile.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch"))
    assert pin in tomlfile.loads((root / "source" / "pyproject.toml").read_text())["project"]["dependencies"]

    # setup.sh's `pip install "$SOURCE"`, without the network: the bundle builds into a wheel with its package data.
    wheel = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(root / "source")], capture_output=True, text=True, timeout=300)
    assert wheel.returncode == 0, wheel.stdout[-2000:] + wheel.stderr[-2000:]
    with zipfile.ZipFile(next((tmp_path / "dist").glob("grader-*.whl"))) as zf:
        packaged = set(zf.namelist())
    assert {"grader/workflows/gradescope_files/run_autograder.in", "grader/kits/holes/child.py"} <= packaged
    assert any(n.startswith("grader/feedback/templates/") and n.endswith(".j2") for n in packaged)

    (root / "submission").mkdir()
    (root / "submission" / "demo.py").write_text((course / "solutions" / "demo.py").read_text())
    env = {"PATH": f"{wheel_venv / 'bin'}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(tmp_path),
           "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": str(wheel_venv / "bin" / "python")}
    graded = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                            text=True, timeout=600)
    data = json.loads((root / "results" / "results.json").read_text())
    assert graded.returncode == 0 and data["score"] == data["extra_data"]["max_score"] > 0, graded.stderr[-2000:]
