"""Public checks of the VAE assignment (``grader check vae.py``).

Small and fast, with the expected values in plain sight: they catch the
common mistakes early. Passing them does not guarantee passing the hidden
tests, which also check the statistics of the samples, the gradients, and
the negative ELBO of your trained model on held-out MNIST digits.
"""

from __future__ import annotations

import math

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group


def _values(reply: dict, what: str, shape: tuple[int, ...]) -> np.ndarray:
    if not isinstance(reply, dict) or reply.get("type") != "tensor":
        raise CheckFailed(f"{what} should return a torch.Tensor, got {reply.get('type') if isinstance(reply, dict) else reply}")
    if tuple(reply["shape"]) != shape:
        raise CheckFailed(f"{what} returned shape {tuple(reply['shape'])}, expected {shape}")
    if reply["values"] is None:
        raise CheckFailed(f"{what} returned a {reply['dtype']} tensor, expected floats")
    return np.asarray(reply["values"])


@group("reparametrize")
def reparametrize(ctx: GroupContext) -> None:
    with ctx.check("returns a tensor of the shape of mean ([3, 2])"):
        reply = ctx.call("reparametrize", mean=np.zeros((3, 2), np.float32), sd=np.ones((3, 2), np.float32))
        _values(reply["samples"][0], "reparametrize", (3, 2))
    with ctx.check("sd = 0 gives back the mean"):
        mean = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
        reply = ctx.call("reparametrize", mean=mean, sd=np.zeros_like(mean), no_validation=True)
        z = _values(reply["samples"][0], "reparametrize", (2, 2))
        ctx.require(np.allclose(z, mean, atol=1e-6), f"got {z.tolist()}, expected the mean {mean.tolist()}")
    with ctx.check("10,000 samples with mean 1, sd 2 have sample mean ≈ 1 and standard deviation ≈ 2"):
        n = 10000
        reply = ctx.call("reparametrize", mean=np.ones((n, 1), np.float32), sd=np.full((n, 1), 2.0, np.float32), seed=0)
        z = _values(reply["samples"][0], "reparametrize", (n, 1))
        scales = {4.0: "you scaled the noise by sd² instead of sd", 2 ** 0.5: "you scaled the noise by sqrt(sd)",
                  float(np.exp(2.0)): "you scaled the noise by exp(sd): sd is the standard deviation itself",
                  1.0: "the noise is not scaled by sd"}
        ctx.require(abs(z.mean() - 1) < 0.1 and abs(z.std() - 2) < 0.1,
                    f"sample mean {z.mean():.3f}, standard deviation {z.std():.3f}", expected="mean 1, sd 2",
                    got=f"mean {z.mean():.3f}, sd {z.std():.3f}",
                    hint=next((h for k, h in scales.items() if abs(z.std() - k) < 0.05 * k), ""))
    with ctx.check("10,000 samples of mean 0, sd 1: about 68% within ±1 standard deviation (normal noise, not uniform)"):
        n = 10000
        reply = ctx.call("reparametrize", mean=np.zeros((n, 1), np.float32), sd=np.ones((n, 1), np.float32), seed=1)
        z = _values(reply["samples"][0], "reparametrize", (n, 1))
        spread = float(z.std())
        ctx.require(spread > 0, "the samples do not vary")
        share = float(np.mean(np.abs(z / spread) < 1))
        ctx.require(abs(share - 0.6827) < 0.025, f"{share:.1%} of the samples lie within ±1 standard deviation",
                    expected="68.3%", got=f"{share:.1%}", hint="the noise looks uniform: draw eps with torch.randn_like, "
                                                               "not torch.rand_like" if share < 0.6 else "")
    with ctx.check("two calls with the same inputs give different samples (no seeding inside reparametrize)"):
        reply = ctx.call("reparametrize", mean=np.zeros((5, 2), np.float32), sd=np.ones((5, 2), np.float32), calls=2)
        a, b = (_values(r, "reparametrize", (5, 2)) for r in reply["samples"])
        ctx.require(not np.array_equal(a, b), "two calls gave the same sample",
                    hint="do not call torch.manual_seed (or make a generator) inside reparametrize")
    with ctx.check("after torch.manual_seed(0) the noise is torch.randn(mean.shape) (torch's global generator)"):
        mean, sd = np.zeros((4, 3), np.float32), np.full((4, 3), 2.0, np.float32)
        reply = ctx.call("reparametrize", mean=mean, sd=sd, seed=0)
        z = _values(reply["samples"][0], "reparametrize", (4, 3))
        ratio = z / reply["reference_eps"]         # z = sd * eps, and sd is the same everywhere
        ctx.require(bool(np.allclose(ratio, np.median(ratio), rtol=1e-3)) and abs(np.median(ratio)) > 1e-6,
                    "the noise is not torch.randn(mean.shape) drawn after the same seed",
                    hint="draw eps with torch.randn_like(mean) on torch's global generator, once, without seeding "
                         "inside and without a generator of your own")
    with ctx.check("gradients: with mean 0 and sd 2, ∂z/∂mean = 1 and ∂z/∂sd = eps = z / 2"):
        mean, sd = np.zeros((3, 2), np.float32), np.full((3, 2), 2.0, np.float32)
        reply = ctx.call("reparametrize", mean=mean, sd=sd, weights=np.ones((3, 2), np.float32))
        g = reply.get("gradients", {})
        ctx.require(bool(g.get("has_grad")) and all(x is not None for x in g.get("grads", [None])),
                    "no gradient reaches mean and sd", hint="use mean + sd * eps, not .sample() or .detach()")
        z = _values(reply["samples"][0], "reparametrize", (3, 2))
        g_mean, g_sd = g["grads"]
        ctx.require(np.allclose(g_mean, 1.0, atol=1e-5), "∂z/∂mean is not 1")
        ctx.require(np.allclose(g_sd, z / 2, atol=1e-4), "∂z/∂sd is not eps",
                    hint="∂z/∂sd is 2·sd·eps: you scaled the noise by sd² instead of sd"
                    if np.allclose(g_sd, z, atol=1e-4) else "")


