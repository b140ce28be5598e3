"""Hidden tests of the REINFORCE assignment. Never released to students.

The expected values are computed here, in the parent, from the formulas; the student's
functions are called as pure functions in the submission's child (grader.kits.holes), which
returns what they produced: values, the inputs as they were after the call, gradients. The
``training`` threshold trains the course's own pipeline (the template's loop and network) with
the student's two functions (grader.kits.cartpole).
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array, factor_hint, group, sig
from grader.kits.cartpole.holes import loss_reply, returns_of
from grader.kits.cartpole.parent import template_path, training_group
from grader.kits.holes.parent import Holes

RTOL, ATOL = 1e-4, 1e-5


def expected_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = sum_k gamma^k r_{t+k}, straight from the definition (O(T^2), fine for T <= 500)."""
    T = len(rewards)
    out = np.zeros(T)
    for t in range(T):
        out[t] = np.sum(rewards[t:] * gamma ** np.arange(T - t))
    return out


def _returns_of(ctx: GroupContext, episodes: list[np.ndarray], gammas: list[float], as_list: bool = False) -> list[np.ndarray]:
    holes = Holes(ctx)
    return [returns_of(holes, rewards, gamma, as_list) for rewards, gamma in zip(episodes, gammas)]


def _compare(ctx: GroupContext, got: np.ndarray, want: np.ndarray, rewards: np.ndarray, gamma: float) -> None:
    if got.size == 0 and want.size == 0:
        return
    err = np.abs(got - want)
    i = int(np.argmax(err - (1e-8 + 1e-6 * np.abs(want))))
    ctx.require(bool(np.allclose(got, want, rtol=1e-6, atol=1e-8)),
                f"compute_returns(rewards of length {len(rewards)}, gamma={gamma:g}): G[{i}] = {got[i]:.6g}, "
                f"expected {want[i]:.6g} (G_t = r_t + γ r_(t+1) + γ² r_(t+2) + …)"
                + (f"; rewards start {np.round(rewards[:4], 3).tolist()}" if len(rewards) else ""))


