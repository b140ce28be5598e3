"""Child-side probes for the VAE assignment: call the student's code, return raw values.

Runs inside the sandbox. Holds no expected values and no held-out answers:
the parent draws the noise, computes the bound and decides. Results are plain
numpy arrays and strings (types are reported as names, never trusted).

The trained model is scored by two separate child processes (the ``elbo``
group): the training child ``train``s, hands its ``state_dict`` to the parent
(``export_state``) and later ``encode``s held-out images; a fresh ``decoder``
child, which is only ever sent training images and latent vectors, rebuilds
the same architecture with ``train(..., epochs=0)`` and loads that state
(``rebuild``) before it ``decode``s. Everything runs on ``GRADER_DEVICE``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import weights_child

DEVICE = os.environ.get("GRADER_DEVICE", "cpu")
CHUNK = 500


def _torch():
    import torch
    return torch


def _type_name(value) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _is_tensor(value) -> bool:
    return isinstance(value, _torch().Tensor)


def _describe_tensor(value) -> dict:
    """Shape, dtype, device and values of a tensor, or just its type name if it is not one."""
    if not _is_tensor(value):
        return {"type": _type_name(value)}
    return {
        "type": "tensor",
        "shape": [int(s) for s in value.shape],
        "dtype": str(value.dtype).replace("torch.", ""),
        "device": value.device.type,
        "values": value.detach().to("cpu", dtype=_torch().float64).numpy() if value.dtype.is_floating_point else None,
    }


def _inputs(mean, sd, grad: bool):
    torch = _torch()
    m = torch.tensor(np.asarray(mean), dtype=torch.float32, device=DEVICE, requires_grad=grad)
    s = torch.tensor(np.asarray(sd), dtype=torch.float32, device=DEVICE, requires_grad=grad)
    return m, s


def _grads(out, inputs, weights) -> dict:
    """Gradients of ``sum(weights * out)`` with respect to ``inputs`` (None where no gradient flows)."""
    torch = _torch()
    if not _is_tensor(out) or not out.requires_grad:
        return {"has_grad": False}
    w = torch.tensor(np.asarray(weights), dtype=out.dtype, device=out.device)
    try:
        grads = torch.autograd.grad((out * w).sum(), inputs, allow_unused=True)
    except RuntimeError as exc:
        return {"has_grad": False, "error": str(exc)[:300]}
    return {"has_grad": True,
            "grads": [None if g is None else g.detach().to("cpu", dtype=torch.float64).numpy() for g in grads]}


def reparametrize(sub, ctx, mean, sd, seed=None, calls=1, weights=None, no_validation=False):
    """``calls`` successive samples for the same inputs (the global generator seeded once, if ``seed``).

    With ``weights``, also the gradients of ``sum(weights * z)`` for the first call and,
    when ``seed`` is given, ``torch.randn`` drawn after re-seeding with the same seed:
    the ``eps`` the contract asks for. ``no_validation`` turns off the argument checks of
    ``torch.distributions`` (``Normal`` refuses a scale of 0, although the formula is fine).
    """
    torch = _torch()
    grad = weights is not None
    m, s = _inputs(mean, sd, grad)
    m_before, s_before = m.detach().clone(), s.detach().clone()
    previous = torch.distributions.Distribution._validate_args
    if no_validation:
        torch.distributions.Distribution.set_default_validate_args(False)
    try:
        if seed is not None:
            torch.manual_seed(int(seed))
        samples, gradients = [], None
        for i in range(int(calls)):
            z = sub.reparametrize(m, s)
            samples.append(_describe_tensor(z))
            if i == 0 and grad:
                gradients = _grads(z, (m, s), weights)
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)
    reply = {"samples": samples,
             "mutated": bool(not torch.equal(m.detach(), m_before) or not torch.equal(s.detach(), s_before))}
    if gradients is not None:
        reply["gradients"] = gradients
    if seed is not None:
        torch.manual_seed(int(seed))
        reply["reference_eps"] = torch.randn(m.shape, device=m.device).to("cpu", torch.float64).numpy()
    return reply


def kl_divergence(sub, ctx, mean, sd, weights=None):
    """``kl_divergence(mean, sd)`` and, with ``weights``, the gradients of ``sum(weights * kl)``."""
    torch = _torch()
    m, s = _inputs(mean, sd, weights is not None)
    m_before, s_before = m.detach().clone(), s.detach().clone()
    kl = sub.kl_divergence(m, s)
    reply = {"kl": _describe_tensor(kl),
             "mutated": bool(not torch.equal(m.detach(), m_before) or not torch.equal(s.detach(), s_before))}
    if weights is not None:
        reply["gradients"] = _grads(kl, (m, s), weights)
    return reply


# -- the trained model -------------------------------------------------------
def _arguments(sub, settings: dict) -> argparse.Namespace:
    """The template's own defaults (``build_parser().parse_args([])``) with the grader's settings on top."""
    args = argparse.Namespace()
    build = getattr(sub, "build_parser", None)
    if callable(build):
        try:
            args = build().parse_args([])
        except BaseException:  # noqa: BLE001 - a broken parser must not hide train's own errors
            args = argparse.Namespace()
    for key, value in settings.items():
        setattr(args, key, value)
    args.device = DEVICE
    return args


def train(sub, ctx, images, settings):
    """Train on the images the parent sent (training split only); keep the model for encode/decode."""
    torch = _torch()
    args = _arguments(sub, dict(settings))
    t0 = time.monotonic()
    model = sub.train(np.asarray(images, dtype=np.uint8), args)
    seconds = time.monotonic() - t0
    info = {"type": _type_name(model), "seconds": seconds,
            "is_module": isinstance(model, torch.nn.Module),
            "has_encode": callable(getattr(model, "encode", None)),
            "has_decode": callable(getattr(model, "decode", None))}
    if info["is_module"]:
        model.to(DEVICE).eval()
        info["parameters"] = int(sum(p.numel() for p in model.parameters()))
        ctx.state["model"] = model
    return info


def export_state(sub, ctx):
    """The trained model's ``state_dict()`` as data (``weights_child.export_state``), asked for
    before any held-out image is sent."""
    return weights_child.export_state(_model(ctx))


def rebuild(sub, ctx, images, settings, state):
    """In the fresh decoder process: build the architecture with ``train(images, args)`` and
    ``args.epochs = 0`` on a few training images, then load the trained state with ``strict=True``.

    A ``train`` that ignores ``epochs = 0`` merely trains a little on training
    images: the loaded state overwrites whatever it learnt. One that refuses
    ``epochs = 0`` (``OneCycleLR`` does) is asked once more with ``epochs = 1``;
    if that fails too, the first error is reported.
    """
    torch = _torch()
    images = np.asarray(images, dtype=np.uint8)
    t0 = time.monotonic()
    try:
        model = sub.train(images, _arguments(sub, dict(settings)))
    except Exception as refused:  # noqa: BLE001 - the student's code may raise anything
        try:
            model = sub.train(images, _arguments(sub, dict(settings) | {"epochs": 1}))
        except Exception:  # noqa: BLE001
            raise refused from None
    seconds = time.monotonic() - t0
    if not isinstance(model, torch.nn.Module):
        return {"error": f"with args.epochs = 0, train returned {_type_name(model)}, not a torch.nn.Module"}
    problem = weights_child.load_state(model, state, "with args.epochs = 0, train")
    if problem:
        return {"error": problem}
    model.to(DEVICE).eval()
    ctx.state["model"] = model
    return {"type": _type_name(model), "seconds": seconds,
            "has_decode": callable(getattr(model, "decode", None)),
            "tensors": len(state["names"]), "parameters": int(sum(p.numel() for p in model.parameters()))}


def seal(sub, ctx):
    """Called on the training process after it handed over its state, before any held-out image
    arrives: from now on it cannot write to any file (RLIMIT_FSIZE = 0, irreversible). The decoder
    is another process with its own work directory and namespaces; this also closes the file
    system as a channel where no namespaces are available (``GRADER_ISOLATION=none``).
    A write fails with EFBIG (SIGXFSZ is ignored) instead of killing the process."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    return True


