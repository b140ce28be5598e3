"""The RL holes as the suites call them (:mod:`grader.kits.holes`), decided in the parent on raw values.

* :func:`returns_of` — ``compute_returns(rewards, gamma)`` once: the rewards as they were after the
  call are compared here with what was sent, the dtype is the returned array's real one (read from
  the frame, never from the student's object), then the values;
* :func:`loss_reply` / :func:`losses_reply` — ``reinforce_loss`` and ``baseline_losses`` with their
  gradients in the same round trip (``eager``: each one-element output's gradients with respect to
  the inputs that require grad, so that the two losses of ``baseline_losses`` are told apart: no
  gradient of the policy loss may reach the values, none of the value loss the logits);
* :data:`PIPELINE_CHECKS` — what the course's training loop accepts from each hole (a float array
  of the episode's length; a one-element loss that carries a graph), refused with a message that
  names the hole, the call and what came back.

Nothing here knows an expected value: the hidden suites compute those.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, as_array
from grader.kits.holes.parent import AsList, HoleError, Holes, Value

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")


def _tensor(values: Any, dtype: str, grad: bool = False) -> Any:
    import torch

    return torch.tensor(np.asarray(values), dtype=getattr(torch, dtype), requires_grad=grad)


# -- compute_returns --------------------------------------------------------------------------
def returns_of(holes: Holes, rewards: Any, gamma: float, as_list: bool = False) -> np.ndarray:
    """``compute_returns(rewards, gamma)``: a float64 array of ``len(rewards)`` returns, the rewards
    left alone; else CheckFailed saying what came back (``as_list``: the rewards sent as a list)."""
    sent = np.array(rewards, dtype=np.float64)
    arg = AsList(sent) if as_list else sent
    reply = holes.call("compute_returns", arg, float(gamma))
    where = f"compute_returns(rewards of length {len(sent)}, gamma={gamma:g})"
    if reply.changed([arg]):
        raise CheckFailed(f"{where} modified the rewards it was given")
    out = reply.out
    if out.kind != "ndarray":
        raise CheckFailed(f"{where} should return a numpy array, got {out.describe()}")
    if out.array.dtype != np.float64:      # the array's own dtype, whatever its class says
        raise CheckFailed(f"{where} returned dtype {out.array.dtype}, expected float64")
    return as_array(np.array(out.array, dtype=np.float64), where, shape=(len(sent),), kind="f")


# -- the losses -------------------------------------------------------------------------------
def _loss_info(value: Value, grads: list | None, names: tuple[str, ...]) -> dict:
    """One returned loss as the suites read it: its type, shape, value and the gradients (``names``)."""
    if value.kind != "tensor":
        return {"type": value.type if value.kind != "none" else "None", "describe": value.describe()}
    floating = value.dtype in FLOAT_DTYPES
    info: dict[str, Any] = {"type": "tensor", "shape": list(value.array.shape), "device": value.device,
                            "requires_grad": value.requires_grad, "describe": value.describe(),
                            "value": value.array.astype(np.float64) if floating else None}
    if grads is not None:
        info.update({f"grad_{n}": None if g is None else np.asarray(g, dtype=np.float64) for n, g in zip(names, grads)})
    else:
        info.update({f"grad_{n}": None for n in names})
        info["no_graph"] = True
    return info


def loss_reply(holes: Holes, logits: np.ndarray, actions: np.ndarray, returns: np.ndarray) -> dict:
    """``reinforce_loss`` on float32 logits and returns (both requiring grad: none may reach the
    returns) and int64 actions, with the loss's gradients in the same round trip: ``type``,
    ``shape``, ``value``, ``grad_logits``, ``grad_returns``, ``mutated`` (decided here)."""
    sent = (_tensor(logits, "float32", True), _tensor(actions, "int64"), _tensor(returns, "float32", True))
    reply = holes.call("reinforce_loss", *sent, eager=True)
    each = reply.each[0] if reply.each and len(reply.each) == 1 else None
    info = _loss_info(reply.out, each, ("logits", "returns"))
    info["mutated"] = bool(reply.changed(sent))
    if info["type"] == "tensor" and np.asarray(reply.out.array).size == 1 and each is not None:
        info["has_grad"] = True
    return info


def losses_reply(holes: Holes, logits: np.ndarray, values: np.ndarray, actions: np.ndarray,
                 returns: np.ndarray) -> dict:
    """``baseline_losses`` with float32 logits and values requiring grad: ``type`` ("pair" for a
    tuple or list of two), ``mutated``, and per loss (``policy``, ``value``) its type, shape, value
    and gradients with respect to the logits and the values, each loss's own (one round trip)."""
    sent = (_tensor(logits, "float32", True), _tensor(values, "float32", True), _tensor(actions, "int64"),
            _tensor(returns, "float32"))
    reply = holes.call("baseline_losses", *sent, eager=True)
    out = reply.out
    if out.kind not in ("tuple", "list") or len(out.items) != 2:
        return {"type": out.type, "describe": out.describe(),
                "length": len(out.items) if out.kind in ("tuple", "list") else None}
    each = iter(reply.each or [])
    result: dict[str, Any] = {"type": "pair", "mutated": bool(reply.changed(sent))}
    for name, item in zip(("policy", "value"), out.items):
        grads = next(each, None) if item.kind == "tensor" else None
        if reply.each is None:
            grads = None
        result[name] = _loss_info(item, grads, ("logits", "values"))
    return result