@group("compute_returns")
def compute_returns(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("empty and length-1 episodes"):
        r1 = rng.normal(size=1)
        got = _returns_of(ctx, [np.zeros(0), r1, r1], [0.99, 0.99, 0.0])
        ctx.require(got[0].shape == (0,), "an empty episode must give an empty array")
        _compare(ctx, got[1], r1, r1, 0.99)
        _compare(ctx, got[2], r1, r1, 0.0)

    with ctx.check("two steps, by hand: rewards [1, 2], γ = 0.5 gives [2, 2]"):
        got = _returns_of(ctx, [np.array([1.0, 2.0])], [0.5])[0]
        _compare(ctx, got, np.array([2.0, 2.0]), np.array([1.0, 2.0]), 0.5)

    with ctx.check("random episodes, γ ∈ {0, 0.5, 0.99, 1}", weight=3):
        episodes, gammas = [], []
        for gamma in (0.0, 0.5, 0.99, 1.0):
            for length in (2, 7, 50):
                episodes.append(rng.normal(size=length) * 2 + 0.5)
                gammas.append(gamma)
        for rewards, gamma, got in zip(episodes, gammas, _returns_of(ctx, episodes, gammas)):
            _compare(ctx, got, expected_returns(rewards, gamma), rewards, gamma)

    with ctx.check("a full 500-step CartPole episode (all rewards 1), γ = 0.99 and γ = 1"):
        ones = np.ones(500)
        got = _returns_of(ctx, [ones, ones], [0.99, 1.0])
        _compare(ctx, got[0], expected_returns(ones, 0.99), ones, 0.99)
        _compare(ctx, got[1], np.arange(500, 0, -1, dtype=float), ones, 1.0)

    with ctx.check("rewards given as a Python list (the contract says any sequence)"):
        rewards = rng.normal(size=6)
        got = _returns_of(ctx, [rewards], [0.9], as_list=True)[0]
        _compare(ctx, got, expected_returns(rewards, 0.9), rewards, 0.9)


def expected_loss(logits: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> tuple[float, np.ndarray]:
    """Value and gradient w.r.t. the logits of -mean(log_softmax(logits)[b, a_b] * G_b)."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    B = len(actions)
    value = -np.mean(logp[np.arange(B), actions] * returns)
    onehot = np.zeros_like(logits)
    onehot[np.arange(B), actions] = 1.0
    grad = -(onehot - np.exp(logp)) * returns[:, None] / B
    return float(value), grad


def _loss_reply(ctx: GroupContext, logits, actions, returns) -> dict:
    reply = loss_reply(Holes(ctx), logits, actions, returns)
    if reply.get("type") != "tensor":
        raise CheckFailed(f"reinforce_loss should return a torch tensor, got {reply.get('describe')}")
    if reply.get("mutated"):
        raise CheckFailed("reinforce_loss modified its inputs in place")
    if reply.get("shape") not in ([], [1]):
        raise CheckFailed(f"reinforce_loss should return a scalar (shape []), got shape {reply.get('shape')}")
    if reply.get("value") is None:
        raise CheckFailed("reinforce_loss returned a tensor that is not floating point")
    if not reply.get("has_grad"):
        raise CheckFailed("reinforce_loss's result has no gradient: it must be computed from the logits with torch "
                          "operations (no .item(), .detach() or numpy in between)")
    return reply


def loss_hint(got: float, logits: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> str:
    """The mistake a wrong loss value matches exactly (each candidate is a common wrong loss), or ''."""
    B = len(actions)
    value, _ = expected_loss(logits, actions, returns)
    hint = factor_hint(got, value, {B: f"your loss is B = {B} times the expected one: you summed over the batch; "
                                       "take the mean (.mean(), not .sum())",
                                    -1: "your loss has the wrong sign: minimise minus the objective, "
                                        "-mean(log π(a|s) · G)"})
    if hint:
        return hint
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    rows = np.arange(B)
    candidates = {
        "you weight the probabilities, not their logarithms: use log_softmax(logits)": -np.mean(p[rows, actions] * returns),
        "you weight the raw logits, not the log-probabilities: use log_softmax(logits)":
            -np.mean(logits[rows, actions] * returns),
        "you sum the log-probabilities of all actions; take only that of the action played (gather with actions)":
            -np.mean(np.log(p).sum(axis=1) * returns),
    }
    for hint, wrong in candidates.items():
        if np.isclose(got, wrong, rtol=RTOL, atol=ATOL):
            return hint
    return ""


def _check_loss(ctx: GroupContext, logits, actions, returns) -> None:
    reply = _loss_reply(ctx, logits, actions, returns)
    value, grad = expected_loss(logits, actions, returns)
    got = float(np.asarray(reply["value"]).reshape(()))
    ctx.require(bool(np.isclose(got, value, rtol=RTOL, atol=ATOL)),
                f"loss {sig(got)} for a batch of {len(actions)}, expected -mean(log π(a|s) · G) = {sig(value)}",
                expected=sig(value, 6), got=sig(got, 6), hint=loss_hint(got, logits, actions, returns))
    g = reply["grad_logits"]
    if g is None:
        raise CheckFailed("no gradient reached the logits")
    g = as_array(g, "the gradient with respect to the logits", shape=logits.shape, kind="f")
    ctx.require(bool(np.allclose(g, grad, rtol=RTOL, atol=ATOL)),
                "the gradient with respect to the logits differs from that of -mean(log_softmax(logits)[b, a_b] · G_b) "
                f"(largest difference {np.abs(g - grad).max():.3g})",
                hint=factor_hint(float(np.sum(g * grad)), float(np.sum(grad * grad)),
                                 {len(actions): "the gradient is B times too large: average over the batch, not sum"}))
    gr = reply.get("grad_returns")
    ctx.require(gr is None or not np.any(np.asarray(gr) != 0),
                "a gradient flowed into `returns`: treat the returns as constants (detach them)")


@group("reinforce_loss")
def reinforce_loss(ctx: GroupContext) -> None:
    rng = ctx.rng

    def batch(B: int, A: int = 2, scale: float = 20.0):
        return rng.normal(size=(B, A)) * 1.5, rng.integers(A, size=B), rng.normal(size=B) * scale + scale / 2

    with ctx.check("value and gradient on a random batch (B = 64, 2 actions)", weight=2):
        _check_loss(ctx, *batch(64))

    with ctx.check("value and gradient with 5 actions and returns of both signs (B = 33)"):
        _check_loss(ctx, *batch(33, 5, 3.0))

    with ctx.check("a batch of one (B = 1) gives a scalar with the right value"):
        _check_loss(ctx, *batch(1, 3))

    with ctx.check("returns given with requires_grad=True get no gradient"):
        logits, actions, returns = batch(16)
        reply = _loss_reply(ctx, logits, actions, returns)
        gr = reply.get("grad_returns")
        ctx.require(gr is None or not np.any(np.asarray(gr) != 0),
                    "a gradient flowed into `returns`: the returns are constants (use returns.detach())")



@group("training")
def training(ctx: GroupContext) -> None:
    training_group(ctx, template_path(__file__, "reinforce.py"), budget=None)
