"""Public checks of the REINFORCE assignment (``grader check reinforce.py``).

Small, with the expected values in plain sight. Passing them does not
guarantee passing the hidden tests (more episodes, more γ, gradients, seeds).
``grader check --full`` adds one run of the grader's ``training`` group: the
course's loop with your two functions, as the grader trains it.
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, factor_hint, group
from grader.kits.cartpole.holes import loss_reply, returns_of
from grader.kits.cartpole.parent import template_path, training_group
from grader.kits.holes.parent import Holes


@group("compute_returns")
def compute_returns(ctx: GroupContext) -> None:
    cases = [([1.0, 1.0, 1.0], 0.5, [1.75, 1.5, 1.0]), ([], 0.99, []), ([3.0], 0.9, [3.0]), ([1.0, 2.0], 1.0, [3.0, 2.0]),
             ([1.0, 2.0, 3.0], 0.0, [1.0, 2.0, 3.0])]
    for rewards, gamma, want in cases:
        with ctx.check(f"compute_returns({rewards}, gamma={gamma}) == {want} (float64 array)"):
            _returns(ctx, rewards, gamma, want)
    with ctx.check("rewards given as a Python list: compute_returns([1.0, 1.0], gamma=0.5) == [1.5, 1.0]"):
        _returns(ctx, [1.0, 1.0], 0.5, [1.5, 1.0], as_list=True)


def _returns(ctx: GroupContext, rewards: list, gamma: float, want: list, as_list: bool = False) -> None:
    got = returns_of(Holes(ctx), rewards, gamma, as_list)       # a float64 array of the right length, rewards unchanged
    ctx.require(bool(np.allclose(got, want)), f"got {got.tolist()}", expected=str(want), got=str(got.tolist()))


def _loss(ctx: GroupContext, logits: np.ndarray, actions: list, returns: list) -> tuple[dict, float, np.ndarray]:
    """The student's reply, and the expected value and gradient of -mean(log_softmax(logits)[b, a_b] · G_b)."""
    actions, returns = np.array(actions), np.array(returns, dtype=float)
    reply = loss_reply(Holes(ctx), logits, actions, returns)
    if reply.get("type") != "tensor":
        raise CheckFailed(f"expected a torch tensor, got {reply.get('describe')}")
    ctx.require(reply.get("shape") == [], f"expected a scalar, got shape {reply.get('shape')}")
    ctx.require(reply.get("value") is not None, "expected a floating-point loss")
    ctx.require(not reply.get("mutated"), "reinforce_loss modified its inputs in place")
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    B = len(actions)
    onehot = np.eye(logits.shape[1])[actions]
    return reply, float(-np.mean(logp[np.arange(B), actions] * returns)), -(onehot - np.exp(logp)) * returns[:, None] / B


@group("reinforce_loss")
def reinforce_loss(ctx: GroupContext) -> None:
    logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    with ctx.check("logits [[0, 0], [0, ln 3]], actions [0, 1], returns [2, 1]: loss 0.8370, scalar, its gradient"):
        reply, want, grad = _loss(ctx, logits, [0, 1], [2.0, 1.0])
        got = float(np.asarray(reply["value"]).reshape(()))
        ctx.require(abs(got - want) < 1e-4, f"loss {got:.4f}, expected {want:.4f}", expected=f"{want:.4f}",
                    got=f"{got:.4f}", hint=factor_hint(got, want, {2: "twice the expected loss with B = 2: you summed "
                                                                        "over the batch; take the mean",
                                                                     -1: "the sign is flipped: the loss is "
                                                                         "-mean(log π(a|s) · G)"}))
        g = reply.get("grad_logits")
        ctx.require(g is not None, "no gradient reached the logits")
        ctx.require(np.allclose(g, grad, atol=1e-4), f"gradient w.r.t. the logits {np.round(g, 4).tolist()}",
                    expected=str(np.round(grad, 4).tolist()), got=str(np.round(g, 4).tolist()))
        gr = reply.get("grad_returns")
        ctx.require(gr is None or not np.any(gr != 0), "a gradient reached the returns: detach them")
    with ctx.check("a batch of one: logits [[1, 2, 0]], action [2], return [3]: loss 7.2228"):
        reply, want, _ = _loss(ctx, np.array([[1.0, 2.0, 0.0]]), [2], [3.0])
        got = float(np.asarray(reply["value"]).reshape(()))
        ctx.require(abs(got - want) < 1e-4, f"loss {got:.4f}, expected {want:.4f}", expected=f"{want:.4f}",
                    got=f"{got:.4f}")


@group("training")
def training(ctx: GroupContext) -> None:
    """One run of the grader's training group (retrained on fresh seeds if it only missed the bound, as
    graded): the course's loop with your holes."""
    training_group(ctx, template_path(__file__, "reinforce.py"), budget=None, runs=1)
