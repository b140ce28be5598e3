"""The holes kit: a student's function called as a pure function across the sandbox, forward and
backward (a vector–Jacobian product), and the course's template run in the parent around it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from grader.core.assignment import load_assignment
from grader.core.grading import GradeOptions, grade_submission
from grader.kits.holes.parent import load_pipeline, pipeline_holes
from tests.conftest import scores, write_toy_assignment

pytestmark = pytest.mark.xdist_group("holes")

TOML = """
name = "toy"
title = "toy"
submission = "toy.py"
holes = ["calls"]
uses_torch = true
kits = ["holes"]
[limits]
wall_seconds = 60
[groups.calls]
points = 1
"""
PROBES = "from holes_child import hole, hole_many, hole_map, hole_rngs, hole_vjp  # noqa: F401\n"
SUITE = '''
import numpy as np
import torch
from grader.core.suite import group
from grader.kits.holes.parent import AsList, Each, HoleError, Holes, Rng, Rows

RESULTS = {}

@group("calls")
def calls(ctx):
    holes = Holes(ctx)
    with ctx.check("forward, vjp, map"):
        x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
        reply = holes.call("scale", x, 2.5, upstream=[np.ones(3, dtype=np.float32)])
        RESULTS["scale"] = reply
        kept = holes.call("scale", x, 2.5, keep=True)
        RESULTS["kept"] = kept
        RESULTS["vjp"] = holes.vjp(kept.handle, [np.array([1.0, 0.0, 2.0], dtype=np.float32)])
        fn = holes.function("scale")
        y = fn(x, 3.0)
        y.sum().backward()
        RESULTS["proxy_grad"] = x.grad.clone()
        RESULTS["proxy_type"] = type(y).__name__
        a, b = holes.function("pair")(x)
        RESULTS["pair"] = (a.detach().numpy(), b.detach().numpy())
        RESULTS["list"] = holes.call("pick", AsList([3.0, 1.0, 2.0]))
        before = holes.calls
        RESULTS["many"] = (holes.many("pick", [((AsList([1.0, 5.0]),), {}), ((), {"values": np.array([2.0, -1.0])})]),
                           holes.calls - before)
        holes.rngs("r", [1, 1, 2])
        RESULTS["map"] = holes.map("draw", 3, Rows(np.zeros((3, 4))), Each(np.array([1, 2, 3])), Rng("r"))
        RESULTS["mutate"] = holes.call("mutate", np.arange(4.0))
        RESULTS["fake_dtype"] = holes.call("fake_dtype", np.arange(3.0))
        RESULTS["scalar"] = holes.call("losses", x, upstream=[np.ones((), np.float32), None])
        before = holes.calls
        x.grad = None
        lp, lv = holes.function("losses", eager=True)(x)
        (lp + 3 * lv).backward()
        RESULTS["eager"] = (holes.calls - before, x.grad.clone(), float(lp.detach()), float(lv.detach()))
        for other in (False, True):
            before = holes.calls
            x.grad = None
            y = holes.function("scale")(x, 3.0)                  # kept: its graph stays in the child
            loss = holes.function("square", eager=True)(y)       # eager, fed by the kept call: chained
            (loss + y.sum() if other else loss).backward()
            RESULTS["chain_other" if other else "chain"] = (holes.calls - before, x.grad.clone())
        seen = []

        def refuse(value, args, kwargs):
            seen.append(value.describe())
            raise HoleError("scale: refused")

        try:
            holes.function("scale", check=refuse)(x, 2.0)
        except HoleError as exc:
            RESULTS["refused"] = (str(exc), seen)
'''
SUBMISSION = '''
import numpy as np
import torch

np.array_equal = lambda *a, **k: True      # a submission patching the library changes nothing
torch.Tensor.detach = lambda self: None

def scale(x, factor):
    return x * factor

def pair(x):
    return x * 2, (x ** 2).sum()

def pick(values):
    return max(values)

def draw(row, n, rng):
    return int(rng.integers(100)) + n

def losses(x):
    return (x * 2).sum(), (x ** 2).sum()

def square(x):
    return (x ** 2).sum()

def mutate(a):
    a[0] = 42.0
    return 0.0

class Liar(np.ndarray):
    @property
    def dtype(self):
        return np.dtype("float64")

def fake_dtype(a):
    return np.asarray(a, dtype=np.float32).view(Liar)
'''


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("course")
    path = write_toy_assignment(root, "toy", TOML, PROBES, SUITE, SUBMISSION)
    assignment = load_assignment("toy", root)
    result = grade_submission(path, assignment, GradeOptions(seed=1, device="cpu"))
    suite = assignment.suite()
    module = __import__("sys").modules[suite["calls"].__module__]
    return {"result": result, "got": dict(module.RESULTS)}


def test_forward_and_gradient_in_one_round_trip(graded) -> None:
    assert scores(graded["result"]) == {"calls": 1}, graded["result"].tests[0].checks
    reply = graded["got"]["scale"]
    assert reply.out.kind == "tensor" and reply.out.dtype == "float32"
    np.testing.assert_allclose(reply.out.array, [2.5, -5.0, 7.5])
    np.testing.assert_allclose(reply.grads[0], [2.5, 2.5, 2.5])
    assert reply.changed([np.array([1.0, -2.0, 3.0], dtype=np.float32)]) == []


def test_a_kept_graph_answers_a_later_vjp(graded) -> None:
    np.testing.assert_allclose(graded["got"]["vjp"][0], [2.5, 0.0, 5.0])


def test_the_proxy_trains_through_the_child(graded) -> None:
    """The course's code calls the hole like the student's function; autograd reaches its inputs."""
    assert graded["got"]["proxy_type"] == "Tensor"
    np.testing.assert_allclose(graded["got"]["proxy_grad"].numpy(), [3.0, 3.0, 3.0])
    a, b = graded["got"]["pair"]
    np.testing.assert_allclose(a, [2.0, -4.0, 6.0])
    assert float(b) == pytest.approx(14.0)


def test_a_scalar_loss_takes_a_0d_upstream(graded) -> None:
    reply = graded["got"]["scalar"]
    assert [v.array.shape for v in reply.out.items] == [(), ()]
    np.testing.assert_allclose(reply.grads[0], [2.0, 2.0, 2.0])


def test_eager_losses_need_one_round_trip_forward_and_backward(graded) -> None:
    """The gradients of one-element outputs come with the forward reply; the parent combines them
    with the upstream gradients itself (here 1 and 3: 2 + 3 * 2x)."""
    trips, grad, lp, lv = graded["got"]["eager"]
    assert trips == 1
    np.testing.assert_allclose(grad.numpy(), [2 + 6 * 1.0, 2 - 6 * 2.0, 2 + 6 * 3.0])
    assert (lp, lv) == (pytest.approx(4.0), pytest.approx(14.0))


def test_an_eager_call_fed_by_a_kept_call_brings_its_product_along(graded) -> None:
    """y = scale(x, 3) kept, then the eager loss square(y): its reply carries scale's product for the
    upstream its gradient gives, so backward needs no round trip (3 · 2y = 18x); where the backward pass
    gives another upstream (y also used elsewhere: 2y + 1), the parent asks the child (18x + 3)."""
    trips, grad = graded["got"]["chain"]
    assert trips == 2
    np.testing.assert_allclose(grad.numpy(), [18.0, -36.0, 54.0], rtol=1e-6)
    trips, grad = graded["got"]["chain_other"]
    assert trips == 3
    np.testing.assert_allclose(grad.numpy(), [21.0, -33.0, 57.0], rtol=1e-6)


def test_a_check_sees_what_came_back_before_the_course_code(graded) -> None:
    message, seen = graded["got"]["refused"]
    assert message == "scale: refused" and seen == ["a tensor of shape [3] (float32)"]


def test_many_calls_in_one_round_trip(graded) -> None:
    replies, trips = graded["got"]["many"]
    assert trips == 1 and [r.out.value for r in replies] == [5.0, 2.0]
    assert [r.out.type for r in replies] == ["builtins.float", "numpy.float64"]


def test_lists_maps_and_generators(graded) -> None:
    assert graded["got"]["list"].out.value == 3.0
    mapped = graded["got"]["map"]
    assert mapped.first_not("int") is None
    first = np.random.default_rng(1).integers(100)
    assert list(mapped.ints[:2]) == [first + 1, first + 2]      # two generators seeded alike
    np.testing.assert_array_equal(mapped.after[0], np.zeros((3, 4)))


def test_checks_are_decided_on_raw_values(graded) -> None:
    """The submission patched np.array_equal and Tensor.detach in its process: the mutation is seen
    in the parent, and the dtype is the array's real one, not what its subclass says."""
    assert graded["got"]["mutate"].changed([np.arange(4.0)]) == [0]
    fake = graded["got"]["fake_dtype"].out
    assert fake.kind == "ndarray" and fake.dtype == "float32" and fake.type.endswith("Liar")


def test_pipeline_holes_are_the_functions_that_raise_not_implemented() -> None:
    source = textwrap.dedent('''
        def a(x):
            """doc"""
            raise NotImplementedError("a")

        def b(x):
            return x

        def c(x):
            if x:
                raise NotImplementedError
            return 1
    ''')
    assert pipeline_holes(source) == ["a", "c"]


def test_load_pipeline_gives_a_fresh_module_each_time(tmp_path: Path) -> None:
    path = tmp_path / "t.py"
    path.write_text("COUNT = []\ndef hole(x):\n    raise NotImplementedError('hole')\ndef run(x):\n"
                    "    COUNT.append(1)\n    return hole(x)\n")
    one = load_pipeline(path, None, replace={"hole": lambda x: x + 1})
    two = load_pipeline(path, None, replace={"hole": lambda x: x * 10})
    assert one.run(1) == 2 and two.run(1) == 10 and len(one.COUNT) == 1 and len(two.COUNT) == 1
