"""Plausible implementations of the NAS holes: wrong ones that must lose points,
and correct alternatives that must keep full marks (appended to the reference,
so the later definition wins)."""

WRONG = {
    "efficientnet_reward": {
        "exponent sign flipped: (flops / target) ** beta": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) * (np.asarray(flops, dtype=np.float64) / target_flops) ** beta
''',
        "beta ignored: accuracy · target / flops": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) * (target_flops / np.asarray(flops, dtype=np.float64))
''',
        "additive: accuracy + beta · log(target / flops)": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) + beta * np.log(target_flops / np.asarray(flops, dtype=np.float64))
''',
        "beta applied to the accuracy too: (accuracy · target / flops) ** beta": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return (np.asarray(accuracy, dtype=np.float64) * target_flops / np.asarray(flops, dtype=np.float64)) ** beta
''',
        "default beta 0.7 instead of 0.07": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.7):
    return np.asarray(accuracy, dtype=np.float64) * (target_flops / np.asarray(flops, dtype=np.float64)) ** beta
''',
        "integer division of the FLOPs": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) * (np.floor_divide(target_flops, flops)) ** beta
''',
        "computed in float32": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    ratio = np.float32(target_flops) / np.asarray(flops, dtype=np.float32)
    return np.asarray(accuracy, dtype=np.float32) * ratio ** np.float32(beta)
''',
        "math.pow: scalars only, no arrays": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    import math
    return float(accuracy) * math.pow(target_flops / float(flops), beta)
''',
        "a torch tensor instead of numpy": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    a = torch.as_tensor(accuracy, dtype=torch.float64)
    return a * (target_flops / torch.as_tensor(flops, dtype=torch.float64)) ** beta
''',
        "exp(-beta) instead of a power": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return np.asarray(accuracy, dtype=np.float64) * np.exp(-beta * np.asarray(flops, dtype=np.float64) / target_flops)
''',
    },
    "sequence_log_prob": {
        "mean over the decisions instead of the sum": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).mean(dim=-1)
''',
        "probabilities instead of log-probabilities": '''
def sequence_log_prob(logits, tokens):
    return torch.softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
        "raw logits, no normalisation": '''
def sequence_log_prob(logits, tokens):
    return logits.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
        "log_softmax over the decisions (dim 1) instead of the choices": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
        "one-hot mask multiplied in (-inf · 0 = NaN)": '''
def sequence_log_prob(logits, tokens):
    onehot = torch.nn.functional.one_hot(tokens, logits.shape[-1]).to(logits.dtype)
    return (torch.log_softmax(logits, dim=-1) * onehot).sum(dim=(1, 2))
''',
        "not summed: [B, T]": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
''',
        "summed over the batch too: a scalar": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).sum()
''',
        "detached: no gradient": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1).detach()
''',
        "-inf replaced by 0 before the softmax": '''
def sequence_log_prob(logits, tokens):
    clean = torch.nan_to_num(logits, neginf=0.0)
    return torch.log_softmax(clean, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
        "normalised jointly over all decisions and choices": '''
def sequence_log_prob(logits, tokens):
    flat = torch.log_softmax(logits.reshape(logits.shape[0], -1), dim=-1).reshape(logits.shape)
    return flat.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
        "only the last decision": '''
def sequence_log_prob(logits, tokens):
    return torch.log_softmax(logits[:, -1], dim=-1).gather(-1, tokens[:, -1:]).squeeze(-1)
''',
        "log(softmax) then gather: right values, NaN gradient on -inf logits": '''
def sequence_log_prob(logits, tokens):
    return torch.log(torch.softmax(logits, dim=-1)).gather(-1, tokens.unsqueeze(-1)).squeeze(-1).sum(dim=-1)
''',
    },
    "controller_loss": {
        "sign flipped: +mean": '''
def controller_loss(log_probs, rewards, baseline):
    return ((rewards - baseline).detach() * log_probs).mean()
''',
        "summed instead of averaged": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards - baseline).detach() * log_probs).sum()
''',
        "baseline ignored": '''
def controller_loss(log_probs, rewards, baseline):
    return -(rewards.detach() * log_probs).mean()
''',
        "rewards + baseline": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards + baseline).detach() * log_probs).mean()
''',
        "advantage not detached (gradient into rewards and baseline)": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards - baseline) * log_probs).mean()
''',
        "only the rewards detached, not a tensor baseline": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards.detach() - baseline) * log_probs).mean()
''',
        "advantages normalised": '''
def controller_loss(log_probs, rewards, baseline):
    adv = (rewards - baseline).detach()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
    return -(adv * log_probs).mean()
''',
        "probabilities instead of log-probabilities": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards - baseline).detach() * torch.exp(log_probs)).mean()