# -- what the course's training loop accepts --------------------------------------------------
def call_text(name: str, args: tuple) -> str:
    """``name([shape], ..., number)``: a call of the course's loop as a student reads it."""
    parts = []
    for a in args:
        shape = getattr(a, "shape", None)
        if shape is not None:
            parts.append(f"[{', '.join(str(int(s)) for s in shape)}]")
        elif isinstance(a, (int, float)) and not isinstance(a, bool):
            parts.append(f"{a:g}")
    return f"{name}({', '.join(parts)})"


def _refuse(name: str, args: tuple, got: str, wanted: str) -> None:
    raise HoleError(f"the course's training loop called your {call_text(name, args)}: it returned {got}; "
                    f"{wanted} is expected")


def check_returns(value: Value, args: tuple, kwargs: dict) -> None:
    rewards = args[0] if args else kwargs.get("rewards")
    n = len(rewards) if rewards is not None else 0
    wanted = f"a float64 array of shape [{n}] (one return per step)"
    if value.kind not in ("ndarray", "tensor") or value.array.dtype.kind not in "fiu":
        _refuse("compute_returns", args, value.describe(), wanted)
    if value.array.shape != (n,):
        _refuse("compute_returns", args, value.describe(), wanted)
    if not np.all(np.isfinite(value.array)):
        _refuse("compute_returns", args, f"{value.describe()} with NaN or infinite values", wanted)


def _needs_graph(args: tuple, i: int) -> bool:
    """Whether the course's code sent argument ``i`` requiring grad (then the loss must carry a graph)."""
    return len(args) > i and bool(getattr(args[i], "requires_grad", False))


def _check_one_loss(name: str, value: Value, args: tuple, graph: bool, what: str = "") -> None:
    wanted = "a scalar floating-point tensor computed from the inputs with torch operations"
    said = f"{what}: " if what else ""
    if value.kind != "tensor" or value.dtype not in FLOAT_DTYPES or value.array.size != 1:
        _refuse(name, args, said + value.describe(), wanted)
    if not np.all(np.isfinite(value.array)):
        _refuse(name, args, f"{said}{float(value.array.reshape(-1)[0])}", "a finite loss")
    if graph and not value.requires_grad:
        _refuse(name, args, f"{said}a tensor with no gradient (computed from detached values: .item(), numpy or "
                            ".detach() on the way)", wanted)


def check_loss(value: Value, args: tuple, kwargs: dict) -> None:
    _check_one_loss("reinforce_loss", value, args, _needs_graph(args, 0))


def check_losses(value: Value, args: tuple, kwargs: dict) -> None:
    """``(policy_loss, value_loss)``: the policy loss carries a graph when the logits require grad,
    the value loss when the values do (the course's value-only steps send detached logits)."""
    if value.kind not in ("tuple", "list") or len(value.items) != 2:
        _refuse("baseline_losses", args, value.describe(), "a pair (policy_loss, value_loss) of scalar tensors")
    for i, (what, item) in enumerate(zip(("as policy_loss", "as value_loss"), value.items)):
        _check_one_loss("baseline_losses", item, args, _needs_graph(args, i), what)


PIPELINE_CHECKS = {"compute_returns": check_returns, "reinforce_loss": check_loss, "baseline_losses": check_losses}
EAGER = {"reinforce_loss", "baseline_losses"}     # losses: their gradients come with the forward call
