"""Public checks of the REINFORCE assignment (``grader check reinforce.py``).

Small, with the expected values in plain sight. Passing them does not
guarantee passing the hidden tests (more episodes, more γ, gradients, seeds).
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group
from grader.kits.cartpole.parent import training_group


@group("compute_returns")
def compute_returns(ctx: GroupContext) -> None:
    cases = [([1.0, 1.0, 1.0], 0.5, [1.75, 1.5, 1.0]), ([], 0.99, []), ([3.0], 0.9, [3.0]), ([1.0, 2.0], 1.0, [3.0, 2.0])]
    for rewards, gamma, want in cases:
        with ctx.check(f"compute_returns({rewards}, gamma={gamma}) == {want} (float64 array)"):
            r = ctx.call("compute_returns", episodes=[np.array(rewards, dtype=np.float64)], gammas=[gamma])[0]
            if "values" not in r:
                raise CheckFailed(f"expected a numpy array, got {r.get('type')}")
            ctx.require(r["dtype"] == "float64", f"dtype {r['dtype']}, expected float64")
            got = np.asarray(r["values"])
            ctx.require(got.shape == (len(want),) and np.allclose(got, want), f"got {got.tolist()}")
            ctx.require(not r.get("mutated"), "the rewards were modified")


@group("reinforce_loss")
def reinforce_loss(ctx: GroupContext) -> None:
    with ctx.check("logits [[0, 0], [0, ln 3]], actions [0, 1], returns [2, 1]: loss 0.8370, scalar"):
        logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
        reply = ctx.call("reinforce_loss", logits=logits, actions=np.array([0, 1]), returns=np.array([2.0, 1.0]))
        if reply.get("type") != "tensor":
            raise CheckFailed(f"expected a torch tensor, got {reply.get('type')}")
        ctx.require(reply.get("shape") == [], f"expected a scalar, got shape {reply.get('shape')}")
        want = -(np.log(0.5) * 2 + np.log(0.75) * 1) / 2
        got = float(np.asarray(reply["value"]).reshape(()))
        ctx.require(abs(got - want) < 1e-4, f"loss {got:.4f}, expected {want:.4f}")
        ctx.require("grad_logits" in reply and reply["grad_logits"] is not None, "no gradient reached the logits")
        gr = reply.get("grad_returns")
        ctx.require(gr is None or not np.any(gr != 0), "a gradient reached the returns: detach them")


@group("training")
def training(ctx: GroupContext) -> None:
    training_group(ctx, budget=None, runs=1)
