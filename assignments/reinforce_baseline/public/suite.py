"""Public checks of the REINFORCE-with-baseline assignment (``grader check reinforce_baseline.py``).

Small, with the expected values in plain sight. Passing them does not
guarantee passing the hidden tests. ``compute_returns`` (pasted from the
``reinforce`` assignment) is checked too: it earns no points here, but the
course's training loop calls it, so the ``training`` group needs it.
``grader check --full`` adds one run of the grader's ``training`` group: the
course's loop with your two functions, as the grader trains it.
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, factor_hint, group
from grader.kits.cartpole.holes import losses_reply, returns_of
from grader.kits.cartpole.parent import template_path, training_group
from grader.kits.holes.parent import Holes

LOGITS = np.array([[0.0, np.log(3.0)], [0.0, 0.0]])
VALUES, ACTIONS, RETURNS = np.array([1.0, 3.0]), np.array([1, 0]), np.array([4.0, 1.0])
# log π: log(3/4) and log(1/2); advantages G - V = [3, -2]
POLICY = float(-np.mean(np.array([np.log(0.75), np.log(0.5)]) * (RETURNS - VALUES)))   # -0.2616
VALUE = float(np.mean((RETURNS - VALUES) ** 2))                                         # 6.5
VALUE_GRAD = -2 * (RETURNS - VALUES) / 2                                                # [-3, 2]


@group("compute_returns")
def compute_returns(ctx: GroupContext) -> None:
    """Your compute_returns from the reinforce assignment: no points here, but training calls it."""
    cases = [([1.0, 1.0, 1.0], 0.5, [1.75, 1.5, 1.0]), ([], 0.99, []), ([3.0], 0.9, [3.0]), ([1.0, 2.0], 1.0, [3.0, 2.0])]
    for rewards, gamma, want in cases:
        with ctx.check(f"compute_returns({rewards}, gamma={gamma}) == {want} (float64 array; the course's training "
                       "loop calls it)"):
            got = returns_of(Holes(ctx), rewards, gamma)
            ctx.require(bool(np.allclose(got, want)), f"got {got.tolist()}", expected=str(want), got=str(got.tolist()),
                        hint="paste your compute_returns from the reinforce assignment: G_t = r_t + γ G_(t+1)")


@group("baseline_losses")
def baseline_losses(ctx: GroupContext) -> None:
    reply = None

    def losses() -> dict:
        nonlocal reply
        if reply is None:
            reply = losses_reply(Holes(ctx), LOGITS, VALUES, ACTIONS, RETURNS)
        if reply.get("type") != "pair":
            raise CheckFailed(f"expected a pair (policy_loss, value_loss), got {reply.get('describe')}")
        if reply.get("mutated"):
            raise CheckFailed("baseline_losses modified its inputs in place")
        return reply

    def loss(name: str) -> tuple[dict, float]:
        r = losses()[name]
        if r.get("type") != "tensor" or r.get("value") is None:
            raise CheckFailed(f"the {name} loss should be a floating-point torch tensor, got {r.get('describe')}")
        return r, float(np.asarray(r["value"]).reshape(()))

    case = "logits [[0, ln 3], [0, 0]], values [1, 3], actions [1, 0], returns [4, 1]"
    with ctx.check(f"{case}: policy loss {POLICY:.4f}, with no gradient into the values"):
        r, got = loss("policy")
        ctx.require(abs(got - POLICY) < 1e-4, f"policy loss {got:.4f}, expected {POLICY:.4f}", expected=f"{POLICY:.4f}",
                    got=f"{got:.4f}", hint=factor_hint(got, POLICY, {2: "twice the expected loss with B = 2: you "
                                                                        "summed over the batch; take the mean",
                                                                     -1: "the sign is flipped (or the advantage is "
                                                                         "V - G): the loss is -mean(log π · (G - V))"}))
        ctx.require(r.get("grad_logits") is not None, "no gradient of the policy loss reached the logits")
        gv = r.get("grad_values")
        ctx.require(gv is None or not np.any(gv != 0), "the policy loss sends a gradient into the values: detach them")
    with ctx.check(f"{case}: value loss {VALUE:g} = mean((G - V)²), not depending on the logits"):
        r, got = loss("value")
        ctx.require(abs(got - VALUE) < 1e-4, f"value loss {got:.4f}, expected {VALUE}", expected=f"{VALUE:g}",
                    got=f"{got:.4f}", hint=factor_hint(got, VALUE, {2: "twice the expected loss with B = 2: you "
                                                                      "summed over the batch; take the mean",
                                                                   0.5: "half the expected loss: no factor 1/2"}))
        gl = r.get("grad_logits")
        ctx.require(gl is None or not np.any(gl != 0), "the value loss depends on the logits")
    with ctx.check(f"{case}: the value loss's gradient w.r.t. the values is -2(G - V)/B = {VALUE_GRAD.tolist()}"):
        r, got = loss("value")
        g = r.get("grad_values")
        right = abs(got - VALUE) < 1e-4
        ctx.require(g is not None, "no gradient of the value loss reached the values",
                    hint="its value is right: don't detach the value estimate in the value loss (detach V only in "
                         "the policy loss)" if right else "")
        ctx.require(np.allclose(g, VALUE_GRAD, atol=1e-4), f"gradient {np.round(g, 4).tolist()}",
                    expected=str(VALUE_GRAD.tolist()), got=str(np.round(g, 4).tolist()))


@group("training")
def training(ctx: GroupContext) -> None:
    """One run of the grader's training group (retrained on fresh seeds if it only missed the bound, as
    graded): the course's loop with your holes, within the budget."""
    training_group(ctx, template_path(__file__, "reinforce_baseline.py"), budget=int(ctx.params["episodes"]), runs=1)
