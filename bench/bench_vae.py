"""Reference VAE: wall time per epoch and held-out negative ELBO per epoch on the 4k / 1k split.

Usage::

    python bench/bench_vae.py [--z-dim 2] [--epochs 20] [--hidden 500] [--seed 0] [--threads 1]
    python bench/bench_vae.py --calibrate 20 [--z-dim 2] [--epochs 10]  # final ELBO over seeds

The training loop is the reference's (``solutions/vae.py``: ``VAE.loss`` + Adam,
same batching as ``train``), repeated here so that the held-out bound can be
measured after every epoch. The held-out bound is the grader's own
(``assignments/vae/hidden/evaluation.py``), one ε sample per image.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


solution = _load("vae_solution", ROOT / "solutions" / "vae.py")
mnist = _load("vae_mnist", ROOT / "assignments" / "vae" / "hidden" / "mnist.py")
evaluation = _load("vae_evaluation", ROOT / "assignments" / "vae" / "hidden" / "evaluation.py")


def held_out_bound(model, held_out: np.ndarray, seed: int) -> float:
    """Mean per-image negative ELBO on ``held_out``, as the grader computes it."""
    x = held_out.astype(np.float32) / 255.0
    with torch.no_grad():
        mean, sd = model.encode(torch.as_tensor(x))
        mean, sd = mean.double().numpy(), sd.double().numpy()
        z = evaluation.sample_latents(mean, sd, np.random.default_rng(seed))
        logits = model.decode(torch.as_tensor(z)).numpy()
    return float(evaluation.negative_elbo(x, mean, sd, logits).mean())


def run(args: argparse.Namespace, seed: int, verbose: bool) -> list[float]:
    split = mnist.load_split({"data": args.data})
    torch.manual_seed(seed)
    data = torch.as_tensor(split.train, dtype=torch.float32) / 255.0
    model = solution.VAE(args.z_dim, args.hidden)
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
        bounds.append(held_out_bound(model, split.held_out, seed + 10_000))
        if verbose:
            print(f"epoch {epoch + 1:3d}  {seconds:6.2f} s  held-out negative ELBO {bounds[-1]:8.2f}", flush=True)
    return bounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--z-dim", dest="z_dim", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=100)
    parser.add_argument("--learning-rate", dest="learning_rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="", help="MNIST / Fashion-MNIST IDX directory or .npz (default: embedded 4k/1k split)")
    parser.add_argument("--calibrate", type=int, metavar="SEEDS", default=0,
                        help="train on this many seeds and print the final held-out bound of each")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"reference VAE 784-{args.hidden}-{args.hidden}-{args.z_dim}, {args.epochs} epochs, "
          f"batch {args.batch_size}, Adam lr {args.learning_rate:g}, {args.threads} threads, torch {torch.__version__}")
    if not args.calibrate:
        t0 = time.perf_counter()
        run(args, args.seed, verbose=True)
        print(f"total {time.perf_counter() - t0:.1f} s")
        return
    finals = []
    for seed in range(args.seed, args.seed + args.calibrate):
        t0 = time.perf_counter()
        finals.append(run(args, seed, verbose=False)[-1])
        print(f"seed {seed:3d}: held-out negative ELBO {finals[-1]:.2f} ({time.perf_counter() - t0:.1f} s)", flush=True)
    f = np.array(finals)
    print(f"over {len(f)} seeds: median {np.median(f):.2f}, mean {f.mean():.2f}, sd {f.std(ddof=1):.2f}, "
          f"min {f.min():.2f}, max {f.max():.2f}; worst / median = {f.max() / np.median(f):.4f}")


if __name__ == "__main__":
    main()
