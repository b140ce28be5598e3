"""Child-side probes for the REINFORCE-with-baseline assignment: call the student's code, return raw values.

Runs inside the sandbox. Holds no expected values. The training probes (``train``,
``export_policy``, ``rebuild_policy``, ``act``) are the CartPole kit's, shared with
``reinforce``. Importing this module (before the submission is imported) switches
gymnasium's own CartPole off, so the only CartPole in this process is the proxy env
the grader serves.
"""

from __future__ import annotations

import cartpole_child
import numpy as np
from cartpole_child import DEVICE, act, export_policy, rebuild_policy, train  # noqa: F401 - probes

cartpole_child.lock_cartpole()


def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _grad(out, inputs):
    import torch

    try:
        grads = torch.autograd.grad(out.reshape(()), inputs, allow_unused=True, retain_graph=True)
    except RuntimeError:  # the output does not depend on any input
        return [None] * len(inputs)
    return [None if g is None else g.detach().double().cpu().numpy() for g in grads]


def baseline_losses(sub, ctx, logits, values, actions, returns):
    """Both losses' values, and each one's gradient with respect to ``logits`` and ``values``."""
    import torch

    lg = torch.tensor(np.asarray(logits), dtype=torch.float32, device=DEVICE, requires_grad=True)
    vl = torch.tensor(np.asarray(values), dtype=torch.float32, device=DEVICE, requires_grad=True)
    ac = torch.tensor(np.asarray(actions), dtype=torch.int64, device=DEVICE)
    rt = torch.tensor(np.asarray(returns), dtype=torch.float32, device=DEVICE)
    originals = [t.detach().clone() for t in (lg, vl, ac, rt)]
    result = sub.baseline_losses(lg, vl, ac, rt)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        return {"type": _type_name(result), "length": len(result) if isinstance(result, (tuple, list)) else None}
    reply = {"type": "pair"}
    for name, loss in zip(("policy", "value"), result):
        if not isinstance(loss, torch.Tensor):
            reply[name] = {"type": _type_name(loss)}
            continue
        info = {"type": "tensor", "shape": [int(s) for s in loss.shape],
                "value": loss.detach().double().cpu().numpy() if loss.dtype.is_floating_point else None}
        if loss.requires_grad and loss.numel() == 1:
            info["grad_logits"], info["grad_values"] = _grad(loss, (lg, vl))
        else:
            info["grad_logits"] = info["grad_values"] = None
            info["no_graph"] = True
        reply[name] = info
    now = (lg.detach(), vl.detach(), ac, rt)
    reply["mutated"] = bool(not all(torch.equal(a, b) for a, b in zip(now, originals)))
    return reply
