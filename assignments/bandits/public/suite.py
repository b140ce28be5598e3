"""Public checks of the bandits assignment (``grader check bandits.py``).

Small and fast, with the expected values in plain sight: they catch the
common mistakes early. Passing them does not guarantee passing the hidden tests.
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, group


@group("epsilon_greedy")
def epsilon_greedy(ctx: GroupContext) -> None:
    with ctx.check("ε = 0 picks argmax([0.1, 0.9, 0.3]) = 1 every time"):
        reply = ctx.call("epsilon_greedy", estimates=np.array([0.1, 0.9, 0.3]), epsilon=0.0, seed=0, n=50)
        if reply.get("type") != "int":
            raise CheckFailed(f"epsilon_greedy should return an int, got {reply.get('type')}")
        ctx.require(np.all(reply["choices"] == 1), f"got choices {sorted(set(reply['choices'].tolist()))}")
    with ctx.check("ε = 1 picks every one of 3 arms sometimes (1000 draws)"):
        reply = ctx.call("epsilon_greedy", estimates=np.array([0.1, 0.9, 0.3]), epsilon=1.0, seed=0, n=1000)
        if reply.get("type") != "int":
            raise CheckFailed(f"epsilon_greedy should return an int, got {reply.get('type')}")
        counts = np.bincount(reply["choices"], minlength=3)
        ctx.require(len(counts) == 3 and np.all(counts > 250),
                    f"arm counts {counts.tolist()}: with ε = 1 each arm should get about a third")


@group("update_estimate")
def update_estimate(ctx: GroupContext) -> None:
    cases = [  # estimate, count, reward, alpha -> expected
        (0.0, 1, 2.0, 0.0, 2.0),
        (1.0, 4, 3.0, 0.0, 1.5),
        (1.0, 4, 3.0, 0.5, 2.0),
    ]
    for e, c, r, a, want in cases:
        with ctx.check(f"update_estimate({e}, {c}, {r}, alpha={a}) == {want}"):
            reply = ctx.call("update_estimate", estimates=np.array([e]), counts=np.array([c]),
                             rewards=np.array([r]), alphas=np.array([a]))
            if reply.get("type") != "float":
                raise CheckFailed(f"update_estimate should return a float, got {reply.get('type')}")
            got = float(reply["values"][0])
            ctx.require(abs(got - want) < 1e-9, f"got {got}")


@group("agent")
def agent(ctx: GroupContext) -> None:
    with ctx.check("the agent acts and learns on a 2-armed bandit with fixed rewards (0 and 1)"):
        reply = ctx.call("agent_start", n_agents=1, n_arms=2, epsilon=0.1, alpha=0.0, initial=0.0, seeds=np.array([0]))
        if reply.get("type") != "int":
            raise CheckFailed(f"act() should return an int, got {reply.get('type')}")
        picks = []
        for _ in range(200):
            a = reply["actions"]
            picks.append(int(a[0]))
            reply = ctx.call("agent_step", actions=a, rewards=a.astype(float))
            if reply.get("type") != "int":
                raise CheckFailed(f"act() should return an int, got {reply.get('type')}")
        share = np.mean(np.array(picks[100:]) == 1)
        ctx.require(share > 0.8, f"in the last 100 steps the better arm was chosen {share:.0%} of the time")
