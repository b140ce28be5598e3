"""The parent/child protocol on a toy assignment: callbacks, fork, restarts, output capture."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from grader.assignment import load_assignment
from grader.grading import GradeOptions, grade_submission

pytestmark = pytest.mark.timeout(60)

TOML = '''
name = "toy"
submission = "toy.py"
[limits]
wall_seconds = 10
output_bytes = 2000
[groups.callbacks]
points = 1
[groups.fork]
points = 1
[groups.restart]
points = 2
[groups.output]
points = 1
'''

PROBES = '''
import os

def count_to(sub, ctx, n):
    seen = []
    try:
        while True:
            seen.append(ctx.callback("next"))
    except BaseException as exc:  # the parent aborts when its budget is spent
        return {"seen": seen, "stopped": type(exc).__name__}

def remember(sub, ctx, value):
    ctx.state["value"] = value
    return os.getpid()

def recall(sub, ctx):
    return {"value": ctx.state.get("value"), "pid": os.getpid()}

def call(sub, ctx, name):
    return getattr(sub, name)()
'''

SUITE = '''
from grader.sandbox import CallbackAbort
from grader.suite import group

@group("callbacks")
def callbacks(ctx):
    counter = iter(range(3))
    def nxt(_):
        try:
            return next(counter)
        except StopIteration:
            raise CallbackAbort("budget spent")
    with ctx.check("parent answers callbacks, then aborts"):
        reply = ctx.call("count_to", n=3, handlers={"next": nxt})
        ctx.require(reply == {"seen": [0, 1, 2], "stopped": "ProbeAbort"}, repr(reply))

@group("fork")
def fork(ctx):
    with ctx.check("a fork keeps the state it had and never sees later inputs"):
        main_pid = ctx.call("remember", value="trained")
        ctx.fork()
        ctx.call("remember", value="secret held-out data")
        forked = ctx.call("recall", endpoint="fork")
        ctx.require(forked["value"] == "trained" and forked["pid"] != main_pid, repr(forked))
        ctx.require(ctx.call("recall")["value"] == "secret held-out data", "main lost its state")

@group("restart")
def restart(ctx):
    with ctx.check("crash"):
        ctx.call("call", name="crash")
    with ctx.check("works after a crash"):
        ctx.require(ctx.call("call", name="ok") == 1, "")

@group("output")
def output(ctx):
    with ctx.check("prints a lot"):
        ctx.call("call", name="chatty")
'''

SUBMISSION = '''
import os
def crash():
    os._exit(3)
def ok():
    return 1
def chatty():
    for i in range(100000):
        print("line", i)
    return 0
'''


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("assignments")
    toy = root / "toy"
    (toy / "hidden").mkdir(parents=True)
    (toy / "assignment.toml").write_text(TOML)
    (toy / "probes.py").write_text(PROBES)
    (toy / "hidden" / "suite.py").write_text(SUITE)
    sub = root / "toy.py"
    sub.write_text(textwrap.dedent(SUBMISSION))
    return grade_submission(sub, load_assignment("toy", root), GradeOptions(seed=0))


def _test(result, name):
    return next(t for t in result.tests if t.name == name)


def test_callbacks_and_abort(result):
    assert _test(result, "callbacks").score == 1, _test(result, "callbacks").output


def test_fork_isolates_later_inputs(result):
    assert _test(result, "fork").score == 1, _test(result, "fork").output


def test_a_crash_fails_one_check_and_the_child_is_restarted(result):
    t = _test(result, "restart")
    assert t.score == 1 and "exit status 3" in t.output


def test_output_is_truncated(result):
    t = _test(result, "output")
    assert t.score == 1
    assert "output truncated" in t.output and len(t.output) < 5000
