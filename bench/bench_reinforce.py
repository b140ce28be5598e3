"""Speed, calibration and chance of the REINFORCE reference solutions on CartPole-v1.

Runs each reference's ``train(env, args)`` in this process (no sandbox, so no torch import per
run) the way the ``training`` group does, on the same parent-side machinery
(:mod:`grader.kits.cartpole.parent`): the proxy env served by :class:`TrainingEnvServer` (same
episode counting, curve and budget), the learning rules (:func:`learning_problem`), the network
found in what ``train`` returned and rebuilt from its ``state_dict`` (``train`` with
``args.episodes = 0``), and the grader's own 100-episode evaluation of ``argmax(net(obs))``.

    python bench/bench_reinforce.py                      # both references, 10 seeds each
    python bench/bench_reinforce.py --seeds 20 --compare # + REINFORCE without baseline under the same budget
    python bench/bench_reinforce.py --chance 200         # per-run failure rate, Clopper-Pearson bound
    python bench/bench_reinforce.py --route 6 --lookahead 0,4,6  # cost of serving reinforce's env from the parent

Prints, per configuration: median and max training time, episodes used, the episode at which
the mean of 20 training returns reached 475, the mean of the first 20 episodes (the "already
solved" rule), the pass rate and the evaluations that failed. ``--route`` grades nothing: it
trains the ``reinforce`` reference in a real sandboxed child on a local gymnasium env (before)
and on the parent-served proxy (after), alternately, and prints both.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.kits.cartpole import child as cartpole_child
from grader.kits.cartpole.parent import (
    TrainingEnvServer,
    TrainingSettings,
    evaluate_policy,
    learning_problem,
    reached,
)
from grader.kits.weights import child as weights_child
from grader.sandbox import CallbackAbort


class BudgetSpent(Exception):
    pass


class DirectContext:
    """Stands in for both sides of the sandbox: callbacks go straight to the server, ``act`` to the network."""

    def __init__(self, server: TrainingEnvServer | None = None) -> None:
        self.server = server
        self.state: dict[str, Any] = {}

    def callback(self, name: str, **data: Any) -> Any:
        if name == "progress":          # the live display's episode count: nothing to serve
            return None
        try:
            return self.server.handle(data)
        except CallbackAbort as exc:
            raise BudgetSpent(str(exc)) from None

    def call(self, op: str, run: str, obs: np.ndarray, timeout: float = 0.0, endpoint: str = "main") -> Any:
        return cartpole_child.act(None, self, run, obs)


@dataclass
class Outcome:
    seed: int
    seconds: float
    episodes: int
    reached_at: int | None
    first_mean: float               # mean of the first 20 training episodes
    eval_mean: float
    error: str = ""                 # an exception, or a learning rule the run broke

    @property
    def passed(self) -> bool:
        return not self.error and self.eval_mean >= 475.0


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_module_from_source(source: str, name: str) -> ModuleType:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.py"
        path.write_text(source)
        return load_module(path, name)


def settings_of(assignment: str) -> TrainingSettings:
    params = load_assignment(assignment).groups["training"].params
    budget = int(params["episodes"]) if "episodes" in params else None
    return TrainingSettings.from_params(params, budget)


def run_once(module: ModuleType, seed: int, s: TrainingSettings, overrides: dict[str, Any] | None = None,
             device: str = "cpu") -> Outcome:
    """One attempt as the threshold group makes it: train on the served env, the learning rules,
    the network rebuilt from its state_dict, one evaluation."""
    rng = np.random.default_rng(10_000 + seed)
    server = TrainingEnvServer(s.num_envs, int(rng.integers(2**31)), s.budget)
    ctx = DirectContext(server)
    settings = dict(overrides or {})
    if s.budget is not None:
        settings["episodes"] = s.budget
    args = cartpole_child.make_args(module, seed, settings)
    args.device = device
    t0 = time.monotonic()
    env = cartpole_child.ProxyVectorEnv(ctx, s.num_envs)
    try:
        policy = module.train(env, args)
        env.flush()
    except BudgetSpent as exc:
        return Outcome(seed, time.monotonic() - t0, server.episodes, None, float("nan"), 0.0, str(exc))
    seconds = time.monotonic() - t0
    returns = np.asarray(server.returns)
    first = float(returns[:s.first_episodes].mean()) if returns.size >= s.first_episodes else float("nan")
    at = reached(returns, s.threshold, s.window)
    problem = learning_problem(returns, server.episodes, s)
    if problem:
        return Outcome(seed, seconds, server.episodes, at, first, 0.0, problem)
    net = rebuild(module, cartpole_child.find_network(policy), seed, s, device)
    ctx.state["run"] = net
    totals = evaluate_policy(ctx, "run", s.eval_episodes, int(rng.integers(2**31)), timeout=120)  # type: ignore[arg-type]
    return Outcome(seed, seconds, server.episodes, at, first, float(totals.mean()))


def rebuild(module: ModuleType, net: Any, seed: int, s: TrainingSettings, device: str) -> Any:
    """The policy process's rebuild, in this process: train(..., episodes = 0) and the exported state."""
    state = weights_child.export_state(net)
    args = cartpole_child.make_args(module, seed, {"episodes": 0, "max_episodes": 0})
    args.device = device
    fresh = cartpole_child.find_network(module.train(cartpole_child.RebuildVectorEnv(s.num_envs, seed), args))
    problem = weights_child.load_state(fresh, state, "with args.episodes = 0, train")
    assert not problem, problem
    return fresh.eval()


