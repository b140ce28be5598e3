# Wrong VAE holes that still run: no noise, and no KL term (a plain autoencoder's).
import torch as _torch


def reparametrize(mean, sd):
    return mean + 0 * sd


def kl_divergence(mean, sd):
    return _torch.zeros(mean.shape[0], dtype=mean.dtype, device=mean.device)
