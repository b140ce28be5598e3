"""Public checks of the NAS assignment (``grader check nas.py``).

Small, with the expected values in plain sight. Passing them does not
guarantee passing the hidden tests. The ``search`` check (``--full``) serves
a toy landscape written out below, not the measured table of the hidden
tests.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group, import_local

serving = import_local(__file__, "serving")

SPACE_CHOICES = (3, 4, 3, 2, 5, 3)
TOY_BEST = (0, 2, 1, 0, 3, 0)       # the toy landscape's best architecture


def _tensor_value(reply: dict, what: str) -> np.ndarray:
    result = reply["result"]
    if result.get("type") != "tensor" or result.get("values") is None:
        raise CheckFailed(f"{what} should return a floating-point torch tensor, got {result.get('type')}")
    return np.asarray(result["values"], dtype=np.float64)


@group("efficientnet_reward")
def efficientnet_reward(ctx: GroupContext) -> None:
    want = 0.9 * 0.5 ** 0.07
    with ctx.check(f"accuracy 0.9, 200,000 FLOPs, target 100,000, beta 0.07: {want:.6f}"):
        reply = ctx.call("efficientnet_reward", accuracy=0.9, flops=200_000.0, target_flops=100_000.0, beta=0.07)
        if "values" not in reply:
            raise CheckFailed(f"expected a float64 number, got {reply.get('type')}")
        got = float(np.asarray(reply["values"]).reshape(-1)[0])
        ctx.require(abs(got - want) < 1e-9, f"got {got:.6f}, expected {want:.6f}")
    with ctx.check("arrays [0.9, 0.8] and [50,000, 100,000] FLOPs, target 100,000: [0.9 · 2^0.07, 0.8]"):
        reply = ctx.call("efficientnet_reward", accuracy=np.array([0.9, 0.8]), flops=np.array([50_000, 100_000]),
                         target_flops=100_000.0, beta=None)
        if "values" not in reply or reply.get("shape") != [2]:
            raise CheckFailed(f"expected a float64 array of shape [2], got {reply.get('type')} {reply.get('shape', '')}")
        got = np.asarray(reply["values"])
        ctx.require(bool(np.allclose(got, [0.9 * 2 ** 0.07, 0.8], rtol=1e-9)), f"got {got.tolist()}")


@group("sequence_log_prob")
def sequence_log_prob(ctx: GroupContext) -> None:
    with ctx.check("logits 0 for two decisions of 2 choices, tokens [0, 1]: 2 log(1/2) = -1.386294"):
        reply = ctx.call("sequence_log_prob", logits=np.zeros((1, 2, 2), np.float32), tokens=np.array([[0, 1]]),
                         weights=np.ones(1, np.float32))
        got = _tensor_value(reply, "sequence_log_prob")
        ctx.require(got.shape == (1,), f"expected shape [1] (one value per architecture), got {list(got.shape)}")
        ctx.require(abs(got[0] - 2 * math.log(0.5)) < 1e-5, f"got {got[0]:.6f}, expected {2 * math.log(0.5):.6f}")
    with ctx.check("a decision with one valid choice (the other logit is -inf) adds log 1 = 0: -0.693147"):
        logits = np.array([[[0.0, 0.0], [0.0, -np.inf]]], np.float32)
        reply = ctx.call("sequence_log_prob", logits=logits, tokens=np.array([[1, 0]]), weights=np.ones(1, np.float32))
        got = _tensor_value(reply, "sequence_log_prob")
        ctx.require(got.shape == (1,) and bool(np.isfinite(got).all()), f"got {got.tolist()} (NaN: -inf · 0?)")
        ctx.require(abs(got[0] - math.log(0.5)) < 1e-5, f"got {got[0]:.6f}, expected {math.log(0.5):.6f}")


@group("controller_loss")
def controller_loss(ctx: GroupContext) -> None:
    with ctx.check("log_probs [-1, -2], rewards [1, 0], baseline 0.5: -mean([0.5 · -1, -0.5 · -2]) = -0.25"):
        reply = ctx.call("controller_loss", log_probs=np.array([-1.0, -2.0], np.float32),
                         rewards=np.array([1.0, 0.0], np.float32), baseline=0.5)
        got = _tensor_value(reply, "controller_loss")
        ctx.require(got.size == 1, f"expected a scalar, got shape {list(got.shape)}")
        ctx.require(abs(float(got.reshape(-1)[0]) + 0.25) < 1e-6, f"got {float(got.reshape(-1)[0]):.6f}, expected -0.25")
        grads = reply["gradients"].get("grads") or [None, None]
        ctx.require(grads[1] is None or not np.any(grads[1] != 0),
                    "a gradient flows into the rewards: the advantage must be a constant")


@group("update_baseline")
def update_baseline(ctx: GroupContext) -> None:
    with ctx.check("baseline 0.5, rewards [0.4, 1.0], decay 0.9: 0.9 · 0.5 + 0.1 · mean(rewards) = 0.52"):
        reply = ctx.call("update_baseline", baseline=0.5, rewards=np.array([0.4, 1.0]), decay=0.9)
        if "value" not in reply:
            raise CheckFailed(f"expected a float, got {reply.get('type')}")
        ctx.require(abs(reply["value"] - 0.52) < 1e-6, f"got {reply['value']:.6f}, expected 0.52")


def _toy(rng: np.random.Generator):
    """0.98 minus 0.05 for every decision that differs from TOY_BEST: the best is TOY_BEST, 0.98."""
    grid = np.array(list(itertools.product(*(range(c) for c in SPACE_CHOICES))))
    rewards = 0.98 - 0.05 * (grid != np.array(TOY_BEST)).sum(axis=1)
    describe = lambda a: "(" + ", ".join(str(int(x)) for x in a) + ")"  # noqa: E731
    return (serving.Landscape(SPACE_CHOICES, rewards.astype(np.float64), describe),
            f"toy landscape: 0.98 − 0.05 per decision that differs from {describe(TOY_BEST)}")


@group("search")
def search(ctx: GroupContext) -> None:
    p = ctx.params
    serving.search_group(ctx, _toy, runs=1, budget=int(p["budget"]), share=0.9,
                         search_seconds=float(p.get("search_seconds", 30)),
                         learned_share=float(p["learned_share"]), min_queries=float(p["min_queries"]))
