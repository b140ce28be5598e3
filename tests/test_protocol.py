"""The parent/child protocol on a toy assignment: callbacks, named processes, restarts, output capture."""

from __future__ import annotations

import json
import struct
import time

import numpy as np
import pytest

from grader.core.assignment import load_assignment
from grader.core.grading import GradeOptions, grade_submission
from grader.sandbox import ChildFailure, NoIsolation, SubmissionError
from tests.conftest import feedback, write_toy_assignment

pytestmark = [pytest.mark.timeout(60), pytest.mark.xdist_group("test_protocol")]

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
    sub = write_toy_assignment(root, "toy", TOML, PROBES, SUITE, SUBMISSION)
    return grade_submission(sub, load_assignment("toy", root), GradeOptions(seed=0))


def _test(result, name):
    return next(t for t in result.tests if t.name == name)


def test_callbacks_and_abort(result):
    assert _test(result, "callbacks").score == 1, feedback(_test(result, "callbacks"))


def test_named_processes_are_separate(result):
    assert _test(result, "processes").score == 2, feedback(_test(result, "processes"))
    assert "[decoder process]" not in feedback(_test(result, "processes"))   # it printed nothing


def test_a_crash_fails_one_check_and_the_child_is_restarted(result):
    t = _test(result, "restart")
    assert t.score == 1 and "exit status 3" in feedback(t)


def test_output_is_truncated(result):
    t = _test(result, "output")
    assert t.score == 1
    assert "output truncated" in feedback(t) and len(feedback(t)) < 5000


# -- the reply channel: limits, forged frames, no restart after a violation --------------
CHANNEL_PROBES = '''
import os
import sys
import time

import numpy as np


def forge(sub, ctx, data, then_sleep=0.0):
    """Write raw bytes on the reply pipe (its fd is in sys.argv), as a hostile submission can."""
    fd = int(sys.argv[2])
    data = bytes(data)
    while data:
        data = data[os.write(fd, data):]
    time.sleep(then_sleep)
    return "honest reply"


def trickle(sub, ctx, data, pause):
    fd = int(sys.argv[2])
    for i in range(len(data)):
        os.write(fd, bytes(data[i:i + 1]))
        time.sleep(pause)
    return "never"


def big(sub, ctx, nbytes):
    return {"a": np.ones(int(nbytes), np.uint8)}


def ok(sub, ctx):
    return 1
'''


def _bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8)


def _raw(head: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">QQ", len(head), len(body)) + head + body


@pytest.fixture
def channel_child(child_factory):
    """``make()`` → a started Child whose probes write whatever they are given on the reply pipe."""
    return lambda: child_factory(isolation=NoIsolation(), probes=CHANNEL_PROBES)


