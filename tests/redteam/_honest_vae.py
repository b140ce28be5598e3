# Honest VAE holes, appended by the test to vae.py cases that need them (a line starting with
# "# HOLES" in a case is replaced by this file, by _missing_vae.py or by _wrong_vae.py).
import torch as _torch


def reparametrize(mean, sd):
    return mean + sd * _torch.randn_like(mean)


def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - _torch.log(sd ** 2)).sum(-1)
