"""Public checks of the NAS assignment (``grader check nas.py``).

Small, with the expected values in plain sight. Passing them does not guarantee passing the
hidden tests. They call your holes as the grader does (pure functions in a sandboxed child,
``calls.py``), including as the course's search loop calls them: the rewards as a torch tensor
in ``update_baseline``, and the gradient of ``sequence_log_prob`` where a decision lacks a choice
(-inf logits). The ``search`` check (``--full``) runs the course's own search, with your holes, on
a toy landscape written out below (not the measured table of the hidden tests).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group, import_local
from grader.kits.holes.parent import Holes

serving = import_local(__file__, "serving")
calls = import_local(__file__, "calls")

SPACE_CHOICES = (3, 4, 3, 2, 5, 3)
TOY_BEST = (0, 2, 1, 0, 3, 0)       # the toy landscape's best architecture


def _device(ctx: GroupContext) -> str:
    return "cuda" if ctx.device == "cuda" else "cpu"


@group("efficientnet_reward")
def efficientnet_reward(ctx: GroupContext) -> None:
    holes = Holes(ctx)
    want = 0.9 * 0.5 ** 0.07
    with ctx.check(f"accuracy 0.9, 200,000 FLOPs, target 100,000, beta 0.07: {want:.6f}"):
        got = float(calls.reward_values(holes, 0.9, 200_000.0, 100_000.0, 0.07, ()))
        ctx.require(abs(got - want) < 1e-9, f"got {got:.6f}, expected {want:.6f}", expected=f"{want:.6f}",
                    got=f"{got:.6f}", hint=calls.reward_hint(np.asarray(got), 0.9, 200_000.0, 100_000.0, 0.07))
    with ctx.check("arrays [0.9, 0.8] and [50,000, 100,000] FLOPs, target 100,000, default beta: [0.9 · 2^0.07, 0.8]"):
        acc, flops = np.array([0.9, 0.8]), np.array([50_000, 100_000])
        got = calls.reward_values(holes, acc, flops, 100_000.0, None, (2,))
        ctx.require(bool(np.allclose(got, [0.9 * 2 ** 0.07, 0.8], rtol=1e-9)), f"got {got.tolist()}",
                    hint=calls.reward_hint(got, acc, flops, 100_000.0, 0.07))


@group("sequence_log_prob")
def sequence_log_prob(ctx: GroupContext) -> None:
    holes, device = Holes(ctx), _device(ctx)
    with ctx.check("logits 0 for two decisions of 2 choices, tokens [0, 1]: 2 log(1/2) = -1.386294"):
        logits, tokens = np.zeros((1, 2, 2), np.float32), np.array([[0, 1]])
        got = calls.log_prob(holes, logits, tokens, device).values
        ctx.require(abs(got[0] - 2 * math.log(0.5)) < 1e-5, f"got {got[0]:.6f}, expected {2 * math.log(0.5):.6f}",
                    hint=calls.log_prob_hint(got, logits, tokens))
    with ctx.check("a decision with one valid choice (the other logit is -inf) adds log 1 = 0: -0.693147"):
        logits, tokens = np.array([[[0.0, 0.0], [0.0, -np.inf]]], np.float32), np.array([[1, 0]])
        got = calls.log_prob(holes, logits, tokens, device).values
        ctx.require(abs(got[0] - math.log(0.5)) < 1e-5, f"got {got[0]:.6f}, expected {math.log(0.5):.6f}",
                    hint=calls.log_prob_hint(got, logits, tokens))
    with ctx.check("its gradient with respect to the logits, with -inf on a missing choice, is finite: "
                   "[[0.5, -0.5], [0, 0]] (onehot − softmax, 0 on the missing choice)"):
        logits, tokens = np.array([[[0.0, 0.0], [0.0, -np.inf]]], np.float32), np.array([[1, 0]])
        result = calls.log_prob(holes, logits, tokens, device, weights=np.ones(1))
        calls.require_log_prob_gradient(result, logits, tokens, np.ones(1))


@group("controller_loss")
def controller_loss(ctx: GroupContext) -> None:
    holes = Holes(ctx)
    with ctx.check("log_probs [-1, -2], rewards [1, 0], baseline 0.5: -mean([0.5 · -1, -0.5 · -2]) = -0.25, "
                   "no gradient into the rewards"):
        batch = (np.array([-1.0, -2.0]), np.array([1.0, 0.0]), 0.5)
        result = calls.loss(holes, *batch)
        ctx.require(abs(result.value + 0.25) < 1e-6, f"got {result.value:.6f}, expected -0.25", expected="-0.25",
                    got=f"{result.value:.6f}", hint=calls.loss_hint(result.value, *batch))
        grad = result.grads[1]
        ctx.require(grad is None or not np.any(np.asarray(grad) != 0),
                    "a gradient flows into the rewards: the advantage must be a constant",
                    hint="detach the advantage: (rewards - baseline).detach()")


@group("update_baseline")
def update_baseline(ctx: GroupContext) -> None:
    holes = Holes(ctx)
    rewards = np.array([0.4, 1.0])
    for kind, what in (("numpy", "a numpy array"), ("tensor", "a torch tensor, as the course's loop passes them")):
        with ctx.check(f"baseline 0.5, rewards [0.4, 1.0] as {what}, decay 0.9: 0.9 · 0.5 + 0.1 · mean(rewards) = 0.52"):
            got = calls.new_baseline(holes, 0.5, rewards, 0.9, kind)
            if not abs(got - 0.52) < 1e-6:
                raise CheckFailed(f"got {got:.6f}, expected 0.52", expected="0.52", got=f"{got:.6f}",
                                  hint=calls.baseline_hint(got, 0.5, rewards, 0.9))


def _toy(rng: np.random.Generator):
    """0.98 minus 0.05 for every decision that differs from TOY_BEST: the best is TOY_BEST, 0.98."""
    grid = np.array(list(itertools.product(*(range(c) for c in SPACE_CHOICES))))
    rewards = 0.98 - 0.05 * (grid != np.array(TOY_BEST)).sum(axis=1)
    describe = lambda a: "(" + ", ".join(str(int(x)) for x in a) + ")"  # noqa: E731
    return (serving.Landscape(SPACE_CHOICES, rewards.astype(np.float64), describe),
            f"toy landscape: 0.98 − 0.05 per decision that differs from {describe(TOY_BEST)}")


@group("search")
def search(ctx: GroupContext) -> None:
    """The course's search with your holes, once, on the toy landscape (the hidden tests: two searches on the
    measured table at secret targets, with the same rules)."""
    p = ctx.params
    serving.search_group(ctx, _toy, runs=1, budget=int(p["budget"]), share=0.9, learned_share=float(p["learned_share"]),
                         min_queries=float(p["min_queries"]), call_seconds=float(p.get("call_seconds", 10)),
                         retries=int(p.get("retries", 0)))
