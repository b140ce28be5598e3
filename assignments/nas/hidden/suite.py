"""Hidden tests of the NAS assignment. Never released to students.

Expected values and gradients are computed here, in the parent, from the
formulas; the child only returns the student's values and the gradients
autograd found. The ``search`` group serves rewards from the measured table
(``table.py``) at a FLOPs target drawn per run and never shown to the child.
Every check has a catalogue of wrong implementations that fail it
(tests/variants/nas.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array, group, import_local

serving = import_local(__file__, "serving")
table_module = import_local(__file__, "table")

SPACE_CHOICES = (3, 4, 3, 2, 5, 3)       # valid choices per decision, as in the template's search space
RTOL, ATOL = 1e-5, 1e-5                  # float32 tensors
EXACT = 1e-9                             # float64 numpy


# -- efficientnet_reward --------------------------------------------------------
def _reward_values(ctx: GroupContext, accuracy: Any, flops: Any, target: float, beta: float | None,
                   want: tuple[int, ...]) -> np.ndarray:
    """The student's reward values, after checking their type, dtype and shape (``want``)."""
    reply = ctx.call("efficientnet_reward", accuracy=accuracy, flops=flops, target_flops=target, beta=beta)
    if reply.get("mutated"):
        raise CheckFailed("efficientnet_reward modified its input arrays in place")
    if "values" not in reply:
        raise CheckFailed(f"efficientnet_reward should return a float64 number or numpy array, got {reply.get('type')}")
    if reply["dtype"] != "float64":
        raise CheckFailed(f"efficientnet_reward returned {reply['dtype']} values; the contract asks for float64 "
                          "(compute with np.asarray(..., dtype=np.float64))")
    if tuple(reply["shape"]) != tuple(want):
        raise CheckFailed(f"efficientnet_reward returned shape {tuple(reply['shape'])}, expected {tuple(want)}"
                          + (" (a scalar for scalar inputs)" if not want else " (the inputs broadcast together)"))
    values = np.asarray(reply["values"], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise CheckFailed("efficientnet_reward returned NaN or infinite values for flops > 0")
    return values


def _efficientnet(accuracy: Any, flops: Any, target: float, beta: float) -> np.ndarray:
    return np.asarray(accuracy, dtype=np.float64) * (target / np.asarray(flops, dtype=np.float64)) ** beta


def _require_reward(ctx: GroupContext, got: np.ndarray, want: np.ndarray, what: str) -> None:
    bad = ~np.isclose(got, want, rtol=EXACT, atol=0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        ctx.fail(f"{what}: got {got.ravel()[i]:.6g}, expected accuracy · (target / flops) ** beta = {want.ravel()[i]:.6g}")


def _accuracies(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(0.5, 0.99, size=shape)


def _flops(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.round(10 ** rng.uniform(3, 6.5, size=shape)).astype(np.int64)


@group("efficientnet_reward")
def efficientnet_reward(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("scalars: accuracy · (target / flops) ** beta as a float64 number"):
        for _ in range(3):
            acc, flops, target, beta = float(rng.uniform(0.5, 1)), float(_flops(rng)), float(_flops(rng)), 0.07
            got = _reward_values(ctx, acc, flops, target, beta, ())
            _require_reward(ctx, got, _efficientnet(acc, flops, target, beta), f"accuracy {acc:.3f}, {flops:,.0f} FLOPs, "
                                                                               f"target {target:,.0f}")

    with ctx.check("numpy arrays (int64 FLOPs), element-wise, for several beta", weight=2):
        for beta in (0.07, 0.3, 1.0):
            acc, flops, target = _accuracies(rng, 20), _flops(rng, 20), float(_flops(rng))
            got = _reward_values(ctx, acc, flops, target, beta, (20,))
            _require_reward(ctx, got, _efficientnet(acc, flops, target, beta), f"beta = {beta}")

    with ctx.check("beta = 0 gives the accuracy; flops = target gives the accuracy"):
        acc, flops, target = _accuracies(rng, 8), _flops(rng, 8), float(_flops(rng))
        got = _reward_values(ctx, acc, flops, target, 0.0, (8,))
        ctx.require(bool(np.allclose(got, acc, rtol=EXACT, atol=0)), "with beta = 0 the reward must be the accuracy")
        got = _reward_values(ctx, acc, np.full(8, 50_000, dtype=np.int64), 50_000.0, 0.07, (8,))
        ctx.require(bool(np.allclose(got, acc, rtol=EXACT, atol=0)),
                    "with flops equal to the target the reward must be the accuracy")

    with ctx.check("broadcasting: accuracies [3, 1] against FLOPs [1, 4]; a scalar accuracy against FLOPs [5]"):
        acc, flops, target = _accuracies(rng, 3, 1), _flops(rng, 1, 4), float(_flops(rng))
        got = _reward_values(ctx, acc, flops, target, 0.07, (3, 4))
        _require_reward(ctx, got, _efficientnet(acc, flops, target, 0.07), "accuracies [3, 1], FLOPs [1, 4]")
        acc, flops = float(rng.uniform(0.5, 1)), _flops(rng, 5)
        got = _reward_values(ctx, acc, flops, target, 0.07, (5,))
        _require_reward(ctx, got, _efficientnet(acc, flops, target, 0.07), "a scalar accuracy, FLOPs [5]")

    with ctx.check("the default beta is 0.07 (doubling the FLOPs costs 5 %)"):
        acc, flops, target = _accuracies(rng, 10), _flops(rng, 10), float(_flops(rng))
        got = _reward_values(ctx, acc, flops, target, None, (10,))
        _require_reward(ctx, got, _efficientnet(acc, flops, target, 0.07), "called without beta")


# -- sequence_log_prob ------------------------------------------------------------
def _masked_logits(rng: np.random.Generator, batch: int, choices: tuple[int, ...], scale: float = 2.0):
    """Random logits ``[B, T, K]`` with ``-inf`` on the choices a decision lacks, and valid tokens ``[B, T]``."""
    k = max(choices)
    logits = rng.normal(scale=scale, size=(batch, len(choices), k))
    valid = np.arange(k)[None, :] < np.asarray(choices)[:, None]
    logits = np.where(valid[None], logits, -np.inf).astype(np.float32)
    tokens = np.stack([rng.integers(c, size=batch) for c in choices], axis=1).astype(np.int64)
    return logits, tokens


def _expected_log_prob(logits: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_t log_softmax(logits)[b, t, tokens[b, t]]`` and the gradient of ``sum_b w_b * that`` w.r.t. the logits."""
    x = logits.astype(np.float64)
    z = x - x.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    b, t = np.meshgrid(np.arange(x.shape[0]), np.arange(x.shape[1]), indexing="ij")
    value = log_p[b, t, tokens].sum(axis=1)
    onehot = np.zeros_like(x)
    onehot[b, t, tokens] = 1.0
    grad = (onehot - np.exp(log_p)) * weights[:, None, None]
    return value, grad


def _log_prob(ctx: GroupContext, logits: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> dict:
    reply = ctx.call("sequence_log_prob", logits=logits, tokens=tokens, weights=weights.astype(np.float32))
    if reply.get("mutated"):
        raise CheckFailed("sequence_log_prob modified its inputs in place")
    result = reply["result"]
    if result.get("type") != "tensor":
        raise CheckFailed(f"sequence_log_prob should return a torch.Tensor, got {result.get('type')}")
    if tuple(result["shape"]) != (len(tokens),):
        raise CheckFailed(f"sequence_log_prob returned shape {tuple(result['shape'])} for logits "
                          f"{tuple(logits.shape)}; expected [B] = ({len(tokens)},): one log-probability per "
                          "architecture, summed over its decisions")
    if result["values"] is None:
        raise CheckFailed(f"sequence_log_prob returned a {result['dtype']} tensor, expected a floating-point one")
    if result["device"] != ctx.device:
        raise CheckFailed(f"sequence_log_prob returned a tensor on {result['device']} for inputs on {ctx.device}")
    values = np.asarray(result["values"], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise CheckFailed("sequence_log_prob returned NaN or infinite values (the logits of choices a decision "
                          "does not have are -inf, and -inf · 0 is NaN: pick the taken choices with gather or "
                          "indexing, do not multiply by a one-hot mask)")
    reply["values"] = values
    return reply


def _require_log_prob(ctx: GroupContext, got: np.ndarray, want: np.ndarray) -> None:
    if not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        i = int(np.argmax(np.abs(got - want)))
        ctx.fail(f"architecture {i}: log-probability {got[i]:.5f}, expected "
                 f"Σ_t log_softmax(logits)[t, token_t] = {want[i]:.5f}")


@group("sequence_log_prob")
def sequence_log_prob(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("returns a float tensor of shape [B] on the input's device, inputs unchanged"):
        for batch, choices in ((5, (4, 4, 4)), (1, (2, 3))):
            logits, tokens = _masked_logits(rng, batch, choices)
            _log_prob(ctx, logits, tokens, np.ones(batch))

    with ctx.check("Σ over the decisions of log_softmax at the taken choices (B = 32, the assignment's 6 decisions, "
                   "-inf on missing choices)", weight=2):
        logits, tokens = _masked_logits(rng, 32, SPACE_CHOICES)
        reply = _log_prob(ctx, logits, tokens, np.ones(32))
        _require_log_prob(ctx, reply["values"], _expected_log_prob(logits, tokens, np.ones(32))[0])

    with ctx.check("the gradient w.r.t. the logits is onehot − softmax (zero on missing choices)", weight=2):
        logits, tokens = _masked_logits(rng, 24, SPACE_CHOICES)
        weights = rng.normal(size=24)
        reply = _log_prob(ctx, logits, tokens, weights)
        g = reply["gradients"]
        if not g.get("has_grad") or g["grads"][0] is None:
            raise CheckFailed("no gradient flows from the result back to the logits "
                              + (f"({g['error']}) " if g.get("error") else "")
                              + "(compute it with torch operations, without .detach() or .item())")
        got = as_array(g["grads"][0], "the gradient with respect to the logits", shape=logits.shape, kind="f")
        want = _expected_log_prob(logits, tokens, weights)[1]
        ctx.require(bool(np.allclose(got, want, rtol=1e-4, atol=1e-5)),
                    "the gradient with respect to the logits is not that of Σ_t log_softmax(logits)[t, token_t] "
                    f"(largest difference {np.abs(got - want).max():.3g})")

    with ctx.check("a decision with a single valid choice adds log 1 = 0; T = 1 is one log_softmax"):
        logits, tokens = _masked_logits(rng, 6, (1, 4, 1, 3))
        reply = _log_prob(ctx, logits, tokens, np.ones(6))
        _require_log_prob(ctx, reply["values"], _expected_log_prob(logits, tokens, np.ones(6))[0])
        logits, tokens = _masked_logits(rng, 9, (5,))
        reply = _log_prob(ctx, logits, tokens, np.ones(9))
        _require_log_prob(ctx, reply["values"], _expected_log_prob(logits, tokens, np.ones(9))[0])


# -- controller_loss --------------------------------------------------------------
def _loss(ctx: GroupContext, log_probs: np.ndarray, rewards: np.ndarray, baseline: float, kind: str = "float") -> dict:
    reply = ctx.call("controller_loss", log_probs=log_probs.astype(np.float32), rewards=rewards.astype(np.float32),
                     baseline=float(baseline), baseline_kind=kind)
    if reply.get("mutated"):
        raise CheckFailed("controller_loss modified its inputs in place")
    result = reply["result"]
    if result.get("type") != "tensor":
        raise CheckFailed(f"controller_loss should return a torch.Tensor, got {result.get('type')}")
    if tuple(result["shape"]) not in ((), (1,)):
        raise CheckFailed(f"controller_loss should return a scalar (shape []), got shape {tuple(result['shape'])}: "
                          "take the mean over the batch")
    if result["values"] is None:
        raise CheckFailed(f"controller_loss returned a {result['dtype']} tensor, expected a floating-point one")
    value = float(np.asarray(result["values"]).reshape(()))
    if not math.isfinite(value):
        raise CheckFailed(f"controller_loss returned {value}")
    g = reply["gradients"]
    if not g.get("has_grad"):
        raise CheckFailed("controller_loss has no gradient: compute it with torch operations from log_probs "
                          + (f"({g['error']})" if g.get("error") else "(no .detach(), .item() or numpy on log_probs)"))
    reply["value"] = value
    return reply


def _batch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    log_probs = -rng.uniform(1.0, 9.0, size=size)
    rewards = rng.uniform(0.6, 0.97, size=size)
    return log_probs, rewards, float(rng.uniform(0.7, 0.9))


def _expected_loss(log_probs: np.ndarray, rewards: np.ndarray, baseline: float) -> tuple[float, np.ndarray]:
    lp, r = log_probs.astype(np.float32).astype(np.float64), rewards.astype(np.float32).astype(np.float64)
    b = float(np.float32(baseline))
    return float(-np.mean((r - b) * lp)), -(r - b) / len(r)


def _is_zero(grad: Any) -> bool:
    return grad is None or not np.any(np.asarray(grad) != 0)


@group("controller_loss")
def controller_loss(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("-mean((rewards − baseline) · log_probs) on a random batch (B = 16)", weight=2):
        batch = _batch(rng, 16)
        got, (want, _) = _loss(ctx, *batch)["value"], _expected_loss(*batch)
        ctx.require(bool(np.isclose(got, want, rtol=RTOL, atol=ATOL)),
                    f"loss {got:.6g}, expected -mean((rewards - baseline) · log_probs) = {want:.6g}")

    with ctx.check("its gradient w.r.t. log_probs is −(rewards − baseline) / B", weight=2):
        batch = _batch(rng, 12)
        reply = _loss(ctx, *batch)
        grad = reply["gradients"]["grads"][0]
        ctx.require(grad is not None, "no gradient of the loss reaches log_probs")
        grad = as_array(grad, "the gradient with respect to log_probs", shape=(12,), kind="f")
        want = _expected_loss(*batch)[1]
        ctx.require(bool(np.allclose(grad, want, rtol=1e-4, atol=1e-6)),
                    f"the gradient with respect to log_probs is not -(rewards - baseline) / B "
                    f"(largest difference {np.abs(grad - want).max():.3g})")

    with ctx.check("the advantage is a constant: no gradient flows into the rewards", weight=2):
        reply = _loss(ctx, *_batch(rng, 8))
        ctx.require(_is_zero(reply["gradients"]["grads"][1]),
                    "the loss sends a gradient into the rewards: detach the advantage (rewards - baseline)")

    with ctx.check("a 0-d tensor baseline: the same value, and no gradient flows into the baseline", weight=2):
        log_probs, rewards, baseline = _batch(rng, 10)
        reply = _loss(ctx, log_probs, rewards, baseline, kind="tensor")
        want = _expected_loss(log_probs, rewards, baseline)[0]
        ctx.require(bool(np.isclose(reply["value"], want, rtol=RTOL, atol=ATOL)),
                    f"with a tensor baseline the loss is {reply['value']:.6g}, expected {want:.6g}")
        ctx.require(_is_zero(reply["gradients"]["grads"][2]),
                    "the loss sends a gradient into the baseline: the baseline is a constant (detach it)")

    with ctx.check("B = 1, and a baseline equal to every reward gives 0"):
        batch = _batch(rng, 1)
        got, want = _loss(ctx, *batch)["value"], _expected_loss(*batch)[0]
        ctx.require(bool(np.isclose(got, want, rtol=RTOL, atol=ATOL)), f"B = 1: loss {got:.6g}, expected {want:.6g}")
        got = _loss(ctx, -rng.uniform(1, 5, size=6), np.full(6, 0.75), 0.75)["value"]
        ctx.require(abs(got) < 1e-6, f"with rewards equal to the baseline the loss must be 0, got {got:.6g}")


# -- update_baseline ----------------------------------------------------------------
def _new_baseline(ctx: GroupContext, baseline: float, rewards: np.ndarray, decay: float, kind: str = "list") -> float:
    reply = ctx.call("update_baseline", baseline=float(baseline), rewards=rewards, decay=float(decay), rewards_kind=kind)
    if "value" not in reply:
        raise CheckFailed(f"update_baseline should return a float, got {reply.get('type')}")
    value = float(reply["value"])
    if not math.isfinite(value):
        raise CheckFailed(f"update_baseline returned {value}")
    return value


def _moving_average(baseline: float, rewards: np.ndarray, decay: float) -> float:
    return decay * baseline + (1 - decay) * float(np.mean(rewards))


def _require_baseline(ctx: GroupContext, got: float, want: float, what: str) -> None:
    ctx.require(bool(np.isclose(got, want, rtol=1e-5, atol=1e-6)),
                f"{what}: got {got:.6g}, expected decay · baseline + (1 − decay) · mean(rewards) = {want:.6g}")


@group("update_baseline")
def update_baseline(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("decay · baseline + (1 − decay) · mean(rewards), rewards as a list", weight=2):
        for decay in (0.8, 0.95):
            baseline, rewards = float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=8)
            _require_baseline(ctx, _new_baseline(ctx, baseline, rewards, decay), _moving_average(baseline, rewards, decay),
                              f"decay {decay}")

    with ctx.check("rewards as a numpy array and as a torch tensor"):
        for kind in ("numpy", "tensor"):
            baseline, rewards, decay = float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=5), 0.9
            _require_baseline(ctx, _new_baseline(ctx, baseline, rewards, decay, kind),
                              _moving_average(baseline, rewards, decay), f"rewards as a {kind} array")

    with ctx.check("decay 0 gives the batch's mean; decay 1 keeps the baseline"):
        baseline, rewards = float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=6)
        _require_baseline(ctx, _new_baseline(ctx, baseline, rewards, 0.0), float(np.mean(rewards)), "decay 0")
        _require_baseline(ctx, _new_baseline(ctx, baseline, rewards, 1.0), baseline, "decay 1")

    with ctx.check("five batches in a row (each result fed back as the baseline)"):
        baseline = want = 0.0
        for _ in range(5):
            rewards = rng.uniform(0.3, 1.0, size=4)
            baseline = _new_baseline(ctx, baseline, rewards, 0.7)
            want = _moving_average(want, rewards, 0.7)
        _require_baseline(ctx, baseline, want, "after five batches")


# -- search ------------------------------------------------------------------------------
def _table_landscapes(params: dict):
    """Each run's landscape: the table's rewards at a target drawn log-uniformly from the stated range."""
    table = table_module.load_table()
    low, high, beta = float(params["target_low"]), float(params["target_high"]), float(params["beta"])

    def draw(rng: np.random.Generator):
        target = float(np.exp(rng.uniform(np.log(low), np.log(high))))
        rewards = table_module.nas_reward(table.accuracy, table.flops, target, beta)
        landscape = serving.Landscape(table.choices, rewards, table.describe, table.details)
        return landscape, f"secret target {target:,.0f} FLOPs"
    return draw


@group("search")
def search(ctx: GroupContext) -> None:
    p = ctx.params
    serving.search_group(ctx, _table_landscapes(dict(p)), runs=int(p.get("runs", 2)), budget=int(p["budget"]),
                         share=float(p["share"]), search_seconds=float(p.get("search_seconds", 30)),
                         learned_share=float(p["learned_share"]), min_queries=float(p["min_queries"]))
