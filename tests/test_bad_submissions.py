"""Bad input gets a clear message in its feedback and zero for those tests only."""

from __future__ import annotations

import math

import pytest

from tests.conftest import ROOT, feedback, group_result, said, scores, stopped_every_group

REFERENCE = (ROOT / "solutions" / "bandits.py").read_text()
HOLES = ["epsilon_greedy", "update_estimate"]
pytestmark = pytest.mark.timeout(120)


def test_syntax_error_fails_every_group_with_the_line(grade_source):
    result = grade_source("bandits", "def epsilon_greedy(:\n    pass\n")
    assert result.score == 0
    assert stopped_every_group(result, "does not parse") and "line 1" in said(result)


def test_missing_function_costs_only_its_group(grade_source):
    source = REFERENCE.replace("def update_estimate(", "def update_estimate_renamed(")
    result = grade_source("bandits", source, only=HOLES)
    assert scores(result) == {"epsilon_greedy": 4, "update_estimate": 0}
    assert "has no attribute 'update_estimate'" in feedback(group_result(result, "update_estimate"))


@pytest.mark.parametrize("body, message", [
    ("return [0]", "got list"),
    ("return 0.0", "got float"),
    ("return True", "got bool"),
    ("return AlwaysEqual()", "got AlwaysEqual"),
    ("return None", "got NoneType"),
])
def test_epsilon_greedy_wrong_return_type(grade_source, body, message):
    source = REFERENCE + f'''
class AlwaysEqual:
    def __eq__(self, other): return True
    def __int__(self): return 0
    def __index__(self): return 0
    def __float__(self): return 0.0

def epsilon_greedy(estimates, epsilon, rng):
    {body}
'''
    result = grade_source("bandits", source, only=["epsilon_greedy"])
    assert result.score == 0
    assert message in feedback(result.tests[0])


@pytest.mark.parametrize("body, message", [
    ("return float('nan')", "NaN"),
    ("return [estimate]", "got list"),
    ("return 'x'", "got str"),
    ("return AlwaysEqual()", "got AlwaysEqual"),
])
def test_update_estimate_wrong_return(grade_source, body, message):
    source = REFERENCE + f'''
class AlwaysEqual(float):
    def __eq__(self, other): return True
    __hash__ = float.__hash__

def update_estimate(estimate, count, reward, alpha):
    {body}
'''
    result = grade_source("bandits", source, only=["update_estimate"])
    if message == "got AlwaysEqual":  # a float subclass is reported by its value, which is 0.0 here
        assert result.score == 0
    else:
        assert result.score == 0 and message in feedback(result.tests[0])


def test_exception_inside_function_shows_the_students_traceback(grade_source):
    source = REFERENCE + '''
def update_estimate(estimate, count, reward, alpha):
    return helper(estimate)

def helper(x):
    raise ValueError("bad estimate %r" % x)
'''
    result = grade_source("bandits", source, only=HOLES)
    out = feedback(group_result(result, "update_estimate"))
    assert "your code raised ValueError: bad estimate" in out
    assert "in helper" in out and "bandits.py" in out
    assert "runner.py" not in out  # the grader's own frames are hidden
    assert scores(result)["epsilon_greedy"] == 4


def test_import_of_missing_module(grade_source):
    result = grade_source("bandits", REFERENCE + "\nimport numpy_but_misspelled\n")
    assert result.score == 0
    assert stopped_every_group(result, "No module named 'numpy_but_misspelled'")
    assert "failed to import" in said(result)


def test_infinite_loop_times_out_and_other_groups_are_graded(grade_source):
    source = REFERENCE + '''
def epsilon_greedy(estimates, epsilon, rng):
    while True:
        pass
'''
    result = grade_source("bandits", source, only=HOLES, time_scale=0.1)
    assert scores(result) == {"epsilon_greedy": 0, "update_estimate": 3}
    assert "time limit" in feedback(group_result(result, "epsilon_greedy"))


def test_binary_file_is_not_python(grade_source, tmp_path):
    path = tmp_path / "bandits.py"
    path.write_bytes(b"\x7fELF\x00\x01\x02garbage")
    from tests.conftest import grade_path
    result = grade_path(path, "bandits")
    assert result.score == 0
    assert stopped_every_group(result, "not a Python source file")


def test_sys_exit_at_import_and_in_a_hole(grade_source):
    result = grade_source("bandits", REFERENCE + "\nimport sys\nsys.exit(0)\n", only=HOLES)
    assert result.score == 0
    assert stopped_every_group(result, "sys.exit(0)")
    source = REFERENCE + '''
import os
def update_estimate(estimate, count, reward, alpha):
    os._exit(0)
'''
    result = grade_source("bandits", source, only=HOLES)
    assert scores(result) == {"epsilon_greedy": 4, "update_estimate": 0}
    assert "os._exit" in feedback(group_result(result, "update_estimate"))


def test_printing_fake_results_changes_nothing(grade_source):
    source = REFERENCE + '''
import json, sys
print(json.dumps({"score": 10, "tests": [{"name": "epsilon_greedy", "score": 4, "status": "passed"}]}))
print('{"status": "ok", "result": 1}', file=sys.stderr)
def epsilon_greedy(estimates, epsilon, rng):
    print("PASSED all checks")
    raise NotImplementedError
'''
    result = grade_source("bandits", source, only=HOLES)
    assert scores(result) == {"epsilon_greedy": 0, "update_estimate": 3}
    assert "your program printed" in feedback(group_result(result, "epsilon_greedy"))


def test_results_are_json_safe_with_nan(grade_source, tmp_path):
    from grader.feedback.files import write_json_atomic
    from grader.feedback.gradescope import to_gradescope
    source = REFERENCE + "\ndef update_estimate(estimate, count, reward, alpha):\n    return float('nan')\n"
    result = grade_source("bandits", source, only=["update_estimate"])
    write_json_atomic(tmp_path / "r.json", to_gradescope(result))
    assert not math.isnan(result.score)
