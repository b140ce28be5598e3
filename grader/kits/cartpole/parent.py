"""Parent-side CartPole machinery shared by the RL suites (``reinforce``, ``reinforce_baseline``).

Everything that decides a score runs here, in the trusted parent:

* :func:`evaluate_policy` plays evaluation episodes on a gymnasium vector env
  the parent owns, with seeds the child never sees; the child's policy only
  turns observation batches into action batches (``ctx.call("act", ...)``).
* :class:`TrainingEnvServer` is the parent's end of the training-env proxy: the
  child's ``train`` steps a vector env whose steps are served here through the
  ``env_step`` callback, so the parent counts training episodes and refuses
  steps once the budget is spent.
* :func:`learning_summary` turns training-episode returns into the one-line
  feedback ("reached 475 after 212 episodes, 3.1 s").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array
from grader.sandbox import CallbackAbort

ENV_ID = "CartPole-v1"
N_ACTIONS = 2


def make_vector_env(num_envs: int) -> Any:
    """gymnasium's numpy-vectorized CartPole-v1 (next-step autoreset, 500-step episodes)."""
    import gymnasium as gym

    return gym.make_vec(ENV_ID, num_envs=int(num_envs), vectorization_mode="vector_entry_point")


def validate_actions(reply: Any, n: int) -> np.ndarray:
    """The child's actions for ``n`` observations, or a CheckFailed that says what was wrong."""
    if not isinstance(reply, dict):
        raise CheckFailed("the policy's reply could not be read")
    if "error" in reply:
        raise CheckFailed(str(reply["error"])[:500])
    actions = as_array(reply.get("actions"), "the policy's actions", shape=(n,), kind="iu")
    bad = (actions < 0) | (actions >= N_ACTIONS)
    if bad.any():
        raise CheckFailed(f"the policy returned action {int(actions[bad][0])}; CartPole's actions are 0 and 1")
    return actions.astype(np.int64)


def evaluate_policy(ctx: GroupContext, run: str, episodes: int, seed: int, timeout: float) -> np.ndarray:
    """Returns of ``episodes`` evaluation episodes, one per sub-env of a parent-owned vector env.

    Each round trip sends the observations of the episodes still running
    (float32 ``[n, 4]``) to the child's policy ``run`` and gets ``n`` actions back.
    """
    env = make_vector_env(episodes)
    try:
        obs, _ = env.reset(seed=int(seed))
        totals = np.zeros(episodes)
        running = np.ones(episodes, dtype=bool)
        actions = np.zeros(episodes, dtype=np.int64)
        deadline = time.monotonic() + timeout
        while running.any():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailed(f"evaluation took longer than {timeout:g} s: the policy is too slow")
            active = np.flatnonzero(running)
            reply = ctx.call("act", run=run, obs=np.ascontiguousarray(obs[active], dtype=np.float32), timeout=remaining)
            actions[:] = 0
            actions[active] = validate_actions(reply, len(active))
            obs, rewards, terminated, truncated, _ = env.step(actions)
            totals += rewards * running
            running &= ~(terminated | truncated)
        return totals
    finally:
        env.close()


