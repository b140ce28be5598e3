"""`grader new` and `grader verify assignment`: a new assignment is accepted at once, and each
check of the assignment checker fails on the mistake it exists for, saying how to fix it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from grader.cli.main import EXIT_USAGE, main
from tests.conftest import ROOT, twin_course

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """An empty course folder with a freshly scaffolded assignment `demo`."""
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(ROOT / "course.toml", folder / "course.toml")
    assert main(["new", "demo", "--course", str(folder)]) == 0
    return folder


def verify(course: Path, capsys, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["verify", "assignment", "demo", "--course", str(course), *extra])
    return code, capsys.readouterr().out


def test_a_new_assignment_is_accepted_at_once(course, capsys):
    code, out = verify(course, capsys)
    assert code == 0 and "OK: 0 error(s), 0 warning(s)" in out and "✓ grading" in out
    assert {p.name for p in (course / "templates").iterdir()} == {"demo.py", "demo.ipynb"}
    capsys.readouterr()
    assert main(["verify", "solutions", "--course", str(course)]) == 0
    assert main(["verify", "templates", "--course", str(course)]) == 0


def test_new_refuses_taken_and_unusable_names(course, capsys):
    for name, message in (("demo", "exists already"), ("9lives", "not a usable assignment name"),
                          ("class", "not a usable assignment name")):
        capsys.readouterr()
        assert main(["new", name, "--course", str(course)]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("break_it, message", [
    (lambda c: _edit(c / "assignments/demo/assignment.toml", "points = 3", "pionts = 3"),
     r"line 15: groups\.softmax\.pionts: unknown key \(did you mean 'points'\?\)"),
    (lambda c: (c / "assignments/demo/README.md").unlink(), r"README\.md is missing: write the task statement"),
    (lambda c: _edit(c / "assignments/demo/probes.py", "import numpy as np", "import numpy as np\nimport grader"),
     r"probes\.py:\d+ imports grader: the child never sees the grader package"),
    (lambda c: _edit(c / "assignments/demo/hidden/suite.py", '@group("softmax")', '@group("soft_max")'),
     r"no function for \['softmax'\]"),
    (lambda c: _edit(c / "solutions/demo.py", "    # END SOLUTION\n", ""), r"never closed by '# END SOLUTION'"),
    (lambda c: _edit(c / "solutions/demo.py", "Row-wise softmax", "The row-wise softmax"),
     r"templates/demo\.py is out of sync with demo\.py: run `grader templates`"),
    (lambda c: _edit(c / "solutions/demo.py", "z - z.max(axis=1, keepdims=True)", "z"),
     r"the reference scores 2.25/3 .*fix the reference or the hidden suite"),
])
def test_each_check_names_the_mistake_and_the_fix(course, capsys, break_it, message):
    break_it(course)
    code, out = verify(course, capsys)
    assert code == 1 and "FAILED" in out, out
    assert re.search(message, out), out


def test_missing_public_suite_is_a_warning_not_an_error(course, capsys):
    shutil.rmtree(course / "assignments/demo/public")
    code, out = verify(course, capsys, "--quick")
    assert code == 0 and "! public suite: public/suite.py is missing" in out


def test_every_bundled_assignment_passes_the_checker(capsys):
    for name in ("bandits", "reinforce", "reinforce_baseline", "vae"):
        capsys.readouterr()
        assert main(["verify", "assignment", name, "--quick"]) == 0, capsys.readouterr().out


def test_a_course_with_a_new_assignment_releases_another_one(tmp_path: Path, capsys):
    """issue 22: beside an untouched scaffolded assignment, `release --only bandits` refused, its leak scan
    finding "the solution line of myhw.py" in the grader's own scaffold module (the bundle's copy of the
    grader, which every course ships): the scan reads the course, not the grader."""
    folder = twin_course(tmp_path / "course")
    assert main(["new", "myhw", "--course", str(folder)]) == 0
    capsys.readouterr()
    assert main(["release", str(tmp_path / "out"), "--only", "bandits", "--course", str(folder)]) == 0, \
        capsys.readouterr().err
    assert (tmp_path / "out" / "templates" / "bandits.py").is_file()
    assert not (tmp_path / "out" / "templates" / "myhw.py").exists()


def test_a_leak_into_the_bundled_grader_is_still_found(tmp_path: Path, monkeypatch):
    """The grader's own files are skipped only while they are the installed grader's, byte for byte."""
    from grader.workflows import release

    folder = twin_course(tmp_path / "course")
    assert main(["new", "myhw", "--course", str(folder)]) == 0
    line = next(ln for ln, origin in release.solution_lines(folder).items() if "myhw" in origin)
    original = release.populate

    def populate(target, root=None, only=None):
        original(target, root, only)
        with open(target / "grader" / "__init__.py", "a") as fh:     # a grader file that now carries a solution line
            fh.write(f"\n# {line}\n")

    monkeypatch.setattr(release, "populate", populate)
    with pytest.raises(release.LeakError) as caught:
        release.build_release(tmp_path / "out", only=["bandits"], root=folder)
    assert "grader/__init__.py" in str(caught.value)
