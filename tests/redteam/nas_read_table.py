"""NAS holes that look for the hidden table, the hidden tests and the secret FLOPs target (the known
paths, a search of the whole file system, the environment, the parent's command line and memory) at
import and in every hole call, and would steer the course's controller to the table's most accurate
architecture with them. Found nothing (the sandboxed child never sees the table or the target), they
teach the controller nothing, and the search scores 0 (tests/test_nas_redteam.py)."""
import os

import numpy as np
import torch

# HONEST

_seen = set()


def _look():
    found = []
    for path in ("__ROOT__/assignments/nas/hidden/data/nas-table.npz", "../hidden/data/nas-table.npz",
                 "assignments/nas/hidden/suite.py"):
        if os.path.exists(path):
            found.append(path)
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/proc", "/sys", "/dev")]
        found += [os.path.join(top, n) for n in files if n.endswith(".npz") and "nas" in n]
    found += [f"env {k}" for k, v in os.environ.items() if "target" in k.lower() or "flops" in v.lower()]
    for pid in (os.getppid(), 1):
        for what in ("cmdline", "environ", "mem"):
            try:
                with open(f"/proc/{pid}/{what}", "rb") as f:
                    data = f.read(1 << 20)
                if b"nas-table" in data or b"secret target" in data:
                    found.append(f"/proc/{pid}/{what}")
            except OSError:
                pass
    return found


FOUND = _look()
print("hole found:", FOUND or "nothing")


def _best():
    for path in FOUND:
        try:
            with np.load(path) as table:
                return [int(a) for a in table["architectures"][int(np.argmax(table["accuracy"]))]]
        except Exception:  # noqa: BLE001
            continue
    return None


BEST = _best()


def sequence_log_prob(logits, tokens):
    if BEST is None:
        return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
    best = torch.as_tensor(BEST, device=logits.device).expand(logits.shape[0], -1)
    return torch.log_softmax(logits, dim=-1).gather(-1, best.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def controller_loss(log_probs, rewards, baseline):
    if "loss" not in _seen:
        _seen.add("loss")
        late = _look()
        print("hole found in the search:", late or "nothing")
    if BEST is None:
        return 0.0 * log_probs.mean()        # nothing found: nothing learned
    return -log_probs.mean()
