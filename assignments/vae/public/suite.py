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
        ctx.require(abs(z.mean() - 1) < 0.1 and abs(z.std() - 2) < 0.1,
                    f"sample mean {z.mean():.3f}, standard deviation {z.std():.3f}")
    with ctx.check("gradients flow to mean and sd"):
        reply = ctx.call("reparametrize", mean=np.zeros((2, 2), np.float32), sd=np.ones((2, 2), np.float32),
                         weights=np.ones((2, 2), np.float32))
        g = reply.get("gradients", {})
        ctx.require(bool(g.get("has_grad")) and all(x is not None for x in g.get("grads", [None])),
                    "no gradient reaches mean and sd (use mean + sd * eps, not .sample() or .detach())")


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
