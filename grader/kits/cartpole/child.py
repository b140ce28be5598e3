"""Child-side CartPole helpers shared by the ``reinforce`` and ``reinforce_baseline`` probes.

Copied next to ``probes.py`` in the sandboxed child (``child_files``). Holds no
answers: it builds the arguments of ``train``, hands it an env, finds the trained
network, moves its weights in and out (``weights_child``) and turns the network's
logits into plain action arrays. The parent validates everything it gets back.

* :class:`ProxyVectorEnv` looks like gymnasium's vector CartPole-v1 (next-step
  autoreset) but every ``reset``/``step`` is served by the parent through the
  ``env_step`` callback, which counts episodes, records the learning curve and,
  under a budget, refuses steps after it (most steps are answered here from the
  successor tree the parent sends, and replayed there).
* :class:`RebuildVectorEnv` is what ``train`` gets when the fresh policy process
  rebuilds the network (``args.episodes = 0``): it resets, and refuses to step.
* :func:`find_network` is the rule by which the grader finds the network in what
  ``train`` returned; :func:`act` plays ``argmax(net(obs))``.
* :func:`lock_cartpole` makes gymnasium's own CartPole unusable in this process.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

# In the child, weights_child is copied next to probes.py; in the parent (benches, tests) it is the kit's module.
try:
    import weights_child
except ImportError:
    from grader.kits.weights import child as weights_child

DEVICE = os.environ.get("GRADER_DEVICE", "cpu")
OBS_DIM, N_ACTIONS = 4, 2
BLOCKED = ("CartPole is not available inside the grader: train on the env passed to train(env, args); "
           "the grader serves its episodes and records your learning curve")


# -- spaces without importing gymnasium's env classes ------------------------
def _spaces(num_envs: int) -> tuple[Any, Any, Any, Any]:
    from gymnasium import spaces
    from gymnasium.vector.utils import batch_space

    high = np.array([4.8, np.inf, 0.41887903, np.inf], dtype=np.float32)
    single_obs = spaces.Box(-high, high, dtype=np.float32)
    single_act = spaces.Discrete(N_ACTIONS)
    return single_obs, single_act, batch_space(single_obs, num_envs), batch_space(single_act, num_envs)


class _Progress:
    """Tells the parent, at most once a second, how many training episodes have finished (its live
    display shows it; nothing of it is scored)."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._last = time.monotonic()

    def episodes(self, n: int) -> None:
        now = time.monotonic()
        if self._ctx is not None and now - self._last >= 1.0:
            self._last = now
            self._ctx.callback("progress", episodes=int(n))


