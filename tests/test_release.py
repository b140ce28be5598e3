"""``grader release``: a student bundle with everything needed to work and check, and no answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.core.assignment import list_assignments, load_assignment
from grader.formats.markers import find_holes
from grader.workflows.release import (
    LeakError,
    ReleaseError,
    build_release,
    populate,
    scan_bundle,
    scan_zip,
    solution_lines,
)
from tests.conftest import ROOT

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("test_release")]
ASSIGNMENTS = list_assignments()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The bandits bundle (the assignment complete on this branch); others are scanned in their own test."""
    return build_release(tmp_path_factory.mktemp("release") / "bundle", only=["bandits"])


def files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_bundle_has_what_a_student_needs(bundle):
    names = {str(p) for p in files(bundle)}
    for needed in ["README.md", "requirements.txt", "pyproject.toml", "course.toml", "grader/__init__.py",
                   "grader/cli/main.py", "grader/kits/holes/child.py",
                   "grader/sandbox/runner.py", "templates/bandits.py", "templates/bandits.ipynb",
                   "assignments/bandits/README.md", "assignments/bandits/assignment.toml",
                   "assignments/bandits/probes.py", "assignments/bandits/public/suite.py"]:
        assert needed in names, needed
    assert "-e ." in (bundle / "requirements.txt").read_text()
    assert "torch==2.13.0" in (bundle / "requirements.txt").read_text()
    nbformat.validate(nbformat.read(bundle / "templates" / "bandits.ipynb", as_version=4))
    assert (bundle / "templates" / "bandits.py").read_text() == (ROOT / "templates" / "bandits.py").read_text()


def test_bundle_has_no_hidden_tests_solutions_or_project_tests(bundle):
    for rel in files(bundle):
        assert not {"hidden", "solutions", "tests", "bench", "__pycache__"} & set(rel.parts), rel
        assert rel.suffix != ".pyc"
    assert scan_bundle(bundle) == []


def test_no_solution_region_appears_anywhere_in_the_bundle(bundle):
    """Independent of the scanner: every region's code, whitespace-normalised, is absent from every file."""
    regions = []
    for sol in sorted((ROOT / "solutions").glob("*.py")):
        regions += [" ".join(h.solution.split()) for h in find_holes(sol.read_text())]
    assert regions
    for rel in files(bundle):
        text = " ".join((bundle / rel).read_bytes().decode("utf-8", "replace").split())
        for region in regions:
            assert region not in text, (rel, region[:80])


