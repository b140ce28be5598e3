"""Assignment identity: --assignment, notebook metadata, the file name (tolerant), then the functions
the file defines; one function (grader.core.identity.identify) behind grade, check, grade-batch and
Gradescope."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import grader.core.identity as identity_module
from grader.core.assignment import UnknownAssignment
from grader.core.course import Course
from grader.core.identity import (
    BY_FUNCTIONS,
    BY_METADATA,
    BY_NAME,
    BY_OPTION,
    UnclearAssignment,
    assignment_from_name,
    identify,
)
from grader.formats.notebooks import notebook_from_source, write_notebook
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)
BANDITS = (ROOT / "solutions" / "bandits.py").read_bytes()
REINFORCE = (ROOT / "solutions" / "reinforce.py").read_bytes()
BASELINE = (ROOT / "solutions" / "reinforce_baseline.py").read_bytes()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("filename, expected", [
    ("reinforce with baseline.py", "reinforce_baseline"),
    ("HW3 - reinforce with baseline.py", "reinforce_baseline"),     # was graded as 'reinforce' (7/10)
    ("reinforce-baseline.py", "reinforce_baseline"),
    ("REINFORCE_Baseline.py", "reinforce_baseline"),
    ("ReinforceBaseline.ipynb", "reinforce_baseline"),
    ("hw3_baseline.py", "reinforce_baseline"),
    ("HW2 - reinforce_baseline (3).py", "reinforce_baseline"),
    ("reinforce.py", "reinforce"),
    ("hw2-REINFORCE (1).ipynb", "reinforce"),
    ("hw1-bandits (2).ipynb", "bandits"),
    ("Bandit.py", "bandits"),
    ("bandits_v2.py", "bandits"),
    ("hw4-VAE.py", "vae"),
    ("Untitled.ipynb", None),
    ("main.py", None),
    ("submission.py", None),
    ("gymnasium_utils.py", None),       # no assignment's name as a word
    ("bandits_vs_vae.py", None),        # two fit alike: the name alone does not decide
])
def test_file_names_are_read_tolerantly(filename, expected):
    assert assignment_from_name(filename) == expected


def test_the_functions_decide_when_the_name_does_not():
    for name in ("Untitled.py", "main.py", "submission.py"):
        found = identify(name, BASELINE)
        assert (found.assignment, found.decided_by, found.note) == ("reinforce_baseline", BY_FUNCTIONS, "")
    assert identify("main.py", REINFORCE).assignment == "reinforce"
    assert identify("main.py", BANDITS).assignment == "bandits"
    # The reinforce_baseline template also defines compute_returns (pasted): still reinforce_baseline.
    assert identify("code.py", (ROOT / "templates" / "reinforce_baseline.py").read_bytes()).assignment \
        == "reinforce_baseline"


def test_when_name_and_functions_disagree_the_functions_win_with_a_one_line_note():
    found = identify("reinforce.py", BASELINE)
    assert found.assignment == "reinforce_baseline" and found.decided_by == BY_FUNCTIONS
    assert "reinforce.py" in found.note and "baseline_losses" in found.note and "\n" not in found.note
    assert found.notes == [found.note]
    found = identify("HW3 - reinforce with baseline.py", BASELINE)     # name and functions agree: no note
    assert (found.assignment, found.decided_by, found.note) == ("reinforce_baseline", BY_NAME, "")


def test_the_order_option_metadata_name_functions():
    nb = write_notebook(notebook_from_source(BANDITS.decode(), name="bandits")).encode()
    assert identify("vae.ipynb", nb).decided_by == BY_METADATA          # metadata before the name
    assert identify("vae.ipynb", nb).assignment == "bandits"
    assert identify("vae.ipynb", nb, wanted="reinforce").decided_by == BY_OPTION
    with pytest.raises(UnknownAssignment, match="unknown assignment 'nope'"):
        identify("bandits.py", BANDITS, wanted="nope")
    # A notebook without the metadata is told by the code of its cells.
    plain = json.loads(nb)
    plain["metadata"].pop("grader", None)
    assert identify("Untitled.ipynb", json.dumps(plain).encode()).assignment == "bandits"


def test_nothing_decides_a_usage_error_that_lists_the_candidates():
    with pytest.raises(UnclearAssignment, match=r"pass --assignment \(one of: bandits, nas, reinforce"):
        identify("main.py", b"x = 1\n")
    with pytest.raises(UnclearAssignment, match=r"one of: reinforce, reinforce_baseline\)"):
        identify("main.py", REINFORCE + b"\ndef baseline_losses(*args):\n    pass\n")
    with pytest.raises(UnclearAssignment, match=r"only some of the functions of reinforce"):
        identify("main.py", b"def compute_returns(rewards, gamma):\n    return rewards\n")
    with pytest.raises(UnclearAssignment, match=r"one of: bandits, vae\)"):
        identify("bandits_vs_vae.py", b"x = 1\n")


def test_files_that_do_not_parse_or_nest_too_deep_are_still_told():
    broken = b"def baseline_losses(logits, values, actions, returns):\n    return (\n"
    assert identify("main.py", broken).assignment == "reinforce_baseline"     # the scan for 'def name('
    deep = b"x = " + b"(" * 300_000 + b"\ndef epsilon_greedy(): pass\ndef update_estimate(): pass\n"
    assert identify("main.py", deep).assignment == "bandits"
    assert identify("bandits.py", b"\xff\xfe\x00 not text").assignment == "bandits"
    with pytest.raises(UnclearAssignment):
        identify("main.py", b"(" * 300_000)


def test_every_command_asks_the_one_identity_function(tmp_path, monkeypatch):
    """grade, check, grade-batch and Gradescope all go through grader.core.identity.identify."""
    from grader.cli.main import _resolve
    from grader.workflows.check import resolve_assignment
    from grader.workflows.discovery import discover, discover_student

    calls = []
    real = identity_module.identify

    def spy(filename, data=None, wanted=None, root=None):
        calls.append(str(filename))
        return real(filename, data, wanted, root)

    monkeypatch.setattr(identity_module, "identify", spy)
    import grader.workflows.discovery as discovery
    monkeypatch.setattr(discovery, "identify", spy)
    path = tmp_path / "subs" / "alice" / "main.py"
    path.parent.mkdir(parents=True)
    path.write_bytes(BASELINE)
    course = Course.find()
    assert _resolve(path, None, course)[0].name == "reinforce_baseline"              # grader grade
    assert resolve_assignment(path)[0].name == "reinforce_baseline"                  # grader check
    assert [j.assignment for j in discover(tmp_path / "subs").jobs] == ["reinforce_baseline"]   # grade-batch
    assert [j.assignment for j in discover_student(path.parent, "submission")] == ["reinforce_baseline"]  # Gradescope
    assert calls == ["main.py"] * 4
    assert not hasattr(__import__("grader.core.assignment", fromlist=["x"]), "infer_assignment")


def test_grade_says_why_it_took_another_assignment_than_the_name(tmp_path):
    """A bandits solution saved as vae.py is graded as bandits, and the output says so in one line."""
    path = tmp_path / "vae.py"
    path.write_bytes(BANDITS)
    out = tmp_path / "results.json"
    proc = cli("grade", str(path), "--seed", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["extra_data"]["assignment"] == "bandits" and data["score"] == 10
    notes = [ln for ln in data["output"].splitlines() if "the file name vae.py says vae" in ln]
    assert len(notes) == 1 and "graded as bandits" in notes[0]
    assert "graded as bandits" in proc.stdout


def test_an_untitled_notebook_is_graded_by_its_metadata_as_check_does(tmp_path):
    nb = tmp_path / "Untitled.ipynb"
    nb.write_text(write_notebook(notebook_from_source(BANDITS.decode(), name="bandits", template=False)))
    out = tmp_path / "results.json"
    graded = cli("grade", str(nb), "--seed", "1", "--json", str(out))
    assert graded.returncode == 0, graded.stderr
    assert json.loads(out.read_text())["score"] == 10
    checked = cli("check", str(nb))
    assert checked.returncode == 0 and "2 of 2 groups pass" in checked.stdout


def test_nothing_decides_is_one_line_exit_2_in_grade_and_check(tmp_path):
    path = tmp_path / "main.py"
    path.write_text("x = 1\n")
    for command in ("grade", "check"):
        proc = cli(command, str(path))
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert "cannot tell the assignment of main.py" in proc.stderr and "one of: bandits" in proc.stderr
