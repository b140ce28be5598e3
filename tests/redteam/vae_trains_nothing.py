"""A vae.py that trains nothing (issue 21): its ``train`` returns at once an untrained model that a
fresh process could rebuild from its state_dict (which used to earn the "a fresh process rebuilds
it" point, 1 of 4). The grader now trains the course's own VAE with the holes (``# HOLES``: the
template's here, or honest ones) and never calls this train: nothing it returns is scored."""
import torch
from torch import nn

# HOLES


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
    print("TRAINS NOTHING train called", flush=True)
    torch.manual_seed(args.seed)
    return VAE(args.z_dim)