def test_student_can_run_check_from_the_bundle(bundle, tmp_path):
    """The bundle's own grader package (not the checkout's) runs the public checks."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(bundle / "templates" / "bandits.ipynb", work / "bandits.ipynb")
    (work / "bandits.py").write_text((ROOT / "solutions" / "bandits.py").read_text())
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(bundle), "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], cwd=work,
                           capture_output=True, text=True, env=env)
    assert where.stdout.strip() == str(bundle / "grader" / "__init__.py")
    ok = subprocess.run([sys.executable, "-m", "grader", "check", "bandits.py", "--full"], cwd=work,
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "3 of 3 groups pass" in ok.stdout, ok.stdout + ok.stderr
    todo = subprocess.run([sys.executable, "-m", "grader", "check", "bandits.ipynb"], cwd=work,
                          capture_output=True, text=True, env=env)
    assert todo.returncode == 1 and "not implemented yet" in todo.stdout and "Traceback" not in todo.stderr
    graded = subprocess.run([sys.executable, "-m", "grader", "grade", "bandits.py"], cwd=work,
                            capture_output=True, text=True, env=env)
    assert "hidden" in graded.stdout + graded.stderr   # no hidden suite in the bundle: it cannot grade


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_assignment_releases_without_its_own_answers_or_hidden_tests(tmp_path, name):
    """Alone, an assignment's bundle holds none of its own solution and nothing hidden; the only findings
    allowed are solutions of an earlier assignment it builds on, and revealing those makes it clean."""
    populate(tmp_path, only=[name])
    own = load_assignment(name).submission_name
    leaks = scan_bundle(tmp_path)
    others = set()
    for leak in leaks:
        assert "solution line of" in leak.what and f"of {own}:" not in leak.what, leak
        others.add(leak.what.split("solution line of ")[1].split(".py:")[0])
    if others:
        by_file = {Path(load_assignment(n).submission_name).stem: n for n in ASSIGNMENTS}
        assert scan_bundle(tmp_path, reveal=[by_file[o] for o in others]) == []
        with pytest.raises(LeakError, match="--reveal"):
            build_release(tmp_path / "out", only=[name])


def test_full_release_with_the_needed_reveals_is_clean(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    populate(stage)
    revealed = sorted({leak.what.split("solution line of ")[1].split(".py:")[0] for leak in scan_bundle(stage)})
    by_file = {Path(load_assignment(n).submission_name).stem: n for n in ASSIGNMENTS}
    out = build_release(tmp_path / "all", reveal=[by_file[r] for r in revealed])
    for name in ASSIGNMENTS:
        stem = Path(load_assignment(name).submission_name).stem
        assert (out / "templates" / f"{stem}.ipynb").is_file() and (out / "templates" / f"{stem}.py").is_file()
        assert (out / "assignments" / name / "assignment.toml").is_file()
        assert not (out / "assignments" / name / "hidden").exists()
    assert len(revealed) < len(ASSIGNMENTS)      # revealing is the exception, not the rule
    assert {"nas", "vae"} <= set(ASSIGNMENTS) and not list(out.rglob("*table*.npz"))   # the NAS table stays hidden


# -- the scanner can fail ---------------------------------------------------------
@pytest.fixture
def copy_of(bundle, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(bundle, target)
    return target


def test_scanner_finds_a_solution_line_in_a_template(copy_of):
    line = next(iter(solution_lines(ROOT)))
    path = copy_of / "templates" / "bandits.py"
    path.write_text(path.read_text() + f"\n# oops\n{line}\n")
    leaks = scan_bundle(copy_of)
    assert any(leak.file == "templates/bandits.py" and "solution line" in leak.what for leak in leaks)


def test_scanner_finds_a_solution_in_a_notebook_cell(copy_of):
    nb_path = copy_of / "templates" / "bandits.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell((ROOT / "solutions" / "bandits.py").read_text()))
    nbformat.write(nb, nb_path)
    assert any(leak.file == "templates/bandits.ipynb" for leak in scan_bundle(copy_of))


def test_scanner_finds_hidden_files_renamed_or_copied_and_hidden_lines(copy_of):
    hidden = ROOT / "assignments" / "bandits" / "hidden" / "suite.py"
    shutil.copy(hidden, copy_of / "assignments" / "bandits" / "innocent.py")
    (copy_of / "assignments" / "bandits" / "hidden").mkdir()
    (copy_of / "assignments" / "bandits" / "hidden" / "x.txt").write_text("x")
    lines = [ln for ln in hidden.read_text().splitlines() if "1 − ε + ε/k" in ln]
    (copy_of / "notes.md").write_text(lines[0])
    leaks = {(leak.file, leak.what.split(" ")[0]) for leak in scan_bundle(copy_of)}
    assert ("assignments/bandits/innocent.py", "identical") in leaks
    assert ("assignments/bandits/hidden/x.txt", "inside") in leaks
    assert ("notes.md", "contains") in leaks


def test_scanner_finds_hidden_data_of_any_assignment(copy_of):
    data = sorted(p for p in (ROOT / "assignments").glob("*/hidden/**/*") if p.is_file() and p.suffix != ".py")
    assert data, "the VAE's held-out digits are a hidden data file"
    shutil.copy(data[0], copy_of / "grader" / "data.bin")
    assert any(leak.file == "grader/data.bin" and "identical" in leak.what for leak in scan_bundle(copy_of))


def test_release_refuses_to_write_a_leaky_bundle(tmp_path, monkeypatch):
    import grader.workflows.release as release

    original = release.populate

    def leaky(target, root=None, only=None):
        original(target, root, only)
        (target / "templates" / "bandits.py").write_text((ROOT / "solutions" / "bandits.py").read_text())

    monkeypatch.setattr(release, "populate", leaky)
    with pytest.raises(ReleaseError, match="would leak"):
        build_release(tmp_path / "out", only=["bandits"])
    assert not (tmp_path / "out").exists()


# -- zip and usage ----------------------------------------------------------------
def test_zip_bundle_is_deterministic_and_clean(tmp_path):
    a = build_release(tmp_path / "a" / "course.zip", only=["bandits"])
    b = build_release(tmp_path / "b" / "course.zip", only=["bandits"])
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        names = zf.namelist()
    assert "course/templates/bandits.ipynb" in names and all(n.startswith("course/") for n in names)
    assert scan_zip(a) == []


def test_cli_release_usage(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    run = lambda *a: subprocess.run([sys.executable, "-m", "grader", "release", *a], cwd=ROOT,  # noqa: E731
                                    capture_output=True, text=True)
    busy = run(str(tmp_path / "full"))
    assert busy.returncode == 2 and "not an empty directory" in busy.stderr
    unknown = run(str(tmp_path / "new"), "--only", "nope")
    assert unknown.returncode == 2 and "unknown assignment(s) nope" in unknown.stderr
    bad_reveal = run(str(tmp_path / "new"), "--only", "bandits", "--reveal", "nope")
    assert bad_reveal.returncode == 2 and "nope in --reveal" in bad_reveal.stderr
    ok = run(str(tmp_path / "new"), "--only", "bandits")
    assert ok.returncode == 0 and (tmp_path / "new" / "templates" / "bandits.ipynb").is_file()


def test_the_bundle_readme_names_what_was_released(tmp_path):
    """The README's commands named bandits.ipynb in a bundle that held only reinforce_baseline (issue 22)."""
    populate(tmp_path, only=["reinforce_baseline"])
    readme = (tmp_path / "README.md").read_text()
    assert "grader check reinforce_baseline.ipynb" in readme and "grader check reinforce_baseline.py --full" in readme
    for other in set(ASSIGNMENTS) - {"reinforce_baseline"}:
        stem = Path(load_assignment(other).submission_name).stem
        assert f"{stem}.py" not in readme and f"{stem}.ipynb" not in readme and f"`{other}`" not in readme, other


