"""Children ready before a group asks (grader/sandbox/spares.py): started ahead of need, or handed on.

Neither may let a submission's code run in two children at once, nor let one hole group's failure
cost another group its points; the output of a child that serves several groups goes to each.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from grader.core.assignment import load_assignment
from grader.core.grading import GradeOptions, grade_submission
from grader.sandbox import ChildSpec
from grader.sandbox.spares import MAX_WAITING, Spares
from tests.conftest import child_pool, feedback, write_toy_assignment

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("test_spares")]

TOML = '''
name = "toy"
title = "a toy assignment for the spares tests"
submission = "toy.py"
holes = []
[limits]
wall_seconds = 20
[groups.first]
points = 1
[groups.second]
points = 1
[groups.broken]
points = 1
[groups.after_broken]
points = 1
[groups.other_limits]
points = 1
limits = { memory_mb = 2000 }
[groups.trained]
points = 1
kind = "threshold"
'''

PROBES = '''
import os
import time

TOKEN = os.urandom(8).hex()          # one per process
print("PROBES LOADED", flush=True)

def token(sub, ctx, say=""):
    if say:
        print(say, flush=True)
    return TOKEN

def call(sub, ctx, name):
    return getattr(sub, name)()

def imported_at(sub, ctx):
    return sub.IMPORTED_AT
'''

SUITE = '''
from grader.core.suite import group

def _token(ctx, say="", endpoint="main"):
    with ctx.check("token"):
        ctx.extra("token", ctx.call("token", say=say, endpoint=endpoint))

@group("first")
def first(ctx):
    _token(ctx, say="said in first")

@group("second")
def second(ctx):
    _token(ctx, say="said in second")

@group("broken")
def broken(ctx):
    _token(ctx)
    with ctx.check("the student's function raises"):
        ctx.call("call", name="broken")

@group("after_broken")
def after_broken(ctx):
    _token(ctx)

@group("other_limits")
def other_limits(ctx):
    _token(ctx)

@group("trained")
def trained(ctx):
    _token(ctx)
    ctx.prestart()
    with ctx.check("a second endpoint"):
        ctx.extra("other", ctx.call("token", endpoint="policy"))
'''

SUBMISSION = '''
import time
IMPORTED_AT = time.time()
print("SUBMISSION IMPORTED", flush=True)

def broken():
    raise ValueError("not yet")
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("assignments")
    return root, write_toy_assignment(root, "toy", TOML, PROBES, SUITE, SUBMISSION)


@pytest.fixture(scope="module")
def result(toy):
    root, sub = toy
    return grade_submission(sub, load_assignment("toy", root), GradeOptions(seed=0))


def _test(result, name):
    return next(t for t in result.tests if t.name == name)


def _token(result, name):
    return _test(result, name).extra_data["token"]


def test_hole_groups_that_pass_share_one_process(result):
    assert _test(result, "first").score == 1 and _test(result, "second").score == 1
    assert _token(result, "first") == _token(result, "second") == _token(result, "broken")
    assert _test(result, "second").extra_data["startup_seconds"] == []     # nothing to wait for


def test_a_group_that_failed_leaves_the_next_a_fresh_process(result):
    assert _test(result, "broken").score == 0.5, feedback(_test(result, "broken"))
    assert _test(result, "after_broken").score == 1
    assert _token(result, "after_broken") != _token(result, "broken")


def test_other_limits_and_threshold_groups_get_their_own_process(result):
    assert _token(result, "other_limits") != _token(result, "after_broken")
    assert _token(result, "trained") != _token(result, "other_limits")
    trained = _test(result, "trained")
    assert trained.score == 1, feedback(trained)
    assert trained.extra_data["other"] != trained.extra_data["token"]


def test_what_a_shared_process_prints_goes_to_the_group_that_made_it_print(result):
    first, second = _test(result, "first").student_output, _test(result, "second").student_output
    assert "said in first" in first and "said in second" not in first
    assert "said in second" in second and "said in first" not in second
    assert "SUBMISSION IMPORTED" in first and "SUBMISSION IMPORTED" not in second


def _spec(toy) -> ChildSpec:
    root, sub = toy
    a = load_assignment("toy", root)
    return ChildSpec(submission=sub, probes=a.probes_path, limits=a.groups["first"].limits)


def _wait_for(child, text: str, seconds: float = 60.0) -> str:
    seen = ""
    end = time.monotonic() + seconds
    while text not in seen and time.monotonic() < end:
        seen += child.captured_output()
        time.sleep(0.05)
    assert text in seen, seen
    return seen


def test_a_child_started_ahead_runs_nothing_of_the_submission_until_it_is_taken(toy):
    spares = Spares()
    spec = _spec(toy)
    spares.prestart(spec)
    try:
        child = spares.take(spec)
        assert child is not None and not child.started
        seen = _wait_for(child, "PROBES LOADED")        # the runner is waiting now
        time.sleep(0.3)
        seen += child.captured_output()
        assert "SUBMISSION IMPORTED" not in seen
        child.start(time.monotonic() + 30)
        assert "SUBMISSION IMPORTED" in child.captured_output()
    finally:
        child.close()
        spares.close()


@pytest.fixture
def pool(toy):
    with child_pool(_spec(toy)) as pool:
        yield pool


def test_the_next_endpoint_imports_the_submission_after_the_one_before_is_stopped(pool):
    pool.call("main", "token", {}, time.monotonic() + 30)
    pool.prestart()
    main = pool.child("main")
    stopped = []
    close = main.close
    main.close = lambda: (close(), stopped.append(time.time()))
    spare = pool.spares._waiting[0][1]
    _wait_for(spare, "PROBES LOADED")              # started up alongside main, without the submission
    imported = pool.call("policy", "imported_at", {}, time.monotonic() + 30)
    assert pool.child("policy") is spare
    assert stopped and imported > stopped[0]


def test_a_spare_that_died_while_waiting_is_passed_over_and_close_cleans_up(toy):
    spec = _spec(toy)
    spares = Spares()
    for _ in range(MAX_WAITING + 3):
        spares.prestart(spec)
    assert len(spares) == MAX_WAITING
    dead, waiting = spares._waiting[0][1], spares._waiting[1][1]
    os.killpg(dead.proc.pid, signal.SIGKILL)
    dead.proc.wait(timeout=10)
    assert spares.take(spec) is waiting
    assert dead.workdir is None                          # closed when passed over
    spares.prestart(spec)
    workdir = spares._waiting[0][1].workdir
    spares.close()
    assert len(spares) == 0 and not workdir.exists()
    waiting.close()


def test_deferred_children_start_only_once_the_child_waited_for_is_up(pool):
    pool.spares.defer(pool.spec, 2)
    assert len(pool.spares) == 0
    pool.call("main", "token", {}, time.monotonic() + 30)     # its child is up: the deferred start now
    assert len(pool.spares) == 2 and all(not c.started for _, c in pool.spares._waiting)


def test_the_parents_own_work_runs_once_while_the_first_child_starts_up(toy):
    """``Spares.meanwhile``: the grading's first-use costs (torch.optim's imports, grader.core.warmup)
    run after the child is launched and told to go, before the wait for it, and only once."""
    ran = []
    with child_pool(_spec(toy)) as pool:
        def work():
            child = pool.spares._waiting[0][1] if pool.spares._waiting else None
            ran.append(time.monotonic())
            assert child is None            # the pool's own child, not a spare, is the one starting
        pool.spares.meanwhile(work)
        t0 = time.monotonic()
        pool.call("main", "token", {}, time.monotonic() + 30)
        assert len(ran) == 1 and ran[0] >= t0
        assert pool.spares.take_meanwhile() is None
        pool.call("other", "token", {}, time.monotonic() + 30)      # a second start-up: nothing left to run
        assert len(ran) == 1


def test_a_torch_grading_warms_the_parent_while_its_first_child_starts(monkeypatch):
    """The grading hands torch's first-use imports to the first child start-up (grader.core.warmup),
    once; an assignment without torch does not pay for them."""
    from grader.core import warmup
    from grader.core.course import Course

    course = Course.find()
    calls = []
    monkeypatch.setattr(warmup, "torch_training", lambda: calls.append("warm"))
    options = GradeOptions(only=["reparametrize", "kl_divergence"], seed=1)
    grade_submission(course.templates_dir / "vae.py", course.assignment("vae"), options)
    assert calls == ["warm"]
    grade_submission(course.templates_dir / "bandits.py", course.assignment("bandits"),
                     GradeOptions(only=["epsilon_greedy"], seed=1))
    assert calls == ["warm"]
