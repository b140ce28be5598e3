"""Speed and calibration of the REINFORCE reference solutions on CartPole-v1.

Runs each reference's ``train(env, args)`` in this process (no sandbox, so no
torch import per run) on the same parent-side env server the grader uses
(:class:`grader.kits.cartpole.parent.TrainingEnvServer`: same episode counting, same budget
refusal), then scores the policy with the grader's own
:func:`grader.kits.cartpole.parent.evaluate_policy` (100 episodes, fresh seeds).

    python bench/bench_reinforce.py                      # both references, 10 seeds each
    python bench/bench_reinforce.py --seeds 20 --compare # + REINFORCE without baseline under the same budget

Prints, per configuration: median and max training time, episodes used, the
episode at which the mean of 20 training returns reached 475, and the pass rate
(evaluation mean >= 475). ``--compare`` adds plain REINFORCE (the ``reinforce``
reference with ``max_episodes`` = budget) and the baseline loop with the
baseline removed, both under the ``reinforce_baseline`` budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core.assignment import load_assignment
from grader.kits.cartpole import child as cartpole_child
from grader.kits.cartpole.parent import TrainingEnvServer, evaluate_policy, reached
from grader.sandbox import CallbackAbort


class BudgetSpent(Exception):
    pass


class DirectContext:
    """Stands in for both sides of the sandbox: callbacks go straight to the server, ``act`` to the policy."""

    def __init__(self, server: TrainingEnvServer | None = None) -> None:
        self.server = server
        self.state: dict[str, Any] = {}

    def callback(self, name: str, **data: Any) -> Any:
        try:
            return self.server.handle(data)
        except CallbackAbort as exc:
            raise BudgetSpent(str(exc)) from None

    def call(self, op: str, run: str, obs: np.ndarray, timeout: float = 0.0) -> Any:
        return cartpole_child.act(None, self, run, obs)


@dataclass
class Outcome:
    seed: int
    seconds: float
    episodes: int
    reached_at: int | None
    eval_mean: float
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error and self.eval_mean >= 475.0


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_once(module: ModuleType, seed: int, num_envs: int, budget: int | None,
             overrides: dict[str, Any] | None = None, eval_episodes: int = 100, device: str = "cpu") -> Outcome:
    """One training run on the grader's env server and one evaluation, as the threshold group does them."""
    rng = np.random.default_rng(10_000 + seed)
    server = TrainingEnvServer(num_envs, int(rng.integers(2**31)), budget)
    ctx = DirectContext(server)
    env = cartpole_child.ProxyVectorEnv(ctx, num_envs)
    args = module.build_parser().parse_args([])
    args.seed, args.device = seed, device
    if budget is not None:
        args.episodes = budget
    for key, value in (overrides or {}).items():
        setattr(args, key, value)
    t0 = time.monotonic()
    try:
        policy = module.train(env, args)
    except BudgetSpent as exc:
        return Outcome(seed, time.monotonic() - t0, server.episodes, None, 0.0, str(exc))
    seconds = time.monotonic() - t0
    ctx.state["run"] = policy
    totals = evaluate_policy(ctx, "run", eval_episodes, int(rng.integers(2**31)), timeout=60)  # type: ignore[arg-type]
    return Outcome(seed, seconds, server.episodes, reached(np.asarray(server.returns), 475.0, 20), float(totals.mean()))


def sweep(label: str, module: ModuleType, seeds: range, num_envs: int, budget: int | None,
          overrides: dict[str, Any] | None = None, verbose: bool = False,
          device: str = "cpu") -> list[Outcome]:
    outcomes = []
    for seed in seeds:
        o = run_once(module, seed, num_envs, budget, overrides, device=device)
        outcomes.append(o)
        if verbose:
            print(f"  {label} seed {seed}: {o.seconds:.2f} s, {o.episodes} episodes, reached 475 at {o.reached_at}, "
                  f"eval {o.eval_mean:.1f}{'  ' + o.error[:60] if o.error else ''}", flush=True)
    secs = [o.seconds for o in outcomes]
    eps = [o.episodes for o in outcomes]
    hits = [o.reached_at for o in outcomes if o.reached_at is not None]
    print(f"{label:<44} seeds {len(outcomes):3d}  time median {statistics.median(secs):5.2f} s max {max(secs):5.2f} s  "
          f"episodes median {statistics.median(eps):5.0f} max {max(eps):5d}  "
          f"reached-475 median {statistics.median(hits) if hits else float('nan'):5.0f}  "
          f"pass {sum(o.passed for o in outcomes)}/{len(outcomes)}", flush=True)
    return outcomes


def without_baseline(module: ModuleType) -> Callable[..., Any]:
    """``baseline_losses`` with the baseline left out of the policy loss (the value net still trains)."""
    import torch

    def losses(logits, values, actions, returns):
        logp = torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1)).squeeze(1)
        return -(logp * returns).mean(), ((returns - values) ** 2).mean()
    return losses


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--only", choices=["reinforce", "reinforce_baseline"])
    p.add_argument("--compare", action="store_true", help="also REINFORCE without a baseline under the budget")
    p.add_argument("--device", default="cpu")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    import torch
    torch.set_num_threads(1)

    plain_cfg = load_assignment("reinforce").groups["training"].params
    base_cfg = load_assignment("reinforce_baseline").groups["training"].params
    budget = int(base_cfg["episodes"])
    plain = load_module(ROOT / "solutions" / "reinforce.py", "bench_reinforce_ref")
    baseline = load_module(ROOT / "solutions" / "reinforce_baseline.py", "bench_reinforce_baseline_ref")
    print(f"CartPole-v1, {torch.get_num_threads()} torch thread(s), device {a.device}; pass = mean of 100 "
          f"evaluation episodes >= 475; budget of reinforce_baseline: {budget} episodes")
    if a.only in (None, "reinforce"):
        sweep("reinforce (no budget)", plain, seeds, int(plain_cfg["num_envs"]), None, verbose=a.verbose, device=a.device)
    if a.only in (None, "reinforce_baseline"):
        sweep(f"reinforce_baseline ({budget}-episode budget)", baseline, seeds, int(base_cfg["num_envs"]), budget,
              verbose=a.verbose, device=a.device)
    if a.compare:
        sweep(f"reinforce, max_episodes={budget}", plain, seeds, int(base_cfg["num_envs"]), None,
              {"max_episodes": budget}, verbose=a.verbose, device=a.device)
        nobase = load_module(ROOT / "solutions" / "reinforce_baseline.py", "bench_reinforce_nobaseline")
        nobase.baseline_losses = without_baseline(nobase)
        sweep(f"baseline loop, baseline removed ({budget} budget)", nobase, seeds, int(base_cfg["num_envs"]), budget,
              {"value_steps": 0}, verbose=a.verbose, device=a.device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
