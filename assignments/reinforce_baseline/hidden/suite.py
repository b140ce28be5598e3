"""Hidden tests of the REINFORCE-with-baseline assignment. Never released to students.

Expected values and gradients are computed here, in the parent, from the formulas; the
student's ``baseline_losses`` is called as a pure function in the submission's child
(grader.kits.holes), which returns both losses and, in the same round trip, each one's
gradients with respect to the logits and the values. The ``training`` threshold trains the
course's own pipeline (the template's loop, networks and budget) with the student's
``baseline_losses`` and ``compute_returns`` (grader.kits.cartpole).
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array, factor_hint, group, sig
from grader.kits.cartpole.holes import losses_reply
from grader.kits.cartpole.parent import template_path, training_group
from grader.kits.holes.parent import Holes

RTOL, ATOL = 1e-4, 1e-5


def expected(logits: np.ndarray, values: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> dict[str, np.ndarray | float]:
    """Both losses and the gradients that must flow (the others must be zero)."""
    B = len(actions)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    adv = returns - values
    onehot = np.zeros_like(logits)
    onehot[np.arange(B), actions] = 1.0
    return {
        "policy": float(-np.mean(logp[np.arange(B), actions] * adv)),
        "value": float(np.mean(adv ** 2)),
        "policy_grad_logits": -(onehot - np.exp(logp)) * adv[:, None] / B,
        "value_grad_values": -2.0 * adv / B,
    }


def _losses(ctx: GroupContext, logits, values, actions, returns) -> dict:
    """The reply, checked for what both losses share (a pair, inputs left alone); each loss is checked by
    :func:`_loss` in the checks about it, so a wrong value loss does not fail the policy-loss checks."""
    reply = losses_reply(Holes(ctx), logits, values, actions, returns)
    if reply.get("type") != "pair":
        raise CheckFailed(f"baseline_losses should return a pair (policy_loss, value_loss), got {reply.get('describe')}")
    if reply.get("mutated"):
        raise CheckFailed("baseline_losses modified its inputs in place")
    return reply


def _loss(reply: dict, name: str, batch: tuple | None = None, graph: bool = True) -> dict:
    """One loss of the reply: a scalar floating-point tensor, with a graph when ``graph``. Given the
    ``batch``, a loss with no graph whose value is right is named for what it is: computed from detached values."""
    r = reply[name]
    if r.get("type") != "tensor":
        raise CheckFailed(f"the {name} loss should be a torch tensor, got {r.get('describe')}")
    if r.get("shape") not in ([], [1]):
        raise CheckFailed(f"the {name} loss should be a scalar (shape []), got shape {r.get('shape')}")
    if r.get("value") is None:
        raise CheckFailed(f"the {name} loss is not a floating-point tensor")
    if graph and r.get("no_graph"):
        right = batch is not None and bool(np.isclose(_value(reply, name), expected(*batch)[name], rtol=RTOL, atol=ATOL))
        hint = ("its value is right, so it was computed from detached tensors: "
                + ("don't detach the value estimate in the value loss (detach V only in the policy loss's advantage; "
                   "the value loss is mean((G - V)²) with V attached)" if name == "value" else
                   "don't detach the logits (detach only the baseline V)")) if right else \
            "compute it with torch operations from the inputs (no .item(), numpy or .detach() on the way)"
        raise CheckFailed(f"the {name} loss has no gradient", hint=hint)
    return r


def _value(reply: dict, name: str) -> float:
    return float(np.asarray(reply[name]["value"]).reshape(()))


def _is_zero(grad) -> bool:
    return grad is None or not np.any(np.asarray(grad) != 0)


def _batch(rng: np.random.Generator, B: int, A: int = 2):
    logits = rng.normal(size=(B, A)) * 1.5
    returns = rng.uniform(0, 60, size=B)
    values = returns + rng.normal(size=B) * 15       # a baseline that is roughly right
    return logits, values, rng.integers(A, size=B), returns


def policy_hint(got: float, batch: tuple) -> str:
    """The mistake a wrong policy-loss value matches exactly (each candidate is a common one), or ''."""
    logits, values, actions, returns = batch
    want = expected(*batch)
    hint = factor_hint(got, want["policy"], {len(actions): f"B = {len(actions)} times the expected loss: you summed "
                                                           "over the batch; take the mean",
                                             -1: "the sign is flipped: the loss is -mean(log π(a|s) · (G - V))"})
    if hint:
        return hint
    candidates = {
        "the policy loss ignores the baseline: weight log π(a|s) by the advantage G - V, not by G":
            expected(logits, np.zeros_like(values), actions, returns)["policy"],
        "the advantage is G + V; it is G - V": expected(logits, -values, actions, returns)["policy"],
        "you returned (value_loss, policy_loss): the contract's order is (policy_loss, value_loss)": want["value"],
    }
    for text, wrong in candidates.items():
        if np.isclose(got, wrong, rtol=RTOL, atol=ATOL):
            return text
    return ""


def value_hint(got: float, batch: tuple) -> str:
    logits, values, actions, returns = batch
    want = expected(*batch)
    hint = factor_hint(got, want["value"], {len(actions): f"B = {len(actions)} times the expected loss: you summed "
                                                          "over the batch; take the mean",
                                            0.5: "half the expected loss: the value loss is mean((G - V)²), "
                                                 "without a factor 1/2"})
    if hint:
        return hint
    candidates = {
        "you used the absolute error; the value loss is the squared error mean((G - V)²)":
            float(np.mean(np.abs(returns - values))),
        "you returned (value_loss, policy_loss): the contract's order is (policy_loss, value_loss)": want["policy"],
        "the value loss includes the policy loss: return mean((G - V)²) alone": want["value"] + want["policy"],
    }
    for text, wrong in candidates.items():
        if np.isclose(got, wrong, rtol=RTOL, atol=ATOL):
            return text
    return ""


@group("baseline_losses")
def baseline_losses(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("policy loss = -mean(log π(a|s) · (G - V)) on a random batch (B = 64)", weight=2):
        logits, values, actions, returns = batch = _batch(rng, 64)
        reply, want = _losses(ctx, *batch), expected(*batch)
        _loss(reply, "policy", batch)
        got = _value(reply, "policy")
        ctx.require(bool(np.isclose(got, want["policy"], rtol=RTOL, atol=ATOL)),
                    f"policy loss {sig(got)}, expected -mean(log_softmax(logits)[b, a_b] · (G_b - V_b)) = "
                    f"{sig(want['policy'])}", expected=sig(want["policy"], 6), got=sig(got, 6),
                    hint=policy_hint(got, batch))
        g = reply["policy"]["grad_logits"]
        ctx.require(g is not None, "no gradient of the policy loss reached the logits")
        g = as_array(g, "the policy loss's gradient with respect to the logits", shape=logits.shape, kind="f")
        ctx.require(bool(np.allclose(g, want["policy_grad_logits"], rtol=RTOL, atol=ATOL)),
                    "the policy loss's gradient with respect to the logits is not that of "
                    f"-mean(log π(a|s) · (G - V)) (largest difference {np.abs(g - want['policy_grad_logits']).max():.3g})")

    with ctx.check("value loss = mean((G - V)²) on a random batch (B = 64)", weight=2):
        batch = _batch(rng, 64)
        reply, want = _losses(ctx, *batch), expected(*batch)
        _loss(reply, "value", batch, graph=False)       # its gradient is the next check's
        got = _value(reply, "value")
        ctx.require(bool(np.isclose(got, want["value"], rtol=RTOL, atol=ATOL)),
                    f"value loss {sig(got)}, expected mean((G - V)²) = {sig(want['value'])}",
                    expected=sig(want["value"], 6), got=sig(got, 6), hint=value_hint(got, batch))

    with ctx.check("the baseline is a constant in the policy loss: its gradient w.r.t. the values is zero", weight=2):
        reply = _losses(ctx, *_batch(rng, 32))
        _loss(reply, "policy")
        ctx.require(_is_zero(reply["policy"]["grad_values"]),
                    "the policy loss sends a gradient into the values",
                    hint="detach the baseline (values.detach()) in the policy loss, so that the policy gradient "
                         "does not train the value network")

    with ctx.check("the value loss does not train the policy: its gradient w.r.t. the logits is zero"):
        reply = _losses(ctx, *_batch(rng, 32))
        _loss(reply, "value", graph=False)
        ctx.require(_is_zero(reply["value"].get("grad_logits")), "the value loss depends on the logits")

    with ctx.check("the value loss's gradient w.r.t. the values is -2(G - V)/B", weight=2):
        batch = _batch(rng, 48)
        reply, want = _losses(ctx, *batch), expected(*batch)
        _loss(reply, "value", batch)
        g = reply["value"]["grad_values"]
        ctx.require(g is not None, "no gradient of the value loss reached the values",
                    hint="don't detach the value estimate in the value loss: mean((G - V)²) with V attached")
        g = as_array(g, "the value loss's gradient with respect to the values", shape=(48,), kind="f")
        ctx.require(bool(np.allclose(g, want["value_grad_values"], rtol=RTOL, atol=ATOL)),
                    f"the value loss's gradient w.r.t. the values is not -2(G - V)/B "
                    f"(largest difference {np.abs(g - want['value_grad_values']).max():.3g})")

    with ctx.check("5 actions, B = 1 and B = 7: both losses and the policy gradient"):
        for B in (1, 7):
            batch = _batch(rng, B, 5)
            reply, want = _losses(ctx, *batch), expected(*batch)
            for name in ("policy", "value"):
                _loss(reply, name, batch, graph=name == "policy")
                got = _value(reply, name)
                ctx.require(bool(np.isclose(got, want[name], rtol=RTOL, atol=ATOL)),
                            f"B = {B}: {name} loss {sig(got)}, expected {sig(want[name])}",
                            hint=(policy_hint if name == "policy" else value_hint)(got, batch))
            g = reply["policy"]["grad_logits"]
            ctx.require(g is not None and bool(np.allclose(g, want["policy_grad_logits"], rtol=RTOL, atol=ATOL)),
                        f"B = {B}: the policy loss's gradient with respect to the logits is wrong")


@group("training")
def training(ctx: GroupContext) -> None:
    training_group(ctx, template_path(__file__, "reinforce_baseline.py"), budget=int(ctx.params["episodes"]))
