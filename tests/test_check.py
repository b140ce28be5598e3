"""``grader check``: public suite only, a line per hole, hints on failure, nothing hidden revealed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from grader.core.assignment import load_assignment
from grader.formats.notebooks import notebook_from_source, write_notebook
from grader.workflows.check import (
    CheckError,
    assignment_for,
    find_submission,
    format_report,
    public_groups,
    run_check,
    template_hints,
)
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)
BANDITS = (ROOT / "solutions" / "bandits.py").read_text()
HIDDEN_SUITE = (ROOT / "assignments" / "bandits" / "hidden" / "suite.py").read_text()


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, capture_output=True, text=True)


def test_reference_passes_every_hole_and_skips_the_threshold_run():
    report = run_check(ROOT / "solutions" / "bandits.py")
    assert report.passed
    assert [t.name for t in report.result.tests] == ["epsilon_greedy", "update_estimate"]
    assert report.skipped == ["agent"]
    assert report.result.extra_data["suite"] == "public"
    text = format_report(report)
    assert "✓ epsilon_greedy" in text and "✓ update_estimate" in text and "skipped" in text and "--full" in text


def test_full_runs_the_threshold_groups_too():
    report = run_check(ROOT / "solutions" / "bandits.py", full=True)
    assert [t.name for t in report.result.tests] == ["epsilon_greedy", "update_estimate", "agent"]
    assert report.passed and report.skipped == []


def test_threshold_groups_are_those_of_kind_threshold():
    a = load_assignment("bandits")
    assert public_groups(a, full=False) == (["epsilon_greedy", "update_estimate"], ["agent"])


def test_failures_show_the_check_and_what_came_back_and_the_todo_only_when_not_implemented(tmp_path):
    wrong = tmp_path / "bandits.py"
    wrong.write_text(BANDITS.replace("step = 1.0 / count if alpha == 0 else alpha", "step = alpha or 0.5"))
    report = run_check(wrong)
    assert not report.passed
    text = format_report(report)
    assert "✓ epsilon_greedy" in text and "✗ update_estimate" in text
    assert "update_estimate(1.0, 4, 3.0, alpha=0.0) == 1.5" in text and "got 2.0" in text
    todo = template_hints(report.assignment)["update_estimate"]
    assert todo not in text          # implemented, but wrong: the task's TODO would not say what is wrong
    template = format_report(run_check(ROOT / "templates" / "bandits.py"))
    assert f"todo: {todo}" in template and "not implemented yet" in template


def test_template_hints_come_from_the_student_template():
    hints = template_hints(load_assignment("bandits"))
    assert set(hints) == {"epsilon_greedy", "update_estimate"}
    assert "argmax" in hints["epsilon_greedy"]


def test_check_never_runs_the_hidden_suite(tmp_path):
    """A submission that fails everything sees only public check names and messages."""
    bad = tmp_path / "bandits.py"
    bad.write_text(BANDITS.replace("return int(np.argmax(estimates))", "return 0")
                   .replace("step = 1.0 / count if alpha == 0 else alpha", "step = 0.3"))
    text = format_report(run_check(bad, full=True))
    hidden_messages = ["ties go to the lowest index", "greedy share", "expected Q + (R − Q)/count",
                       "randomness comes only from rng", "ε-greedy learning on the"]
    for message in hidden_messages:
        assert message in HIDDEN_SUITE          # the probe phrases really are hidden-suite text
        assert message not in text


def test_notebook_is_checked_like_the_py(tmp_path):
    nb = tmp_path / "hw1-bandits (2).ipynb"
    nb.write_text(write_notebook(notebook_from_source(BANDITS, name="bandits", template=False)))
    report = run_check(nb)
    assert report.passed and report.assignment.name == "bandits"


def test_assignment_from_notebook_metadata_when_the_name_says_nothing(tmp_path):
    nb = tmp_path / "homework.ipynb"
    nb.write_text(write_notebook(notebook_from_source(BANDITS, name="bandits")))
    assert assignment_for(nb).name == "bandits"
    with pytest.raises(CheckError, match="pass --assignment"):
        assignment_for(tmp_path / "homework.py")


def test_find_submission_prefers_the_running_notebook_then_the_newest_file(tmp_path):
    (tmp_path / "bandits.py").write_text("x = 1\n")
    nb = tmp_path / "bandits.ipynb"
    nb.write_text("{}")
    assert find_submission("bandits", {"__session__": str(nb)}, cwd=tmp_path) == nb
    assert find_submission("bandits", {"__vsc_ipynb_file__": str(nb)}, cwd=tmp_path) == nb
    assert find_submission("bandits", {"__session__": "course/week1/bandits.ipynb"}, cwd=tmp_path) == nb
    assert find_submission("bandits", {}, cwd=tmp_path) == tmp_path / "bandits.py"
    assert find_submission("bandits", {"get_ipython": object()}, cwd=tmp_path) == nb
    with pytest.raises(CheckError, match="pass its path"):
        find_submission("bandits", {}, cwd=tmp_path / "..")


def test_check_function_is_silent_when_imported_not_run(capsys):
    exec("from grader import check\ncheck()", {"__name__": "bandits"})
    assert capsys.readouterr().out == ""


def test_check_function_from_a_script_checks_that_script(tmp_path):
    script = tmp_path / "bandits.py"
    script.write_text(BANDITS.split('if __name__ == "__main__":')[0]
                      + 'if __name__ == "__main__":\n    from grader import check\n    check()\n')
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Public checks of bandits.py" in proc.stdout and "2 of 2 groups pass" in proc.stdout


def test_check_cell_runs_inside_an_ipython_session(tmp_path):
    """The notebook's cells run one by one in IPython, the last one checks the saved notebook."""
    nb = notebook_from_source(BANDITS, name="bandits", template=False)
    (tmp_path / "bandits.ipynb").write_text(write_notebook(nb))
    cells = [c.source for c in nb.cells if c.cell_type == "code" and "__main__" not in c.source]
    script = textwrap.dedent(f"""
        from IPython.testing.globalipapp import start_ipython
        ip = start_ipython()
        for source in {cells!r}:
            result = ip.run_cell(source)
            assert result.success, result.error_in_exec or result.error_before_exec
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "bandits.ipynb as saved at" in proc.stdout
    assert "2 of 2 groups pass" in proc.stdout


def test_cli_exit_status_and_usage_errors(tmp_path):
    ok = cli("check", "solutions/bandits.py")
    assert ok.returncode == 0 and "2 of 2 groups pass" in ok.stdout
    failing = cli("check", "templates/bandits.ipynb")
    assert failing.returncode == 1 and "not implemented yet" in failing.stdout and "Traceback" not in failing.stdout
    missing = cli("check", "nope.py")
    assert missing.returncode == 2 and "no such file" in missing.stderr
    other = tmp_path / "homework.py"
    other.write_text("x = 1\n")
    unknown = cli("check", str(other))
    assert unknown.returncode == 2 and "pass --assignment" in unknown.stderr


def test_broken_notebook_is_reported_not_raised(tmp_path):
    path = tmp_path / "bandits.ipynb"
    path.write_text("{ not json")
    proc = cli("check", str(path))
    assert proc.returncode == 1 and "is not JSON" in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
