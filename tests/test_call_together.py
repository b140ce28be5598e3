"""``call_together`` (grader/sandbox/pool.py): calls that gain nothing from each other run at once,
each in its own child, and each result or failure comes back to its own call."""

from __future__ import annotations

import time

import pytest

from grader.sandbox import ChildFailure, ChildSpec, SubmissionError
from grader.sandbox.pool import Call, RetiredEndpoint
from tests.conftest import child_pool

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("test_call_together")]

PROBES = '''
import os
import time

TOKEN = os.urandom(8).hex()

def nap(sub, ctx, seconds):
    start = time.time()
    time.sleep(seconds)
    return {"token": TOKEN, "start": start, "end": time.time(), "asked": ctx.callback("ask", x=1)}

def call(sub, ctx, name):
    return getattr(sub, name)()
'''

SUBMISSION = '''
import os

def crash():
    os._exit(3)

def raises():
    raise ValueError("nope")
'''


@pytest.fixture
def pool(tmp_path):
    (tmp_path / "probes.py").write_text(PROBES)
    (tmp_path / "sub.py").write_text(SUBMISSION)
    with child_pool(ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py"), 90) as pool:
        yield pool


def test_the_calls_run_at_once_each_in_its_own_child(pool):
    a, b = pool.call_together([Call("run 1", "nap", {"seconds": 1.5}, handlers={"ask": lambda d: d["x"] + 1}),
                               Call("run 2", "nap", {"seconds": 1.5}, handlers={"ask": lambda d: d["x"] + 2})])
    assert a["token"] != b["token"]
    assert (a["asked"], b["asked"]) == (2, 3)               # each call's callbacks go to its own handlers
    assert a["start"] < b["end"] and b["start"] < a["end"]  # they overlapped
    assert pool.child("run 1").alive and pool.child("run 2").alive


def test_a_failure_comes_back_to_its_own_call_and_the_other_is_kept(pool):
    crashed, raised, fine = pool.call_together([Call("run 1", "call", {"name": "crash"}),
                                                Call("run 2", "call", {"name": "raises"}),
                                                Call("run 3", "nap", {"seconds": 0.1}, handlers={"ask": lambda d: 0})])
    assert isinstance(crashed, ChildFailure) and crashed.message.startswith("[run 1 process]")
    assert "exit status 3" in crashed.message
    assert isinstance(raised, SubmissionError) and raised.type == "ValueError"
    assert isinstance(fine, dict)
    assert pool.child("run 1") is None                     # stopped; restarted fresh on its next call
    again = pool.call_together([Call("run 1", "nap", {"seconds": 0.1}, handlers={"ask": lambda d: 0})])[0]
    assert again["token"] != fine["token"]


def test_every_other_endpoint_is_retired_first_and_one_called_alone_retires_the_rest(pool):
    pool.call("main", "nap", {"seconds": 0.0}, time.monotonic() + 30, {"ask": lambda d: 0})
    pool.call_together([Call("run 1", "nap", {"seconds": 0.0}, handlers={"ask": lambda d: 0}),
                        Call("run 2", "nap", {"seconds": 0.0}, handlers={"ask": lambda d: 0})])
    with pytest.raises(RetiredEndpoint):
        pool.call("main", "nap", {"seconds": 0.0}, time.monotonic() + 30, {"ask": lambda d: 0})
    pool.call("policy", "nap", {"seconds": 0.0}, time.monotonic() + 30, {"ask": lambda d: 0})
    assert pool.child("run 1") is None and pool.child("run 2") is None
    with pytest.raises(ValueError, match="distinct endpoints"):
        pool.call_together([Call("a", "nap", {"seconds": 0}), Call("a", "nap", {"seconds": 0})])
