"""Hidden tests of the NAS assignment. Never released to students.

The holes are called as pure functions in the submission's child (``calls.py``, through
:mod:`grader.kits.holes`): one round trip gives the output, the inputs as they were after the
call and the gradients with respect to the inputs that require grad. Expected values and
gradients are computed here, in the parent, from the formulas. The ``search`` group trains the
course's own controller with the course's own loop (the template's ``search``) in the parent,
the student's holes called in the child, and rewards served from the measured table
(``table.py``) at a FLOPs target drawn per run and never shown to the child (``serving.py``).
Every check has a catalogue of wrong implementations that fail it (tests/variants/nas.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.core.suite import GroupContext, factor_hint, group, import_local
from grader.kits.holes.parent import Holes

serving = import_local(__file__, "serving")
calls = import_local(__file__, "calls")
table_module = import_local(__file__, "table")

SPACE_CHOICES = (3, 4, 3, 2, 5, 3)       # valid choices per decision, as in the template's search space


def _device(ctx: GroupContext) -> str:
    return "cuda" if ctx.device == "cuda" else "cpu"


# -- efficientnet_reward --------------------------------------------------------
def _accuracies(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.uniform(0.5, 0.99, size=shape)


def _flops(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return np.round(10 ** rng.uniform(3, 6.5, size=shape)).astype(np.int64)


def _reward(holes: Holes, accuracy: Any, flops: Any, target: float, beta: float | None, want: tuple[int, ...],
            what: str) -> None:
    got = calls.reward_values(holes, accuracy, flops, target, beta, want)
    beta = 0.07 if beta is None else beta
    calls.require_reward(got, calls.efficientnet(accuracy, flops, target, beta), what,
                         hint=calls.reward_hint(got, accuracy, flops, target, beta))


@group("efficientnet_reward")
def efficientnet_reward(ctx: GroupContext) -> None:
    rng = ctx.rng
    holes = Holes(ctx)

    with ctx.check("scalars: accuracy · (target / flops) ** beta as a float64 number"):
        for _ in range(3):
            acc, flops, target = float(rng.uniform(0.5, 1)), float(_flops(rng)), float(_flops(rng))
            _reward(holes, acc, flops, target, 0.07, (), f"accuracy {acc:.3f}, {flops:,.0f} FLOPs, target {target:,.0f}")

    with ctx.check("numpy arrays (int64 FLOPs), element-wise, for several beta", weight=2):
        for beta in (0.07, 0.3, 1.0):
            acc, flops, target = _accuracies(rng, 20), _flops(rng, 20), float(_flops(rng))
            _reward(holes, acc, flops, target, beta, (20,), f"beta = {beta}")

    with ctx.check("beta = 0 gives the accuracy; flops = target gives the accuracy"):
        acc, flops, target = _accuracies(rng, 8), _flops(rng, 8), float(_flops(rng))
        got = calls.reward_values(holes, acc, flops, target, 0.0, (8,))
        ctx.require(bool(np.allclose(got, acc, rtol=calls.EXACT, atol=0)), "with beta = 0 the reward must be the accuracy")
        got = calls.reward_values(holes, acc, np.full(8, 50_000, dtype=np.int64), 50_000.0, 0.07, (8,))
        ctx.require(bool(np.allclose(got, acc, rtol=calls.EXACT, atol=0)),
                    "with flops equal to the target the reward must be the accuracy")

    with ctx.check("broadcasting: accuracies [3, 1] against FLOPs [1, 4]; a scalar accuracy against FLOPs [5]"):
        acc, flops, target = _accuracies(rng, 3, 1), _flops(rng, 1, 4), float(_flops(rng))
        _reward(holes, acc, flops, target, 0.07, (3, 4), "accuracies [3, 1], FLOPs [1, 4]")
        acc, flops = float(rng.uniform(0.5, 1)), _flops(rng, 5)
        _reward(holes, acc, flops, target, 0.07, (5,), "a scalar accuracy, FLOPs [5]")

    with ctx.check("the default beta is 0.07 (doubling the FLOPs costs 5 %)"):
        acc, flops, target = _accuracies(rng, 10), _flops(rng, 10), float(_flops(rng))
        _reward(holes, acc, flops, target, None, (10,), "called without beta")


# -- sequence_log_prob ------------------------------------------------------------
def _masked_logits(rng: np.random.Generator, batch: int, choices: tuple[int, ...], scale: float = 2.0):
    """Random logits ``[B, T, K]`` with ``-inf`` on the choices a decision lacks, and valid tokens ``[B, T]``."""
    k = max(choices)
    logits = rng.normal(scale=scale, size=(batch, len(choices), k))
    valid = np.arange(k)[None, :] < np.asarray(choices)[:, None]
    logits = np.where(valid[None], logits, -np.inf).astype(np.float32)
    tokens = np.stack([rng.integers(c, size=batch) for c in choices], axis=1).astype(np.int64)
    return logits, tokens


@group("sequence_log_prob")
def sequence_log_prob(ctx: GroupContext) -> None:
    rng = ctx.rng
    holes, device = Holes(ctx), _device(ctx)

    with ctx.check("returns a float tensor of shape [B] on the input's device, inputs unchanged"):
        for batch, choices in ((5, (4, 4, 4)), (1, (2, 3))):
            logits, tokens = _masked_logits(rng, batch, choices)
            calls.log_prob(holes, logits, tokens, device)

    with ctx.check("Σ over the decisions of log_softmax at the taken choices (B = 32, the assignment's 6 decisions, "
                   "-inf on missing choices)", weight=2):
        logits, tokens = _masked_logits(rng, 32, SPACE_CHOICES)
        calls.require_log_prob(calls.log_prob(holes, logits, tokens, device).values, logits, tokens)

    with ctx.check("the gradient w.r.t. the logits is onehot − softmax (zero and finite on missing choices)", weight=2):
        logits, tokens = _masked_logits(rng, 24, SPACE_CHOICES)
        weights = rng.normal(size=24)
        result = calls.log_prob(holes, logits, tokens, device, weights=weights)
        calls.require_log_prob_gradient(result, logits, tokens, weights)

    with ctx.check("a decision with a single valid choice adds log 1 = 0; T = 1 is one log_softmax"):
        logits, tokens = _masked_logits(rng, 6, (1, 4, 1, 3))
        calls.require_log_prob(calls.log_prob(holes, logits, tokens, device).values, logits, tokens)
        logits, tokens = _masked_logits(rng, 9, (5,))
        calls.require_log_prob(calls.log_prob(holes, logits, tokens, device).values, logits, tokens)


# -- controller_loss --------------------------------------------------------------
def _batch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    log_probs = -rng.uniform(1.0, 9.0, size=size)
    rewards = rng.uniform(0.6, 0.97, size=size)
    return log_probs, rewards, float(rng.uniform(0.7, 0.9))


def _is_zero(grad: Any) -> bool:
    return grad is None or not np.any(np.asarray(grad) != 0)


def _require_loss(ctx: GroupContext, got: float, batch: tuple, what: str = "loss") -> None:
    want = calls.expected_loss(*batch)[0]
    ctx.require(bool(np.isclose(got, want, rtol=calls.RTOL, atol=calls.ATOL)),
                f"{what} {got:.6g}, expected -mean((rewards - baseline) · log_probs) = {want:.6g}",
                expected=f"{want:.6g}", got=f"{got:.6g}", hint=calls.loss_hint(got, *batch))


@group("controller_loss")
def controller_loss(ctx: GroupContext) -> None:
    rng = ctx.rng
    holes = Holes(ctx)

    with ctx.check("-mean((rewards − baseline) · log_probs) on a random batch (B = 16)", weight=2):
        batch = _batch(rng, 16)
        _require_loss(ctx, calls.loss(holes, *batch).value, batch)

    with ctx.check("its gradient w.r.t. log_probs is −(rewards − baseline) / B", weight=2):
        batch = _batch(rng, 12)
        grad = calls.loss(holes, *batch).grads[0]
        ctx.require(grad is not None, "no gradient of the loss reaches log_probs")
        grad = np.asarray(grad, dtype=np.float64)
        want = calls.expected_loss(*batch)[1]
        ctx.require(grad.shape == want.shape and bool(np.all(np.isfinite(grad))),
                    f"the gradient with respect to log_probs has shape {grad.shape} or holds NaN")
        ctx.require(bool(np.allclose(grad, want, rtol=1e-4, atol=1e-6)),
                    f"the gradient with respect to log_probs is not -(rewards - baseline) / B "
                    f"(largest difference {np.abs(grad - want).max():.3g})",
                    hint=factor_hint(float(np.sum(grad * want)), float(np.sum(want * want)),
                                           {-1: "the gradient points the wrong way: the loss is minus the mean",
                                            12: "the gradient is B times too large: average over the batch, not sum"}))

    with ctx.check("the advantage is a constant: no gradient flows into the rewards", weight=2):
        ctx.require(_is_zero(calls.loss(holes, *_batch(rng, 8)).grads[1]),
                    "the loss sends a gradient into the rewards: detach the advantage (rewards - baseline)")

    with ctx.check("a 0-d tensor baseline: the same value, and no gradient flows into the baseline", weight=2):
        batch = _batch(rng, 10)
        result = calls.loss(holes, *batch, tensor_baseline=True)
        _require_loss(ctx, result.value, batch, "with a tensor baseline the loss is")
        ctx.require(_is_zero(result.grads[2]),
                    "the loss sends a gradient into the baseline: the baseline is a constant (detach it)")

    with ctx.check("B = 1, and a baseline equal to every reward gives 0"):
        batch = _batch(rng, 1)
        _require_loss(ctx, calls.loss(holes, *batch).value, batch, "B = 1: loss")
        got = calls.loss(holes, -rng.uniform(1, 5, size=6), np.full(6, 0.75), 0.75).value
        ctx.require(abs(got) < 1e-6, f"with rewards equal to the baseline the loss must be 0, got {got:.6g}",
                    hint="the baseline is not subtracted: weight each log-probability by (rewards − baseline)"
                    if abs(got) > 1e-3 else "")


# -- update_baseline ----------------------------------------------------------------
@group("update_baseline")
def update_baseline(ctx: GroupContext) -> None:
    rng = ctx.rng
    holes = Holes(ctx)

    def run(baseline: float, rewards: np.ndarray, decay: float, what: str, kind: str = "list") -> float:
        got = calls.new_baseline(holes, baseline, rewards, decay, kind)
        calls.require_baseline(got, baseline, rewards, decay, what)
        return got

    with ctx.check("decay · baseline + (1 − decay) · mean(rewards), rewards as a list", weight=2):
        for decay in (0.8, 0.95):
            run(float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=8), decay, f"decay {decay}")

    with ctx.check("rewards as a numpy array and as a torch tensor (as the course's loop passes them)"):
        for kind in ("numpy", "tensor"):
            run(float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=5), 0.9, f"rewards as a {kind} array", kind)

    with ctx.check("decay 0 gives the batch's mean; decay 1 keeps the baseline"):
        baseline, rewards = float(rng.uniform(0.5, 0.9)), rng.uniform(0.3, 1.0, size=6)
        run(baseline, rewards, 0.0, "decay 0")
        run(baseline, rewards, 1.0, "decay 1")

    with ctx.check("five batches in a row (each result fed back as the baseline)"):
        baseline = want = 0.0
        for _ in range(5):
            rewards = rng.uniform(0.3, 1.0, size=4)
            baseline = calls.new_baseline(holes, baseline, rewards, 0.7)
            want = calls.moving_average(want, rewards, 0.7)
        ctx.require(bool(np.isclose(baseline, want, rtol=1e-5, atol=1e-6)),
                    f"after five batches: got {baseline:.6g}, expected {want:.6g}")


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
    """The course's controller trained by the course's loop (the template's ``search``) with the student's
    holes, on the hidden table at secret targets (serving.search_group)."""
    p = ctx.params
    serving.search_group(ctx, _table_landscapes(dict(p)), runs=int(p.get("runs", 2)), budget=int(p["budget"]),
                         share=float(p["share"]),
                         learned_share=float(p["learned_share"]), min_queries=float(p["min_queries"]),
                         call_seconds=float(p.get("call_seconds", 10)), retries=int(p.get("retries", 0)))

