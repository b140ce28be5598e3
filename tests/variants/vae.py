"""Plausible implementations of the VAE holes: wrong ones that must lose points,
and correct alternatives that must keep full marks.

Each entry is the source of a replacement function; the test appends it to the
reference solution, so the later definition wins. ``bench/bench_vae.py --variants``
trains the course's VAE with each wrong hole, to show where it falls against the
``elbo`` threshold.
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