def _model(ctx):
    model = ctx.state.get("model")
    if model is None:
        raise RuntimeError("no trained model (train did not return one)")
    return model


def encode(sub, ctx, images):
    """``model.encode`` on uint8 images scaled to [0, 1]: ``mean`` and ``sd`` as float arrays."""
    torch = _torch()
    model = _model(ctx)
    means, sds = [], []
    with torch.no_grad():
        for start in range(0, len(images), CHUNK):
            x = torch.tensor(np.asarray(images[start:start + CHUNK]), dtype=torch.float32, device=DEVICE) / 255.0
            out = model.encode(x)
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                return {"error": f"encode returned {_type_name(out)}, expected a tuple (mean, sd)"}
            mean, sd = (_describe_tensor(v) for v in out)
            for name, d in (("mean", mean), ("sd", sd)):
                if d["type"] != "tensor" or d["values"] is None:
                    got = d["type"] if d["type"] != "tensor" else f"a {d['dtype']} tensor"
                    return {"error": f"encode's {name} is {got}, "
                                     "expected a float tensor"}
            means.append(mean["values"])
            sds.append(sd["values"])
    return _stack("mean", means) | _stack("sd", sds)


def decode(sub, ctx, z):
    """``model.decode(z)``: Bernoulli logits as a float array."""
    torch = _torch()
    model = _model(ctx)
    parts = []
    with torch.no_grad():
        for start in range(0, len(z), CHUNK):
            out = _describe_tensor(model.decode(torch.tensor(np.asarray(z[start:start + CHUNK]), dtype=torch.float32,
                                                             device=DEVICE)))
            if out["type"] != "tensor" or out["values"] is None:
                got = out["type"] if out["type"] != "tensor" else f"a {out['dtype']} tensor"
                return {"error": f"decode returned {got}, "
                                 "expected a float tensor of logits"}
            parts.append(out["values"])
    return _stack("logits", parts)


def _stack(name: str, parts: list) -> dict:
    shapes = {p.shape[1:] for p in parts}
    if len(shapes) != 1 or any(p.ndim == 0 for p in parts):
        return {name: parts[0]}  # the parent reports the (wrong) shape of the first chunk
    return {name: np.concatenate(parts) if len(parts) > 1 else parts[0]}