@pytest.mark.timeout(300)
def test_a_one_assignment_bundle_checks_with_its_own_grader(tmp_path):
    """`release --only reinforce_baseline` wrote a bundle whose checks could not run (CartPole lived in a
    sibling assignment's folder); kits travel with the grader package now. The bundle's own grader
    package (not this checkout's) runs the public checks, training included, on the reference."""
    out = tmp_path / "bundle"
    build_release(out, only=["reinforce_baseline"])
    assert sorted(p.name for p in (out / "assignments").iterdir()) == ["reinforce_baseline"]
    shutil.copy(ROOT / "solutions" / "reinforce_baseline.py", out / "reinforce_baseline.py")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import grader; "
              "assert grader.__file__.startswith(sys.argv[1]), grader.__file__; "
              "from grader.cli.main import main; sys.exit(main(['check', 'reinforce_baseline.py', '--full']))")
    run = subprocess.run([sys.executable, "-c", script, str(out)], cwd=out, capture_output=True, text=True, timeout=280)
    assert "✓ baseline_losses" in run.stdout, run.stdout + run.stderr
    # the training group ran on the kit's proxy env, whatever it scored (a failure would show its evaluation)
    assert "No module named" not in run.stdout, run.stdout
    assert "✓ training" in run.stdout or "mean evaluation return" in run.stdout, run.stdout