def sweep(label: str, module: ModuleType, seeds: range, s: TrainingSettings, overrides: dict[str, Any] | None = None,
          verbose: bool = False, device: str = "cpu") -> list[Outcome]:
    outcomes = []
    for seed in seeds:
        o = run_once(module, seed, s, overrides, device=device)
        outcomes.append(o)
        if verbose:
            print(f"  {label} seed {seed}: {o.seconds:.2f} s, {o.episodes} episodes, first 20 {o.first_mean:.1f}, "
                  f"reached 475 at {o.reached_at}, eval {o.eval_mean:.1f}{'  ' + o.error[:70] if o.error else ''}",
                  flush=True)
    secs = [o.seconds for o in outcomes]
    eps = [o.episodes for o in outcomes]
    hits = [o.reached_at for o in outcomes if o.reached_at is not None]
    firsts = [o.first_mean for o in outcomes if np.isfinite(o.first_mean)]
    failed = sorted(round(o.eval_mean, 1) for o in outcomes if not o.passed)
    print(f"{label:<44} seeds {len(outcomes):3d}  time median {statistics.median(secs):5.2f} s max {max(secs):5.2f} s  "
          f"episodes median {statistics.median(eps):5.0f} min {min(eps):5d} max {max(eps):5d}  "
          f"reached-475 median {statistics.median(hits) if hits else float('nan'):5.0f} "
          f"({len(hits)}/{len(outcomes)} reached)  first-20 max {max(firsts) if firsts else float('nan'):5.1f}  "
          f"pass {sum(o.passed for o in outcomes)}/{len(outcomes)}"
          + (f"  failed evaluations {failed}" if failed else ""), flush=True)
    rules = [o for o in outcomes if o.error]
    if rules:
        print(f"  runs that broke a rule or raised: {[(o.seed, o.error[:60]) for o in rules]}")
    return outcomes


def without_baseline(module: ModuleType) -> Callable[..., Any]:
    """``baseline_losses`` with the baseline left out of the policy loss (the value net still trains)."""
    import torch

    def losses(logits, values, actions, returns):
        logp = torch.log_softmax(logits, dim=-1).gather(1, actions.long().unsqueeze(1)).squeeze(1)
        return -(logp * returns).mean(), ((returns - values) ** 2).mean()
    return losses