@dataclass
class TrainingEnvServer:
    """Serves a child's training env from the parent and counts its episodes.

    An episode counts when it ends (terminated or truncated) and when a
    ``reset`` cuts it short after at least one step, so restarting episodes
    early cannot stretch the budget. Once ``budget`` episodes have been
    counted, every further ``step`` or ``reset`` is refused with
    :class:`CallbackAbort` (the child's ``step`` raises and ``train`` ends).
    ``budget=None`` means no limit (only time bounds training).
    """

    num_envs: int
    seed: int
    budget: int | None = None
    returns: list[float] = field(default_factory=list)     # of finished episodes, in order
    times: list[float] = field(default_factory=list)       # seconds since the first reset, at each finish
    lengths: list[int] = field(default_factory=list)
    cut: int = 0                                            # episodes cut short by reset()
    steps: int = 0

    def __post_init__(self) -> None:
        self._env = make_vector_env(self.num_envs)
        self._running = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, dtype=np.int64)
        self._resetting = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._t0 = 0.0
        self._resets = 0

    @property
    def episodes(self) -> int:
        return len(self.returns) + self.cut

    def close(self) -> None:
        self._env.close()

    def handle(self, data: Any) -> dict[str, Any]:
        """The ``env_step`` callback: ``{"op": "reset"}`` or ``{"op": "step", "actions": int [N]}``."""
        if not isinstance(data, dict):
            raise CallbackAbort("malformed env request")
        if self.budget is not None and self.episodes >= self.budget:
            raise CallbackAbort(f"the training budget of {self.budget} episodes is spent: stop stepping the env "
                                f"after args.episodes episodes and return your policy")
        op = data.get("op")
        if op == "reset":
            return self._reset()
        if op == "step":
            if not self._started:
                raise CallbackAbort("call env.reset() before env.step()")
            return self._step(data.get("actions"))
        raise CallbackAbort(f"unknown env request {op!r}")

    def _reset(self) -> dict[str, Any]:
        if not self._started:
            self._started, self._t0 = True, time.monotonic()
        else:
            self.cut += int(np.count_nonzero((self._length > 0) & ~self._resetting))
        # The grader seeds the training env itself (a fresh sub-seed per reset).
        obs, _ = self._env.reset(seed=int(np.random.SeedSequence([self.seed, self._resets]).generate_state(1)[0]))
        self._resets += 1
        self._running[:] = 0
        self._length[:] = 0
        self._resetting[:] = False
        return {"obs": obs.astype(np.float32)}

    def _step(self, actions: Any) -> dict[str, Any]:
        if not isinstance(actions, np.ndarray) or actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise CallbackAbort(f"env.step expects {self.num_envs} integer actions (one per sub-environment)")
        if np.any((actions < 0) | (actions >= N_ACTIONS)):
            raise CallbackAbort("CartPole's actions are 0 and 1")
        obs, rewards, terminated, truncated, _ = self._env.step(actions.astype(np.int64))
        self.steps += 1
        live = ~self._resetting
        self._running[live] += rewards[live]
        self._length[live] += 1
        done = terminated | truncated
        now = time.monotonic() - self._t0
        for i in np.flatnonzero(done):
            self.returns.append(float(self._running[i]))
            self.lengths.append(int(self._length[i]))
            self.times.append(now)
        self._running[done] = 0
        self._length[done] = 0
        self._resetting = done
        return {"obs": obs.astype(np.float32), "reward": rewards.astype(np.float64),
                "terminated": terminated.astype(bool), "truncated": truncated.astype(bool)}


