"""A vae.py whose reparametrize draws its noise with numpy, not torch's global generator, and that
replaces ``torch.randn`` (and ``torch.randn_like``) in its process so that they return the noise it
drew last (issue 21). The grader used to draw the reference noise in the child with ``torch.randn``
after the same seed: the fake matched and the hand-in got 3/3. The reference is now drawn in the
grader's process: the check that eps comes from torch's global generator fails, and the group
scores what its real behaviour earns, 2.7 of 3 (every other check of the noise holds)."""
import numpy as np
import torch

_LAST = [None]
_randn, _randn_like = torch.randn, torch.randn_like


def _fake_randn(*shape, **kwargs):
    if _LAST[0] is not None:
        return _LAST[0].clone()
    return _randn(*shape, **kwargs)


def _fake_randn_like(value, **kwargs):
    if _LAST[0] is not None and _LAST[0].shape == value.shape:
        return _LAST[0].clone()
    return _randn_like(value, **kwargs)


torch.randn, torch.randn_like = _fake_randn, _fake_randn_like


def reparametrize(mean, sd):
    eps = torch.as_tensor(np.random.standard_normal(tuple(mean.shape)), dtype=mean.dtype, device=mean.device)
    _LAST[0] = eps
    return mean + sd * eps


def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(-1)
