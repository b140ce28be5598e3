"""Child-side probes for the bandits assignment: call the student's code, return raw values.

Runs inside the sandbox. Holds no expected values: the parent decides.
"""

from __future__ import annotations

import numpy as np


def _kind(value):
    """Type name plus the value as a plain number, without trusting the object's own methods."""
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return "bool", None
    if isinstance(value, (int, np.integer)):
        return "int", int(value)
    if isinstance(value, (float, np.floating)):
        return "float", float(value)
    return type(value).__name__, None


def epsilon_greedy(sub, ctx, estimates, epsilon, seed, n):
    """``n`` successive choices with one generator; also checks the input was not modified."""
    rng = np.random.default_rng(int(seed))
    est = np.array(estimates, dtype=np.float64)
    original = est.copy()
    choices = np.empty(n, dtype=np.int64)
    first_type = None
    for i in range(int(n)):
        kind, value = _kind(sub.epsilon_greedy(est, float(epsilon), rng))
        if kind != "int":
            return {"type": kind, "index": i, "choices": choices[:i]}
        choices[i] = value
        first_type = first_type or kind
    return {"type": first_type or "int", "choices": choices, "mutated": bool(not np.array_equal(est, original))}


def update_estimate(sub, ctx, estimates, counts, rewards, alphas):
    """Apply ``update_estimate`` to each case; report each result's type and value."""
    values = np.full(len(estimates), np.nan)
    for i in range(len(estimates)):
        kind, value = _kind(sub.update_estimate(float(estimates[i]), int(counts[i]), float(rewards[i]), float(alphas[i])))
        if kind not in ("float", "int"):
            return {"type": kind, "index": i}
        values[i] = value
    return {"type": "float", "values": values}


def agent_start(sub, ctx, n_agents, n_arms, epsilon, alpha, initial, seeds):
    ctx.state["agents"] = [sub.EpsilonGreedyAgent(int(n_arms), float(epsilon), float(alpha), float(initial), int(s))
                           for s in seeds]
    return _act_all(ctx)


def agent_step(sub, ctx, actions, rewards):
    """Feed each agent the reward of its last action; return the next actions."""
    for agent, a, r in zip(ctx.state["agents"], actions, rewards):
        agent.update(int(a), float(r))
    return _act_all(ctx)


def _act_all(ctx):
    out = np.empty(len(ctx.state["agents"]), dtype=np.int64)
    for i, agent in enumerate(ctx.state["agents"]):
        kind, value = _kind(agent.act())
        if kind != "int":
            return {"type": kind, "index": i}
        out[i] = value
    return {"type": "int", "actions": out}
