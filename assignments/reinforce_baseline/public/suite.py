"""Public checks of the REINFORCE-with-baseline assignment (``grader check reinforce_baseline.py``).

Small, with the expected values in plain sight. Passing them does not
guarantee passing the hidden tests.
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group
from grader.kits.cartpole.parent import training_group


@group("baseline_losses")
def baseline_losses(ctx: GroupContext) -> None:
    with ctx.check("logits [[0, 0], [0, 0]], values [1, 3], actions [0, 1], returns [2, 2]: losses (0.0, 1.0)"):
        reply = ctx.call("baseline_losses", logits=np.zeros((2, 2)), values=np.array([1.0, 3.0]),
                         actions=np.array([0, 1]), returns=np.array([2.0, 2.0]))
        if reply.get("type") != "pair":
            raise CheckFailed(f"expected a pair (policy_loss, value_loss), got {reply.get('type')}")
        for name, want in (("policy", 0.0), ("value", 1.0)):
            r = reply[name]
            if r.get("type") != "tensor" or r.get("value") is None:
                raise CheckFailed(f"the {name} loss should be a floating-point torch tensor, got {r.get('type')}")
            got = float(np.asarray(r["value"]).reshape(()))
            ctx.require(abs(got - want) < 1e-5, f"{name} loss {got:.4f}, expected {want}")
        gv = reply["policy"].get("grad_values")
        ctx.require(gv is None or not np.any(gv != 0), "the policy loss sends a gradient into the values: detach them")
        gl = reply["value"].get("grad_logits")
        ctx.require(gl is None or not np.any(gl != 0), "the value loss depends on the logits")


@group("training")
def training(ctx: GroupContext) -> None:
    training_group(ctx, budget=int(ctx.params["episodes"]), runs=1)
