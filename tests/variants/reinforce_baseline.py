"""Plausible implementations of ``baseline_losses``: wrong ones that must lose points,
and correct alternatives that must keep full marks (appended to the reference)."""

_LOGP = "    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)\n"

WRONG = {
    "baseline_losses": {
        "baseline not detached in the policy loss": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values)).mean(), ((returns - values) ** 2).mean()
''',
        "G + V instead of G - V": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns + values.detach())).mean(), ((returns - values) ** 2).mean()
''',
        "V - G (advantage sign flipped)": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (values.detach() - returns)).mean(), ((returns - values) ** 2).mean()
''',
        "no baseline in the policy loss": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * returns).mean(), ((returns - values) ** 2).mean()
''',
        "value loss summed instead of averaged": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values.detach())).mean(), ((returns - values) ** 2).sum()
''',
        "value loss halved (0.5 MSE)": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values.detach())).mean(), 0.5 * ((returns - values) ** 2).mean()
''',
        "value loss with detached values (trains nothing)": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values.detach())).mean(), ((returns - values.detach()) ** 2).mean()
''',
        "losses returned in the wrong order": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return ((returns - values) ** 2).mean(), -(logp * (returns - values.detach())).mean()
''',
        "advantages normalised": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    adv = (returns - values).detach()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
    return -(logp * adv).mean(), ((returns - values) ** 2).mean()
''',
        "absolute error as the value loss": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values.detach())).mean(), (returns - values).abs().mean()
''',
        "value loss is the total loss (trains the policy too)": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    policy_loss = -(logp * (returns - values.detach())).mean()
    return policy_loss, policy_loss + ((returns - values) ** 2).mean()
''',
        "probabilities instead of log-probabilities": '''
def baseline_losses(logits, values, actions, returns):
    p = torch.softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(p * (returns - values.detach())).mean(), ((returns - values) ** 2).mean()
''',
        "a single summed loss instead of a pair": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return -(logp * (returns - values.detach())).mean() + ((returns - values) ** 2).mean()
''',
    },
}

CORRECT = {
    "baseline_losses": {
        "Categorical and F.mse_loss": '''
def baseline_losses(logits, values, actions, returns):
    import torch.nn.functional as F
    from torch.distributions import Categorical
    adv = returns - values.detach()
    return -(Categorical(logits=logits).log_prob(actions) * adv).mean(), F.mse_loss(values, returns)
''',
        "F.cross_entropy and advantages under torch.no_grad": '''
def baseline_losses(logits, values, actions, returns):
    import torch.nn.functional as F
    with torch.no_grad():
        adv = returns - values
    return (F.cross_entropy(logits, actions, reduction="none") * adv).mean(), (values - returns).pow(2).mean()
''',
        "a list instead of a tuple": '''
def baseline_losses(logits, values, actions, returns):
''' + _LOGP + '''    return [-(logp * (returns - values).detach()).mean(), torch.mean(torch.square(returns - values))]
''',
    },
}
