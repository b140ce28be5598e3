"""The parent/child protocol on a toy assignment: callbacks, named processes, restarts, output capture."""

from __future__ import annotations

import textwrap

import pytest

from grader.core.assignment import load_assignment
from grader.core.grading import GradeOptions, grade_submission

pytestmark = pytest.mark.timeout(60)

TOML = '''
name = "toy"
title = "a toy assignment for the protocol tests"
submission = "toy.py"
holes = []
[limits]
wall_seconds = 10
output_bytes = 2000
[groups.callbacks]
points = 1
[groups.processes]
points = 2
[groups.restart]
points = 2
[groups.output]
points = 1
'''

PROBES = '''
import mmap
import os

TOKEN = os.urandom(8).hex()   # differs between two processes, not between a process and its fork

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
    return {"value": ctx.state.get("value"), "token": TOKEN}

def share(sub, ctx, text):
    """Write into the MAP_SHARED anonymous map, made on first use: a fork would share it."""
    if "map" not in ctx.state:
        ctx.state["map"] = mmap.mmap(-1, 64)
    ctx.state["map"][:len(text)] = text.encode()
    return True

def peek(sub, ctx):
    return ctx.state["map"][:32].rstrip(b"\\0").decode() if "map" in ctx.state else None

def call(sub, ctx, name):
    return getattr(sub, name)()
'''

SUITE = '''
from grader.sandbox import CallbackAbort, ChildFailure
from grader.core.suite import group

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

@group("processes")
def processes(ctx):
    with ctx.check("a named endpoint is a fresh process that sees only what it is sent"):
        ctx.call("remember", value="secret held-out data")
        ctx.call("share", text="made before")
        main = ctx.call("recall")
        fresh = ctx.call("recall", endpoint="decoder")     # main is retired from here on
        ctx.require(fresh["value"] is None and fresh["token"] != main["token"], repr((fresh, main)))
        ctx.require(ctx.call("peek", endpoint="decoder") is None, "the decoder sees the main process's map")
        ctx.call("remember", value="weights", endpoint="decoder")
        ctx.require(ctx.call("recall", endpoint="decoder")["value"] == "weights", "the decoder lost its state")
    with ctx.check("a crash of a named process is named, and it restarts fresh"):
        try:
            ctx.call("call", name="crash", endpoint="decoder")
        except ChildFailure as exc:
            ctx.require(exc.message.startswith("[decoder process] ") and "exit status 3" in exc.message, exc.message)
        else:
            ctx.fail("the crash went unnoticed")
        ctx.require(ctx.call("recall", endpoint="decoder")["value"] is None, "the decoder was not restarted fresh")

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


def test_named_processes_are_separate(result):
    assert _test(result, "processes").score == 2, _test(result, "processes").output
    assert "[decoder process]" not in _test(result, "processes").output   # it printed nothing


def test_a_crash_fails_one_check_and_the_child_is_restarted(result):
    t = _test(result, "restart")
    assert t.score == 1 and "exit status 3" in t.output


def test_output_is_truncated(result):
    t = _test(result, "output")
    assert t.score == 1
    assert "output truncated" in t.output and len(t.output) < 5000
