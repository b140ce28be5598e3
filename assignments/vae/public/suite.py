"""Public checks of the VAE assignment (``grader check vae.py``).

Small and fast, with the expected values in plain sight: they catch the common mistakes early.
Your two functions are called as the grader calls them (in a sandboxed process, every check made by
the grader on the values that come back). Passing them does not guarantee passing the hidden tests,
which also check the statistics of many samples, the gradients on random inputs, and the held-out
negative ELBO of the course's VAE trained with your functions for 10 epochs. ``grader check --full``
also runs that training here, short: the course's own loop (the template's ``train``) for one epoch
on 1,000 of the bundled training digits, with your two functions.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from grader.core.suite import GroupContext, group, import_local
from grader.kits.holes.parent import Holes

calls = import_local(__file__, "calls")
DATA = Path(calls.__file__).resolve().parent / "data" / "mnist-train-4k.npz"   # the bundled training digits
EPOCHS, TRAIN, SCORED = 1, 1000, 500
BOUND = 300.0          # untrained: 784 ln 2 ≈ 543; the reference: 245–255 after this short run (seeds 0–2)


def _sample(holes: Holes, mean, sd, **kw) -> tuple:
    return calls.call(holes, "reparametrize", np.asarray(mean, np.float32), np.asarray(sd, np.float32), **kw)


@group("reparametrize")
def reparametrize(ctx: GroupContext) -> None:
    holes = Holes(ctx)
    with ctx.check("returns a float tensor of the shape of mean ([3, 2]), inputs unchanged"):
        _sample(holes, np.zeros((3, 2)), np.ones((3, 2)))
    with ctx.check("sd → 0 (1e-30) gives back the mean"):
        mean = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
        _, z = _sample(holes, mean, np.full_like(mean, 1e-30))
        ctx.require(np.allclose(z, mean, atol=1e-6), f"got {z.tolist()}, expected the mean {mean.tolist()}")
    with ctx.check("10,000 samples with mean 1, sd 2 have sample mean ≈ 1 and standard deviation ≈ 2"):
        n = 10000
        _, z = _sample(holes, np.ones((n, 1)), np.full((n, 1), 2.0), seed=0)
        scales = {4.0: "you scaled the noise by sd² instead of sd", 2 ** 0.5: "you scaled the noise by sqrt(sd)",
                  float(np.exp(2.0)): "you scaled the noise by exp(sd): sd is the standard deviation itself",
                  1.0: "the noise is not scaled by sd"}
        ctx.require(abs(z.mean() - 1) < 0.1 and abs(z.std() - 2) < 0.1,
                    f"sample mean {z.mean():.3f}, standard deviation {z.std():.3f}", expected="mean 1, sd 2",
                    got=f"mean {z.mean():.3f}, sd {z.std():.3f}",
                    hint=next((h for k, h in scales.items() if abs(z.std() - k) < 0.05 * k), ""))
    with ctx.check("10,000 samples of mean 0, sd 1: about 68% within ±1 standard deviation (normal noise, not uniform)"):
        n = 10000
        _, z = _sample(holes, np.zeros((n, 1)), np.ones((n, 1)), seed=1)
        spread = float(z.std())
        ctx.require(spread > 0, "the samples do not vary")
        share = float(np.mean(np.abs(z / spread) < 1))
        ctx.require(abs(share - 0.6827) < 0.025, f"{share:.1%} of the samples lie within ±1 standard deviation",
                    expected="68.3%", got=f"{share:.1%}", hint="the noise looks uniform: draw eps with torch.randn_like, "
                                                               "not torch.rand_like" if share < 0.6 else "")
    with ctx.check("two calls with the same inputs give different samples (no seeding inside reparametrize)"):
        _, a = _sample(holes, np.zeros((5, 2)), np.ones((5, 2)))
        _, b = _sample(holes, np.zeros((5, 2)), np.ones((5, 2)))
        ctx.require(not np.array_equal(a, b), "two calls gave the same sample",
                    hint="do not call torch.manual_seed (or make a generator) inside reparametrize")
    with ctx.check("after torch.manual_seed(0) the noise is torch.randn(mean.shape) (torch's global generator)"):
        _, z = _sample(holes, np.zeros((4, 3)), np.full((4, 3), 2.0), seed=0)
        ratio = z / calls.reference_eps(0, (4, 3), ctx.device)     # z = sd * eps, and sd is the same everywhere
        ctx.require(bool(np.allclose(ratio, np.median(ratio), rtol=1e-3)) and abs(np.median(ratio)) > 1e-6,
                    "the noise is not torch.randn(mean.shape) drawn after the same seed",
                    hint="draw eps with torch.randn_like(mean) on torch's global generator, once, without seeding "
                         "inside and without a generator of your own")
    with ctx.check("gradients: with mean 0 and sd 2, ∂z/∂mean = 1 and ∂z/∂sd = eps = z / 2"):
        reply, z = _sample(holes, np.zeros((3, 2)), np.full((3, 2), 2.0), upstream=np.ones((3, 2)))
        grads = reply.grads or []
        ctx.require(len(grads) == 2 and all(g is not None for g in grads), "no gradient reaches mean and sd",
                    hint="use mean + sd * eps, not .sample() or .detach()")
        g_mean, g_sd = grads
        ctx.require(np.allclose(g_mean, 1.0, atol=1e-5), "∂z/∂mean is not 1")
        ctx.require(np.allclose(g_sd, z / 2, atol=1e-4), "∂z/∂sd is not eps",
                    hint="∂z/∂sd is 2·sd·eps: you scaled the noise by sd² instead of sd"
                    if np.allclose(g_sd, z, atol=1e-4) else "")


@group("kl_divergence")
def kl_divergence(ctx: GroupContext) -> None:
    holes = Holes(ctx)

    def kl(mean, sd, upstream=None):
        reply, values = calls.call(holes, "kl_divergence", np.asarray(mean, np.float32), np.asarray(sd, np.float32),
                                   upstream=upstream)
        return values, reply.grads

    cases = [  # mean, sd, expected per example
        ([[0.0, 0.0]], [[1.0, 1.0]], 0.0),
        ([[1.0, 0.0]], [[1.0, 1.0]], 0.5),
        ([[0.0]], [[2.0]], 0.5 * (4 - 1 - math.log(4))),
        ([[1.0, 2.0]], [[0.5, 1.0]], 0.5 * (1 + 0.25 - 1 - math.log(0.25)) + 0.5 * 4),
    ]
    for mean, sd, want in cases:
        with ctx.check(f"kl_divergence(mean={mean}, sd={sd}) == [{want:.4f}]"):
            got, _ = kl(mean, sd)
            ctx.require(abs(float(got[0]) - want) < 1e-4, f"got {got.tolist()}")
    with ctx.check("one value per example: shape [B] for inputs [B, Z] = [4, 3]"):
        kl(np.zeros((4, 3)), np.ones((4, 3)))
    with ctx.check("gradients: for mean [[1, -2]], sd [[0.5, 2]], ∂KL/∂mean = mean and ∂KL/∂sd = sd − 1/sd"):
        mean, sd = np.array([[1.0, -2.0]], np.float32), np.array([[0.5, 2.0]], np.float32)
        _, grads = kl(mean, sd, upstream=np.ones(1))
        grads = grads or []
        ctx.require(len(grads) == 2 and all(g is not None for g in grads), "no gradient reaches mean and sd",
                    hint="compute the KL with torch operations (no numpy, no .detach())")
        g_mean, g_sd = grads
        ctx.require(np.allclose(g_mean, mean, atol=1e-4), f"∂KL/∂mean = {np.round(g_mean, 4).tolist()}",
                    expected=str(mean.tolist()), got=str(np.round(g_mean, 4).tolist()))
        ctx.require(np.allclose(g_sd, sd - 1 / sd, atol=1e-4), f"∂KL/∂sd = {np.round(g_sd, 4).tolist()}",
                    expected=str((sd - 1 / sd).tolist()), got=str(np.round(g_sd, 4).tolist()))
    tiny = 0.5 * (1e-12 - 1 - math.log(1e-12))
    with ctx.check(f"a tiny sd: kl_divergence(mean=[[0, 0]], sd=[[1e-06, 1]]) == [{tiny:.4f}], finite"):
        got, _ = kl(np.zeros((1, 2)), np.array([[1e-6, 1.0]]))
        ctx.require(bool(np.isfinite(got).all()) and abs(float(got[0]) - tiny) < 1e-3, f"got {got.tolist()}",
                    expected=f"{tiny:.4f}", got=f"{float(got[0]):.6g}",
                    hint="a small constant inside the log changes the value for a tiny sd: use log(sd**2) as it is"
                    if abs(float(got[0]) - 0.5 * (-1 - math.log(1e-12 + 1e-8))) < 1e-2 else "")


@group("elbo")
def elbo(ctx: GroupContext) -> None:
    """The graded ``elbo`` threshold, short: the course's loop (the template's ``train``), one epoch on
    1,000 of the bundled training digits with the student's holes, then the grader's negative ELBO on
    500 other bundled digits (never the held-out ones, which are not public)."""
    p = ctx.params
    epochs, n_train, n_scored, bound = EPOCHS, TRAIN, SCORED, BOUND
    with np.load(DATA, allow_pickle=False) as data:
        images = data["images"]
    train, scored = images[:n_train], images[-n_scored:]
    holes = Holes(ctx, call_seconds=float(p.get("call_seconds", 30)))
    with ctx.check(f"the course's VAE (the template's train) for {epochs} epoch on {n_train} bundled training digits "
                   f"with your reparametrize and kl_divergence: negative ELBO on {n_scored} other bundled digits "
                   f"< {bound:g} (untrained about {784 * math.log(2):.0f})"):
        module = calls.pipeline(holes)
        calls.call(holes, "reparametrize", np.zeros((2, 2)), np.ones((2, 2)), seed=0)
        model = calls.train(module, train, 0, ctx.device, threads=int(p.get("threads", 1)), epochs=epochs)
        got = calls.held_out_bound(model, scored, np.random.default_rng(0), ctx.device)
        ctx.note(f"negative ELBO {got.value:.1f} = reconstruction {got.reconstruction:.1f} + KL {got.kl:.1f} after "
                 f"{epochs} epoch on {n_train} digits (the graded run: 10 epochs on 4,000, held-out digits)")
        ctx.require(got.value < bound, f"negative ELBO {got.value:.1f} after one short epoch; with correct functions "
                                       f"it is below {bound:g}")
