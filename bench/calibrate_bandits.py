"""Calibrate the bandits ``agent`` group: the reference's spread, where other agents fall, chance.

    python bench/calibrate_bandits.py [--seeds 200] [--cheats 5]

For each seed, runs the reference solution's ``EpsilonGreedyAgent`` (solutions/bandits.py, in this
process: the same testbed, parent reference agent and checks as the group, no sandbox) and prints
the distribution of its reward gap to the parent's reference agent (which ``margin`` must absorb:
worst + 3 sd) and of the greedy-share statistic (the largest |z| over the blocks; the check fails
above ``sigmas``). Then the same for agents that are not ε-greedy (tests/redteam/other_learners.py),
and the failure rate of the reference with its Clopper-Pearson bound.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.core.suite import import_local

testbed = import_local(str(ROOT / "assignments" / "bandits" / "hidden" / "suite.py"), "testbed")
PARAMS = load_assignment("bandits").groups["agent"].params
CHEATS = ["fixed", "optimistic", "ucb", "explore_then_commit", "other_epsilon"]


def load(source: str, name: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def grade(module, seed: int) -> tuple[float, float]:
    """(reward gap to the parent's reference agent, largest |z| of the blocks' greedy shares), as the group computes them."""
    p = PARAMS
    runs, steps, arms, eps = int(p["runs"]), int(p["steps"]), int(p["arms"]), float(p["epsilon"])
    alpha, initial, blocks = float(p["alpha"]), float(p["initial"]), int(p["blocks"])
    rng = np.random.default_rng(seed)
    bed = testbed.Testbed.draw(rng, runs, arms, steps)
    reference = testbed.run_reference(bed, eps, alpha, initial, np.random.default_rng(rng.integers(2**63)))
    agents = [module.EpsilonGreedyAgent(arms, eps, alpha, initial, int(s)) for s in rng.integers(2**31, size=runs)]

    def step(actions, rewards):
        for agent, a, r in zip(agents, actions, rewards):
            agent.update(int(a), float(r))
        return {"type": "int", "actions": np.array([agent.act() for agent in agents], dtype=np.int64)}

    rewards, actions = testbed.run_agents(bed, lambda: {"type": "int", "actions": np.array([a.act() for a in agents])},
                                          step, lambda reply: reply["actions"])
    expected = 1 - eps + eps / arms
    shares = testbed.greedy_shares(actions, rewards, arms, alpha, initial, blocks)
    z = np.abs(shares - expected) / math.sqrt(expected * (1 - expected) / (runs * steps / blocks))
    return float(rewards.mean() - reference.mean()), float(z.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--cheats", type=int, default=5, help="seeds per agent that is not ε-greedy")
    args = parser.parse_args()
    margin, sigmas = float(PARAMS["margin"]), float(PARAMS["sigmas"])
    reference = load((ROOT / "solutions" / "bandits.py").read_text(), "bandits_reference")
    results = np.array([grade(reference, 10_000 + s) for s in range(args.seeds)])
    gap, z = results[:, 0], results[:, 1]
    print(f"reference, {args.seeds} seeds: gap to the parent's reference agent mean {gap.mean():+.4f}, sd {gap.std(ddof=1):.4f}, "
          f"worst {gap.min():+.4f}; worst + 3 sd = {gap.min() - 3 * gap.std(ddof=1):+.4f} (margin {margin}); "
          f"greedy-share |z| max {z.max():.2f} (fails above {sigmas:g})")
    failures = int(((gap < -margin) | (z > sigmas)).sum())
    print(chance.report("bandits agent", failures, args.seeds, 1, int(PARAMS.get("retries", 0))))
    tail = 0.5 * math.erfc(margin / gap.std(ddof=1) / math.sqrt(2))
    print(f"  (normal approximation: the gap misses the margin with probability {tail:.1e}; "
          f"a block's share leaves {sigmas:g} sd with {math.erfc(sigmas / math.sqrt(2)):.1e}, "
          f"{int(PARAMS['blocks'])} blocks: {int(PARAMS['blocks']) * math.erfc(sigmas / math.sqrt(2)):.1e})")
    honest = (ROOT / "tests" / "redteam" / "_honest.py").read_text()
    template = (ROOT / "tests" / "redteam" / "other_learners.py").read_text().replace("# HONEST\n", honest)
    for how in CHEATS:
        module = load(template.replace("__HOW__", how), f"bandits_{how}")
        r = np.array([grade(module, 20_000 + s) for s in range(args.cheats)])
        passes = int(((r[:, 0] >= -margin) & (r[:, 1] <= sigmas)).sum())
        reward_only = int((r[:, 0] >= -margin).sum())
        print(f"{how:<20} gap {r[:, 0].mean():+.3f} (min {r[:, 0].min():+.3f}); greedy-share |z| min {r[:, 1].min():.1f}; "
              f"passes {passes}/{args.cheats} (the reward bound alone: {reward_only}/{args.cheats})", flush=True)


if __name__ == "__main__":
    main()
