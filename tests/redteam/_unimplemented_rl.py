# The RL holes as the templates leave them, put in place of the "# HOLES" line of the RL
# red-team cases by tests/test_reinforce_redteam.py (see _honest_rl.py).


def compute_returns(rewards, gamma):
    raise NotImplementedError("compute_returns")


def reinforce_loss(logits, actions, returns):
    raise NotImplementedError("reinforce_loss")


def baseline_losses(logits, values, actions, returns):
    raise NotImplementedError("baseline_losses")