# -- the cost of serving reinforce's env from the parent ------------------------------------
LOCAL_PROBE = '''
import time

import cartpole_child
from cartpole_child import train  # noqa: F401 - the grader's probe: the proxy env served by the parent


def train_local(sub, ctx, run, seed, num_envs):
    """Before: train on a gymnasium vector env inside the child (no round trip per step)."""
    import gymnasium as gym

    env = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    args = cartpole_child.make_args(sub, seed, {})
    t0 = time.monotonic()
    sub.train(env, args)
    return {"seconds": time.monotonic() - t0}
'''


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its live descendants, from /proc: the
    sandboxed child (behind its namespace's init) as the machine's load leaves it."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return total


def route(runs: int, lookaheads: list[int]) -> None:
    """Train the reinforce reference in a sandboxed child: on a local env, then on the parent-served
    proxy at each lookahead depth (0: a round trip per step), per seed in turn, so that machine load
    falls on every configuration alike. Per seed the proxy runs see the same observations (same env
    seeds, same actions: the tree changes how steps travel, not what they are), so they train alike.
    Besides wall time, the CPU seconds of parent and child together: on a shared machine the wall
    time swings with the others' load, the CPU time much less."""
    from grader.core.course import sandbox_isolation
    from grader.sandbox import Child, ChildSpec

    assignment = load_assignment("reinforce")
    s = settings_of("reinforce")
    with tempfile.TemporaryDirectory() as tmp:
        probes = Path(tmp) / "probes.py"
        probes.write_text(LOCAL_PROBE)
        # The group's limits, except that gymnasium's CartPole stays readable for the local env.
        limits = dataclasses.replace(assignment.groups["training"].limits, hide_modules=())
        spec = ChildSpec(submission=ROOT / "solutions" / "reinforce.py", probes=probes,
                         child_files=assignment.child_files, limits=limits, isolation=sandbox_isolation())
        local: list[float] = []
        cpu: dict[int | str, list[float]] = {k: [] for k in ["local", *lookaheads]}
        proxy: dict[int, list[float]] = {k: [] for k in lookaheads}
        trips: dict[int, list[int]] = {k: [] for k in lookaheads}
        steps: list[int] = []
        loads: list[float] = []
        child = Child(spec)
        child.start(time.monotonic() + 60)
        try:
            for k in range(runs):
                seed = 500 + k
                loads.append(os.getloadavg()[0])
                t0, c0 = time.monotonic(), time.process_time() + tree_cpu_seconds(child.proc.pid)
                child.call("train_local", {"run": "a", "seed": seed, "num_envs": s.num_envs}, time.monotonic() + 300)
                local.append(time.monotonic() - t0)
                cpu["local"].append(time.process_time() + tree_cpu_seconds(child.proc.pid) - c0)
                line = [f"local env {local[-1]:.2f} s (CPU {cpu['local'][-1]:.2f} s)"]
                for depth in lookaheads:
                    server = TrainingEnvServer(s.num_envs, seed, None, depth)
                    t0, c0 = time.monotonic(), time.process_time() + tree_cpu_seconds(child.proc.pid)
                    child.call("train", {"run": "b", "seed": seed, "num_envs": s.num_envs}, time.monotonic() + 300,
                               {"env_step": server.handle, "progress": lambda data: None})
                    proxy[depth].append(time.monotonic() - t0)
                    cpu[depth].append(time.process_time() + tree_cpu_seconds(child.proc.pid) - c0)
                    trips[depth].append(server.trips)
                    line.append(f"lookahead {depth}: {proxy[depth][-1]:.2f} s (CPU {cpu[depth][-1]:.2f} s), "
                                f"{server.trips} round trips")
                    server.close()
                steps.append(server.steps)
                print(f"  seed {seed} (load {loads[-1]:.1f}, {server.episodes} episodes, {server.steps} steps): "
                      + "; ".join(line), flush=True)
        finally:
            child.close()
    med = statistics.median
    print(f"reinforce reference, {runs} seeds, one sandboxed child ({spec.isolation.name}), load average "
          f"{min(loads):.1f}-{max(loads):.1f}, {med(steps):.0f} steps of the 16 sub-envs per run (median): "
          f"local env median {med(local):.2f} s per run (CPU {med(cpu['local']):.2f} s)", flush=True)
    for depth in lookaheads:
        extra = [p - q for p, q in zip(proxy[depth], local)]
        extra_cpu = [p - q for p, q in zip(cpu[depth], cpu["local"])]
        print(f"  parent-served, lookahead {depth}: median {med(proxy[depth]):.2f} s per run "
              f"(+{med(extra):.2f} s over the local env; CPU {med(cpu[depth]):.2f} s, +{med(extra_cpu):.2f} s), "
              f"{med(trips[depth]):.0f} round trips ({med([st / tr for st, tr in zip(steps, trips[depth])]):.1f} "
              "steps each)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--only", choices=["reinforce", "reinforce_baseline"])
    p.add_argument("--compare", action="store_true", help="also REINFORCE without a baseline under the budget")
    p.add_argument("--chance", type=int, metavar="RUNS", default=0,
                   help="this many runs per reference: failure rate and the bound on a grading's failure")
    p.add_argument("--route", type=int, metavar="RUNS", default=0,
                   help="cost of serving reinforce's training env from the parent, through a real child")
    p.add_argument("--lookahead", default="0,6", help="with --route: the tree depths to compare (default 0,6)")
    p.add_argument("--device", default="cpu")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.route:
        route(a.route, [int(k) for k in a.lookahead.split(",")])
        return 0
    seeds = range(a.first_seed, a.first_seed + (a.chance or a.seeds))
    import torch
    torch.set_num_threads(1)

    plain_s, base_s = settings_of("reinforce"), settings_of("reinforce_baseline")
    plain = load_module(ROOT / "solutions" / "reinforce.py", "bench_reinforce_ref")
    baseline = load_module(ROOT / "solutions" / "reinforce_baseline.py", "bench_reinforce_baseline_ref")
    print(f"CartPole-v1, {torch.get_num_threads()} torch thread(s), device {a.device}; pass = the learning rules and a "
          f"mean of 100 evaluation episodes >= 475; budget of reinforce_baseline: {base_s.budget} episodes")
    results = {}
    if a.only in (None, "reinforce"):
        results["reinforce"] = (sweep("reinforce (no budget)", plain, seeds, plain_s, verbose=a.verbose,
                                      device=a.device), plain_s)
    if a.only in (None, "reinforce_baseline"):
        results["reinforce_baseline"] = (sweep(f"reinforce_baseline ({base_s.budget}-episode budget)", baseline, seeds,
                                               base_s, verbose=a.verbose, device=a.device), base_s)
    if a.compare:
        capped = TrainingSettings(**{**base_s.__dict__, "budget": None})
        sweep(f"reinforce, max_episodes={base_s.budget}", plain, seeds, capped, {"max_episodes": base_s.budget},
              verbose=a.verbose, device=a.device)
        nobase = load_module(ROOT / "solutions" / "reinforce_baseline.py", "bench_reinforce_nobaseline")
        nobase.baseline_losses = without_baseline(nobase)
        sweep(f"baseline loop, baseline removed ({base_s.budget} budget)", nobase, seeds, base_s, {"value_steps": 0},
              verbose=a.verbose, device=a.device)
    if a.chance:
        for name, (outcomes, s) in results.items():
            print(chance.report(name, sum(not o.passed for o in outcomes), len(outcomes), s.runs, s.retries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
