"""Parent-side calls of the NAS holes, shared by the hidden and the public suite.

Each hole is called as a pure function in the submission's child (:mod:`grader.kits.holes`):
the inputs go over as tensors or arrays, the output comes back as data (its kind, exact type
name, dtype and device read from the frame), with the inputs as they were after the call and,
where a check needs it, the gradients with respect to the inputs that require grad, in the
same round trip. Every check is made here, on those values; the hints name a common mistake
only when the values observed are exactly what that mistake gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, explain_submission_error, factor_hint
from grader.kits.holes.parent import AsList, Holes, Reply, short_type
from grader.sandbox import SubmissionError

FLOATING = ("float16", "bfloat16", "float32", "float64")
RTOL, ATOL = 1e-5, 1e-5                  # float32 tensors
EXACT = 1e-9                             # float64 numpy
LOG_SOFTMAX_HINT = ("log(softmax(x)) is log 0 = -inf on the choices a decision lacks, and its gradient there is NaN "
                    "(0 · ∞ in the backward pass): use torch.log_softmax(logits, dim=-1) and pick the taken choices "
                    "with gather")
NP_MEAN_HINT = ("np.mean does not take a torch tensor (and np.asarray cannot read one on the GPU): the course's loop "
                "passes the batch's rewards as a tensor; torch.as_tensor(rewards, dtype=torch.float64).mean().item() "
                "reads a list, an array and a tensor alike")


def _torch():
    import torch

    return torch


def _close(got: Any, want: Any, rtol: float, atol: float) -> bool:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    return got.shape == want.shape and bool(np.all(np.isfinite(got))) and bool(np.allclose(got, want, rtol=rtol, atol=atol))


def _first_match(got: Any, want: Any, candidates: dict[str, Any], rtol: float, atol: float) -> str:
    """The hint of the first candidate (a wrong formula's values) that the observed values equal, or ''; never
    one that equals the right values ``want`` here (on these inputs the mistake would not show)."""
    with np.errstate(all="ignore"):
        if _close(got, want, rtol, atol):
            return ""
        for hint, values in candidates.items():
            if _close(got, values, rtol, atol) and not _close(values, want, rtol, atol):
                return hint
    return ""


def _with_gradient(holes: Holes, name: str, args: Sequence[Any], upstream: list[np.ndarray],
                   check: Callable[[Reply], None]) -> Reply:
    """``name(*args)`` and the vector–Jacobian product for ``upstream`` in one round trip, its output
    checked by ``check``. When that raises (the result is not of the upstream's shape, so the VJP
    cannot be taken, or the student's code raised), the forward alone says which: the student's
    own error is raised as it is, a result of the wrong shape fails ``check`` with its message."""
    try:
        reply = holes.call(name, *args, upstream=upstream)
    except SubmissionError as first:
        reply = holes.call(name, *args, keep=True)     # the forward's own error propagates from here
        check(reply)
        shape = reply.out.array.shape if reply.out.kind == "tensor" else None
        if reply.handle is None or shape is None or int(np.prod(shape)) != upstream[0].size:
            raise first
        reply.grads = holes.vjp(reply.handle, [upstream[0].reshape(shape)], name)
        return reply
    check(reply)
    return reply


def _changed(reply: Reply, sent: Sequence[Any], name: str, what: str = "its inputs") -> None:
    if reply.changed(sent):
        raise CheckFailed(f"{name} modified {what} in place")


# -- efficientnet_reward ---------------------------------------------------------------------------
def efficientnet(accuracy: Any, flops: Any, target: float, beta: float) -> np.ndarray:
    return np.asarray(accuracy, dtype=np.float64) * (target / np.asarray(flops, dtype=np.float64)) ** beta


def reward_values(holes: Holes, accuracy: Any, flops: Any, target: float, beta: float | None,
                  want: tuple[int, ...]) -> np.ndarray:
    """The student's reward values (``beta`` None: called without it), after checking that the inputs
    are unchanged and the type, dtype (from the frame) and shape (``want``) of the result."""
    args = (accuracy, flops, float(target)) + (() if beta is None else (float(beta),))
    reply = holes.call("efficientnet_reward", *args)
    _changed(reply, [accuracy, flops], "efficientnet_reward", "its input arrays")
    out = reply.out
    if out.kind == "ndarray" and out.array.dtype.kind in "iuf":
        values, dtype = out.array, str(out.array.dtype)
    elif out.kind == "float":
        values = np.asarray(out.value, dtype=np.float64)
        dtype = out.type.split(".", 1)[1] if out.type.startswith("numpy.") else "float64"
    elif out.kind == "int":
        values, dtype = np.asarray(out.value, dtype=np.float64), "int64"
    else:
        raise CheckFailed(f"efficientnet_reward should return a float64 number or numpy array, got {short_type(out.type)}"
                          + (f" of dtype {out.array.dtype}" if out.kind == "ndarray" else ""))
    if dtype != "float64":
        raise CheckFailed(f"efficientnet_reward returned {dtype} values; the contract asks for float64 "
                          "(compute with np.asarray(..., dtype=np.float64))")
    if tuple(values.shape) != tuple(want):
        raise CheckFailed(f"efficientnet_reward returned shape {tuple(values.shape)}, expected {tuple(want)}"
                          + (" (a scalar for scalar inputs)" if not want else " (the inputs broadcast together)"))
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise CheckFailed("efficientnet_reward returned NaN or infinite values for flops > 0")
    return values


def reward_hint(got: np.ndarray, accuracy: Any, flops: Any, target: float, beta: float) -> str:
    """The mistake the returned rewards match exactly (each candidate a common wrong reward), or ''."""
    acc, cost = np.asarray(accuracy, dtype=np.float64), np.asarray(flops, dtype=np.float64)
    with np.errstate(all="ignore"):
        candidates = {
            "the exponent's ratio is upside down: a network above the target must earn less, so the factor is "
            "(target_flops / flops) ** beta": acc * (cost / target) ** beta,
            "beta is not used: the factor is (target_flops / flops) ** beta": acc * (target / cost),
            "beta applies to the FLOPs ratio only, not to the accuracy: accuracy · (target_flops / flops) ** beta":
                (acc * target / cost) ** beta,
            "the default beta is 0.07 (def efficientnet_reward(..., beta=0.07))": acc * (target / cost) ** 0.7,
        }
    return _first_match(got, efficientnet(acc, cost, target, beta), candidates, EXACT, 0.0)


def require_reward(got: np.ndarray, want: np.ndarray, what: str, hint: str = "") -> None:
    bad = ~np.isclose(got, want, rtol=EXACT, atol=0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise CheckFailed(f"{what}: got {got.ravel()[i]:.6g}, expected accuracy · (target / flops) ** beta = "
                          f"{want.ravel()[i]:.6g}", expected=f"{want.ravel()[i]:.6g}", got=f"{got.ravel()[i]:.6g}",
                          hint=hint)


# -- sequence_log_prob -----------------------------------------------------------------------------
@dataclass
class LogProb:
    values: np.ndarray                  # float64 [B]
    grad: np.ndarray | None = None      # d sum_b w_b · result_b / d logits, as it came back (None: no gradient)
    carries_graph: bool = False         # the result required grad in the child


def expected_log_prob(logits: np.ndarray, tokens: np.ndarray, weights: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``sum_t log_softmax(logits)[b, t, tokens[b, t]]`` and the gradient of ``sum_b w_b * that`` w.r.t. the logits."""
    x = np.asarray(logits, dtype=np.float64)
    weights = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    b, t = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    value = log_p[b, t, tokens].sum(axis=1)
    onehot = np.zeros_like(x)
    onehot[b, t, tokens] = 1.0
    grad = (onehot - np.exp(log_p)) * weights[:, None, None]
    return value, grad


def log_prob(holes: Holes, logits: np.ndarray, tokens: np.ndarray, device: str,
             weights: np.ndarray | None = None) -> LogProb:
    """``sequence_log_prob`` on float32 logits (requiring grad) and int64 tokens; with ``weights``, the
    gradient of ``sum_b weights_b · result_b`` with respect to the logits in the same round trip."""
    torch = _torch()
    lg = torch.tensor(np.asarray(logits, dtype=np.float32), requires_grad=True)
    tk = torch.tensor(np.asarray(tokens, dtype=np.int64))
    batch = len(tokens)

    def check(reply: Reply) -> None:
        _changed(reply, [lg, tk], "sequence_log_prob")
        out = reply.out
        if out.kind != "tensor":
            raise CheckFailed(f"sequence_log_prob should return a torch.Tensor, got {short_type(out.type)}")
        if tuple(out.array.shape) != (batch,):
            raise CheckFailed(f"sequence_log_prob returned shape {tuple(out.array.shape)} for logits "
                              f"{tuple(logits.shape)}; expected [B] = ({batch},): one log-probability per "
                              "architecture, summed over its decisions")
        if out.dtype not in FLOATING:
            raise CheckFailed(f"sequence_log_prob returned a {out.dtype} tensor, expected a floating-point one")
        if out.device != device:
            raise CheckFailed(f"sequence_log_prob returned a tensor on {out.device} for inputs on {device}")
        if not np.all(np.isfinite(out.array)):
            raise CheckFailed("sequence_log_prob returned NaN or infinite values (the logits of choices a decision "
                              "does not have are -inf, and -inf · 0 is NaN: pick the taken choices with gather or "
                              "indexing, do not multiply by a one-hot mask)")

    if weights is None:
        reply = holes.call("sequence_log_prob", lg, tk)
        check(reply)
    else:
        reply = _with_gradient(holes, "sequence_log_prob", (lg, tk), [np.asarray(weights, dtype=np.float32)], check)
    grad = reply.grads[0] if reply.grads else None
    return LogProb(np.asarray(reply.out.array, dtype=np.float64), grad, reply.out.requires_grad)


def log_prob_hint(got: np.ndarray, logits: np.ndarray, tokens: np.ndarray) -> str:
    """The mistake the returned log-probabilities match exactly (each candidate a common wrong one), or ''."""
    x = np.asarray(logits, dtype=np.float64)
    want, _ = expected_log_prob(logits, tokens)
    b, t = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    with np.errstate(all="ignore"):
        z = x - x.max(axis=-1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
        log_p = np.log(p)
        finite = np.where(np.isfinite(x), x, 0.0)
        zt = x - np.nanmax(np.where(np.isfinite(x), x, np.nan), axis=1, keepdims=True)
        over_t = zt - np.log(np.nansum(np.where(np.isfinite(x), np.exp(zt), 0.0), axis=1, keepdims=True))
        candidates = {
            "you average over the decisions; the log-probability of a whole architecture is their sum "
            "(.sum(dim=-1))": want / x.shape[1],
            "these are probabilities, not log-probabilities: use torch.log_softmax(logits, dim=-1)": p[b, t, tokens].sum(1),
            "these are raw logits: normalise them with torch.log_softmax(logits, dim=-1) first": x[b, t, tokens].sum(1),
            "the softmax runs over the decisions (dim=1); it must run over the choices (dim=-1)":
                over_t[b, t, tokens].sum(1),
            "-inf was replaced before the softmax, so missing choices take probability: keep the -inf logits as "
            "they are": np.log(np.exp(finite - finite.max(-1, keepdims=True))
                               / np.exp(finite - finite.max(-1, keepdims=True)).sum(-1, keepdims=True))[b, t, tokens]
                        .sum(1),
            "only the last decision counts: sum the log-probabilities of all T decisions": log_p[:, -1][
                np.arange(x.shape[0]), tokens[:, -1]],
        }
    return _first_match(got, want, candidates, RTOL, ATOL)


def require_log_prob(got: np.ndarray, logits: np.ndarray, tokens: np.ndarray) -> None:
    want, _ = expected_log_prob(logits, tokens)
    if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        i = int(np.argmax(np.abs(got - want)))
        raise CheckFailed(f"architecture {i}: log-probability {got[i]:.5f}, expected "
                          f"Σ_t log_softmax(logits)[t, token_t] = {want[i]:.5f}", expected=f"{want[i]:.5f}",
                          got=f"{got[i]:.5f}", hint=log_prob_hint(got, logits, tokens))


def require_log_prob_gradient(result: LogProb, logits: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> None:
    """The gradient with respect to the logits is that of ``Σ_b w_b Σ_t log_softmax(logits)[b, t, token]``:
    onehot − softmax, zero on the missing choices, and finite."""
    want_values, want = expected_log_prob(logits, tokens, weights)
    if result.grad is None:
        raise CheckFailed("no gradient flows from the result back to the logits (compute it with torch operations, "
                          "without .detach(), .item() or numpy)")
    got = np.asarray(result.grad, dtype=np.float64)
    if got.shape != tuple(logits.shape):
        raise CheckFailed(f"the gradient with respect to the logits has shape {got.shape}, expected {logits.shape}")
    values_right = _close(result.values, want_values, RTOL, ATOL)
    if not np.all(np.isfinite(got)):
        raise CheckFailed("the gradient with respect to the logits holds NaN or infinite values "
                          f"({int(np.count_nonzero(~np.isfinite(got)))} of {got.size})",
                          hint=LOG_SOFTMAX_HINT if values_right else "")
    if not np.allclose(got, want, rtol=1e-4, atol=1e-5):
        raise CheckFailed("the gradient with respect to the logits is not that of Σ_t log_softmax(logits)[t, token_t] "
                          f"(largest difference {np.abs(got - want).max():.3g})")


# -- controller_loss -------------------------------------------------------------------------------
@dataclass
class Loss:
    value: float
    grads: list[np.ndarray | None]      # with respect to log_probs, rewards and (a tensor) baseline


def expected_loss(log_probs: np.ndarray, rewards: np.ndarray, baseline: float) -> tuple[float, np.ndarray]:
    """The loss on the float32 inputs as sent, and its gradient with respect to log_probs."""
    lp, r = _f32(log_probs), _f32(rewards)
    b = float(np.float32(baseline))
    return float(-np.mean((r - b) * lp)), -(r - b) / len(r)


def _f32(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).astype(np.float64)


def loss(holes: Holes, log_probs: np.ndarray, rewards: np.ndarray, baseline: float, tensor_baseline: bool = False) -> Loss:
    """``controller_loss`` on float32 ``log_probs`` and ``rewards`` (both requiring grad, so that a gradient
    reaching the rewards shows) and a float or 0-d tensor (requiring grad) baseline; its value and gradients."""
    torch = _torch()
    lp = torch.tensor(np.asarray(log_probs, dtype=np.float32), requires_grad=True)
    rw = torch.tensor(np.asarray(rewards, dtype=np.float32), requires_grad=True)
    bl = torch.tensor(float(baseline), dtype=torch.float32, requires_grad=True) if tensor_baseline else float(baseline)

    def check(reply: Reply) -> None:
        _changed(reply, [lp, rw, bl], "controller_loss")
        out = reply.out
        if out.kind != "tensor":
            raise CheckFailed(f"controller_loss should return a torch.Tensor, got {short_type(out.type)}")
        if tuple(out.array.shape) not in ((), (1,)):
            raise CheckFailed(f"controller_loss should return a scalar (shape []), got shape {tuple(out.array.shape)}: "
                              "take the mean over the batch")
        if out.dtype not in FLOATING:
            raise CheckFailed(f"controller_loss returned a {out.dtype} tensor, expected a floating-point one")
        value = float(np.asarray(out.array, dtype=np.float64).reshape(()))
        if not math.isfinite(value):
            raise CheckFailed(f"controller_loss returned {value}")
        if not out.requires_grad:
            raise CheckFailed("controller_loss has no gradient: compute it with torch operations from log_probs "
                              "(no .detach(), .item() or numpy on log_probs)")

    reply = _with_gradient(holes, "controller_loss", (lp, rw, bl), [np.ones((), dtype=np.float32)], check)
    grads = list(reply.grads or [])
    grads += [None] * (3 - len(grads))
    return Loss(float(np.asarray(reply.out.array, dtype=np.float64).reshape(())), grads)


def loss_hint(got: float, log_probs: np.ndarray, rewards: np.ndarray, baseline: float) -> str:
    """The mistake a wrong loss value matches exactly (each candidate a common wrong loss), or ''."""
    lp, r, b = _f32(log_probs), _f32(rewards), float(np.float32(baseline))
    want, _ = expected_loss(log_probs, rewards, baseline)
    hint = factor_hint(got, want, {-1: "the sign is flipped: the loss is minus the mean, -mean((rewards − baseline) "
                                       "· log_probs), so that gradient descent raises the probability of "
                                       "better-than-baseline architectures",
                                   len(r): f"the loss is B = {len(r)} times too large: you summed over the batch; "
                                           "take the mean"}, rtol=1e-4)
    if hint:
        return hint
    adv = r - b
    with np.errstate(all="ignore"):
        normalised = (adv - adv.mean()) / (adv.std(ddof=1) + 1e-8) if len(adv) > 1 else adv
        candidates = {
            "the baseline is not subtracted: weight each log-probability by (rewards − baseline)": -np.mean(r * lp),
            "the baseline is added: the advantage is rewards − baseline": -np.mean((r + b) * lp),
            "log_probs are log-probabilities already: do not exponentiate them": -np.mean(adv * np.exp(lp)),
            "the advantage is squared: weight by (rewards − baseline) itself, which is negative for worse-than-"
            "baseline architectures": -np.mean(adv ** 2 * lp),
            "the advantages are normalised: use rewards − baseline as it is": -np.mean(normalised * lp),
        }
    return _first_match(got, want, candidates, RTOL, ATOL)


# -- update_baseline -------------------------------------------------------------------------------
def moving_average(baseline: float, rewards: np.ndarray, decay: float) -> float:
    return decay * baseline + (1 - decay) * float(np.mean(rewards))


def new_baseline(holes: Holes, baseline: float, rewards: np.ndarray, decay: float, kind: str = "list") -> float:
    """``update_baseline`` with ``rewards`` as a list, a numpy array or a float32 tensor (``kind``); the new
    baseline as a finite float."""
    rewards = np.array(rewards, dtype=np.float64)        # (a copy: the rewards are sent, never changed here)
    if kind == "tensor":
        sent: Any = _torch().tensor(rewards, dtype=_torch().float32)
    elif kind == "numpy":
        sent = rewards.copy()
    else:
        sent = AsList(rewards)
    try:
        reply = holes.call("update_baseline", float(baseline), sent, float(decay))
    except SubmissionError as exc:
        if kind == "tensor" and exc.type in ("TypeError", "RuntimeError") and (
                "unexpected keyword argument 'axis'" in exc.message or "numpy" in exc.message.lower()):
            raise CheckFailed(f"with the rewards as a torch tensor (as the course's loop passes them), "
                              f"{explain_submission_error(exc)}", hint=NP_MEAN_HINT) from None
        raise
    _changed(reply, [None, sent], "update_baseline", "the rewards")
    out = reply.out
    if out.kind in ("float", "int"):
        value = float(out.value)
    elif out.kind in ("tensor", "ndarray") and out.array.size == 1 and out.array.dtype.kind in "iuf":
        value = float(np.asarray(out.array, dtype=np.float64).reshape(()))
    else:
        raise CheckFailed(f"update_baseline should return a float, got {short_type(out.type)}")
    if not math.isfinite(value):
        raise CheckFailed(f"update_baseline returned {value}")
    return value


def baseline_hint(got: float, baseline: float, rewards: np.ndarray, decay: float) -> str:
    """The mistake a wrong new baseline matches exactly (each candidate a common wrong update), or ''."""
    r = np.asarray(rewards, dtype=np.float64)
    mean = float(np.mean(r))
    candidates = {
        "decay is on the wrong term: it weighs the old baseline, decay · baseline + (1 − decay) · mean(rewards)":
            (1 - decay) * baseline + decay * mean,
        "the batch's rewards are summed: the moving average takes their mean": decay * baseline + (1 - decay) * r.sum(),
        "the (1 − decay) factor is missing on the batch's mean": decay * baseline + mean,
        "only the last reward is used: the moving average takes the mean of the batch":
            decay * baseline + (1 - decay) * float(r[-1]),
        "the old baseline is forgotten: the result is the batch's mean alone, without decay · baseline": mean,
        "the baseline never moves: add (1 − decay) · mean(rewards)": baseline,
    }
    got_value = np.float64(got)
    for hint, value in candidates.items():
        if abs(value - got_value) <= 1e-6 + 1e-5 * abs(value) and abs(value - moving_average(baseline, r, decay)) > 1e-6:
            return hint
    return ""


def require_baseline(got: float, baseline: float, rewards: np.ndarray, decay: float, what: str) -> None:
    want = moving_average(baseline, rewards, decay)
    if not np.isclose(got, want, rtol=1e-5, atol=1e-6):
        raise CheckFailed(f"{what}: got {got:.6g}, expected decay · baseline + (1 − decay) · mean(rewards) = {want:.6g}",
                          expected=f"{want:.6g}", got=f"{got:.6g}", hint=baseline_hint(got, baseline, rewards, decay))
