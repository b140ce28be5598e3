"""The suite API's guarantees to assignment authors: one student process per group at a time."""

from __future__ import annotations

import os

import pytest

from grader.core.assignment import GroupConfig
from grader.core.suite import GroupContext, SuiteError
from grader.sandbox import ChildSpec, Limits
from tests.conftest import ISOLATION

PROBES = '''
import os

def pid(sub, ctx):
    return os.getpid()
'''


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "probes.py").write_text(PROBES)
    (tmp_path / "sub.py").write_text("")
    spec = ChildSpec(submission=tmp_path / "sub.py", probes=tmp_path / "probes.py", limits=Limits(wall_seconds=30),
                     isolation=ISOLATION)
    context = GroupContext(GroupConfig(name="g", points=1.0, limits=Limits(wall_seconds=30)), spec, 1, "cpu")
    yield context
    context.close()


def test_moving_to_another_process_stops_the_first_before_the_second_starts(ctx, monkeypatch):
    from grader.sandbox import process

    ctx.call("pid")
    first = ctx._pool.child("main")
    host_pid = first.proc.pid
    alive_at_start = []
    original = process.Child.start

    def start(self, deadline, **kwargs):
        alive_at_start.append(first.alive)
        return original(self, deadline, **kwargs)

    monkeypatch.setattr(process.Child, "start", start)
    ctx.call("pid", endpoint="decoder")
    assert alive_at_start == [False]
    with pytest.raises(ProcessLookupError):
        os.kill(host_pid, 0)


def test_a_retired_process_cannot_be_called_again(ctx):
    ctx.call("pid")
    ctx.call("pid", endpoint="decoder")
    with pytest.raises(SuiteError, match="after moving on"):
        ctx.call("pid")