class ProxyVectorEnv:
    """A vector CartPole-v1 whose steps the grader serves: ``num_envs`` sub-envs per round trip.

    Same API as ``gymnasium.make_vec("CartPole-v1", num_envs=N)``:
    ``reset(seed=None) -> (obs [N, 4], info)`` and
    ``step(actions [N]) -> (obs, rewards, terminated, truncated, info)`` with
    next-step autoreset. The grader seeds the env itself; ``seed`` is accepted and ignored.

    Each answer of the grader carries the successor tree of the next few steps
    (every action sequence, per sub-env; grader/kits/cartpole/lookahead.py), so
    ``step`` answers from it while it can and goes back to the grader (with the
    actions taken meanwhile, which the grader replays on its own env) after the
    tree's depth and for the autoreset step after an episode's end. ``reset``
    always goes to the grader. Since only an episode's end can spend the budget,
    the step after the last budget episode is always a round trip, and the
    grader refuses it exactly where it would if every step were one.
    """

    metadata = {"autoreset_mode": "NextStep"}

    def __init__(self, ctx: Any, num_envs: int) -> None:
        self._ctx = ctx
        self._progress = _Progress(ctx)
        self._finished = 0
        self.num_envs = int(num_envs)
        (self.single_observation_space, self.single_action_space,
         self.observation_space, self.action_space) = _spaces(self.num_envs)
        self._rows = np.arange(self.num_envs)
        self._tree: dict[str, np.ndarray] | None = None
        self._levels = 0                                        # the tree's depth
        self._depth = 0                                         # steps answered from it so far
        self._code = np.zeros(self.num_envs, dtype=np.int64)    # their actions, as binary numbers
        self._taken: list[np.ndarray] = []
        self._pending = np.zeros(self.num_envs, dtype=bool)     # sub-envs whose next step is an autoreset

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        reply = self._serve("reset")
        self._pending[:] = False
        return reply["obs"], {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = _as_actions(actions, self.num_envs)
        answer = self._from_tree(actions)
        if answer is None:
            reply = self._serve("step", actions=actions)
            answer = reply["obs"], reply["reward"], reply["terminated"], reply["truncated"]
        obs, reward, terminated, truncated = answer
        self._pending = np.logical_or(terminated, truncated)
        self._finished += int(np.count_nonzero(self._pending))
        self._progress.episodes(self._finished)
        return obs, reward, terminated, truncated, {}

    def _from_tree(self, actions: np.ndarray) -> tuple[np.ndarray, ...] | None:
        """The step answered from the last tree, or None when only the grader can answer it."""
        if self._tree is None or self._depth >= self._levels or self._pending.any():
            return None
        if np.any((actions < 0) | (actions >= N_ACTIONS)):
            return None                                         # the grader says what is wrong with them
        code = 2 * self._code + actions
        at = (1 << (self._depth + 1)) - 2 + code
        answer = tuple(self._tree[key][self._rows, at] for key in ("obs", "reward", "terminated", "truncated"))
        self._depth += 1
        self._code = code
        self._taken.append(actions)
        return answer

    def flush(self) -> None:
        """Report the steps answered from the tree since the last round trip (the grader counts their
        episodes only once it has replayed them): the ``train`` probe calls it when ``train`` returns."""
        if self._taken:
            self._serve("flush")

    def _serve(self, op: str, **data: Any) -> dict[str, Any]:
        """One round trip: the steps taken from the tree, then ``op``; keep the new tree. The steps and
        the tree are spent whatever the answer (a refusal leaves nothing to answer from)."""
        taken, self._taken, self._tree = self._taken, [], None
        if taken:
            data["taken"] = np.stack(taken)
        reply = self._ctx.callback("env_step", op=op, **data)
        self._tree = reply.get("tree")
        self._levels = int(self._tree["obs"].shape[1] + 2).bit_length() - 2 if self._tree is not None else 0
        self._depth = 0
        self._code[:] = 0
        return reply

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ProxyVectorEnv CartPole-v1 num_envs={self.num_envs} (served by the grader)>"


def _as_actions(actions: Any, n: int) -> np.ndarray:
    """Actions as int64 [n] (torch tensors and lists accepted), or a clear ValueError."""
    if hasattr(actions, "detach") and hasattr(actions, "cpu"):
        actions = actions.detach().cpu().numpy()
    arr = np.asarray(actions)
    if arr.shape != (n,):
        raise ValueError(f"env.step expects an array of {n} actions (one per sub-environment), got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"env.step expects integer actions, got dtype {arr.dtype}")
    return arr.astype(np.int64)


# -- gymnasium's own CartPole, switched off ---------------------------------
def lock_cartpole() -> None:
    """Make ``gymnasium.make('CartPole-v1')``, ``make_vec`` and the CartPole classes raise.

    Runs when ``probes.py`` is imported, before the submission is. It closes
    the obvious way around the episode budget. Under namespace isolation the
    training group also hides gymnasium's cartpole source from the child
    (``hide_modules`` in assignment.toml), so ``importlib.reload`` cannot
    bring the simulator back either. Code that re-creates the simulator
    itself (the physics are a few lines) stays a matter for the course's rules.
    """
    import gymnasium

    try:
        from gymnasium.envs.classic_control import cartpole
    except ImportError:  # hidden by the sandbox: nothing left to switch off but the registry
        cartpole = None

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(BLOCKED)

    class Blocked:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError(BLOCKED)

    for module in (cartpole, getattr(gymnasium.envs, "classic_control", None)):
        for name in ("CartPoleEnv", "CartPoleVectorEnv"):
            if hasattr(module, name):
                setattr(module, name, Blocked)
    for env_id, spec in list(gymnasium.envs.registry.items()):
        if "cartpole" in env_id.lower():
            spec.entry_point = refuse
            spec.vector_entry_point = refuse


# -- what the probes call -----------------------------------------------------
NETWORK_RULE = ("train(env, args) must return the trained policy network (a torch.nn.Module mapping float32 "
                "observations [N, 4] to action logits [N, 2]) or an object that holds it as .net (the template's "
                "GreedyPolicy)")
REBUILD_RULE = ("the grader rebuilds your network in a fresh process by calling train(env, args) with "
                "args.episodes = 0 (and args.max_episodes = 0): train must then build the network and return it "
                "without stepping the env")


class RebuildVectorEnv:
    """What ``train`` gets when the fresh policy process rebuilds the network: a vector env that
    ``reset``s to CartPole-like starting states and refuses every ``step`` (no episode is served)."""

    metadata = {"autoreset_mode": "NextStep"}

    def __init__(self, num_envs: int, seed: int) -> None:
        self.num_envs = int(num_envs)
        self._rng = np.random.default_rng(int(seed))
        (self.single_observation_space, self.single_action_space,
         self.observation_space, self.action_space) = _spaces(self.num_envs)

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        return self._rng.uniform(-0.05, 0.05, size=(self.num_envs, OBS_DIM)).astype(np.float32), {}

    def step(self, actions: Any) -> Any:
        raise RuntimeError(REBUILD_RULE)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<RebuildVectorEnv CartPole-v1 num_envs={self.num_envs} (serves no episode)>"


def make_args(sub: Any, seed: int, overrides: dict[str, Any]) -> argparse.Namespace:
    """The template's defaults (``build_parser()``, if it has one), then the grader's settings."""
    args = argparse.Namespace()
    build = getattr(sub, "build_parser", None)
    if callable(build):
        args = build().parse_args([])
    args.seed = int(seed)
    args.device = DEVICE
    if not hasattr(args, "gamma"):
        args.gamma = 0.99
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def find_network(policy: Any) -> Any:
    """The network in what ``train`` returned: the ``torch.nn.Module`` itself, or its ``.net``
    (the template's ``GreedyPolicy``); ``None`` if neither is a module."""
    import torch

    if isinstance(policy, torch.nn.Module):
        return policy
    net = getattr(policy, "net", None)
    return net if isinstance(net, torch.nn.Module) else None


def train(sub: Any, ctx: Any, run: str, seed: int, num_envs: int, episodes: int | None = None,
          overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``train(env, args)`` on the proxy env the parent serves (it counts the episodes, records
    the curve and, with a budget, stops serving after ``episodes``); keep the network as
    ``ctx.state[run]`` and report only what the parent checks."""
    ctx.state.pop(run, None)
    env = ProxyVectorEnv(ctx, num_envs)
    settings = dict(overrides or {})
    if episodes is not None:
        settings["episodes"] = int(episodes)
    args = make_args(sub, seed, settings)
    t0 = time.monotonic()
    try:
        policy = sub.train(env, args)
    finally:
        env.flush()     # the last steps answered in this process count too (also those before an error)
    seconds = time.monotonic() - t0
    net = find_network(policy)
    if net is None:
        return {"network": False, "type": _type_name(policy), "seconds": seconds}
    ctx.state[run] = net
    return {"network": True, "type": _type_name(policy), "seconds": seconds}


def export_policy(sub: Any, ctx: Any, run: str) -> dict[str, Any]:
    """The trained network's ``state_dict`` as data (``weights_child.export_state``)."""
    net = ctx.state.get(run)
    if net is None:
        return {"error": "no trained network (train did not finish)"}
    return weights_child.export_state(net)


def rebuild_policy(sub: Any, ctx: Any, run: str, seed: int, num_envs: int, state: dict[str, Any],
                   overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """In the fresh policy process: build the network with ``train(env, args)``, ``args.episodes = 0``
    and an env that serves no episode, then load the trained state with ``strict=True``. Nothing
    but the trained parameters and buffers comes from the training process."""
    args = make_args(sub, seed, {**(overrides or {}), "episodes": 0, "max_episodes": 0})
    policy = sub.train(RebuildVectorEnv(num_envs, seed), args)
    net = find_network(policy)
    if net is None:
        return {"error": f"with args.episodes = 0, {NETWORK_RULE}; it returned {_type_name(policy)}"}
    problem = weights_child.load_state(net, state, "with args.episodes = 0, train")
    if problem:
        return {"error": problem}
    net.to(DEVICE).eval()
    ctx.state[run] = net
    return {"type": _type_name(net), "parameters": int(sum(p.numel() for p in net.parameters()))}


def act(sub: Any, ctx: Any, run: str, obs: np.ndarray) -> dict[str, Any]:
    """``argmax(net(obs))``, computed here from the rebuilt network (a policy object's own
    ``__call__`` plays no part), as a plain integer array, or what the network returned instead."""
    import torch

    net = ctx.state.get(run)
    if net is None:
        return {"error": "no rebuilt network for this run"}
    dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()), torch.float32)
    with torch.no_grad():
        logits = net(torch.as_tensor(np.asarray(obs, dtype=np.float32), device=DEVICE).to(dtype))
    n = len(obs)
    if not isinstance(logits, torch.Tensor):
        return {"error": f"the network returned {_type_name(logits)}, expected a tensor of action logits [{n}, 2]"}
    if tuple(logits.shape) != (n, N_ACTIONS):
        return {"error": f"the network returned logits of shape {tuple(logits.shape)} for {n} observations, "
                         f"expected [{n}, {N_ACTIONS}] (one logit per action)"}
    if not logits.is_floating_point():
        return {"error": f"the network returned a {str(logits.dtype).replace('torch.', '')} tensor, expected float logits"}
    if not bool(torch.isfinite(logits).all()):
        return {"error": "the network's logits contain NaN or infinite values"}
    return {"actions": logits.argmax(dim=-1).to("cpu", torch.int64).numpy()}