FORGED = {
    "a 32 MB header": _raw(b"[" + b"[]," * ((32 << 20) // 3) + b"[]]"),
    "a body of 100 GB announced": struct.pack(">QQ", 2, 100 << 30) + b"{}" + b"\0" * 65536,
    "a body over the call's limit": _raw(b'{"status": "ok", "call": 1}', b"\0" * ((16 << 20) + 1)),
    "a header nested 100,000 deep": _raw(b"[" * 100_000 + b"]" * 100_000),
    "a header of 300,000 elements": _raw(b"[" + b"[]," * 300_000 + b"[]]"),
    "an unknown dtype": _raw(json.dumps({"status": "ok", "call": 1,
                                         "result": {"__nd__": ["<q9", [1], 0, 8]}}).encode(), b"\0" * 8),
    "a negative shape": _raw(json.dumps({"status": "ok", "call": 1,
                                         "result": {"__nd__": ["<f8", [-1], 0, 8]}}).encode(), b"\0" * 8),
    "garbage": bytes(np.random.default_rng(0).integers(0, 256, 1 << 20, dtype=np.uint8)),
    "an 'ok' reply for another call": _raw(json.dumps({"status": "ok", "call": 2, "result": 1}).encode()),
    "an 'ok' reply naming no call": _raw(json.dumps({"status": "ok", "result": 1}).encode()),
    "an error reply that is not a dict": _raw(json.dumps({"status": "error", "call": 1, "error": [1]}).encode()),
    "a reply that is not a dict": _raw(b"[1, 2]"),
}


@pytest.mark.parametrize("data", FORGED.values(), ids=FORGED.keys())
def test_a_forged_or_flooding_frame_is_a_protocol_violation(channel_child, data):
    child = channel_child()
    t0 = time.monotonic()
    with pytest.raises(ChildFailure) as failure:
        child.call("forge", {"data": _bytes(data), "then_sleep": 30}, time.monotonic() + 20)
    assert failure.value.kind == "protocol"
    assert "wrote to the grader's channel" in failure.value.message and "not restarted" in failure.value.message
    assert time.monotonic() - t0 < 10 and not child.alive


def test_a_slow_trickle_ends_at_the_deadline(channel_child):
    child = channel_child()
    t0 = time.monotonic()
    with pytest.raises(ChildFailure) as failure:
        child.call("trickle", {"data": _bytes(_raw(b" " * 1000)), "pause": 0.01}, time.monotonic() + 2)
    assert failure.value.kind == "timeout" and "part-way through a reply" in failure.value.message
    assert time.monotonic() - t0 < 2 + 5 and not child.alive


def test_a_reply_over_the_limit_is_an_error_and_the_child_lives_on(channel_child):
    """An honest reply too big for the call is refused by the child itself, with a clear message;
    the suite can raise the limit for a call that legitimately returns more."""
    child = channel_child()
    with pytest.raises(SubmissionError) as error:
        child.call("big", {"nbytes": 2 << 20}, time.monotonic() + 20, reply_bytes=1 << 20)
    assert error.value.type == "WireError" and "2.0 MiB of arrays, more than the 1.0 MiB" in error.value.message
    assert child.call("big", {"nbytes": 2 << 20}, time.monotonic() + 20, reply_bytes=2 << 20)["a"].size == 2 << 20
    assert child.call("ok", {}, time.monotonic() + 20) == 1


FLOOD_TOML = '''
name = "flood"
title = "a child that floods its reply pipe"
submission = "toy.py"
holes = []
[limits]
wall_seconds = 10
[groups.flooded]
points = 2
[groups.honest]
points = 1
'''

FLOOD_SUITE = '''
import struct

import numpy as np

from grader.core.suite import group

@group("flooded")
def flooded(ctx):
    with ctx.check("writes a 32 MB header on the reply pipe"):
        ctx.call("forge", data=np.frombuffer(struct.pack(">QQ", 32 << 20, 0) + b"[]," * 1000, np.uint8))
    with ctx.check("is not restarted"):
        ctx.require(ctx.call("ok") == 1, "")

@group("honest")
def honest(ctx):
    with ctx.check("another group is graded normally"):
        ctx.require(ctx.call("ok") == 1, "")
'''


def test_a_protocol_violation_costs_its_group_only_and_is_not_restarted(tmp_path):
    sub = write_toy_assignment(tmp_path, "flood", FLOOD_TOML, CHANNEL_PROBES, FLOOD_SUITE)
    result = grade_submission(sub, load_assignment("flood", tmp_path), GradeOptions(seed=0))
    flooded, honest = _test(result, "flooded"), _test(result, "honest")
    assert (flooded.score, honest.score) == (0, 1), feedback(flooded)
    # said once, for the group: the check that met it failed, the next one was not run (no restart)
    assert flooded.cause.kind == "protocol"
    assert "wrote to the grader's channel" in flooded.cause.summary and "header" in flooded.cause.summary
    assert [(c.status, c.by_cause) for c in flooded.checks] == [("failed", True), ("not run", True)]
    assert feedback(flooded).count("wrote to the grader's channel") == 1
    assert len(flooded.extra_data["startup_seconds"]) == 1     # one child: no respawn
