"""Reference VAE: time per epoch, held-out negative ELBO, threshold calibration, wrong variants and chance.

Usage::

    python bench/bench_vae.py [--z-dim 2] [--epochs 20] [--hidden 500] [--seed 0] [--threads 1]
    python bench/bench_vae.py --calibrate 20            # final bound over seeds: median, sd, worst, proposed threshold
    python bench/bench_vae.py --variants                # where the wrong variants and the memorisers fall
    python bench/bench_vae.py --chance 200 --first-seed 1000   # failure rate against the threshold, bound

The training loop is the reference's (``solutions/vae.py``: ``VAE.loss`` + Adam,
same batching as ``train``), repeated here so that the held-out bound can be
measured after every epoch. The held-out bound is the grader's own
(``assignments/vae/hidden/evaluation.py``), one ε sample per image, on the
held-out digits distorted as a grading distorts them (``distortion`` in
assignment.toml, a fresh secret draw per seed: ``grader/kits/images/distortion.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.kits.images.distortion import Distortion, distort


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


solution = _load("vae_solution", ROOT / "solutions" / "vae.py")
mnist = _load("vae_mnist", ROOT / "assignments" / "vae" / "hidden" / "mnist.py")
evaluation = _load("vae_evaluation", ROOT / "assignments" / "vae" / "hidden" / "evaluation.py")
PARAMS = load_assignment("vae").groups["elbo"].params


def scored_digits(seed: int, distortion: bool = True) -> np.ndarray:
    """The held-out digits as grading ``seed`` scores them (a fresh distortion per seed)."""
    held = mnist.load_split({"data": PARAMS.get("data", "")}).held_out
    if not distortion:
        return held
    copies = int(PARAMS.get("copies", 1))
    return distort(np.repeat(held, copies, axis=0), np.random.default_rng([seed, 20_000]),
                   Distortion.from_params(PARAMS["distortion"]))


def held_out_bound(model, held_out: np.ndarray, seed: int) -> float:
    """Mean per-image negative ELBO on ``held_out``, as the grader computes it."""
    x = held_out.astype(np.float32) / 255.0
    with torch.no_grad():
        mean, sd = model.encode(torch.as_tensor(x))
        mean, sd = mean.double().numpy(), sd.double().numpy()
        z = evaluation.sample_latents(mean, sd, np.random.default_rng(seed))
        logits = model.decode(torch.as_tensor(z)).numpy()
    return float(evaluation.negative_elbo(x, mean, sd, logits).mean())


def run(args: argparse.Namespace, seed: int, verbose: bool, module=solution, held: np.ndarray | None = None) -> list[float]:
    split = mnist.load_split({"data": args.data})
    held = scored_digits(seed) if held is None else held
    torch.manual_seed(seed)
    data = torch.as_tensor(split.train, dtype=torch.float32) / 255.0
    model = module.VAE(args.z_dim, args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.learning_rate)
    bounds = []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        model.train()
        for batch in torch.randperm(len(data)).split(args.batch_size):
            loss = model.loss(data[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - t0
        model.eval()
        if verbose or epoch == args.epochs - 1:
            bounds.append(held_out_bound(model, held, seed + 10_000))
        if verbose:
            print(f"epoch {epoch + 1:3d}  {seconds:6.2f} s  held-out negative ELBO {bounds[-1]:8.2f}", flush=True)
    return bounds


# -- where wrong submissions fall -------------------------------------------------------------
def variant(name: str) -> types.ModuleType:
    """The reference with one plausible bug (the names of tests/variants/vae.py where they are holes)."""
    module = _load(f"vae_variant_{abs(hash(name))}", ROOT / "solutions" / "vae.py")
    F = torch.nn.functional
    if name == "KL with sd taken for the log-variance":
        module.kl_divergence = lambda mean, sd: 0.5 * (mean ** 2 + torch.exp(sd) - 1 - sd).sum(-1)
    elif name == "noise scaled by sd²":
        module.reparametrize = lambda mean, sd: mean + sd ** 2 * torch.randn_like(mean)
    elif name == "decoder returns probabilities":
        plain = module.VAE.decode
        module.VAE.decode = lambda self, z: torch.sigmoid(plain(self, z))
    elif name == "BCE averaged over pixels":
        def loss(self, images):
            mean, sd = self.encode(images)
            logits = self.decode(module.reparametrize(mean, sd))
            return F.binary_cross_entropy_with_logits(logits, images) + module.kl_divergence(mean, sd).mean()
        module.VAE.loss = loss
    elif name != "reference":
        raise ValueError(name)
    return module


def memoriser_bounds(held_raw: np.ndarray, scored: np.ndarray, blur: float, eps_choices=(1e-3, 0.01, 0.03, 0.08)) -> float:
    """Best case of a submission that carries the public held-out digits: encode finds the nearest one
    (by L2 distance after a light blur), decode returns that digit (blurred by ``blur`` pixels), its
    probabilities kept within [eps, 1 - eps] for the best of ``eps_choices`` (1e-4 alone: the exact
    replay of tests/variants/vae.py's CARRIER). Its KL is counted as log(1000) nats, what naming one
    digit of 1,000 costs at best."""
    import torch.nn.functional as F

    def smooth(images: np.ndarray, sigma: float) -> np.ndarray:
        x = torch.tensor(images, dtype=torch.float64).unsqueeze(1) / 255.0
        if sigma > 0:
            radius = max(1, int(round(3 * sigma)))
            k = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
            k = k / k.sum()
            x = F.conv2d(F.pad(x, (radius, radius, 0, 0)), k.view(1, 1, 1, -1))
            x = F.conv2d(F.pad(x, (0, 0, radius, radius)), k.view(1, 1, -1, 1))
        return x.squeeze(1).numpy()

    a, b = smooth(scored, 1.0).reshape(len(scored), -1), smooth(held_raw, 1.0).reshape(len(held_raw), -1)
    b2 = (b * b).sum(1)[None]
    nearest = ((a * a).sum(1)[:, None] - 2 * a @ b.T + b2).argmin(1)
    best = np.inf
    for eps in eps_choices:
        p = np.clip(smooth(held_raw[nearest], blur) * (1 - 2 * eps) + eps, 1e-6, 1 - 1e-6)
        logits = np.log(p) - np.log1p(-p)
        best = min(best, float(evaluation.bernoulli_nll(logits, scored / 255.0).mean()) + np.log(len(held_raw)))
    return best


def variants(args: argparse.Namespace, seeds: range) -> None:
    threshold, floor = float(PARAMS["threshold"]), float(PARAMS["floor"])
    print(f"threshold {threshold:g}, needs-review floor {floor:g}; each row: final bound per seed (distorted digits)")
    names = ["reference", "KL with sd taken for the log-variance", "noise scaled by sd²", "decoder returns probabilities",
             "BCE averaged over pixels"]
    for name in names + ["2 epochs instead of 10", "30 epochs instead of 10 (honest, more training)"]:
        module = variant("reference" if "epochs instead" in name else name)
        epochs = int(name.split()[0]) if "epochs instead" in name else args.epochs
        values = [run(argparse.Namespace(**{**vars(args), "epochs": epochs}), s, False, module)[-1] for s in seeds]
        print(f"  {name:<48} {np.round(values, 1).tolist()}  {_side(values, threshold, floor)}", flush=True)
    memorisers(seeds)


def memorisers(seeds: range) -> None:
    threshold, floor = float(PARAMS["threshold"]), float(PARAMS["floor"])
    raw = scored_digits(0, distortion=False)
    for label, blur, eps in (("carrier replaying the digit exactly", 0.0, (1e-4,)),
                             ("carrier replaying it softened (best eps)", 0.0, (1e-3, 0.01, 0.03, 0.08)),
                             ("carrier replaying it blurred 0.8 px", 0.8, (1e-3, 0.01, 0.03, 0.08))):
        on_raw = memoriser_bounds(raw, raw, blur, eps)
        on_scored = [memoriser_bounds(raw, scored_digits(s), blur, eps) for s in seeds]
        print(f"  {label:<48} raw digits {on_raw:.1f}; distorted {np.round(on_scored, 1).tolist()}  "
              f"{_side(on_scored, threshold, floor)}", flush=True)


def _side(values: list[float], threshold: float, floor: float) -> str:
    v = np.asarray(values)
    if (v < floor).all():
        return "below the floor: needs review, 0 points"
    if (v <= threshold).all():
        return "passes"
    if (v > threshold).all():
        return "fails"
    return f"mixed: {(v <= threshold).sum()}/{len(v)} pass"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--z-dim", dest="z_dim", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=int(PARAMS["epochs"]))
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=100)
    parser.add_argument("--learning-rate", dest="learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", "--first-seed", dest="seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="", help="MNIST / Fashion-MNIST IDX directory or .npz (default: embedded 4k/1k split)")
    parser.add_argument("--calibrate", type=int, metavar="SEEDS", default=0,
                        help="train on this many seeds and print the final held-out bound of each")
    parser.add_argument("--chance", type=int, metavar="RUNS", default=0,
                        help="this many runs: how many miss the threshold of assignment.toml, and the bound")
    parser.add_argument("--variants", action="store_true", help="where wrong variants and memorisers fall (2 seeds)")
    parser.add_argument("--memorisers", action="store_true", help="only the memorisers (no training)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"reference VAE 784-{args.hidden}-{args.hidden}-{args.z_dim}, {args.epochs} epochs, "
          f"batch {args.batch_size}, Adam lr {args.learning_rate:g}, {args.threads} threads, torch {torch.__version__}; "
          f"distortion {PARAMS['distortion']}")
    if args.variants:
        variants(args, range(args.seed, args.seed + 2))
        return
    if args.memorisers:
        memorisers(range(args.seed, args.seed + 2))
        return
    runs = args.calibrate or args.chance
    if not runs:
        t0 = time.perf_counter()
        run(args, args.seed, verbose=True)
        print(f"total {time.perf_counter() - t0:.1f} s")
        return
    finals = []
    for seed in range(args.seed, args.seed + runs):
        t0 = time.perf_counter()
        finals.append(run(args, seed, verbose=False)[-1])
        print(f"seed {seed:3d}: held-out negative ELBO {finals[-1]:.2f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    f = np.array(finals)
    sd = f.std(ddof=1)
    print(f"over {len(f)} seeds: median {np.median(f):.2f}, mean {f.mean():.2f}, sd {sd:.2f}, "
          f"min {f.min():.2f}, max {f.max():.2f}; median + 3.5 sd = {np.median(f) + 3.5 * sd:.1f}, "
          f"worst + 3 sd = {f.max() + 3 * sd:.1f}")
    if args.chance:
        threshold = float(PARAMS["threshold"])
        print(chance.report("vae elbo", int((f > threshold).sum()), len(f), 1, int(PARAMS.get("retries", 0))))


if __name__ == "__main__":
    main()
