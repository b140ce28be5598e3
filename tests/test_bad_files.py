"""Every bad file still gets a result (or one usage line): pathological sources, files that are
not files, oversize files, and student text that tries to drive the terminal.

Each case ends with a clear message, exit 0 with a result (or exit 2 for a usage error), no
hang, and nothing left in the temp folder.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import time

import pytest
from rich.console import Console

from grader.cli.main import EXIT_USAGE, main
from grader.core.text import printable_text
from grader.feedback.terminal import print_report
from grader.formats.source import MAX_SUBMISSION_BYTES
from tests.conftest import ROOT, feedback, group_result, stopped_every_group_json

REFERENCE = (ROOT / "solutions" / "bandits.py").read_text()
pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def private_tmp(tmp_path, monkeypatch):
    """A temp folder of this test's own (for the grader here and in its subprocesses), so that what
    other test runs create meanwhile in /tmp cannot look like something this one left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _temp_leftovers() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith(("grader-artifacts-", "grader-child-",
                                                                          "grader-submission-"))}


@pytest.mark.parametrize("source, message", [
    ("x = " + "-" * 300_000 + "1\n", "nests expressions too deeply"),
    ("x = " + "a+" * 300_000 + "1\n", "nests expressions too deeply"),
    ("x = " + "(" * 300_000 + ")" * 300_000 + "\n", "too many nested parentheses"),
])
def test_deeply_nested_source_gets_a_result_not_a_crash(tmp_path, capsys, source, message):
    """compile() raised RecursionError in the parent: the grader crashed and wrote no result."""
    path = tmp_path / "bandits.py"
    path.write_text(source)
    before = _temp_leftovers()
    code = main(["grade", str(path), "--json", str(tmp_path / "r.json"), "--seed", "1"])
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] == 0 and stopped_every_group_json(data, message), data["output"]
    assert _temp_leftovers() <= before


def test_deeply_nested_notebook_cell_gets_a_result(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(REFERENCE),
                                         nbformat.v4.new_code_cell("x = " + "-" * 300_000 + "1\n")])
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    path = tmp_path / "bandits.ipynb"
    path.write_text(nbformat.writes(nb))
    assert main(["grade", str(path), "--json", str(tmp_path / "r.json"), "--seed", "1"]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] == 0 and stopped_every_group_json(data, "cannot be read"), data["output"]


def test_fifo_is_a_usage_error_and_never_hangs(tmp_path):
    """`grader grade` on a FIFO used to hang (and leave /tmp/grader-artifacts-* when killed)."""
    fifo = tmp_path / "bandits.py"
    os.mkfifo(fifo)
    before = _temp_leftovers()
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "grader", "grade", str(fifo), "--html", str(tmp_path / "f.html")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == EXIT_USAGE and time.monotonic() - t0 < 30
    assert run.stderr.count("\n") == 1 and "not a regular file" in run.stderr
    assert _temp_leftovers() <= before


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_device_is_a_usage_error(device, capsys):
    assert main(["grade", device, "--assignment", "bandits"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "not a regular file" in err and err.count("\n") == 1


def test_fifo_inside_grading_is_refused_without_reading(tmp_path):
    """The same check on the open descriptor, for callers that bypass the CLI (batch, Gradescope)."""
    from grader.core.grading import submission_problem

    fifo = tmp_path / "bandits.py"
    os.mkfifo(fifo)
    assert "a FIFO (named pipe), not a regular file" in submission_problem(fifo)


def test_oversize_file_gets_a_result_with_the_limit(tmp_path):
    path = tmp_path / "bandits.py"
    with open(path, "wb") as fh:
        fh.write(REFERENCE.encode())
        fh.truncate(MAX_SUBMISSION_BYTES + 1)
    assert main(["grade", str(path), "--json", str(tmp_path / "r.json"), "--seed", "1"]) == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["score"] == 0 and stopped_every_group_json(data, "too large"), data["output"]


def test_sigterm_removes_the_temp_folders(tmp_path):
    """Killed politely mid-grading, the grader stops its children and removes its temp folders."""
    path = tmp_path / "bandits.py"
    path.write_text(REFERENCE + "\nimport time\ntime.sleep(60)\n")
    before = _temp_leftovers()
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade", str(path), "--html", str(tmp_path / "f.html")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "interrupted" in err
    end = time.monotonic() + 10
    while _temp_leftovers() - before and time.monotonic() < end:
        time.sleep(0.2)
    assert _temp_leftovers() <= before


# -- student text cannot drive the terminal ----------------------------------------------
ANSI = "\x1b[2J\x1b[H\x1b[32mepsilon_greedy 4/4 passed\x1b[0m\r\x9b1A\u202e"


def test_printable_text_escapes_every_control_character():
    assert printable_text("a\tb\nc") == "a\tb\nc"
    escaped = printable_text(ANSI)
    assert not any(ord(c) < 32 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f for c in escaped)
    assert "\\x1b[2J" in escaped and "\\x0d" in escaped and "\\x9b" in escaped and "\\u202e" in escaped
    assert printable_text(escaped) == escaped   # idempotent


def test_ansi_in_output_and_exceptions_reaches_no_renderer_raw(grade_source, tmp_path):
    source = REFERENCE + f'''
print({ANSI!r})
def update_estimate(estimate, count, reward, alpha):
    raise ValueError({ANSI!r})
'''
    result = grade_source("bandits", source, only=["epsilon_greedy", "update_estimate"])
    buf = io.StringIO()
    print_report(result, Console(file=buf, force_terminal=False, width=200), verbose=True)
    text = buf.getvalue()
    assert "\x1b" not in text and "\r" not in text and "\x9b" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text
    out = feedback(group_result(result, "update_estimate"))
    assert "\x1b" not in out and "\\x1b[32m" in out

    from grader.feedback.html import render_html
    page = render_html(result)
    assert "\x1b" not in page and "\x9b" not in page and "\\x1b" in page

    from grader.workflows.check import format_report, run_check
    path = tmp_path / "bandits.py"
    path.write_text(source)
    report = format_report(run_check(path))
    assert "\x1b" not in report and "\r" not in report
