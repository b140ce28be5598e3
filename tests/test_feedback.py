"""One results model, rendered many ways: every renderer reads the same fields, none parses another's text.

Covers: the model survives results.json (the HTML page of a batch is drawn from the file alone); a
cause that stopped a group is said once and its checks say "see above"; numbers in significant
digits; one atomic writer; live progress only in a terminal; and bad input (10 MB of output,
non-UTF-8 bytes, ANSI codes, an error raised inside torch) readable in every renderer.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import grader
from grader.core.causes import Failure, Record, contract_signature, explain_group
from grader.core.progress import CheckStarted, GroupEnded, GroupStarted, RunProgress
from grader.core.results import FAILED, NOT_RUN, PASSED, Cause, CheckResult, GradeResult, TestResult
from grader.core.suite import factor_hint, sig
from grader.feedback.gradebook import GradebookEntry, gradebook_csv
from grader.feedback.gradescope import to_gradescope
from grader.feedback.html import render_html
from grader.feedback.progress import LiveProgress
from grader.feedback.selfcheck import render_check_report
from grader.feedback.terminal import print_report
from grader.feedback.text import group_text, summary_line
from tests.conftest import ROOT, gradescope_problems, group_result


def sample_result() -> GradeResult:
    checks = [CheckResult("works", points=1, max_points=1),
              CheckResult("value", status=FAILED, max_points=2, message="loss 852.7 for a batch of 64",
                          expected="13.32", got="852.7", hint="you summed over the batch", traceback="line 3"),
              CheckResult("later", status=NOT_RUN, max_points=1, message="not run: see above", by_cause=True)]
    cause = Cause("timeout", "time limit reached while running probe", hint="", where="")
    tests = [TestResult("group", 1, 4, "failed", checks=checks, cause=cause, notes=["a note"],
                        student_output="hello\nworld", kind="unit", seconds=1.5,
                        extra_data={"startup_seconds": [0.1], "curve": [1.0, 2.0, 3.0]}),
             TestResult("other", 2, 2, "passed", checks=[CheckResult("fine", points=2, max_points=2)])]
    return GradeResult("bandits", "bandits.py", tests=tests, output="header", execution_time=3.25,
                       leaderboard=[{"name": "x", "value": 1.0, "order": "desc"}], extra_data={"seed": 1})


def test_the_model_survives_results_json():
    result = sample_result()
    data = json.loads(json.dumps(to_gradescope(result)))
    assert gradescope_problems(data) == []
    back = GradeResult.from_gradescope(data)
    assert back.tests == result.tests
    assert (back.assignment, back.submission, back.score, back.max_score) == ("bandits", "bandits.py", 3, 6)
    # the page drawn from the file is the page drawn from the model: nothing is parsed back from text
    assert render_html(data) == render_html(result)


def test_the_sandbox_paragraph_closes_every_page(grade_source):
    """What a student reads first is the score and what failed: the paragraph on the sandbox (six lines in
    a browser) opened the results.json output and the HTML page (issue 22); it closes them now, after what
    stopped every group. A grading without isolation still says so first."""
    from grader.sandbox import NoIsolation

    broken = (ROOT / "solutions" / "bandits.py").read_text().replace("import numpy as np\n",
                                                                     "import numpy as np\nimport not_a_module_anywhere\n")
    for isolation, first in ((None, "Multi-armed bandits"), (NoIsolation(reason="test"), "WARNING: graded WITHOUT")):
        result = grade_source("bandits", broken, **({"isolation": isolation} if isolation else {}))
        sandbox = result.extra_data["sandbox"]
        assert sandbox.startswith("sandbox: ") and "sandbox:" not in result.output
        assert result.output.startswith(first) and result.cause is not None
        data = to_gradescope(result)
        assert gradescope_problems(data) == []
        lines = data["output"].splitlines()
        assert lines[-1] == sandbox and lines.index("score: 0 / 10") < 3
        assert lines.index(sandbox) > next(i for i, ln in enumerate(lines) if "not_a_module_anywhere" in ln)
        back = GradeResult.from_gradescope(json.loads(json.dumps(data)))
        assert back.output == result.output and back.extra_data["sandbox"] == sandbox
        page = render_html(data)
        assert page == render_html(result)
        body = page[page.index("<body>"):]
        assert body.count("sandbox: ") == 1 and body.index("sandbox: ") > body.rindex("update_estimate")
        assert body.index(first) < body.index("<table")


def test_every_renderer_says_the_cause_once_and_what_was_expected():
    result = sample_result()
    text = group_text(result.tests[0])
    assert text.count("time limit reached") == 1
    assert "expected: 13.32" in text and "got:      852.7" in text and "hint: you summed over the batch" in text
    assert "– later — not run: see above" in text
    page = render_html(result)
    assert page.count("time limit reached") == 2       # the table's row and the group's section
    assert "13.32" in page and "you summed over the batch" in page
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    print_report(result, console)
    shown = console.file.getvalue()
    assert shown.count("time limit reached") == 2          # the table's row and the group's section
    assert "expected: 13.32" in shown and "not run: see above" in shown
    report = render_check_report(result, heading="Public checks")
    assert report.count("time limit reached") == 1 and "expected: 13.32" in report


def test_a_cause_shared_by_groups_is_printed_once():
    cause = Cause("import", "ModuleNotFoundError: No module named 'tqdm'", traceback='File "bandits.py", line 3')
    tests = [TestResult(name, 0, 3, "failed", cause=cause,
                        checks=[CheckResult("c", status=NOT_RUN, message="not run: see above", by_cause=True)])
             for name in ("first", "second")]
    result = GradeResult("bandits", "bandits.py", tests=tests)
    console = Console(file=io.StringIO(), width=200)
    print_report(result, console)
    shown = console.file.getvalue()
    assert shown.count('File "bandits.py", line 3') == 1 and "the same as in first" in shown
    assert render_html(result).count('File &quot;bandits.py&quot;, line 3') == 1
    for t in tests:                    # Gradescope shows each test alone: each says it in full
        assert 'File "bandits.py", line 3' in group_text(t)


def test_summary_lines_say_the_whole_cause():
    cause = Cause("import", "ModuleNotFoundError: No module named 'tqdm'")
    line = summary_line(TestResult("g", 0, 1, "failed", cause=cause))
    assert line == "your file failed to import: ModuleNotFoundError: No module named 'tqdm'"
    long = summary_line(TestResult("g", 0, 1, "failed", checks=[CheckResult("c", status=FAILED, message="word " * 80)]))
    assert len(long) <= 160 and long.endswith("…") and not long.endswith("wor…")


def _failure(kind="raised", type_="ValueError", message="bad", skipped=False, frames=(), **kw):
    traceback = f'  File "bandits.py", line 9, in helper\n{type_}: {message}'
    return Failure(kind, message, type_, traceback, tuple(frames), skipped=skipped, **kw)


def test_an_import_error_stops_every_check():
    f = _failure("import_error", "ModuleNotFoundError", "No module named 'copydetect'", module="copydetect",
                 frames=((3, "<module>", "import copydetect"),))
    records = [Record("a", 1, failure=f), Record("b", 2, failure=_failure("import_error", "ModuleNotFoundError",
                                                                          "No module named 'copydetect'", module="copydetect",
                                                                          skipped=True))]
    checks, cause = explain_group(records, 3, "bandits")
    assert cause.kind == "import" and cause.summary == "ModuleNotFoundError: No module named 'copydetect'"
    assert "`copydetect` is not available to submissions" in cause.hint and "numpy" in cause.hint
    assert [(c.status, c.message, c.by_cause) for c in checks] == [(NOT_RUN, "not run: see above", True)] * 2


def test_a_time_out_fails_its_check_and_stops_the_rest():
    timeout = _failure("timeout", "", "time limit reached while running epsilon_greedy; the child was stopped")
    records = [Record("ok", 1, passed=True), Record("slow", 1, failure=timeout),
               Record("next", 1, failure=Failure("timeout", "skipped: " + timeout.message, skipped=True))]
    checks, cause = explain_group(records, 3)
    assert cause.kind == "timeout" and "skipped" not in cause.summary
    assert [(c.status, c.by_cause) for c in checks] == [(PASSED, False), (FAILED, True), (NOT_RUN, True)]
    assert checks[0].points == 1 and sum(c.max_points for c in checks) == 3


def test_one_error_in_every_check_is_said_once_but_an_error_in_some_is_not_lifted():
    same = [Record(str(i), 1, failure=_failure(frames=((9, "helper", "raise ValueError('bad')"),))) for i in range(3)]
    checks, cause = explain_group(same, 3)
    assert cause.kind == "error" and cause.summary == "ValueError: bad" and cause.where == "line 9, in helper"
    assert all(c.status == FAILED and c.by_cause for c in checks)
    mixed = same[:2] + [Record("req", 1, message="wrong value")]
    checks, cause = explain_group(mixed, 3)
    assert cause is None
    assert checks[0].message == "your code raised ValueError: bad (line 9, in helper)"
    assert checks[0].traceback == '  File "bandits.py", line 9, in helper'      # the exception line is the message
    assert checks[2].message == "wrong value"


def test_missing_functions_and_other_signatures_are_named():
    missing = _failure(type_="AttributeError", message="module 'bandits' has no attribute 'update_estimate'")
    _, cause = explain_group([Record("a", 1, failure=missing), Record("b", 1, failure=missing)], 2, "bandits")
    assert cause.kind == "missing" and "`update_estimate`" in cause.hint
    wrong = _failure(type_="TypeError", message="update_estimate() missing 1 required positional argument: 'alpha'")
    statement = (ROOT / "assignments" / "bandits" / "README.md").read_text()
    checks, cause = explain_group([Record("a", 1, failure=wrong)] * 2, 2, "bandits",
                                  lambda name: contract_signature(statement, name))
    assert cause.kind == "signature" and all(c.status == NOT_RUN for c in checks)
    assert "def update_estimate(estimate: float, count: int, reward: float, alpha: float) -> float" in cause.hint


def test_hints_only_for_the_mistake_they_name():
    assert "summed" in factor_hint(852.8, 13.325, {64: "summed"}) or factor_hint(64 * 13.325, 13.325, {64: "summed"})
    assert factor_hint(64 * 13.325, 13.325, {64: "summed"}) == "summed"
    assert factor_hint(13.0, 13.325, {64: "summed", -1: "sign"}) == ""
    assert factor_hint(-13.325, 13.325, {64: "summed", -1: "sign"}) == "sign"


def test_numbers_in_significant_digits():
    assert sig(1e-6) == "1e-06" and sig(3e-6, 3) == "3e-06"
    assert sig(0.123456) == "0.1235" and sig(852.7123) == "852.7" and sig(5) == "5"
    assert sig([1e-6, 0.5, 2.0]) == "[1e-06, 0.5, 2]"
    assert sig(list(range(20)), items=3) == "[0, 1, 2, …]"


def test_one_atomic_writer_for_every_result_file():
    package = Path(grader.__file__).parent
    writers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if "os.replace(" in p.read_text())
    assert writers == ["feedback/files.py"]


def test_progress_is_live_in_a_terminal_and_silent_elsewhere():
    events = [GroupStarted("training", 5, "threshold"), CheckStarted("training", "training run 1"),
              RunProgress("training", 1, 120), RunProgress("training", 2, 95), RunProgress("training", 1, 380)]
    quiet = Console(file=io.StringIO(), force_terminal=False)
    with LiveProgress(quiet) as progress:
        for event in [*events, GroupEnded("training", 5, 5)]:
            progress(event)
    assert quiet.file.getvalue() == ""
    live = Console(file=io.StringIO(), force_terminal=True, width=120)
    with LiveProgress(live) as progress:
        for event in events:
            progress(event)
        progress._progress.refresh()
        shown = live.file.getvalue()
    assert "training" in shown and "training run 1" in shown
    assert "training run 2" in shown and "episodes 95" in shown and "episodes 380" in shown   # a line per run


def test_two_training_runs_never_share_a_counter(grade_source):
    """issue 22: the live display of a group with two training runs showed one counter (380 → 352 → 512 →
    455 episodes); the runs are events of their own."""
    from grader.core.progress import from_fields

    assert from_fields("training", {"run": 2, "episodes": 352}) == [RunProgress("training", 2, 352, "episodes")]
    assert from_fields("search", {"search": 1, "updates": 25}) == [RunProgress("search", 1, 25, "updates")]
    assert from_fields("g", {"check": "c"}) == [CheckStarted("g", "c")]
    assert from_fields("g", {"episodes": True, "junk": 1}) == []
    seen = []
    grade_source("bandits", (ROOT / "solutions" / "bandits.py").read_text(), only=["update_estimate", "agent"],
                 progress=seen.append)
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "GroupStarted" and kinds[-1] == "GroupEnded" and "CheckStarted" in kinds
    steps = [e for e in seen if isinstance(e, RunProgress)]
    assert steps and all(e.group == "agent" and e.run == 1 and e.unit == "steps" for e in steps)
    assert [e.done for e in steps] == sorted(e.done for e in steps)


def test_gradebook_cells_that_a_spreadsheet_would_run_are_quoted():
    result = GradeResult("bandits", "x.py", tests=[TestResult("g", 1, 2, "failed")])
    csv = gradebook_csv([GradebookEntry("=HYPERLINK(\"http://x\")", "bandits", result, "graded", "-x.py"),
                         GradebookEntry("bob", "bandits", None, "error: unreadable results.json")])
    rows = csv.splitlines()
    assert rows[0] == "student,assignment,g,total,max_score,time_s,status,file"
    assert rows[1].startswith("\"'=HYPERLINK(") and rows[1].endswith(",1,1,2,0,graded,'-x.py")
    assert rows[2] == "bob,bandits,,0,,,error: unreadable results.json,"


BAD_OUTPUT = '''
import sys

def update_estimate(estimate, count, reward, alpha):
    import torch
    print("\\x1b[2J\\x1b[1;1H\\x1b[32mALL CHECKS PASSED\\x1b[0m", flush=True)
    sys.stdout.buffer.write(b"bytes \\xff\\xfe\\xfd that are not UTF-8\\n")
    sys.stdout.buffer.flush()
    sys.stdout.write("x" * 10_000_000 + "\\n")
    sys.stdout.flush()
    return float(torch.zeros(2, 3) @ torch.zeros(4, 5))
'''


@pytest.mark.timeout(180)
def test_bad_input_is_readable_in_every_renderer(grade_source):
    result = grade_source("bandits", (ROOT / "solutions" / "bandits.py").read_text() + BAD_OUTPUT,
                          only=["update_estimate"])
    test = group_result(result, "update_estimate")
    assert test.score == 0 and test.cause is not None and test.cause.kind == "error"
    assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied" in test.cause.summary
    console = Console(file=io.StringIO(), width=120, force_terminal=True)
    print_report(result, console)
    data = to_gradescope(result)
    entry = GradebookEntry("eve\x1b[31m", "bandits", result)
    shown = {"terminal": console.file.getvalue(), "text": group_text(test), "html": render_html(result),
             "results.json": json.dumps(data, ensure_ascii=False), "gradebook": gradebook_csv([entry]),
             "check": render_check_report(result, heading="Public checks")}
    for name, text in shown.items():
        text.encode("utf-8")                                       # valid text, whatever the bytes were
        assert len(text) < 200_000, name                            # 10 MB printed, a few KB shown
        if name == "terminal":                                     # rich's own colours only: none of the student's
            assert "\x1b[2J" not in text and "\x1b[32mALL" not in text, name
        else:
            assert "\x1b" not in text, name
        if name != "gradebook":
            assert "mat1 and mat2 shapes cannot be multiplied" in text, name
    for name in ("text", "html", "results.json"):
        assert "\\x1b[32mALL CHECKS PASSED" in shown[name], name   # escaped, so it reads as what it is
        assert "not UTF-8" in shown[name] and "characters not shown" in shown[name], name
        assert "bandits.py" in shown[name] and "site-packages" not in shown[name], name   # the student's frames only
    assert gradescope_problems(data) == []


def test_an_error_in_some_checks_only_stays_with_them():
    f = _failure(frames=((9, "helper", "raise ValueError('bad')"),))
    checks, cause = explain_group([Record("ok", 1, passed=True), Record("a", 1, failure=f), Record("b", 1, failure=f)], 3)
    assert cause is None and [c.status for c in checks] == [PASSED, FAILED, FAILED]
    assert all(c.message.startswith("your code raised ValueError: bad") for c in checks[1:])


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mode):
    """results.json, feedback.html and gradebook.csv were written 0600 (mkstemp's mode): staff and a course's
    web folder could not read them. They follow the umask now, as a plain open() would."""
    import os
    import stat

    from grader.feedback.files import write_json_atomic, write_text_atomic

    old = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "results.json", {"score": 1})
        write_text_atomic(tmp_path / "feedback.html", "<p>ok</p>")
    finally:
        os.umask(old)
    for name in ("results.json", "feedback.html"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