''',
        "squared advantage": '''
def controller_loss(log_probs, rewards, baseline):
    return -((rewards - baseline).detach() ** 2 * log_probs).mean()
''',
        "not reduced: [B]": '''
def controller_loss(log_probs, rewards, baseline):
    return -(rewards - baseline).detach() * log_probs
''',
        "no gradient at all (.item())": '''
def controller_loss(log_probs, rewards, baseline):
    return torch.tensor(-((rewards - baseline).detach() * log_probs).mean().item())
''',
    },
    "update_baseline": {
        "decay and 1 - decay swapped": '''
def update_baseline(baseline, rewards, decay):
    return (1 - decay) * baseline + decay * float(np.mean(np.asarray(rewards, dtype=np.float64)))
''',
        "the last reward instead of the mean": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(rewards[-1])
''',
        "sum instead of the mean": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(sum(float(r) for r in rewards))
''',
        "no memory: the batch mean": '''
def update_baseline(baseline, rewards, decay):
    return float(np.mean([float(r) for r in rewards]))
''',
        "never moves": '''
def update_baseline(baseline, rewards, decay):
    return float(baseline)
''',
        "missing the (1 - decay) factor": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + float(np.mean([float(r) for r in rewards]))
''',
        "median instead of the mean": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(np.median([float(r) for r in rewards]))
''',
        "fails on a list of rewards (rewards.mean())": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(rewards.mean())
''',
        "float(np.mean(rewards)): fails on the tensor the course's loop passes": '''
def update_baseline(baseline, rewards, decay):
    return decay * baseline + (1 - decay) * float(np.mean(rewards))
''',
        "a string": '''
def update_baseline(baseline, rewards, decay):
    return str(decay * baseline + (1 - decay) * float(np.mean([float(r) for r in rewards])))
''',
    },
}

CORRECT = {
    "efficientnet_reward": {
        "exp(beta · log(target / flops))": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    acc = np.asarray(accuracy, dtype=np.float64)
    return acc * np.exp(beta * np.log(target_flops / np.asarray(flops, dtype=np.float64)))
''',
        "the plain formula (floats and arrays pass through)": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    return accuracy * (target_flops / np.asarray(flops, dtype=np.float64)) ** beta
''',
        "(flops / target) ** -beta, python floats for scalars": '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    out = np.multiply(accuracy, np.power(np.divide(flops, target_flops, dtype=np.float64), -beta))
    return float(out) if np.ndim(out) == 0 else out
''',
    },
    "sequence_log_prob": {
        "Categorical(logits).log_prob": '''
def sequence_log_prob(logits, tokens):
    return torch.distributions.Categorical(logits=logits, validate_args=False).log_prob(tokens).sum(dim=-1)
''',
        "log of the softmax, advanced indexing": '''
def sequence_log_prob(logits, tokens):
    p = torch.softmax(logits, dim=-1)
    b = torch.arange(tokens.shape[0], device=tokens.device)[:, None]
    t = torch.arange(tokens.shape[1], device=tokens.device)[None, :]
    return torch.log(p[b, t, tokens]).sum(dim=1)
''',
        "F.cross_entropy per decision": '''
def sequence_log_prob(logits, tokens):
    B, T, K = logits.shape
    nll = F.cross_entropy(logits.reshape(B * T, K), tokens.reshape(B * T), reduction="none")
    return -nll.reshape(B, T).sum(dim=1)
''',
    },
    "controller_loss": {
        "advantage under torch.no_grad": '''
def controller_loss(log_probs, rewards, baseline):
    with torch.no_grad():
        advantage = rewards - baseline
    return -torch.mean(advantage * log_probs)
''',
        "detach each term": '''
def controller_loss(log_probs, rewards, baseline):
    b = baseline.detach() if isinstance(baseline, torch.Tensor) else baseline
    return (-(rewards.detach() - b) * log_probs).sum() / log_probs.shape[0]
''',
    },
    "update_baseline": {
        "b + (1 - decay) · (mean - b)": '''
def update_baseline(baseline, rewards, decay):
    mean = sum(float(r) for r in rewards) / len(rewards)
    return baseline + (1 - decay) * (mean - baseline)
''',
        "torch mean, .item()": '''
def update_baseline(baseline, rewards, decay):
    mean = torch.as_tensor(rewards, dtype=torch.float64).mean().item()
    return decay * baseline + (1 - decay) * mean
''',
        "numpy float result": '''
def update_baseline(baseline, rewards, decay):
    return np.float64(decay) * baseline + (1 - decay) * np.mean(np.asarray([float(r) for r in rewards]))
''',
    },
}
