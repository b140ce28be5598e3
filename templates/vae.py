"""Variational autoencoder on MNIST: the reparametrization trick and the KL term.

Fill in the two functions marked TODO. The model, the loss and the training
loop below use them. Run ``python vae.py`` to train on the 4,000 bundled
training digits (``assignments/vae/data/mnist-train-4k.npz``) and print the
negative ELBO per epoch, or ``python vae.py --data DIR`` for a directory holding
the MNIST IDX files (or an ``.npz`` with an ``images`` array); run
``grader check vae.py`` for the public checks.

The grader trains the course's own copy of the code below (the model, the loss,
the loop and these defaults, as the template gives them) with your two functions,
then computes the negative ELBO on held-out images itself: the course's loop and
your holes, so changes outside the two functions do not change your score. Keep
their names and shapes (see the assignment's README).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PIXELS = 28 * 28


def reparametrize(mean: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """A sample ``z = mean + sd * eps`` with ``eps ~ N(0, I)`` of the same shape.

    Draw ``eps`` with torch's global generator (no seeding here) so that the
    sample is differentiable with respect to ``mean`` and ``sd``.
    """
    # TODO: draw eps ~ N(0, I) with the shape, dtype and device of mean (torch.randn_like), return mean + sd * eps
    raise NotImplementedError("reparametrize")


def kl_divergence(mean: torch.Tensor, sd: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, diag(sd**2)) || N(0, I))`` per example: shape ``[B]`` for inputs ``[B, Z]``.

    Closed form: ``0.5 * sum_j (mean_j**2 + sd_j**2 - 1 - log(sd_j**2))``.
    """
    # TODO: 0.5 * (mean**2 + sd**2 - 1 - log(sd**2)) summed over the last (latent) dimension
    raise NotImplementedError("kl_divergence")


class VAE(nn.Module):
    """MLP encoder and decoder; the decoder outputs Bernoulli logits, one per pixel."""

    def __init__(self, z_dim: int = 2, hidden: int = 500) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.encoder = nn.Sequential(
            nn.Linear(PIXELS, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * z_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, PIXELS),
        )

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, 28, 28]`` in [0, 1] → ``mean``, ``sd`` of q(z | x), each ``[B, Z]`` (sd > 0)."""
        h = self.encoder(images.reshape(images.shape[0], PIXELS))
        mean, log_var = h.chunk(2, dim=-1)
        return mean, torch.exp(0.5 * log_var)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``[B, Z]`` → Bernoulli logits ``[B, 28, 28]`` (not probabilities)."""
        return self.decoder(z).reshape(z.shape[0], 28, 28)

    def loss(self, images: torch.Tensor) -> torch.Tensor:
        """Negative ELBO averaged over the batch: BCE summed over pixels + KL."""
        mean, sd = self.encode(images)
        z = reparametrize(mean, sd)
        logits = self.decode(z)
        bce = F.binary_cross_entropy_with_logits(logits, images, reduction="none").sum(dim=(1, 2))
        return (bce + kl_divergence(mean, sd)).mean()


def build_parser() -> argparse.ArgumentParser:
    """Hyperparameters. The grader trains with the template's defaults (its own seed and device)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="MNIST IDX directory or .npz with an 'images' array")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--z-dim", dest="z_dim", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=100)
    parser.add_argument("--learning-rate", dest="learning_rate", type=float, default=1e-3)
    parser.add_argument("--verbose", action="store_true")
    return parser


def train(images: np.ndarray, args: argparse.Namespace) -> VAE:
    """Train a VAE on ``images`` (uint8 ``[N, 28, 28]``) and return it."""
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    data = torch.as_tensor(np.asarray(images), dtype=torch.float32, device=device) / 255.0
    model = VAE(args.z_dim, getattr(args, "hidden", 500)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=getattr(args, "learning_rate", 1e-3))
    batch_size = getattr(args, "batch_size", 100)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        total = 0.0
        for batch in torch.randperm(len(data), device=device).split(batch_size):
            loss = model.loss(data[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if getattr(args, "verbose", False):
            print(f"epoch {epoch + 1}: training negative ELBO {total / len(data):.2f} ({time.perf_counter() - t0:.1f} s)")
    return model.eval()


def load_images(path: Path) -> np.ndarray:
    """Training images from an ``.npz`` (array ``images``) or a directory of MNIST IDX files."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            return data["images"]
    import gzip
    for name in ("train-images-idx3-ubyte", "train-images.idx3-ubyte"):
        for candidate in (path / name, path / (name + ".gz")):
            if candidate.is_file():
                opener = gzip.open if candidate.suffix == ".gz" else open
                with opener(candidate, "rb") as f:
                    raw = f.read()
                n = int.from_bytes(raw[4:8], "big")
                return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 28, 28)
    raise FileNotFoundError(f"no train-images-idx3-ubyte[.gz] in {path}")


BUNDLED_DATA = "mnist-train-4k.npz"   # the 4,000 training digits shipped with the assignment


def find_bundled_data() -> Path | None:
    """The bundled training digits, next to this file or in the course folder layout."""
    here = Path(globals().get("__file__", "vae.py")).resolve().parent
    for folder in (here, here.parent / "assignments" / "vae" / "data", Path.cwd(), Path.cwd() / "assignments" / "vae" / "data"):
        if (folder / BUNDLED_DATA).is_file():
            return folder / BUNDLED_DATA
    return None


def main() -> None:
    args = build_parser().parse_args()
    data = args.data or find_bundled_data()
    if data is None:
        print(f"pass --data DIR (a directory with the MNIST IDX files) or --data FILE.npz to train; "
              f"{BUNDLED_DATA} was not found")
        return
    images = load_images(data)
    args.verbose = True
    train(images, args)


if __name__ == "__main__":
    main()
