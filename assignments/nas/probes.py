"""Child-side probes for the NAS assignment: call the student's code, return raw values.

Runs inside the sandbox. Holds no expected values and no rewards: during
``search`` every reward comes from the parent through the ``reward``
callback, which counts the queries and refuses them after the budget. Types
are reported as names, never trusted; values go back as plain numbers and
numpy arrays.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

DEVICE = os.environ.get("GRADER_DEVICE", "cpu")


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _torch():
    import torch
    return torch


def _describe(value: Any) -> dict:
    """A tensor's shape, dtype, device and values (float64), or only the type of anything else."""
    torch = _torch()
    if not isinstance(value, torch.Tensor):
        return {"type": _type_name(value)}
    floating = value.dtype.is_floating_point
    return {"type": "tensor", "shape": [int(s) for s in value.shape], "dtype": str(value.dtype).replace("torch.", ""),
            "device": value.device.type, "requires_grad": bool(value.requires_grad),
            "values": value.detach().to("cpu", torch.float64).numpy() if floating else None}


def _grads(out: Any, inputs: list, weights: Any = None) -> dict:
    """Gradients of ``sum(weights * out)`` (``sum(out)`` without weights) w.r.t. ``inputs``;
    None for an input no gradient reaches."""
    torch = _torch()
    if not isinstance(out, torch.Tensor) or not out.requires_grad or not out.dtype.is_floating_point:
        return {"has_grad": False}
    try:
        if weights is None:
            total = out.sum()
        else:
            total = (out * torch.as_tensor(np.asarray(weights), dtype=out.dtype, device=out.device)).sum()
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
    except RuntimeError as exc:   # e.g. the output does not depend on any input that requires grad
        return {"has_grad": False, "error": str(exc)[:300]}
    return {"has_grad": True, "grads": [None if g is None else g.detach().to("cpu", torch.float64).numpy() for g in grads]}


# -- the holes -----------------------------------------------------------------
def efficientnet_reward(sub, ctx, accuracy, flops, target_flops, beta=None):
    """The student's reward for the given scalars or arrays (``beta=None``: rely on the default)."""
    before = [np.array(v, copy=True) if isinstance(v, np.ndarray) else v for v in (accuracy, flops)]
    if beta is None:
        out = sub.efficientnet_reward(accuracy, flops, target_flops)
    else:
        out = sub.efficientnet_reward(accuracy, flops, target_flops, beta)
    mutated = any(isinstance(v, np.ndarray) and not np.array_equal(v, b, equal_nan=True)
                  for v, b in zip((accuracy, flops), before))
    reply = {"type": _type_name(out), "mutated": mutated}
    if isinstance(out, (bool, np.bool_)):
        return reply
    if isinstance(out, (int, float, np.number)) or (isinstance(out, np.ndarray) and out.dtype.kind in "iuf"):
        arr = np.asarray(out)
        reply.update(kind="python" if isinstance(out, (int, float)) and not isinstance(out, np.number) else "numpy",
                     dtype=str(arr.dtype), shape=list(arr.shape), values=arr.astype(np.float64))
    return reply


def sequence_log_prob(sub, ctx, logits, tokens, weights):
    """``sequence_log_prob(logits, tokens)`` and the gradient of ``sum(weights * result)`` w.r.t. the logits."""
    torch = _torch()
    lg = torch.tensor(np.asarray(logits), dtype=torch.float32, device=DEVICE, requires_grad=True)
    tk = torch.tensor(np.asarray(tokens), dtype=torch.int64, device=DEVICE)
    originals = (lg.detach().clone(), tk.clone())
    out = sub.sequence_log_prob(lg, tk)
    reply = {"result": _describe(out), "gradients": _grads(out, [lg], weights)}
    reply["mutated"] = bool(not torch.equal(lg.detach(), originals[0]) or not torch.equal(tk, originals[1]))
    return reply


def controller_loss(sub, ctx, log_probs, rewards, baseline, baseline_kind="float"):
    """The loss, and its gradients w.r.t. ``log_probs``, ``rewards`` and (a tensor) ``baseline``.

    ``rewards`` and a tensor ``baseline`` are sent with ``requires_grad=True``, so
    a gradient that reaches them shows up (the contract says none may).
    """
    torch = _torch()
    lp = torch.tensor(np.asarray(log_probs), dtype=torch.float32, device=DEVICE, requires_grad=True)
    rw = torch.tensor(np.asarray(rewards), dtype=torch.float32, device=DEVICE, requires_grad=True)
    inputs = [lp, rw]
    if baseline_kind == "tensor":
        bl = torch.tensor(float(baseline), dtype=torch.float32, device=DEVICE, requires_grad=True)
        inputs.append(bl)
    else:
        bl = float(baseline)
    originals = [t.detach().clone() for t in inputs]
    out = sub.controller_loss(lp, rw, bl)
    reply = {"result": _describe(out), "gradients": _grads(out, inputs)}
    reply["mutated"] = bool(not all(torch.equal(t.detach(), o) for t, o in zip(inputs, originals)))
    return reply