def reached(returns: np.ndarray, target: float, window: int) -> int | None:
    """Index (1-based count of episodes) at which the mean of the last ``window`` returns first reached ``target``."""
    if len(returns) < window:
        return None
    means = np.convolve(returns, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(means >= target)
    return int(hits[0] + window) if hits.size else None


def learning_summary(returns: Any, times: Any, target: float = 475.0, window: int = 20) -> str:
    """"reached 475 after 212 episodes, 3.1 s" or what the training got to instead."""
    r = np.asarray(returns, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if r.size == 0:
        return "no training episode finished"
    hit = reached(r, target, window)
    if hit is not None:
        when = f", {t[hit - 1]:.1f} s" if t.size >= hit else ""
        return f"reached {target:g} (mean of {window} episodes) after {hit} episodes{when}"
    best = np.convolve(r, np.ones(min(window, r.size)) / min(window, r.size), mode="valid").max()
    # No "(< target)": the training curve explores; only the evaluation decides, and a run that passes
    # must not read as a failure.
    return f"{r.size} training episodes; best mean of {min(window, r.size)} consecutive episodes {best:.1f}"


def budget_used(episodes: int, budget: int) -> str:
    """The budget as a student should read it: never "351 of 350" (parallel environments can finish
    several episodes on the training's last step; the grader stops serving after it)."""
    if episodes < budget:
        return f"{episodes} of the {budget} budget episodes used"
    extra = episodes - budget
    return (f"the {budget}-episode budget used up"
            + (f" ({extra} more finished on the same last step)" if extra else ""))


def curve(returns: Any, points: int = 200) -> list[float]:
    """At most ``points`` episode returns (every k-th), small enough for results.json."""
    r = np.asarray(returns, dtype=np.float64)
    step = max(1, int(np.ceil(r.size / points)))
    return np.round(r[::step], 1).tolist()


def _seed(ctx: GroupContext) -> int:
    return int(ctx.rng.integers(2**31 - 1))


def training_group(ctx: GroupContext, budget: int | None, runs: int | None = None) -> None:
    """The threshold group of both RL assignments: ``runs`` training runs, one check (and equal points) each.

    ``budget=None``: ``train`` gets a local vector env in the child and the
    learning curve is what the child recorded (feedback only). Otherwise the
    env is the parent-served proxy, limited to ``budget`` episodes, and the
    curve is the parent's own count.
    """
    p = ctx.params
    runs = int(runs if runs is not None else p.get("runs", 2))
    num_envs, threshold = int(p.get("num_envs", 16)), float(p.get("threshold", 475.0))
    ctx.extra("threshold", threshold)  # drawn as a line on the learning curves of the HTML report
    train_seconds, eval_seconds = float(p.get("train_seconds", 120)), float(p.get("eval_seconds", 30))
    eval_episodes = int(p.get("eval_episodes", 100))
    curves, evaluations = [], []
    for k in range(runs):
        run = f"run{k + 1}"
        train_seed, env_seed, eval_seed = _seed(ctx), _seed(ctx), _seed(ctx)
        what = f"training run {k + 1}: mean return over {eval_episodes} evaluation episodes ≥ {threshold:g}"
        if budget is not None:
            what = (f"training run {k + 1} ({budget}-episode budget): mean return over {eval_episodes} evaluation "
                    f"episodes ≥ {threshold:g}")
        with ctx.check(what):
            server = TrainingEnvServer(num_envs, env_seed, budget) if budget is not None else None
            try:
                if server is not None:
                    reply = ctx.call("train", run=run, seed=train_seed, num_envs=num_envs, episodes=budget,
                                     timeout=train_seconds, handlers={"env_step": server.handle})
                    returns, times = np.asarray(server.returns), np.asarray(server.times)
                else:
                    reply = ctx.call("train", run=run, seed=train_seed, num_envs=num_envs, timeout=train_seconds)
                    returns = _floats(reply.get("returns") if isinstance(reply, dict) else None)
                    times = _floats(reply.get("times") if isinstance(reply, dict) else None)
            except Exception:
                if server is not None and server.returns:
                    ctx.note(f"run {k + 1}: {learning_summary(server.returns, server.times, threshold)} before it failed")
                raise
            finally:
                if server is not None:
                    server.close()
            if not isinstance(reply, dict) or not reply.get("callable"):
                got = reply.get("type") if isinstance(reply, dict) else "nothing readable"
                raise CheckFailed(f"train(env, args) must return a policy: a callable mapping float32 observations "
                                  f"[N, 4] to int64 actions [N]; it returned {got}")
            seconds = float(reply["seconds"]) if isinstance(reply.get("seconds"), (int, float)) else float("nan")
            totals = evaluate_policy(ctx, run, eval_episodes, eval_seed, eval_seconds)
            mean, std = float(totals.mean()), float(totals.std())
            used = f"{budget_used(server.episodes, budget)}, " if server is not None else ""
            ctx.note(f"run {k + 1}: {learning_summary(returns, times, threshold)}; {used}trained in {seconds:.1f} s; "
                     f"evaluation {mean:.1f} ± {std:.1f} over {eval_episodes} episodes")
            curves.append(curve(returns))
            evaluations.append({"mean": round(mean, 2), "std": round(std, 2), "train_seconds": round(seconds, 2),
                                "training_episodes": int(server.episodes if server is not None else returns.size)})
            ctx.extra("learning_curves", curves)
            ctx.extra("evaluations", evaluations)
            ctx.leaderboard(f"evaluation return (run {k + 1})", mean)
            ctx.require(mean >= threshold, f"mean evaluation return {mean:.1f} ± {std:.1f} is below {threshold:g}")


def _floats(value: Any) -> np.ndarray:
    """Child-reported feedback numbers (never scored): a 1-D float array, or empty if unusable."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iuf":
        return value.astype(np.float64)
    return np.zeros(0)
