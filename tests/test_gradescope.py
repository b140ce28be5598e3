"""The Gradescope bundle: what it holds, and run_autograder in a directory that mimics /autograder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, gradescope_problems, stopped_every_group_json

from grader.cli.main import EXIT_USAGE, main
from grader.workflows.gradescope import BundleError, torch_requirement

pytestmark = pytest.mark.xdist_group("test_gradescope")   # one worker: its module fixture is built once

SOLUTION = (ROOT / "solutions" / "bandits.py").read_text()
TEMPLATE = (ROOT / "templates" / "bandits.py").read_text()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert main(["gradescope", str(out)]) == 0
    return out


def test_bundle_contents(bundle: Path) -> None:
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        setup = zf.read("setup.sh").decode()
        run = zf.read("run_autograder").decode()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "pyproject.toml", "course.toml", "README.md", "grader/cli/main.py",
            "grader/workflows/gradescope.py", "grader/kits/holes/child.py", "assignments/bandits/assignment.toml",
            "assignments/bandits/hidden/suite.py", "assignments/nas/hidden/suite.py",
            "assignments/nas/hidden/data/nas-table.npz"} <= names
    assert not any(n.startswith(("solutions/", "tests/")) for n in names), "no reference solutions"
    assert "templates/bandits.py" in names          # the course's pipeline, which the thresholds train
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert setup.count(f'"{torch_requirement()}"') == 2 and "pip install" in setup
    assert "results" in run and "grader.workflows.gradescope" in run
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(bundle) as zf:
            text = zf.read(script).decode()
        subprocess.run(["bash", "-n"], input=text.encode(), check=True)   # valid shell


def test_the_torch_pin_is_the_one_the_grader_declares(tmp_path: Path, monkeypatch) -> None:
    """setup.sh pins the torch of the grader's own requirements: the installed distribution's, else pyproject.toml's
    (a grader run from a checkout it was not installed from), else no bundle."""
    from importlib import metadata

    from packaging.requirements import Requirement

    from grader.core import tomlfile
    from grader.workflows import gradescope

    declared = [Requirement(d) for d in tomlfile.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    assert torch_requirement() == next(f"{r.name}{r.specifier}" for r in declared if r.name == "torch")

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(gradescope.metadata, "requires", not_installed)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["numpy", "torch==1.0; extra == \'old\'", '
                         '"torch >=2.1, <3; python_version >= \'3\'"]\n')
    assert Requirement(torch_requirement(pyproject)).specifier == Requirement("torch>=2.1,<3").specifier
    pyproject.write_text('[project]\ndependencies = ["numpy"]\n')
    with pytest.raises(BundleError, match="no requirement on torch"):
        torch_requirement(pyproject)


def test_bad_bundle_arguments_are_usage_errors(tmp_path: Path, capsys) -> None:
    assert main(["gradescope", str(tmp_path / "x.tar")]) == EXIT_USAGE
    assert main(["gradescope", str(tmp_path / "x.zip"), "--assignment", "nope"]) == EXIT_USAGE
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["gradescope", str(blocker / "x.zip")]) == EXIT_USAGE
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def autograder_dir(tmp_path: Path, bundle: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    (root / "results").mkdir()
    for name, text in files.items():
        path = root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # Gradescope copies run_autograder next to source/ and runs it from there.
    run = root / "run_autograder"
    run.write_bytes((root / "source" / "run_autograder").read_bytes())
    run.chmod(0o755)
    return root


def run_autograder(root: Path) -> dict:
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable,
           "PYTHONPATH": str(root / "source")}   # the bundled grader, not this checkout's
    env.pop("GRADER_COURSE", None)
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                          timeout=150, cwd=root)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    assert gradescope_problems(data) == [], gradescope_problems(data)
    return data


def check_documented_shape(data: dict) -> None:
    """What the grader always writes: every field a student's page needs (the schema only says what is allowed)."""
    assert set(data) <= {"score", "execution_time", "output", "output_format", "test_output_format",
                         "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests", "leaderboard"}
    for key in ("score", "execution_time", "output", "visibility", "stdout_visibility", "extra_data", "tests",
                "leaderboard"):
        assert key in data, key
    assert isinstance(data["score"], (int, float)) and data["visibility"] in {"visible", "hidden", "after_due_date",
                                                                               "after_published"}
    for t in data["tests"]:
        for key in ("score", "max_score", "status", "name", "output", "visibility", "extra_data"):
            assert key in t, key
        assert t["status"] in ("passed", "failed") and 0 <= t["score"] <= t["max_score"]
    for b in data["leaderboard"]:
        assert {"name", "value"} <= set(b) and b.get("order", "desc") in ("asc", "desc")


@pytest.mark.timeout(200)
def test_run_autograder_grades_the_submission(tmp_path: Path, bundle: Path) -> None:
    data = run_autograder(autograder_dir(tmp_path, bundle, {"bandits.py": SOLUTION, "notes.txt": "hi"}))
    check_documented_shape(data)
    assert data["score"] == 10 and data["extra_data"]["assignment"] == "bandits"
    assert all(t["status"] == "passed" for t in data["tests"])


@pytest.mark.timeout(200)
def test_run_autograder_always_writes_results(tmp_path: Path, bundle: Path) -> None:
    # Nothing handed in.
    data = run_autograder(autograder_dir(tmp_path / "a", bundle, {}))
    check_documented_shape(data)
    assert data["score"] == 0 and "no submission file found" in data["output"]
    # Two files for the same assignment.
    data = run_autograder(autograder_dir(tmp_path / "b", bundle, {"bandits.py": SOLUTION,
                                                                  "old/bandits (1).py": SOLUTION}))
    assert data["score"] == 0 and stopped_every_group_json(data, "hand in exactly one")
    # The template: zero, without crashing.
    data = run_autograder(autograder_dir(tmp_path / "c", bundle, {"bandits.py": TEMPLATE}))
    assert data["score"] == 0 and len(data["tests"]) == 3


def test_the_schema_refuses_what_gradescope_refuses() -> None:
    """The results.json schema the tests check every result against refuses a malformed file: each mistake
    is named where it is (the schema is no looser than Gradescope's documented fields)."""
    assert gradescope_problems({"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1, "status": "passed",
                                                        "tags": ["x"], "visibility": "after_published"}],
                                "leaderboard": [{"name": "x", "value": 1.5, "order": "asc"}]}) == []
    assert gradescope_problems({"tests": [{"name": "a", "score": 0}]}) == []     # every test has a score
    bad = {"score": "1", "visibility": "public", "bogus": 1,
           "tests": [{"score": 1, "max_score": None, "status": "ok", "extra": 1, "tags": "x"}],
           "leaderboard": [{"name": "x", "order": "up"}]}
    problems = "\n".join(gradescope_problems(bad))
    for needle in ("(top level): Additional properties are not allowed ('bogus' was unexpected)",
                   "score: '1' is not of type 'number'", "visibility: 'public' is not one of",
                   "tests/0: Additional properties are not allowed ('extra' was unexpected)",
                   "tests/0/max_score: None is not of type 'number'", "tests/0/status: 'ok' is not one of",
                   "tests/0/tags: 'x' is not of type 'array'", "leaderboard/0: 'value' is a required property",
                   "leaderboard/0/order: 'up' is not one of"):
        assert needle in problems, (needle, problems)
    assert gradescope_problems({"tests": [{"name": "a"}]}), "a score is needed somewhere"
    assert gradescope_problems([]) == ["(top level): [] is not of type 'object'"]