def update_baseline(sub, ctx, baseline, rewards, decay, rewards_kind="list"):
    """The new baseline for ``rewards`` given as a list, a numpy array or a tensor."""
    torch = _torch()
    values = np.asarray(rewards, dtype=np.float64)
    if rewards_kind == "numpy":
        arg = values.copy()
    elif rewards_kind == "tensor":
        arg = torch.tensor(values, dtype=torch.float32, device=DEVICE)
    else:
        arg = [float(v) for v in values]
    out = sub.update_baseline(float(baseline), arg, float(decay))
    reply = {"type": _type_name(out)}
    if isinstance(out, torch.Tensor):
        reply["tensor"] = _describe(out)
        if out.numel() == 1 and out.dtype.is_floating_point:
            reply["value"] = float(out.detach().to("cpu", torch.float64).reshape(()))
    elif isinstance(out, (int, float, np.integer, np.floating)) and not isinstance(out, (bool, np.bool_)):
        reply["value"] = float(out)
    elif isinstance(out, np.ndarray) and out.size == 1 and out.dtype.kind in "iuf":
        reply["value"] = float(out.reshape(()))
    return reply


# -- the search ----------------------------------------------------------------
class GraderQuery:
    """``query(architecture) -> reward``, served by the grader: every call is one of ``budget`` queries.

    ``architecture`` is one choice index per decision (a list, tuple, numpy
    array or tensor of integers). After ``budget`` calls the grader refuses
    further queries and ``search`` ends without a result.
    """

    def __init__(self, ctx: Any, budget: int, choices: list[int]) -> None:
        self._ctx = ctx
        self.budget = int(budget)
        self.choices = list(choices)
        self.used = 0

    def __call__(self, architecture: Any) -> float:
        reply = self._ctx.callback("reward", architecture=_as_architecture(architecture, len(self.choices)))
        self.used += 1
        return float(reply["reward"])

    def __repr__(self) -> str:
        return f"<query served by the grader: {self.used} of {self.budget} used>"


def _as_architecture(architecture: Any, decisions: int) -> np.ndarray:
    """Choice indices as int64 ``[decisions]`` (tensors, lists, tuples accepted), or a clear ValueError."""
    if hasattr(architecture, "detach") and hasattr(architecture, "cpu"):
        architecture = architecture.detach().cpu().numpy()
    try:
        arr = np.asarray(architecture)
    except Exception:  # noqa: BLE001 - ragged or odd contents
        raise ValueError("query(architecture) expects a list of choice indices, one per decision") from None
    if arr.shape != (decisions,):
        raise ValueError(f"query(architecture) expects {decisions} choice indices (one per decision), "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"query(architecture) expects integer choice indices, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _arguments(sub: Any, settings: dict) -> argparse.Namespace:
    """The template's own defaults (``build_parser().parse_args([])``) with the grader's settings on top."""
    args = argparse.Namespace()
    build = getattr(sub, "build_parser", None)
    if callable(build):
        try:
            args = build().parse_args([])
        except BaseException:  # noqa: BLE001 - a broken parser must not hide search's own errors
            args = argparse.Namespace()
    for key, value in settings.items():
        setattr(args, key, value)
    args.device = DEVICE
    return args


def search(sub, ctx, run, seed, budget, choices, overrides=None):
    """``search(query, args)`` with the grader's query; the controller it returns is kept for ``greedy``."""
    ctx.state.pop(run, None)
    choices = [int(c) for c in choices]
    args = _arguments(sub, {"seed": int(seed), "budget": int(budget), "choices": choices, **(overrides or {})})
    query = GraderQuery(ctx, budget, choices)
    t0 = time.monotonic()
    controller = sub.search(query, args)
    seconds = time.monotonic() - t0
    ctx.state[run] = controller
    return {"type": _type_name(controller), "seconds": seconds, "queries": query.used,
            "has_greedy": callable(getattr(controller, "greedy", None))}


def greedy(sub, ctx, run):
    """``controller.greedy()``: the architecture the controller prefers, as int64 choice indices."""
    controller = ctx.state.get(run)
    if controller is None:
        return {"error": "no controller (search did not return one)"}
    if not callable(getattr(controller, "greedy", None)):
        return {"error": f"search returned {_type_name(controller)}, which has no greedy() method"}
    out = controller.greedy()
    if hasattr(out, "detach") and hasattr(out, "cpu"):
        out = out.detach().cpu().numpy()
    try:
        arr = np.asarray(out)
    except Exception:  # noqa: BLE001 - ragged or odd contents
        return {"error": f"greedy() returned {_type_name(out)}, not a list of choice indices"}
    if arr.dtype.kind not in "iuf" or arr.dtype == object:
        return {"error": f"greedy() returned {_type_name(out)} of dtype {arr.dtype}, not a list of choice indices"}
    return {"architecture": arr}
