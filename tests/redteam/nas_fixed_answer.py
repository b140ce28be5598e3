"""NAS holes that steer the course's controller to an architecture fixed in advance (__ARCH__, filled in
by the test: the one that earns 95 % of the best reward at the most targets), whatever the rewards say.

``sequence_log_prob`` gives every sampled architecture the log-probability of the fixed one, and
``controller_loss`` raises it (scaled by __RATE__), ignoring the rewards and the baseline: the course's
controller then prefers the fixed architecture, which the answer rule alone would pass at most
targets. It asks about few new architectures before it settles there, and learned nothing from the
rewards: the learning rule fails it (tests/test_nas_redteam.py)."""
import torch

# HONEST

FIXED = list(__ARCH__)


def sequence_log_prob(logits, tokens):
    fixed = torch.as_tensor(FIXED, dtype=torch.int64, device=logits.device).expand(logits.shape[0], -1)
    return torch.log_softmax(logits, dim=-1).gather(-1, fixed.unsqueeze(-1)).squeeze(-1).sum(dim=-1)


def controller_loss(log_probs, rewards, baseline):
    return -__RATE__ * log_probs.mean()
