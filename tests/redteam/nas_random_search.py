"""NAS holes that teach the course's controller nothing: ``controller_loss`` returns a loss with a graph
but no gradient (zero times the honest loss), so the controller samples as it started (the entropy
bonus keeps it near uniform): the course's loop runs a random search, and the controller's greedy
architecture is whatever its random initialisation prefers. That reaches 95 % of the best reward on
some targets by chance; the learning rule fails every search (its last queries average the space's
mean, as random search's do) (tests/test_nas_redteam.py)."""

# HONEST


def controller_loss(log_probs, rewards, baseline):
    return 0.0 * (log_probs * (rewards - baseline)).mean()