@group("kl_divergence")
def kl_divergence(ctx: GroupContext) -> None:
    cases = [  # mean, sd, expected per example
        ([[0.0, 0.0]], [[1.0, 1.0]], 0.0),
        ([[1.0, 0.0]], [[1.0, 1.0]], 0.5),
        ([[0.0]], [[2.0]], 0.5 * (4 - 1 - math.log(4))),
        ([[1.0, 2.0]], [[0.5, 1.0]], 0.5 * (1 + 0.25 - 1 - math.log(0.25)) + 0.5 * 4),
    ]
    for mean, sd, want in cases:
        with ctx.check(f"kl_divergence(mean={mean}, sd={sd}) == [{want:.4f}]"):
            reply = ctx.call("kl_divergence", mean=np.array(mean, np.float32), sd=np.array(sd, np.float32))
            got = _values(reply["kl"], "kl_divergence", (1,))
            ctx.require(abs(float(got[0]) - want) < 1e-4, f"got {got.tolist()}")
    with ctx.check("one value per example: shape [B] for inputs [B, Z] = [4, 3]"):
        reply = ctx.call("kl_divergence", mean=np.zeros((4, 3), np.float32), sd=np.ones((4, 3), np.float32))
        _values(reply["kl"], "kl_divergence", (4,))
    with ctx.check("gradients: for mean [[1, -2]], sd [[0.5, 2]], ∂KL/∂mean = mean and ∂KL/∂sd = sd − 1/sd"):
        mean, sd = np.array([[1.0, -2.0]], np.float32), np.array([[0.5, 2.0]], np.float32)
        reply = ctx.call("kl_divergence", mean=mean, sd=sd, weights=np.ones(1, np.float32))
        g = reply.get("gradients", {})
        ctx.require(bool(g.get("has_grad")) and all(x is not None for x in g.get("grads", [None])),
                    "no gradient reaches mean and sd", hint="compute the KL with torch operations (no numpy, no .detach())")
        g_mean, g_sd = g["grads"]
        ctx.require(np.allclose(g_mean, mean, atol=1e-4), f"∂KL/∂mean = {np.round(g_mean, 4).tolist()}",
                    expected=str(mean.tolist()), got=str(np.round(g_mean, 4).tolist()))
        ctx.require(np.allclose(g_sd, sd - 1 / sd, atol=1e-4), f"∂KL/∂sd = {np.round(g_sd, 4).tolist()}",
                    expected=str((sd - 1 / sd).tolist()), got=str(np.round(g_sd, 4).tolist()))
    tiny = 0.5 * (1e-12 - 1 - math.log(1e-12))
    with ctx.check(f"a tiny sd: kl_divergence(mean=[[0, 0]], sd=[[1e-06, 1]]) == [{tiny:.4f}], finite"):
        reply = ctx.call("kl_divergence", mean=np.zeros((1, 2), np.float32), sd=np.array([[1e-6, 1.0]], np.float32))
        got = _values(reply["kl"], "kl_divergence", (1,))
        ctx.require(bool(np.isfinite(got).all()) and abs(float(got[0]) - tiny) < 1e-3, f"got {got.tolist()}",
                    expected=f"{tiny:.4f}", got=f"{float(got[0]):.6g}",
                    hint="a small constant inside the log changes the value for a tiny sd: use log(sd**2) as it is"
                    if abs(float(got[0]) - 0.5 * (-1 - math.log(1e-12 + 1e-8))) < 1e-2 else "")


def _blobs(n: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic 28×28 'digits' (bright discs), so that this check needs no data set."""
    yy, xx = np.mgrid[:28, :28]
    cy, cx, r = rng.uniform(8, 20, n), rng.uniform(8, 20, n), rng.uniform(3, 7, n)
    inside = (yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2 < r[:, None, None] ** 2
    return (inside * 255).astype(np.uint8)


@group("elbo")
def elbo(ctx: GroupContext) -> None:
    rng = np.random.default_rng(0)
    images = _blobs(300, rng)
    with ctx.check("train(images, args) runs one epoch on 300 synthetic images and returns a model with encode/decode"):
        info = ctx.call("train", images=images, settings={"seed": 0, "epochs": 1, "z_dim": 2}, timeout=60)
        ctx.require(isinstance(info, dict) and info.get("is_module") and info.get("has_encode") and info.get("has_decode"),
                    f"train returned {info.get('type') if isinstance(info, dict) else info}, expected a torch.nn.Module "
                    "with encode and decode")
    with ctx.check("encode gives mean, sd of shape [B, 2] with sd > 0; decode gives finite logits [B, 28, 28]"):
        enc = ctx.call("encode", images=images[:20])
        if "error" in enc:
            raise CheckFailed(enc["error"])
        mean, sd = enc["mean"], enc["sd"]
        ctx.require(mean.shape == (20, 2) and sd.shape == (20, 2), f"shapes {mean.shape}, {sd.shape}; expected (20, 2)")
        ctx.require(bool(np.all(sd > 0)), "sd must be positive")
        dec = ctx.call("decode", z=mean.astype(np.float32))
        if "error" in dec:
            raise CheckFailed(dec["error"])
        ctx.require(dec["logits"].shape == (20, 28, 28), f"decode returned shape {dec['logits'].shape}")
        ctx.require(bool(np.all(np.isfinite(dec["logits"]))), "decode returned NaN or infinite logits")
