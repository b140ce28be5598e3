"""Honest update_estimate and agent class, but an epsilon_greedy that is not ε-greedy (__HOW__). The
agent group runs the course's own agents with these holes; some of these learn as well as the
reference or better (they passed the reward-only threshold before issue 13), so the group asks for
ε-greedy learning and sees the difference in what the course's loop did:

* ``fixed``: always arm 0 (learns nothing);
* ``runner_up``: takes the greedy arm exactly 1 − ε + ε/k of the time, otherwise the best
  non-greedy arm (never uniform: the issue's "best-UCB non-greedy arm");
* ``softmax_explore``: exact greedy share, explores by a softmax of the estimates;
* ``explore_then_commit``: explores uniformly in the first tenth of the steps (it counts its calls:
  200 agents per step), greedy afterwards;
* ``other_epsilon``: ε-greedy, but with ε = 0.05 instead of the ε it was given;
* ``no_greedy_in_exploration``: explores among the other arms only (greedy share 1 − ε)."""
import numpy as np

# HONEST

_calls = [0]


def epsilon_greedy(estimates, epsilon, rng):
    how = "__HOW__"
    k = len(estimates)
    greedy = int(np.argmax(estimates))
    _calls[0] += 1
    if how == "fixed":
        return 0
    if how == "other_epsilon":
        epsilon = 0.05
    if how == "explore_then_commit":
        return int(rng.integers(k)) if _calls[0] <= 200 * 100 else greedy
    if how == "no_greedy_in_exploration":
        if rng.random() < epsilon:
            return int(rng.choice([a for a in range(k) if a != greedy]))
        return greedy
    if how in ("runner_up", "softmax_explore"):
        if rng.random() < 1 - epsilon + epsilon / k:
            return greedy
        others = [a for a in range(k) if a != greedy]
        if how == "runner_up":
            return int(max(others, key=lambda a: estimates[a]))
        weights = np.exp((estimates[others] - estimates[others].max()) / 0.1)
        return int(rng.choice(others, p=weights / weights.sum()))
    if rng.random() < epsilon:
        return int(rng.integers(k))
    return greedy
