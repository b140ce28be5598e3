"""Public checks of the bandits assignment (``grader check bandits.py``).

Small and fast, with the expected values in plain sight: they catch the
common mistakes early. Passing them does not guarantee passing the hidden tests.
"""

from __future__ import annotations

import numpy as np

from grader.core.suite import GroupContext, group, import_local
from grader.kits.holes.parent import Holes

calls = import_local(__file__, "calls")
_choices = calls.choices


@group("epsilon_greedy")
def epsilon_greedy(ctx: GroupContext) -> None:
    with ctx.check("ε = 0 picks argmax([0.1, 0.9, 0.3]) = 1 every time"):
        choices = _choices(ctx, [0.1, 0.9, 0.3], 0.0, 0, 50)
        ctx.require(np.all(choices == 1), f"got choices {sorted(set(choices.tolist()))}")
    with ctx.check("ε = 0 with estimates [0.5, 2, 2]: the lowest of the tied best arms, 1, every time (as np.argmax)"):
        choices = _choices(ctx, [0.5, 2.0, 2.0], 0.0, 0, 50)
        ctx.require(np.all(choices == 1), f"got choices {sorted(set(choices.tolist()))}", expected="1 every time",
                    hint="ties must go to the lowest index, as np.argmax(estimates) gives it, not to a random or "
                         "the last tied arm" if set(choices.tolist()) <= {1, 2} else "")
    with ctx.check("ε = 1 picks every one of 3 arms sometimes (1000 draws)"):
        counts = np.bincount(_choices(ctx, [0.1, 0.9, 0.3], 1.0, 0, 1000), minlength=3)
        ctx.require(len(counts) == 3 and np.all(counts > 250),
                    f"arm counts {counts.tolist()}: with ε = 1 each arm should get about a third")
    with ctx.check("ε = 0.5 on 2 arms [0, 1]: arm 1 about 75% of 4000 draws (1 − ε + ε/k: exploring may pick it too)"):
        share = float(np.mean(_choices(ctx, [0.0, 1.0], 0.5, 0, 4000) == 1))
        ctx.require(abs(share - 0.75) < 0.035, f"arm 1 was chosen {share:.1%} of the time", expected="75%",
                    got=f"{share:.1%}", hint="exploring draws among all k arms, the greedy one included"
                    if abs(share - 0.5) < 0.035 else "")
    with ctx.check("randomness only from rng: a generator seeded alike gives the same 200 choices, another seed others"):
        a, b, c = (_choices(ctx, [0.1, 0.9, 0.3, 0.5], 0.5, seed, 200) for seed in (7, 7, 8))
        ctx.require(np.array_equal(a, b), "generators with the same seed gave different choices",
                    hint="draw every random number from the rng argument (not np.random.* or random)")
        ctx.require(not np.array_equal(a, c), "generators with different seeds gave the same choices",
                    hint="draw every random number from the rng argument")


@group("update_estimate")
def update_estimate(ctx: GroupContext) -> None:
    cases = [  # estimate, count, reward, alpha -> expected
        (0.0, 1, 2.0, 0.0, 2.0),
        (1.0, 4, 3.0, 0.0, 1.5),
        (1.0, 4, 3.0, 0.5, 2.0),
        (1.0, 4, 3.0, 0.1, 1.2),
    ]
    for e, c, r, a, want in cases:
        with ctx.check(f"update_estimate({e}, {c}, {r}, alpha={a}) == {want}"):
            got = float(calls.update(Holes(ctx), np.array([e]), np.array([c]), np.array([r]), np.array([a]))[0])
            ctx.require(abs(got - want) < 1e-9, f"got {got}")


@group("agent")
def agent(ctx: GroupContext) -> None:
    with ctx.check("the course's agent, with your two functions, learns a 2-armed bandit with fixed rewards (0 and 1)"):
        run = calls.run_agents(Holes(ctx), lambda t, a: a.astype(float), 1, 2, 200, 0.1, 0.0, 0.0, np.array([0]))
        share = float(np.mean(run["actions"][0, 100:] == 1))
        ctx.require(share > 0.8, f"in the last 100 steps the better arm was chosen {share:.0%} of the time")
