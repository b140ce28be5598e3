"""Child-side CartPole helpers shared by the ``reinforce`` and ``reinforce_baseline`` probes.

Copied next to ``probes.py`` in the sandboxed child (``child_files``). Holds no
answers: it builds the arguments of ``train``, hands it an env, keeps the
returned policy and turns its actions into plain arrays. The parent validates
everything it gets back.

* :class:`ProxyVectorEnv` looks like gymnasium's vector CartPole-v1 (next-step
  autoreset) but every ``reset``/``step`` is served by the parent through the
  ``env_step`` callback, which counts episodes and refuses steps after the budget.
* :class:`RecordingVectorEnv` wraps a local gymnasium vector env and records
  episode returns (feedback only: the parent never scores them).
* :func:`lock_cartpole` makes gymnasium's own CartPole unusable in this process.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

DEVICE = os.environ.get("GRADER_DEVICE", "cpu")
OBS_DIM, N_ACTIONS = 4, 2
BLOCKED = ("CartPole is not available inside the grader: train on the env passed to train(env, args); "
           "it serves args.episodes training episodes")


# -- spaces without importing gymnasium's env classes ------------------------
def _spaces(num_envs: int) -> tuple[Any, Any, Any, Any]:
    from gymnasium import spaces
    from gymnasium.vector.utils import batch_space

    high = np.array([4.8, np.inf, 0.41887903, np.inf], dtype=np.float32)
    single_obs = spaces.Box(-high, high, dtype=np.float32)
    single_act = spaces.Discrete(N_ACTIONS)
    return single_obs, single_act, batch_space(single_obs, num_envs), batch_space(single_act, num_envs)


class ProxyVectorEnv:
    """A vector CartPole-v1 whose steps the grader serves: ``num_envs`` sub-envs per round trip.

    Same API as ``gymnasium.make_vec("CartPole-v1", num_envs=N)``:
    ``reset(seed=None) -> (obs [N, 4], info)`` and
    ``step(actions [N]) -> (obs, rewards, terminated, truncated, info)`` with
    next-step autoreset. The grader seeds the env itself; ``seed`` is accepted and ignored.
    """

    metadata = {"autoreset_mode": "NextStep"}

    def __init__(self, ctx: Any, num_envs: int) -> None:
        self._ctx = ctx
        self._progress = _Progress(ctx)
        self._finished = 0
        self.num_envs = int(num_envs)
        (self.single_observation_space, self.single_action_space,
         self.observation_space, self.action_space) = _spaces(self.num_envs)

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        reply = self._ctx.callback("env_step", op="reset")
        return reply["obs"], {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        actions = _as_actions(actions, self.num_envs)
        reply = self._ctx.callback("env_step", op="step", actions=actions)
        self._finished += int(np.count_nonzero(np.logical_or(reply["terminated"], reply["truncated"])))
        self._progress.episodes(self._finished)
        return reply["obs"], reply["reward"], reply["terminated"], reply["truncated"], {}

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<ProxyVectorEnv CartPole-v1 num_envs={self.num_envs} (served by the grader)>"


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


class RecordingVectorEnv:
    """A local gymnasium vector CartPole-v1 that notes each finished episode's return (feedback only)."""

    def __init__(self, num_envs: int, ctx: Any = None) -> None:
        import gymnasium as gym

        self.env = gym.make_vec("CartPole-v1", num_envs=int(num_envs), vectorization_mode="vector_entry_point")
        self.num_envs = int(num_envs)
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.metadata = self.env.metadata
        self.returns: list[float] = []
        self.times: list[float] = []
        self._running = np.zeros(self.num_envs)
        self._resetting = np.zeros(self.num_envs, dtype=bool)
        self._t0 = time.monotonic()
        self._progress = _Progress(ctx)

    def reset(self, *, seed: Any = None, options: Any = None) -> tuple[np.ndarray, dict]:
        self._running[:] = 0
        self._resetting[:] = False
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, rewards, terminated, truncated, info = self.env.step(_as_actions(actions, self.num_envs))
        self._running[~self._resetting] += rewards[~self._resetting]
        done = terminated | truncated
        for i in np.flatnonzero(done):
            self.returns.append(float(self._running[i]))
            self.times.append(time.monotonic() - self._t0)
        self._running[done] = 0
        self._resetting = done
        self._progress.episodes(len(self.returns))
        return obs, rewards, terminated, truncated, info

    def close(self) -> None:
        self.env.close()


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


def run_train(sub: Any, ctx: Any, run: str, env: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Call ``train(env, args)``, keep the policy as ``ctx.state[run]``; report only what the parent checks."""
    ctx.state.pop(run, None)
    t0 = time.monotonic()
    policy = sub.train(env, args)
    seconds = time.monotonic() - t0
    if not callable(policy):
        return {"callable": False, "type": f"{type(policy).__module__}.{type(policy).__qualname__}", "seconds": seconds}
    ctx.state[run] = policy
    return {"callable": True, "seconds": seconds}


def act(sub: Any, ctx: Any, run: str, obs: np.ndarray) -> dict[str, Any]:
    """The policy's actions for a batch of observations, as a plain integer array (or what it was instead)."""
    policy = ctx.state.get(run)
    if policy is None:
        return {"error": "no trained policy (train did not finish)"}
    out = policy(np.array(obs, dtype=np.float32))
    if hasattr(out, "detach") and hasattr(out, "cpu"):
        out = out.detach().cpu().numpy()
    if isinstance(out, (list, tuple)):
        try:
            out = np.asarray(out)
        except Exception:  # noqa: BLE001 - ragged or odd contents
            return {"error": "the policy returned a list that is not a flat list of actions"}
    if not isinstance(out, np.ndarray):
        return {"error": f"the policy should return a numpy int64 array of actions, got {type(out).__name__}"}
    if out.dtype.kind not in "biuf":
        return {"error": f"the policy returned an array of dtype {out.dtype}; expected int64 actions"}
    return {"actions": out}
