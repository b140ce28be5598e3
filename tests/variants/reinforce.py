"""Plausible implementations of the REINFORCE holes: wrong ones that must lose points,
and correct alternatives that must keep full marks.

Each entry is the source of a replacement function; the test appends it to the
reference solution, so the later definition wins.
"""

WRONG = {
    "compute_returns": {
        "forward instead of backward accumulation": '''
def compute_returns(rewards, gamma):
    out, running = [], 0.0
    for r in rewards:
        running = r + gamma * running
        out.append(running)
    return np.array(out, dtype=np.float64)
''',
        "gamma ignored (undiscounted reward-to-go)": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    return np.cumsum(r[::-1])[::-1].copy()
''',
        "gamma^t counted from the episode start": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    weighted = r * gamma ** np.arange(len(r))
    return np.cumsum(weighted[::-1])[::-1].copy()
''',
        "r_t excluded (return from the next step on)": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    out, running = np.zeros(len(r)), 0.0
    for t in range(len(r) - 1, -1, -1):
        out[t] = running
        running = r[t] + gamma * running
    return out
''',
        "every reward discounted once too often (gamma^(k+1))": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    out, running = np.zeros(len(r)), 0.0
    for t in range(len(r) - 1, -1, -1):
        running = gamma * (r[t] + running)
        out[t] = running
    return out
''',
        "result in reverse order": '''
def compute_returns(rewards, gamma):
    out, running = [], 0.0
    for r in reversed(list(rewards)):
        running = r + gamma * running
        out.append(running)
    return np.array(out, dtype=np.float64)
''',
        "float32 result": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float32)
    out, running = np.zeros(len(r), dtype=np.float32), np.float32(0)
    for t in range(len(r) - 1, -1, -1):
        running = r[t] + np.float32(gamma) * running
        out[t] = running
    return out
''',
        "overwrites the rewards in place": '''
def compute_returns(rewards, gamma):
    r = rewards if isinstance(rewards, np.ndarray) else np.asarray(rewards, dtype=np.float64)
    for t in range(len(r) - 2, -1, -1):
        r[t] = r[t] + gamma * r[t + 1]
    return r.astype(np.float64)
''',
        "fails on an empty episode": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    out = np.zeros(len(r))
    out[-1] = r[-1]
    for t in range(len(r) - 2, -1, -1):
        out[t] = r[t] + gamma * out[t + 1]
    return out
''',
        "returns a list": '''
def compute_returns(rewards, gamma):
    out, running = [], 0.0
    for r in reversed(list(rewards)):
        running = r + gamma * running
        out.insert(0, running)
    return out
''',
    },
    "reinforce_loss": {
        "sign flipped (gradient ascent written as descent)": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return (logp * returns.detach()).mean()
''',
        "probabilities instead of log-probabilities": '''
def reinforce_loss(logits, actions, returns):
    p = torch.softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(p * returns.detach()).mean()
''',
        "raw logits instead of log-probabilities": '''
def reinforce_loss(logits, actions, returns):
    z = logits.gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(z * returns.detach()).mean()
''',
        "sum instead of mean over the batch": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach()).sum()
''',
        "returns not detached (gradient flows into them)": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns).mean()
''',
        "returns normalised inside the loss": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    g = returns.detach()
    g = (g - g.mean()) / (g.std() + 1e-8) if len(g) > 1 else g
    return -(logp * g).mean()
''',
        "log-probabilities of all actions (action ignored)": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).sum(dim=1)
    return -(logp * returns.detach()).mean()
''',
        "softmax over the batch dimension": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=0).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach()).mean()
''',
        "a Python float (.item()) instead of a tensor": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach()).mean().item()
''',
        "per-example losses (no reduction)": '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns.detach())
''',
    },
}

CORRECT = {
    "compute_returns": {
        "vectorised: a matrix of discounts": '''
def compute_returns(rewards, gamma):
    r = np.asarray(rewards, dtype=np.float64)
    T = len(r)
    k = np.arange(T)
    power = k[None, :] - k[:, None]
    discounts = np.where(power >= 0, float(gamma) ** np.maximum(power, 0), 0.0)
    return discounts @ r
''',
        "reversed list, then reversed back": '''
def compute_returns(rewards, gamma):
    out, running = [], 0.0
    for r in reversed(list(rewards)):
        running = float(r) + gamma * running
        out.append(running)
    return np.array(out[::-1], dtype=np.float64)
''',
        "itertools.accumulate over the reversed rewards": '''
def compute_returns(rewards, gamma):
    from itertools import accumulate
    rev = list(accumulate(reversed([float(x) for x in rewards]), lambda g, r: r + gamma * g))
    return np.array(rev[::-1], dtype=np.float64).reshape(-1)
''',
    },
    "reinforce_loss": {
        "Categorical(logits=...).log_prob": '''
def reinforce_loss(logits, actions, returns):
    from torch.distributions import Categorical
    return -(Categorical(logits=logits).log_prob(actions) * returns.detach()).mean()
''',
        "F.cross_entropy (which is -log pi)": '''
def reinforce_loss(logits, actions, returns):
    import torch.nn.functional as F
    return (F.cross_entropy(logits, actions, reduction="none") * returns.detach()).mean()
''',
        "one-hot mask and torch.no_grad returns": '''
def reinforce_loss(logits, actions, returns):
    import torch.nn.functional as F
    with torch.no_grad():
        g = returns.clone()
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return -((torch.log_softmax(logits, dim=-1) * onehot).sum(dim=1) * g).mean()
''',
    },
}
