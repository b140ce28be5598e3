"""Parent-side calls of the VAE holes and the course's VAE pipeline, shared by the hidden and the
public suite (and the benches).

* The holes: ``reparametrize`` and ``kl_divergence`` called as pure functions in the submission's
  sandboxed child (:mod:`grader.kits.holes`): forward and gradients in one round trip, every check
  decided here on the values that came back (the tensor's dtype, shape and device from the frame,
  the inputs as they were after the call, the gradients), the reference noise drawn here.
* The course's pipeline: the template (``templates/vae.py``: the reference's given code, its
  holes raising NotImplementedError) loaded as a fresh module in this trusted process
  (:func:`grader.kits.holes.parent.load_pipeline`). Its ``train(images, args)`` with the template's
  own defaults (``build_parser()``: the network, Adam, batch size, learning rate, epochs, Z) is the
  training loop; its holes are the student's, forward in the child and backward there as a
  vector–Jacobian product, each output checked as the loop receives it (:func:`checked`). Nothing
  the submission builds is used. The bound is the grader's own (:mod:`evaluation`): the course's
  trained VAE encodes the held-out digits, the grader draws ``eps`` itself, decodes, and computes
  BCE summed over the pixels + the closed-form KL in float64.

The benches run the same pipeline in-process with the reference's holes
(``pipeline(replace={...})``), so a threshold is measured on exactly what a grading runs.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, import_local
from grader.kits.holes.parent import Holes, Reply, Value

evaluation = import_local(__file__, "evaluation")

# assignments/vae/calls.py -> the course folder's (or a release bundle's) templates/vae.py
TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "vae.py"
HOLES = ("reparametrize", "kl_divergence")
FLOATS = ("float16", "float32", "float64")


def _torch():
    import torch

    return torch


# -- one call of a hole --------------------------------------------------------------------------
def tensor(values: np.ndarray, grad: bool = False):
    """A float32 tensor to send (on the CPU here; the child puts it on the grading's device)."""
    torch = _torch()
    return torch.tensor(np.asarray(values, dtype=np.float32), requires_grad=grad)


def call(holes: Holes, name: str, mean: np.ndarray, sd: np.ndarray, *, seed: int | None = None,
         upstream: np.ndarray | None = None) -> tuple[Reply, np.ndarray]:
    """``name(mean, sd)`` once in the child (``seed`` seeds torch there first; with ``upstream``, the
    gradients with respect to mean and sd come back too); the output's values after checking that it is
    a float tensor of the contract's shape on the input's device, finite, the inputs unchanged."""
    m, s = tensor(mean, upstream is not None), tensor(sd, upstream is not None)
    reply = holes.call(name, m, s, seed=seed,
                       upstream=None if upstream is None else [np.asarray(upstream, dtype=np.float32)])
    shape = tuple(mean.shape) if name == "reparametrize" else (len(mean),)
    values = output(reply.out, name, shape, holes.ctx.device)
    if reply.changed([m, s]):
        raise CheckFailed(f"{name} modified its input tensors in place; compute a new tensor instead")
    return reply, values


def output(out: Value, name: str, shape: Sequence[int], device: str) -> np.ndarray:
    """The values of a returned tensor (float64), after checking kind, shape, dtype, device and finiteness."""
    if out.kind != "tensor":
        raise CheckFailed(f"{name} should return a torch.Tensor, got {out.describe()}")
    if tuple(out.array.shape) != tuple(shape):
        raise CheckFailed(f"{name} returned shape {tuple(out.array.shape)}, expected {tuple(shape)}")
    if out.dtype not in FLOATS or out.array.dtype.kind != "f":
        raise CheckFailed(f"{name} returned a {out.dtype} tensor, expected a floating-point one")
    if out.device != device:
        raise CheckFailed(f"{name} returned a tensor on {out.device} for inputs on {device}; "
                          "keep results on the input's device")
    values = out.array.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise CheckFailed(f"{name} returned NaN or infinite values")
    return values


def reference_eps(seed: int, shape: Sequence[int], device: str) -> np.ndarray:
    """``torch.randn(shape)`` as torch's global generator gives it after ``torch.manual_seed(seed)``,
    drawn here in the parent (never believed from the child) with a generator of the same kind on the
    same device as the child's: on the CPU both are the same Mersenne twister; on a CUDA grading the
    child's ``randn_like(mean)`` of a CUDA tensor draws from its CUDA generator, which
    ``torch.manual_seed`` seeds alike, and a fresh CUDA generator seeded here gives the same draws
    (Philox, offset 0). float32, as the child's mean is."""
    torch = _torch()
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    eps = torch.randn(tuple(shape), generator=generator, device=device, dtype=torch.float32)
    return eps.to("cpu", torch.float64).numpy()


# -- the course's pipeline -----------------------------------------------------------------------
def course_arguments(module: ModuleType, seed: int, device: str, **settings: Any) -> argparse.Namespace:
    """The template's own defaults (``build_parser().parse_args([])``) with the grader's seed and device."""
    args = module.build_parser().parse_args([])
    args.seed, args.device, args.verbose = int(seed), str(device), False
    for key, value in settings.items():
        setattr(args, key, value)
    return args


@contextmanager
def torch_threads(threads: int | None):
    """Train with ``threads`` intra-op threads (one: on a busy machine OpenMP threads spin-waiting on
    each other made training many times slower), restored afterwards."""
    torch = _torch()
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _describe(value: Any) -> str:
    torch = _torch()
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {list(value.shape)} ({str(value.dtype).replace('torch.', '')})"
    if isinstance(value, np.ndarray):
        return f"a numpy array of shape {list(value.shape)} ({value.dtype})"
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    if value is None:
        return "None"
    return f"a {type(value).__name__}"


def checked(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a hole's proxy) as the course's loop calls it, its result checked there and then: a
    float tensor of the contract's shape, finite for finite inputs. Anything else stops the training
    with a message that says what to fix (a wrong shape would otherwise broadcast in the course's
    loss and train something else)."""
    torch = _torch()

    def hole(mean, sd):
        if not (bool(torch.isfinite(mean).all()) and bool(torch.isfinite(sd).all()) and bool((sd > 0).all())):
            raise CheckFailed("the course's VAE diverged: the encoder's mean or sd became NaN or infinite, or sd "
                              "reached 0, during training (the gradients your holes give it are wrong)")
        out = fn(mean, sd)
        want = list(mean.shape) if name == "reparametrize" else [mean.shape[0]]
        what = "the shape of mean" if name == "reparametrize" else "one value per example"
        said = (f"the course's training loop called your {name}(mean, sd) with mean and sd of shape "
                f"{list(mean.shape)}: it returned {_describe(out)}")
        if not isinstance(out, torch.Tensor):
            raise CheckFailed(f"{said}; a torch.Tensor of shape {want} is expected ({what})")
        if not out.is_floating_point():
            raise CheckFailed(f"{said}; a floating-point tensor is expected")
        if list(out.shape) != want:
            raise CheckFailed(f"{said}; a tensor of shape {want} is expected ({what})")
        if not bool(torch.isfinite(out).all()):
            raise CheckFailed(f"{said} holding NaN or infinite values, for finite mean and sd > 0 (smallest sd "
                              f"{float(sd.detach().min()):.3g}, largest |mean| {float(mean.detach().abs().max()):.3g})")
        return out

    hole.__name__ = hole.__qualname__ = name
    return hole


def pipeline(holes: Holes | None = None, replace: dict[str, Callable[..., Any]] | None = None,
             template: Path = TEMPLATE) -> ModuleType:
    """The course's template as a fresh module, each hole the submission's (``holes``) or a function
    of this process (``replace``: the reference's, for a bench), checked as the loop calls it."""
    from grader.kits.holes.parent import load_pipeline

    module = load_pipeline(template, holes)
    for name in HOLES:
        setattr(module, name, checked(name, (replace or {}).get(name) or getattr(module, name)))
    return module


def train(module: ModuleType, images: np.ndarray, seed: int, device: str, threads: int | None = 1,
          **settings: Any) -> Any:
    """The course's ``train(images, args)``: the template's defaults, the grader's seed and device
    (``settings`` override more, e.g. a short public run's ``epochs``)."""
    with torch_threads(threads):
        return module.train(images, course_arguments(module, seed, device, **settings))


@dataclass
class Bound:
    """The held-out negative ELBO of one trained model, as the grader computes it."""
    value: float
    reconstruction: float
    logits: np.ndarray

    @property
    def kl(self) -> float:
        return self.value - self.reconstruction


def held_out_bound(model: Any, held_out: np.ndarray, rng: np.random.Generator, device: str = "cpu",
                   chunk: int = 1000) -> Bound:
    """Encode ``held_out`` (uint8 ``[N, 28, 28]``) with the course's trained VAE, draw ``eps`` with
    ``rng``, decode, and compute BCE (summed over the pixels) + KL per image in float64, averaged."""
    torch = _torch()
    x = held_out.astype(np.float64) / 255.0
    means, sds, logits = [], [], []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(x), chunk):
            mean, sd = model.encode(torch.as_tensor(x[start:start + chunk], dtype=torch.float32, device=device))
            means.append(mean.double().cpu().numpy())
            sds.append(sd.double().cpu().numpy())
        mean, sd = np.concatenate(means), np.concatenate(sds)
        z = evaluation.sample_latents(mean, sd, rng)
        for start in range(0, len(z), chunk):
            logits.append(model.decode(torch.as_tensor(z[start:start + chunk], device=device)).double().cpu().numpy())
    logits = np.concatenate(logits)
    value = float(evaluation.negative_elbo(x, mean, sd, logits).mean())
    if not math.isfinite(value):
        raise CheckFailed("the held-out negative ELBO of the course's VAE trained with your holes is not finite "
                          "(its weights became NaN or infinite: the gradients of your holes are wrong)")
    return Bound(value, float(evaluation.bernoulli_nll(logits, x).mean()), logits)


def decode(model: Any, z: np.ndarray, device: str = "cpu") -> np.ndarray:
    """Logits of the course's trained decoder for latent points ``z`` (feedback pictures)."""
    torch = _torch()
    with torch.no_grad():
        return model.decode(torch.as_tensor(np.asarray(z, dtype=np.float32), device=device)).double().cpu().numpy()
