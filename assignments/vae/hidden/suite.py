"""Hidden tests of the VAE assignment. Never released to students.

Every statistical bound below is a 5-sigma (or wider) interval, so a correct
implementation fails with probability well under 1e-5 per check, and every
check has a catalogue of wrong implementations that fail it
(tests/variants/vae.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.core.suite import (
    DEFAULT_REPLY_BYTES,
    CheckFailed,
    GroupContext,
    as_array,
    explain_submission_error,
    group,
    import_local,
    sig,
)
from grader.kits.images.distortion import Distortion, distort
from grader.kits.weights.parent import check_state, shapes
from grader.sandbox import ChildFailure, SubmissionError

evaluation = import_local(__file__, "evaluation")
mnist = import_local(__file__, "mnist")

SIGMAS = 5.0
DECODER = "decoder"        # the fresh child process that only ever decodes (never sees a held-out image)
REBUILD_IMAGES = 100       # training images the decoder's train(..., epochs=0) builds the architecture on
# The only replies bigger than the default limit (see GroupContext.call). A state_dict: the
# reference 784-500-500-2 model is ~4 MB in float32, and a student may build a far bigger one;
# 256 MiB is also the most the parent then holds for that call, whatever the child sends.
STATE_REPLY_BYTES = 256 * 1024 * 1024


def _floats_reply_bytes(count: int) -> int:
    """Reply limit for ``count`` float64 values (encodings, decoded images): twice their size, so a
    wrongly shaped reply still arrives and is reported by its shape; never below the default."""
    return max(DEFAULT_REPLY_BYTES, 2 * 8 * count)


def _seed(ctx: GroupContext) -> int:
    return int(ctx.rng.integers(2**31))


def _tensor(reply: Any, what: str, shape: tuple[int, ...], device: str) -> np.ndarray:
    """The values of a tensor the child described, after checking type, shape, dtype and device."""
    if not isinstance(reply, dict) or reply.get("type") != "tensor":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise CheckFailed(f"{what} should return a torch.Tensor, got {kind}")
    if tuple(reply["shape"]) != tuple(shape):
        raise CheckFailed(f"{what} returned shape {tuple(reply['shape'])}, expected {tuple(shape)}")
    if reply["values"] is None or not str(reply["dtype"]).startswith("float"):
        raise CheckFailed(f"{what} returned a {reply['dtype']} tensor, expected a floating-point one")
    if reply["device"] != device:
        raise CheckFailed(f"{what} returned a tensor on {reply['device']} for inputs on {device}; "
                          "keep results on the input's device")
    values = np.asarray(reply["values"], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise CheckFailed(f"{what} returned NaN or infinite values")
    return values


def _not_mutated(reply: dict, what: str) -> None:
    if reply.get("mutated"):
        raise CheckFailed(f"{what} modified its input tensors in place; compute a new tensor instead")


# -- reparametrize -------------------------------------------------------------
def _sample(ctx: GroupContext, mean: np.ndarray, sd: np.ndarray, **kw: Any) -> tuple[dict, list[np.ndarray]]:
    reply = ctx.call("reparametrize", mean=mean.astype(np.float32), sd=sd.astype(np.float32), **kw)
    _not_mutated(reply, "reparametrize")
    samples = [_tensor(s, "reparametrize", mean.shape, ctx.device) for s in reply["samples"]]
    return reply, samples


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


NORMAL_SHARES = {0.5: 0.382925, 1.0: 0.682689, 2.0: 0.954500}        # P(|N(0, 1)| < k)
UNIFORM_SHARES = {0.5: 0.5 / math.sqrt(3), 1.0: 1 / math.sqrt(3), 2.0: 1.0}   # the same for a uniform


def _phi(x: float) -> float:
    return math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


def _centre_hint(m_hat: np.ndarray, mean: np.ndarray, sd: np.ndarray, n: int) -> str:
    """Name the mistake the sample means match: noise centred at 1/2 (torch.rand_like), and only that."""
    if np.all(np.abs(m_hat - (mean + 0.5 * sd)) < SIGMAS * sd / math.sqrt(12 * n)):
        return "the noise has mean 1/2, as U(0, 1) has: draw eps ~ N(0, 1) with torch.randn_like, not torch.rand_like"
    return ""


def _scale_hint(s_hat: np.ndarray, sd: np.ndarray, n: int) -> str:
    """Name the scale the samples show, when it is a known mistake (each candidate within 5 standard errors)."""
    candidates = {
        "you scaled the noise by sd² instead of sd (z = mean + sd * eps)": sd ** 2,
        "you scaled the noise by exp(sd): sd is the standard deviation itself, not its logarithm": np.exp(sd),
        "you scaled the noise by exp(sd / 2): sd is the standard deviation, not a log-variance": np.exp(sd / 2),
        "you scaled the noise by sqrt(sd): sd is the standard deviation, not the variance": np.sqrt(sd),
        "the noise is not scaled by sd (its standard deviation is 1 in every dimension)": np.ones_like(sd),
        "the noise has the spread of U(0, 1) (1/√12 · sd): draw eps with torch.randn_like, not torch.rand_like":
            sd / math.sqrt(12),
    }
    for hint, scale in candidates.items():
        if np.all(np.abs(s_hat - scale) < SIGMAS * scale / math.sqrt(2 * n) + 1e-9):
            return hint
    if np.all(s_hat < 1e-6):
        return "the samples do not vary: add noise (one eps per example, z = mean + sd * eps)"
    return ""


def _same_draw(noise: np.ndarray, reference: np.ndarray, sd: np.ndarray) -> bool:
    """Whether ``noise`` is ``f(sd) * reference`` elementwise, one factor for each value of sd."""
    usable = np.abs(reference) > 0.2
    for value in np.unique(sd):
        pick = usable & (sd == value)
        if not pick.any():
            continue
        ratio = noise[pick] / reference[pick]
        if abs(np.median(ratio)) < 1e-6 or not np.allclose(ratio, np.median(ratio), rtol=1e-3, atol=1e-4):
            return False
    return bool(usable.any())


@group("reparametrize")
def reparametrize(ctx: GroupContext) -> None:
    rng = ctx.rng
    n = int(ctx.params.get("samples", 20000))

    with ctx.check("returns a float tensor of the input's shape and device, inputs unchanged"):
        for shape in ((5, 3), (1, 7)):
            _sample(ctx, rng.normal(size=shape), rng.uniform(0.5, 2.0, size=shape))

    with ctx.check("sd = 0 gives z = mean exactly"):
        mean = rng.normal(size=(4, 6))
        _, (z,) = _sample(ctx, mean, np.zeros_like(mean), no_validation=True)
        ctx.require(np.allclose(z, mean.astype(np.float32), rtol=0, atol=1e-6),
                    f"with sd = 0 the sample must equal the mean; largest difference {np.max(np.abs(z - mean)):.3g}")

    # sd values kept away from 1 so that sd, sd**2 and exp(sd) are told apart.
    sd_row = np.array([0.3, 0.5, 2.0, 3.0, 0.2, 1.7])
    with ctx.check(f"mean and standard deviation of {n} samples match mean and sd in every dimension", weight=2):
        mean_row = rng.normal(scale=2.0, size=6)
        _, (z,) = _sample(ctx, np.tile(mean_row, (n, 1)), np.tile(sd_row, (n, 1)), seed=_seed(ctx))
        m_hat, s_hat = z.mean(axis=0), z.std(axis=0)
        bad = np.abs(m_hat - mean_row) > SIGMAS * sd_row / math.sqrt(n)
        ctx.require(not bad.any(), "the sample means differ from the means",
                    expected=sig(mean_row, 3), got=sig(m_hat, 3), hint=_centre_hint(m_hat, mean_row, sd_row, n))
        bad = np.abs(s_hat - sd_row) > SIGMAS * sd_row / math.sqrt(2 * n)
        ctx.require(not bad.any(), "the sample standard deviations differ from sd (z = mean + sd * eps)",
                    expected=sig(sd_row, 3), got=sig(s_hat, 3), hint=_scale_hint(s_hat, sd_row, n))

    with ctx.check("the noise is normal (share within ±0.5, ±1, ±2 of its own standard deviation)"):
        # Standardised with the samples' own spread, so that a wrong scale (the check above) does not fail
        # this one: here only the shape of the noise's distribution counts.
        mean_row = rng.normal(size=6)
        _, (z,) = _sample(ctx, np.tile(mean_row, (n, 1)), np.tile(sd_row, (n, 1)), seed=_seed(ctx))
        spread = z.std(axis=0)
        ctx.require(bool(np.all(spread > 0)), "the samples do not vary: there is no noise to look at")
        u = np.abs((z - mean_row) / spread).ravel()
        shares = {k: float(np.mean(u < k)) for k in (0.5, 1.0, 2.0)}
        looks_uniform = all(abs(shares[k] - p) < 0.02 for k, p in UNIFORM_SHARES.items())
        for k, p in NORMAL_SHARES.items():
            # binomial noise of the share, plus what estimating the spread from n samples can shift it
            tol = SIGMAS * math.sqrt(p * (1 - p) / u.size) + 2 * k * _phi(k) * SIGMAS / math.sqrt(2 * u.size)
            ctx.require(abs(shares[k] - p) < tol,
                        f"{shares[k]:.3f} of the standardised noise lies within ±{k:g}, a normal distribution has "
                        f"{p:.3f}", expected=f"{p:.3f}", got=f"{shares[k]:.3f}",
                        hint="the noise looks uniform: draw eps with torch.randn_like, not torch.rand_like"
                        if looks_uniform else "")

    with ctx.check("samples are independent across the batch, the dimensions and successive calls", weight=2):
        b, zdim = 2000, 4
        reply, (z1, z2) = _sample(ctx, np.zeros((b, zdim)), np.ones((b, zdim)), calls=2)
        ctx.require(not np.array_equal(z1, z2), "two calls with the same inputs gave the same sample: draw fresh "
                                                "noise on every call and do not seed inside reparametrize")
        tol = SIGMAS / math.sqrt(b * zdim)
        c = _corr(z1, z2)
        ctx.require(abs(c) < tol, f"successive calls are correlated ({c:.3f}); do not re-seed inside reparametrize")
        c = _corr(z1[:-1], z1[1:])
        ctx.require(float(z1.std(axis=0).min()) > 0.5 and abs(c) < tol,
                    "the rows of the batch share their noise: draw one eps per example (the shape of mean), "
                    "not one per latent dimension")
        corr = np.corrcoef(z1.T)
        off = float(np.max(np.abs(corr - np.eye(zdim))))
        ctx.require(off < SIGMAS / math.sqrt(b), f"latent dimensions are correlated (|corr| up to {off:.2f}): "
                                                 "draw independent noise for every dimension")

    seed = _seed(ctx)
    shape = (64, 5)
    mean = rng.normal(size=shape)
    sd = rng.choice(sd_row, size=shape)
    weights = rng.normal(size=shape)
    with ctx.check("gradients: ∂z/∂mean is the identity and ∂z/∂sd is eps", weight=2):
        reply, (z,) = _sample(ctx, mean, sd, seed=seed, weights=weights.astype(np.float32))
        g = reply.get("gradients", {})
        if not g.get("has_grad"):
            raise CheckFailed("no gradient flows from the sample back to mean and sd "
                              + (f"({g['error']}) " if g.get("error") else "")
                              + "(use rsample / mean + sd * eps, not sample() or .detach())")
        g_mean, g_sd = g["grads"]
        if g_mean is None or g_sd is None:
            raise CheckFailed(f"the sample does not depend on {'mean' if g_mean is None else 'sd'} through autograd")
        eps = (z - mean.astype(np.float32)) / sd.astype(np.float32)
        ctx.require(np.allclose(g_mean, weights, rtol=1e-4, atol=1e-5),
                    "the gradient with respect to mean is not the identity (z = mean + sd * eps)")
        factor = {2.0: "∂z/∂sd is 2·sd·eps: you scaled the noise by sd² instead of sd",
                  0.5: "∂z/∂sd is eps/(2·sd): you scaled the noise by sqrt(sd) instead of sd"}
        ctx.require(np.allclose(g_sd, weights * eps, rtol=1e-3, atol=1e-4),
                    "the gradient with respect to sd is not eps (z = mean + sd * eps)",
                    hint="no gradient reaches sd: do not detach it" if np.allclose(g_sd, 0) else
                    next((h for f, h in factor.items() if np.allclose(g_sd, f * weights * eps, rtol=1e-3, atol=1e-4)), ""))

    with ctx.check("eps comes from torch's global generator: after torch.manual_seed(s) it equals torch.randn(shape)"):
        # The noise must be the global generator's, up to how it is scaled (the scale is the checks above):
        # (z - mean) / randn must be one number for each value of sd.
        reply, (z,) = _sample(ctx, mean, sd, seed=seed)
        want = as_array(reply["reference_eps"], "reference eps", shape=shape, kind="f")
        ctx.require(_same_draw(z - mean.astype(np.float32), want, sd),
                    "with the global generator seeded, the noise is not that of torch.randn(mean.shape) drawn after "
                    "the same seed",
                    hint="draw eps with torch.randn_like(mean) (or an equivalent call on torch's global generator), "
                         "once, without seeding inside and without a generator of your own")


# -- kl_divergence -------------------------------------------------------------
def _kl(ctx: GroupContext, mean: np.ndarray, sd: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    kw = {} if weights is None else {"weights": weights.astype(np.float32)}
    reply = ctx.call("kl_divergence", mean=mean.astype(np.float32), sd=sd.astype(np.float32), **kw)
    _not_mutated(reply, "kl_divergence")
    values = _tensor(reply["kl"], "kl_divergence", (len(mean),), ctx.device)
    return values, reply


def _closed_form(mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    m = mean.astype(np.float32).astype(np.float64)
    s = sd.astype(np.float32).astype(np.float64)
    return 0.5 * (m**2 + s**2 - 1 - np.log(s**2)).sum(axis=-1)


def _random_gaussians(rng: np.random.Generator, b: int, z: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.normal(scale=1.5, size=(b, z)), np.exp(rng.uniform(-2.0, 1.2, size=(b, z)))


def _require_close(ctx: GroupContext, got: np.ndarray, want: np.ndarray, mean: np.ndarray, sd: np.ndarray,
                   rtol: float = 1e-4, atol: float = 1e-4) -> None:
    i = int(np.argmax(np.abs(got - want) / (atol + rtol * np.abs(want))))
    ctx.require(np.allclose(got, want, rtol=rtol, atol=atol),
                f"for mean = {sig(mean[i], 3, 6)}, sd = {sig(sd[i], 3, 6)} kl_divergence gave {sig(got[i], 6)}, "
                f"expected 0.5 · Σ (mean² + sd² − 1 − log sd²) = {sig(want[i], 6)}",
                expected=sig(want[i], 6), got=sig(got[i], 6), hint=_kl_hint(got, mean, sd, rtol, atol))


def _kl_hint(got: np.ndarray, mean: np.ndarray, sd: np.ndarray, rtol: float, atol: float) -> str:
    """The common mistake the returned values match exactly, or ''."""
    m = mean.astype(np.float32).astype(np.float64)
    s = sd.astype(np.float32).astype(np.float64)
    z = m.shape[-1]
    term = m ** 2 + s ** 2 - 1 - np.log(s ** 2)
    candidates = {
        "twice the KL: the closed form has a factor 0.5": term.sum(-1),
        "minus the KL: KL(q || p) = 0.5 · Σ (mean² + sd² − 1 − log sd²) is never negative": -0.5 * term.sum(-1),
        f"the mean over the Z = {z} latent dimensions: sum over them instead": 0.5 * term.mean(-1),
        "log sd where the formula has log sd² (= 2 log sd)": 0.5 * (m ** 2 + s ** 2 - 1 - np.log(s)).sum(-1),
        "the −1 is missing": 0.5 * (m ** 2 + s ** 2 - np.log(s ** 2)).sum(-1),
        "sd taken for the variance: the formula has sd² and log sd²": 0.5 * (m ** 2 + s - 1 - np.log(s)).sum(-1),
        "sd taken for a log-variance: sd is the standard deviation": 0.5 * (m ** 2 + np.exp(s) - 1 - s).sum(-1),
        "the KL the other way round, KL(p || q): the grader wants KL(q || p), q = N(mean, sd²)":
            0.5 * ((1 + m ** 2) / s ** 2 - 1 + np.log(s ** 2)).sum(-1),
        "a small constant inside the log changes the value for a tiny sd: use log(sd**2) (or 2·log(sd)) as it is":
            0.5 * (m ** 2 + s ** 2 - 1 - np.log(s ** 2 + 1e-8)).sum(-1),
    }
    for hint, wrong in candidates.items():
        if np.allclose(got, wrong, rtol=rtol, atol=atol):
            return hint
    return ""


@group("kl_divergence")
def kl_divergence(ctx: GroupContext) -> None:
    rng = ctx.rng

    with ctx.check("returns a float tensor of shape [B] (one value per example) on the input's device, inputs unchanged"):
        for b, z in ((7, 3), (1, 5)):
            _kl(ctx, *_random_gaussians(rng, b, z))

    with ctx.check("zero for mean = 0, sd = 1"):
        got, _ = _kl(ctx, np.zeros((4, 8)), np.ones((4, 8)))
        ctx.require(np.all(np.abs(got) < 1e-5), f"KL(N(0, I) || N(0, I)) must be 0, got {sig(got[0])}",
                    hint="the −1 is missing (each dimension then adds 0.5)" if np.allclose(got, 4.0, atol=1e-4) else "")

    with ctx.check("matches the closed form on random inputs", weight=2):
        mean, sd = _random_gaussians(rng, 200, 10)
        got, _ = _kl(ctx, mean, sd)
        _require_close(ctx, got, _closed_form(mean, sd), mean, sd)

    with ctx.check("matches torch.distributions.kl_divergence(Normal(mean, sd), Normal(0, 1)).sum(-1) (Z = 1 and Z = 64)"):
        import torch
        from torch.distributions import Normal
        from torch.distributions import kl_divergence as torch_kl

        for z in (1, 64):
            mean, sd = _random_gaussians(rng, 50, z)
            got, _ = _kl(ctx, mean, sd)
            m, s = (torch.tensor(a.astype(np.float32), dtype=torch.float64) for a in (mean, sd))
            want = torch_kl(Normal(m, s), Normal(torch.zeros_like(m), torch.ones_like(s))).sum(-1).numpy()
            _require_close(ctx, got, want, mean, sd, rtol=1e-4, atol=1e-3)

    with ctx.check("gradients: ∂KL/∂mean = mean and ∂KL/∂sd = sd − 1/sd", weight=2):
        mean, sd = _random_gaussians(rng, 32, 6)
        weights = rng.uniform(0.5, 2.0, size=32)
        _, reply = _kl(ctx, mean, sd, weights)
        g = reply.get("gradients", {})
        if not g.get("has_grad") or any(x is None for x in g.get("grads", [None])):
            raise CheckFailed("no gradient flows from kl_divergence back to mean and sd (do not detach or use numpy)")
        g_mean, g_sd = g["grads"]
        m, s = mean.astype(np.float32).astype(np.float64), sd.astype(np.float32).astype(np.float64)
        w = weights[:, None]
        ctx.require(np.allclose(g_mean, w * m, rtol=1e-3, atol=1e-4), "∂KL/∂mean should be mean")
        ctx.require(np.allclose(g_sd, w * (s - 1 / s), rtol=1e-3, atol=1e-4), "∂KL/∂sd should be sd − 1/sd")

    with ctx.check("finite and accurate for a tiny sd (1e-6): no NaN, no infinity"):
        mean, sd = _random_gaussians(rng, 8, 4)
        sd[:, 0] = 1e-6
        sd[::2, 2] = 3e-6
        got, reply = _kl(ctx, mean, sd, np.ones(8))
        g = reply.get("gradients", {})
        ctx.require(g.get("has_grad") and all(x is not None and np.all(np.isfinite(x)) for x in g["grads"]),
                    "the gradients are NaN or infinite for sd = 1e-6 (log(sd**2) is fine; avoid dividing by sd**2 "
                    "or taking log of a rounded-down value)")
        _require_close(ctx, got, _closed_form(mean, sd), mean, sd, rtol=1e-3, atol=1e-3)


# -- elbo: the trained model, scored by the grader ----------------------------------
def _check_encoding(reply: Any, n: int, z_dim: int) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(reply, dict):
        raise CheckFailed("encode returned something that is not (mean, sd)")
    if "error" in reply:
        raise CheckFailed(str(reply["error"]))
    mean, sd = reply.get("mean"), reply.get("sd")
    for name, value in (("mean", mean), ("sd", sd)):
        if not isinstance(value, np.ndarray) or value.shape != (n, z_dim):
            got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise CheckFailed(f"encode's {name} has shape {tuple(got) if isinstance(got, tuple) else got} for {n} images, "
                              f"expected ({n}, {z_dim}) = [B, Z] with Z = args.z_dim")
        if np.isnan(value).any():
            raise CheckFailed(f"encode's {name} contains NaN for some held-out images")
        if np.isinf(value).any():
            raise CheckFailed(f"encode's {name} contains infinite values for some held-out images")
    if (sd <= 0).any():
        raise CheckFailed(f"encode returned sd ≤ 0 (smallest {float(sd.min()):.3g}); sd is a standard deviation and "
                          "must be positive: return e.g. exp(0.5 * log_var) or softplus(...)")
    return mean, sd


def _check_logits(reply: Any, n: int) -> np.ndarray:
    if not isinstance(reply, dict):
        raise CheckFailed("decode returned something that is not a tensor of logits")
    if "error" in reply:
        raise CheckFailed(str(reply["error"]))
    logits = reply.get("logits")
    if not isinstance(logits, np.ndarray) or logits.shape != (n, 28, 28):
        got = tuple(logits.shape) if isinstance(logits, np.ndarray) else type(logits).__name__
        raise CheckFailed(f"decode returned shape {got} for {n} latent vectors, expected ({n}, 28, 28) "
                          "Bernoulli logits")
    if np.isnan(logits).any():
        raise CheckFailed(f"decode returned NaN in {int(np.isnan(logits).sum())} of {logits.size} logits")
    if np.isinf(logits).any():
        raise CheckFailed("decode returned infinite logits (return logits, not log-probabilities of 0 or 1)")
    return logits


@dataclass
class Attempt:
    """One training of the VAE: trained and encoded in one child, decoded in a fresh one, scored here."""
    retry: int
    trained: bool = False
    skipped: str = "training did not produce a model"     # what the scoring check says if it cannot run
    train_seconds: float = 0.0
    error: Exception | None = None          # why the model could not be trained or rebuilt (check 1)
    score_error: Exception | None = None    # why the bound could not be computed (check 2)
    value: float | None = None              # the held-out negative ELBO
    bce: float = 0.0
    scored: np.ndarray | None = None        # the distorted held-out digits, in [0, 1]
    logits: np.ndarray | None = None

    @property
    def training(self) -> str:
        return "main" if not self.retry else f"training (retraining {self.retry})"

    @property
    def decoder(self) -> str:
        return DECODER if not self.retry else f"{DECODER} (retraining {self.retry})"


@group("elbo")
def elbo(ctx: GroupContext) -> None:
    """Train, encode the secretly distorted held-out digits, decode in a fresh process, score here.

    A model whose bound only missed the threshold is retrained on fresh seeds
    (and a fresh distortion), at most ``retries`` times; one below the physical
    ``floor`` is not retried: it scores 0 and is flagged for an instructor.
    """
    p = ctx.params
    threshold, retries = float(p["threshold"]), int(p.get("retries", 0))
    split = mnist.load_split(p)
    attempts: list[Attempt] = []
    for retry in range(1 + retries):
        attempt = Attempt(retry)
        attempts.append(attempt)
        _train_and_score(ctx, split, attempt)
        missed = attempt.value is not None and attempt.value > threshold
        if not missed or ctx.time_left < float(p.get("train_seconds", 120)):
            break
    _report(ctx, attempts, split)


def _train_and_score(ctx: GroupContext, split: Any, attempt: Attempt) -> None:
    p = ctx.params
    epochs, z_dim = int(p["epochs"]), int(p["z_dim"])
    settings = {"seed": _seed(ctx), "epochs": epochs, "z_dim": z_dim}
    distortion = Distortion.from_params(p.get("distortion", {}))
    copies = int(p.get("copies", 1))          # distortions per digit: less noise from the draw
    scored = distort(np.repeat(split.held_out, copies, axis=0), np.random.default_rng(_seed(ctx)), distortion)
    attempt.scored = scored.astype(np.float64) / 255.0
    n = len(scored)
    encoded: Any = None
    try:
        ctx.prestart()      # the decoder's process starts up (libraries only) while this one trains
        info = ctx.call("train", endpoint=attempt.training, images=split.train, settings=settings,
                        timeout=float(p.get("train_seconds", 120)))
        if not isinstance(info, dict) or not info.get("is_module"):
            kind = info.get("type") if isinstance(info, dict) else "?"
            raise CheckFailed(f"train returned {kind}, expected the trained VAE (a torch.nn.Module)")
        for name in ("encode", "decode"):
            if not info.get(f"has_{name}"):
                raise CheckFailed(f"the model train returned has no {name} method")
        seconds = info.get("seconds")
        attempt.train_seconds = float(seconds) if isinstance(seconds, (int, float)) and math.isfinite(seconds) else 0.0
        attempt.skipped = "the trained model could not be rebuilt in the decoder process"
        # The decoder is a fresh process that never receives a held-out image: it builds the
        # architecture with train(..., epochs=0) on a few training images and loads the trained
        # state_dict, handed over as data before any held-out image is sent. The training process
        # then loses the right to write files, encodes the held-out images, and is gone (the
        # suite API retires a child when the group moves to another) before the decoder starts:
        # the two are never alive at the same time, so no kernel object can carry pixels across.
        state = check_state(ctx.call("export_state", endpoint=attempt.training, reply_bytes=STATE_REPLY_BYTES))
        ctx.extra("state_dict", shapes(state))
        ctx.call("seal", endpoint=attempt.training)
        try:
            encoded = ctx.call("encode", endpoint=attempt.training, images=scored,
                               reply_bytes=_floats_reply_bytes(2 * len(scored) * z_dim))
        except (SubmissionError, ChildFailure) as exc:
            encoded = exc                   # reported by the scoring check, which needs it
        try:
            rebuilt = ctx.call("rebuild", endpoint=attempt.decoder, images=split.train[:REBUILD_IMAGES],
                               settings=settings | {"epochs": 0}, state=state, timeout=float(p.get("train_seconds", 120)))
        except SubmissionError as exc:
            raise CheckFailed("rebuilding the model in the decoder process (train(images, args) with args.epochs = 0 "
                              "on a few training images, then load_state_dict): " + explain_submission_error(exc)) from None
        if not isinstance(rebuilt, dict) or "error" in rebuilt:
            raise CheckFailed(str(rebuilt.get("error")) if isinstance(rebuilt, dict) else
                              "the decoder process could not rebuild the trained model")
        if not rebuilt.get("has_decode"):
            raise CheckFailed("the model train returns with args.epochs = 0 has no decode method")
        attempt.trained = True
    except (CheckFailed, SubmissionError, ChildFailure) as exc:
        attempt.error = exc
        return
    try:
        if isinstance(encoded, Exception):
            raise encoded
        mean, sd = _check_encoding(encoded, n, z_dim)
        z = evaluation.sample_latents(mean, sd, np.random.default_rng(_seed(ctx)))
        logits = _check_logits(ctx.call("decode", endpoint=attempt.decoder, z=z,
                                        reply_bytes=_floats_reply_bytes(z.shape[0] * 28 * 28)), n)
        attempt.value = float(evaluation.negative_elbo(attempt.scored, mean, sd, logits).mean())
        attempt.bce = float(evaluation.bernoulli_nll(logits, attempt.scored).mean())
        attempt.logits = logits
    except (CheckFailed, SubmissionError, ChildFailure) as exc:
        attempt.score_error = exc


def _report(ctx: GroupContext, attempts: list[Attempt], split: Any) -> None:
    p = ctx.params
    epochs, z_dim = int(p["epochs"]), int(p["z_dim"])
    threshold, floor, reference = float(p["threshold"]), float(p["floor"]), float(p["reference"])
    n, copies = len(split.held_out), int(p.get("copies", 1))
    last = attempts[-1]
    review = ""
    if last.value is not None and last.value < floor:
        review = (f"needs review: a held-out negative ELBO of {last.value:.1f} is below {floor:g}, which no VAE with "
                  f"Z = {z_dim} reaches on these digits; 0 points until an instructor has looked at the submission")
        ctx.extra("needs_review", review)
    for attempt in attempts:
        if attempt.value is not None:
            again = ": above the threshold, retrained on fresh seeds" if attempt is not last else ""
            label = "" if not attempt.retry else f"retraining {attempt.retry}: "
            ctx.note(f"{label}held-out negative ELBO {attempt.value:.1f} = reconstruction {attempt.bce:.1f} + KL "
                     f"{attempt.value - attempt.bce:.1f} (threshold {threshold:.1f}, reference {reference:g}; training "
                     f"took {attempt.train_seconds:.1f} s){again}")
    if last.value is not None:
        ctx.leaderboard("held-out negative ELBO", last.value, order="asc")
        ctx.extra("negative_elbo", round(last.value, 3))
        ctx.extra("reconstruction", round(last.bce, 3))
        ctx.extra("kl", round(last.value - last.bce, 3))
        ctx.extra("threshold", round(threshold, 3))
        ctx.extra("attempts", len(attempts))
    ctx.extra("train_seconds", round(last.train_seconds, 2))

    with ctx.check(f"train(images, args) on {len(split.train)} training images returns a VAE "
                   f"(torch.nn.Module with encode and decode; {epochs} epochs, Z = {z_dim}) "
                   "that a fresh process rebuilds from its state_dict"):
        if last.error is not None:
            raise last.error
        ctx.require(not review, review)

    with ctx.check(f"held-out negative ELBO ≤ {threshold:.1f} (the reference's spread over 20 seeds: median "
                   f"{reference:g}), computed by the grader on {n} held-out digits, each secretly distorted "
                   f"{copies} time{'s' if copies != 1 else ''}", weight=3):
        if last.error is not None:
            ctx.skip(f"skipped: {last.skipped}")
        if last.score_error is not None:
            raise last.score_error
        ctx.require(not review, review)
        try:
            shown = np.arange(0, n * copies, max(1, n * copies // 10))[:10]   # the held-out part is ordered by class
            _feedback_images(ctx, last.scored[shown], last.logits[shown], z_dim, last.decoder)
        except Exception as exc:  # noqa: BLE001 - pictures are a courtesy, never a verdict
            ctx.note(f"(no sample images: {exc})")
        ctx.require(last.value <= threshold,
                    f"held-out negative ELBO {last.value:.1f} is above the threshold {threshold:.1f}"
                    + (" (also after retraining on fresh seeds)" if len(attempts) > 1 else "")
                    + ": check the loss (BCE summed over pixels + KL, averaged over the batch) and the training loop",
                    hint=_elbo_hint(last.logits, last.bce, last.value - last.bce, reference))


def _elbo_hint(logits: np.ndarray, reconstruction: float, kl: float, reference: float) -> str:
    """The likely cause of a high bound, named only when the decoded values or the two terms show it."""
    if logits.min() >= 0 and logits.max() <= 1:
        return (f"every value decode returned lies in [0, 1] and the reconstruction term alone is {reconstruction:.1f}: "
                "decode must return logits (the grader applies the sigmoid itself); drop the final sigmoid")
    if kl < 1.0 and reconstruction > reference:
        return (f"the KL term is {kl:.2f}: the code carries almost nothing about the image. Is the reconstruction "
                "term averaged over the 784 pixels instead of summed? (averaged, the prior wins)")
    return ""


def _feedback_images(ctx: GroupContext, originals: np.ndarray, logits: np.ndarray, z_dim: int, decoder: str) -> None:
    """Prior samples, the 2-D manifold (Z = 2) and reconstructions, drawn in the parent from decoded logits."""
    if ctx.artifacts_dir is None:
        return
    images = {}
    prior = np.random.default_rng(_seed(ctx)).standard_normal((64, z_dim)).astype(np.float32)
    decoded = _check_logits(ctx.call("decode", endpoint=decoder, z=prior), 64)
    path = ctx.artifact_path("samples.png")
    evaluation.save_grid(path, evaluation.sigmoid(decoded), 8, "decoded samples z ~ N(0, I)")
    images["samples"] = str(path)
    if z_dim == 2:
        grid = evaluation.manifold_latents(15)
        decoded = _check_logits(ctx.call("decode", endpoint=decoder, z=grid), len(grid))
        path = ctx.artifact_path("manifold.png")
        evaluation.save_grid(path, evaluation.sigmoid(decoded), 15, "latent manifold (Gaussian quantiles)")
        images["manifold"] = str(path)
    path = ctx.artifact_path("reconstructions.png")
    pairs = np.concatenate([originals, evaluation.sigmoid(logits)])
    evaluation.save_grid(path, pairs, 10, "held-out digits as scored (top) and reconstructions (bottom)")
    images["reconstructions"] = str(path)
    ctx.extra("images", images)
