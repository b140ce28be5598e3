"""Child-side probes for the REINFORCE assignment: call the student's code, return raw values.

Runs inside the sandbox. Holds no expected values: the parent computes the
formulas itself and decides. Tensors are built on ``GRADER_DEVICE``; gradients
are taken here (autograd lives with the student's code) and sent back as arrays.
The training probes (``train``, ``export_policy``, ``rebuild_policy``, ``act``) are the
CartPole kit's, shared with ``reinforce_baseline``. Importing this module (before the
submission is imported) switches gymnasium's own CartPole off: the only CartPole in
this process is the proxy env the grader serves and records.
"""

from __future__ import annotations

import cartpole_child
import numpy as np
from cartpole_child import DEVICE, act, export_policy, rebuild_policy, train  # noqa: F401 - probes

cartpole_child.lock_cartpole()


def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def compute_returns(sub, ctx, episodes, gammas, as_list=False):
    """``compute_returns(rewards, gamma)`` for each (episode, gamma) pair: type, dtype, shape, values, mutation."""
    out = []
    for rewards, gamma in zip(episodes, gammas):
        given = np.array(rewards, dtype=np.float64)
        original = given.copy()
        arg = given.tolist() if as_list else given
        result = sub.compute_returns(arg, float(gamma))
        item = {"type": _type_name(result), "mutated": bool(not np.array_equal(given, original))}
        if isinstance(result, np.ndarray) and result.dtype.kind in "biuf":
            item.update(dtype=str(result.dtype), shape=[int(s) for s in result.shape],
                        values=result.astype(np.float64, copy=True))
        out.append(item)
    return out


def reinforce_loss(sub, ctx, logits, actions, returns):
    """The loss, and the gradients of it with respect to ``logits`` and ``returns`` (both leaf tensors)."""
    import torch

    lg = torch.tensor(np.asarray(logits), dtype=torch.float32, device=DEVICE, requires_grad=True)
    ac = torch.tensor(np.asarray(actions), dtype=torch.int64, device=DEVICE)
    rt = torch.tensor(np.asarray(returns), dtype=torch.float32, device=DEVICE, requires_grad=True)
    originals = (lg.detach().clone(), ac.clone(), rt.detach().clone())
    loss = sub.reinforce_loss(lg, ac, rt)
    reply = _tensor_info(loss)
    if reply["type"] == "tensor" and loss.requires_grad and loss.numel() == 1:
        loss.reshape(()).backward()
        reply["grad_logits"] = None if lg.grad is None else lg.grad.detach().double().cpu().numpy()
        reply["grad_returns"] = None if rt.grad is None else rt.grad.detach().double().cpu().numpy()
    reply["mutated"] = bool(not (torch.equal(lg.detach(), originals[0]) and torch.equal(ac, originals[1])
                                 and torch.equal(rt.detach(), originals[2])))
    return reply


def _tensor_info(value) -> dict:
    import torch

    if not isinstance(value, torch.Tensor):
        return {"type": _type_name(value)}
    return {"type": "tensor", "shape": [int(s) for s in value.shape], "device": value.device.type,
            "requires_grad": bool(value.requires_grad),
            "value": value.detach().double().cpu().numpy() if value.dtype.is_floating_point else None}
