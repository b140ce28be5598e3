"""Parent-side CartPole machinery shared by the RL suites (``reinforce``, ``reinforce_baseline``).

Everything that decides a score runs here, in the trusted parent:

* :func:`evaluate_policy` plays evaluation episodes on a gymnasium vector env
  the parent owns, with seeds the child never sees; the child only turns
  observation batches into the argmax actions of the rebuilt network
  (``ctx.call("act", ...)``).
* :class:`TrainingEnvServer` is the parent's end of the training-env proxy: the
  child's ``train`` steps a vector env whose steps are served here through the
  ``env_step`` callback (several per round trip: the child answers from the
  successor tree of :mod:`.lookahead`, and the steps are replayed here), so the
  parent counts training episodes and refuses steps once the budget is spent.
* :func:`learning_summary` turns training-episode returns into the one-line
  feedback ("reached 475 after 212 episodes, 3.1 s").
* :func:`training_group` is the threshold group itself: each run trained in a
  child of its own, the learning rules (:func:`learning_problem`) on the curve
  recorded here, the network rebuilt from its weights in a fresh policy child
  and evaluated, a run that only missed the bound retrained.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader.core.suite import Call, CheckFailed, GroupContext, as_array, explain_submission_error
from grader.kits.cartpole.child import NETWORK_RULE
from grader.kits.cartpole.lookahead import SuccessorTree, node_index
from grader.kits.weights.parent import check_state
from grader.sandbox import CallbackAbort, ChildFailure, SubmissionError

ENV_ID = "CartPole-v1"
N_ACTIONS = 2
# Replayed steps per training run that are stepped with gymnasium's own env and compared with the
# tree sent (a guard on the tree's arithmetic, which tests check in depth); later ones are read from
# the tree's nodes (SuccessorTree.enter), which holds what those steps return.
VERIFIED_STEPS = 64


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


def evaluate_policy(ctx: GroupContext, run: str, episodes: int, seed: int, timeout: float,
                    endpoint: str = "main") -> np.ndarray:
    """Returns of ``episodes`` evaluation episodes, one per sub-env of a parent-owned vector env.

    Each round trip sends the observations of the episodes still running
    (float32 ``[n, 4]``) to the network ``run`` of the child ``endpoint`` and gets
    ``n`` actions (``argmax`` of its logits) back.
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
            reply = ctx.call("act", endpoint=endpoint, run=run, obs=np.ascontiguousarray(obs[active], dtype=np.float32),
                             timeout=remaining)
            actions[:] = 0
            actions[active] = validate_actions(reply, len(active))
            obs, rewards, terminated, truncated, _ = env.step(actions)
            totals += rewards * running
            running &= ~(terminated | truncated)
        return totals
    finally:
        env.close()


# Depth of the successor tree sent with each training-env answer (grader/kits/cartpole/lookahead.py):
# the child answers up to this many steps itself between round trips. Measured with
# bench/bench_reinforce.py --route (README "Figures"); 0 serves every step by a round trip.
LOOKAHEAD = 6


@dataclass
class TrainingEnvServer:
    """Serves a child's training env from the parent and counts its episodes.

    An episode counts when it ends (terminated or truncated) and when a
    ``reset`` cuts it short after at least one step, so restarting episodes
    early cannot stretch the budget. Once ``budget`` episodes have been
    counted, every further ``step`` or ``reset`` is refused with
    :class:`CallbackAbort` (the child's ``step`` raises and ``train`` ends).
    ``budget=None`` means no limit (only time bounds training).

    With ``lookahead`` k > 0 each answer also carries the successor tree of
    the next k steps (:class:`SuccessorTree`); the child's proxy answers steps
    from it and reports the actions it took (``taken``) with its next request.
    Those are replayed here, on this env, one step at a time exactly as if each
    had come in its own request: the budget is checked before each, the
    episodes and the curve come from the replay (the first ``VERIFIED_STEPS``
    stepped with gymnasium and compared with the tree, the rest put in place
    from the tree's own nodes, which this parent computed), and a step the tree could not
    have answered (beyond its depth, or the autoreset after an episode's end)
    is refused. Only an episode's end spends the budget and the step after an
    end is never in the tree, so the refusal comes at the same step as with a
    round trip per step. ``trips`` counts the round trips, ``steps`` the steps
    served.
    """

    num_envs: int
    seed: int
    budget: int | None = None
    lookahead: int = LOOKAHEAD
    returns: list[float] = field(default_factory=list)     # of finished episodes, in order
    times: list[float] = field(default_factory=list)       # seconds since the first reset, at each finish
    lengths: list[int] = field(default_factory=list)
    cut: int = 0                                            # episodes cut short by reset()
    steps: int = 0
    trips: int = 0

    def __post_init__(self) -> None:
        self._env = make_vector_env(self.num_envs)
        self._running = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, dtype=np.int64)
        self._resetting = np.zeros(self.num_envs, dtype=bool)
        self._started = False
        self._t0 = 0.0
        self._resets = 0
        self._grower = SuccessorTree(self.num_envs, self.lookahead) if self.lookahead > 0 else None
        self._tree: dict[str, np.ndarray] | None = None     # the last tree sent, and where the child is in it
        self._verify = VERIFIED_STEPS
        self._depth = 0
        self._code = np.zeros(self.num_envs, dtype=np.int64)

    @property
    def episodes(self) -> int:
        return len(self.returns) + self.cut

    def close(self) -> None:
        self._env.close()

    def handle(self, data: Any) -> dict[str, Any]:
        """The ``env_step`` callback: ``{"op": "reset"}`` or ``{"op": "step", "actions": int [N]}``, each
        with ``"taken": int [m, N]``, the actions of the m steps the child answered from the last tree,
        or ``{"op": "flush", "taken": ...}``: only those (``train`` returned)."""
        if not isinstance(data, dict):
            raise CallbackAbort("malformed env request")
        self.trips += 1
        self._replay(data.get("taken"))
        op = data.get("op")
        if op == "flush":
            self._tree = None           # spent: nothing more is answered from it
            return {}
        self._check_budget()
        if op == "reset":
            return self._answer(self._reset())
        if op == "step":
            if not self._started:
                raise CallbackAbort("call env.reset() before env.step()")
            return self._answer(self._step(data.get("actions")))
        raise CallbackAbort(f"unknown env request {op!r}")

    def _check_budget(self) -> None:
        if self.budget is not None and self.episodes >= self.budget:
            raise CallbackAbort(f"the training budget of {self.budget} episodes is spent: stop stepping the env "
                                f"after args.episodes episodes and return your policy")

    def _replay(self, taken: Any) -> None:
        """Serve, in order, the steps the child answered from the last tree (see the class docstring)."""
        if taken is None:
            return
        if not isinstance(taken, np.ndarray) or taken.ndim != 2 or taken.shape[1] != self.num_envs \
                or taken.dtype.kind not in "iu":
            raise CallbackAbort(f"malformed env request: the steps taken must be integer actions [steps, {self.num_envs}]")
        if np.any((taken < 0) | (taken >= N_ACTIONS)):
            raise CallbackAbort("CartPole's actions are 0 and 1")
        verified = min(self._verify, len(taken))
        for row in taken[:verified]:    # the first steps of a run: gymnasium's own step, compared with the tree
            self._verify -= 1
            self._check_budget()
            if self._tree is None or self._depth >= SuccessorTree.depth_of(self._tree) or self._resetting.any():
                raise CallbackAbort(UNSERVED.format(depth=self.lookahead))
            self._depth += 1
            self._code = 2 * self._code + row
            expected = SuccessorTree.node(self._tree, self._depth, self._code)
            reply = self._step(row)
            got = (reply["obs"], reply["reward"], reply["terminated"], reply["truncated"])
            if not all(np.array_equal(a, b) for a, b in zip(expected, got)):
                # The tree is computed by the env's own arithmetic: the grader's fault, never the child's.
                raise RuntimeError("grader error: the successor tree sent to the training env differs from the "
                                   f"env after {self._depth} steps (gymnasium's CartPole arithmetic changed?)")
        if len(taken) > verified:
            self._replay_from_tree(taken[verified:])

    def _replay_from_tree(self, rows: np.ndarray) -> None:
        """Serve ``rows`` (actions [m, N]) from the tree's own nodes, all at once, with the same outcome
        (episodes, curve, refusals) as one step at a time. Only the last step answered can end an
        episode (the step after an end is the autoreset, never in the tree), so the budget can only
        be spent there and the steps before it just add to every sub-env's return and length."""
        self._check_budget()
        tree = self._tree
        depth0 = self._depth
        answerable = 0 if tree is None or self._resetting.any() else min(len(rows), SuccessorTree.depth_of(tree) - depth0)
        codes, code = [], self._code
        for row in rows[:answerable]:
            code = 2 * code + row
            codes.append(code)
        take = answerable
        if answerable:
            envs = np.arange(self.num_envs)
            at = node_index(depth0 + 1 + np.arange(answerable)[:, None], np.stack(codes))     # [steps, N]
            ended = tree["terminated"][envs, at] | tree["truncated"][envs, at]
            first_end = np.flatnonzero(ended.any(axis=1))
            take = int(first_end[0]) + 1 if first_end.size else answerable
            rewards = tree["reward"][envs, at[:take]]
            self.steps += take
            for k in range(take):           # step by step, as _record adds them
                self._running += rewards[k]
            self._length += take
            self._depth, self._code = depth0 + take, codes[take - 1]
            done = ended[take - 1]
            self._grower.enter(self._env.unwrapped, self._depth, self._code, done)
            self._finish(done)
        if take < len(rows):                # a step the tree could not have answered
            self._check_budget()
            raise CallbackAbort(UNSERVED.format(depth=self.lookahead))

    def _answer(self, reply: dict[str, Any]) -> dict[str, Any]:
        """The served step or reset, with the tree of the next steps. None when the next step is the
        parent's whatever the actions: an autoreset is due (an episode ended on this step), or the
        budget is spent."""
        self._tree, self._depth = None, 0
        self._code[:] = 0
        if self._grower is None or self._resetting.any() or (self.budget is not None and self.episodes >= self.budget):
            return reply
        self._tree = self._grower.grow(self._env.unwrapped)
        reply["tree"] = self._tree
        return reply

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
        return self._record(obs, rewards, terminated, truncated)

    def _record(self, obs: np.ndarray, rewards: np.ndarray, terminated: np.ndarray,
                truncated: np.ndarray) -> dict[str, Any]:
        """Count a served step: returns and lengths of the episodes it ends, and the reply."""
        self.steps += 1
        live = ~self._resetting
        self._running[live] += rewards[live]
        self._length[live] += 1
        self._finish(terminated | truncated)
        return {"obs": obs.astype(np.float32), "reward": rewards.astype(np.float64),
                "terminated": terminated.astype(bool), "truncated": truncated.astype(bool)}

    def _finish(self, done: np.ndarray) -> None:
        """The episodes that ``done`` ends: their returns, lengths and times; their sub-envs reset next."""
        now = time.monotonic() - self._t0
        for i in np.flatnonzero(done):
            self.returns.append(float(self._running[i]))
            self.lengths.append(int(self._length[i]))
            self.times.append(now)
        self._running[done] = 0
        self._length[done] = 0
        self._resetting = done


UNSERVED = ("the training env was told of steps it could not have answered: the env passed to train(env, args) "
            "answers at most {depth} steps between two requests to the grader, and never the step after an "
            "episode's end. Train on that env as it is; do not modify or bypass it")


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


@dataclass(frozen=True)
class TrainingSettings:
    """The ``[groups.training]`` params of an RL assignment (see its assignment.toml)."""
    budget: int | None              # episodes the proxy serves per run (None: only time bounds training)
    runs: int = 2
    num_envs: int = 16
    threshold: float = 475.0        # the goal: mean evaluation return, and the curve's mean over `window`
    window: int = 20
    first_episodes: int = 20        # a run whose first episodes already average >= threshold did not learn
    min_episodes: int = 0           # a run that stops before this must have reached the goal on its curve
    retries: int = 1                # a run that only missed the bound is retrained at most this many times
    train_seconds: float = 120.0
    eval_seconds: float = 30.0
    eval_episodes: int = 100
    lookahead: int = LOOKAHEAD      # depth of the successor tree sent with each training-env answer

    @classmethod
    def from_params(cls, p: Any, budget: int | None) -> TrainingSettings:
        return cls(budget=budget, runs=int(p.get("runs", 2)), num_envs=int(p.get("num_envs", 16)),
                   threshold=float(p.get("threshold", 475.0)), window=int(p.get("window", 20)),
                   first_episodes=int(p.get("first_episodes", 20)), min_episodes=int(p.get("min_episodes", 0)),
                   retries=int(p.get("retries", 1)), train_seconds=float(p.get("train_seconds", 120)),
                   eval_seconds=float(p.get("eval_seconds", 30)), eval_episodes=int(p.get("eval_episodes", 100)),
                   lookahead=int(p.get("lookahead", LOOKAHEAD)))


@dataclass
class Attempt:
    """One training of one run: trained in a child of its own on the parent-served env, then
    rebuilt from its weights and evaluated in a fresh policy child."""
    run: int                        # 1-based run number
    retry: int                      # 0 for the first training, k for the k-th retraining on fresh seeds
    train_seed: int
    rebuild_seed: int
    eval_seed: int
    server: TrainingEnvServer
    seconds: float = float("nan")
    state: dict[str, list] | None = None        # the exported weights, once training passed the rules
    evaluation: np.ndarray | None = None
    error: Exception | None = None              # why this attempt failed: raised in its run's check

    @property
    def key(self) -> str:
        return f"run{self.run}" + (f"-retry{self.retry}" if self.retry else "")

    @property
    def label(self) -> str:
        return f"run {self.run}" + (f" (retraining {self.retry})" if self.retry else "")

    def missed_bound(self, threshold: float) -> bool:
        """Trained by the rules, rebuilt, evaluated, and only the evaluation fell short: what chance
        does to a correct submission now and then (README); a rule broken or an error is final."""
        return self.error is None and self.evaluation is not None and float(self.evaluation.mean()) < threshold


def learning_problem(returns: Any, episodes: int, s: TrainingSettings) -> str:
    """Why the recorded training does not show learning ("" if it does).

    Two rules, calibrated on the references (README): a policy whose first
    ``first_episodes`` training episodes already reach the goal did not learn
    it on this env; a run that stops before ``min_episodes`` episodes must have
    reached the goal along its curve (the learning the grader saw).
    """
    r = np.asarray(returns, dtype=np.float64)
    k = s.first_episodes
    if k and r.size >= k and r[:k].mean() >= s.threshold:
        return (f"the policy balanced the pole before it learnt anything: its first {k} training episodes averaged "
                f"{r[:k].mean():.1f} (≥ {s.threshold:g}). The grader scores a network that learns on the env it is "
                "given, starting untrained")
    if episodes < s.min_episodes and reached(r, s.threshold, s.window) is None:
        return (f"train returned after {episodes} training episode{'s' if episodes != 1 else ''} without reaching "
                f"{s.threshold:g} (mean of {s.window} consecutive training episodes) on the env it was given: a run "
                f"must either reach that on its learning curve or train for at least {s.min_episodes} episodes")
    return ""


def training_group(ctx: GroupContext, budget: int | None, runs: int | None = None, retries: int | None = None) -> None:
    """The threshold group of both RL assignments: ``runs`` training runs, one check (and equal points) each.

    Every run trains in a child process of its own on the proxy env this parent
    serves (:class:`TrainingEnvServer`: it counts the episodes, records the
    learning curve and, with a ``budget``, refuses steps once it is spent);
    the runs train at the same time (``ctx.call_together``).
    The recorded curve must show learning (:func:`learning_problem`). The
    trained network's ``state_dict`` is then exported as data and a fresh
    policy child rebuilds the network from it (``train`` with
    ``args.episodes = 0``, then ``load_state_dict``): nothing but parameters
    and buffers survives training, and the evaluation plays
    ``argmax(net(obs))`` on hidden seeds in this parent. A run that only
    missed the evaluation bound is retrained on fresh seeds, at most
    ``retries`` times, so that chance alone almost never costs a correct
    submission its points (README: the measured failure rate and its bound).
    ``runs`` and ``retries`` override the params (the public check: one run).
    """
    s = TrainingSettings.from_params(ctx.params, budget)
    s = dataclasses.replace(s, runs=s.runs if runs is None else runs, retries=s.retries if retries is None else retries)
    ctx.extra("threshold", s.threshold)  # drawn as a line on the learning curves of the HTML report
    attempts: list[list[Attempt]] = [[] for _ in range(s.runs)]      # per run, in order
    pending = list(range(s.runs))
    for retry in range(1 + s.retries):
        batch = []
        for i in pending:
            attempt = Attempt(i + 1, retry, _seed(ctx), _seed(ctx), _seed(ctx),
                              TrainingEnvServer(s.num_envs, _seed(ctx), budget, s.lookahead))
            attempts[i].append(attempt)
            batch.append(attempt)
        for _ in range(len(batch) + 1):
            ctx.prestart()      # the runs' children and the policy's start up (the policy's while the runs train)
        _train(ctx, s, batch)
        _evaluate(ctx, s, [a for a in batch if a.state is not None], "policy" + (f" (retraining {retry})" if retry else ""))
        pending = [i for i in pending if attempts[i][-1].missed_bound(s.threshold)]
        if not pending or ctx.time_left < s.train_seconds:
            break
    _report(ctx, s, attempts)


def _train(ctx: GroupContext, s: TrainingSettings, batch: list[Attempt]) -> None:
    """Train the runs of ``batch`` at once, each in a child of its own (``ctx.call_together``: runs that
    gain nothing from each other, each scored on its own curve and its own network, use the cores
    the grading has); keep each one's exported weights, or its error."""
    endpoint = {a.key: f"{a.label} training" for a in batch}
    replies = ctx.call_together([Call(endpoint[a.key], "train", {"run": a.key, "seed": a.train_seed, "num_envs": s.num_envs,
                                                                  "episodes": s.budget},
                                      timeout=s.train_seconds, handlers={"env_step": a.server.handle})
                                 for a in batch])
    trained = []
    for attempt, reply in zip(batch, replies):
        server = attempt.server
        server.close()
        try:
            if isinstance(reply, (SubmissionError, ChildFailure)):
                if server.returns:
                    ctx.note(f"{attempt.label}: {learning_summary(server.returns, server.times, s.threshold, s.window)} "
                             "before it failed")
                raise reply
            if not isinstance(reply, dict) or not reply.get("network"):
                got = reply.get("type") if isinstance(reply, dict) else "nothing readable"
                raise CheckFailed(f"{NETWORK_RULE}; it returned {got}")
            attempt.seconds = float(reply["seconds"]) if isinstance(reply.get("seconds"), (int, float)) else float("nan")
            problem = learning_problem(server.returns, server.episodes, s)
            if problem:
                ctx.note(f"{attempt.label}: {_training_summary(attempt, s)}")
                raise CheckFailed(problem)
            trained.append(attempt)
        except (CheckFailed, SubmissionError, ChildFailure) as exc:
            attempt.error = exc
    states = ctx.call_together([Call(endpoint[a.key], "export_policy", {"run": a.key}) for a in trained])
    for attempt, state in zip(trained, states):
        try:
            if isinstance(state, (SubmissionError, ChildFailure)):
                raise state
            attempt.state = check_state(state, "the trained network")
        except (CheckFailed, SubmissionError, ChildFailure) as exc:
            attempt.error = exc


def _evaluate(ctx: GroupContext, s: TrainingSettings, attempts: list[Attempt], endpoint: str) -> None:
    """Rebuild each attempt's network from its weights in one fresh policy child and evaluate it."""
    for attempt in attempts:
        try:
            try:
                rebuilt = ctx.call("rebuild_policy", endpoint=endpoint, run=attempt.key, seed=attempt.rebuild_seed,
                                   num_envs=s.num_envs, state=attempt.state, timeout=s.eval_seconds)
            except SubmissionError as exc:
                raise CheckFailed("rebuilding the trained network in a fresh process (train(env, args) with "
                                  "args.episodes = 0, then load_state_dict): " + explain_submission_error(exc)) from None
            if not isinstance(rebuilt, dict) or "error" in rebuilt:
                raise CheckFailed(str(rebuilt.get("error")) if isinstance(rebuilt, dict) else
                                  "the policy process could not rebuild the trained network")
            attempt.evaluation = evaluate_policy(ctx, attempt.key, s.eval_episodes, attempt.eval_seed, s.eval_seconds,
                                                 endpoint=endpoint)
        except (CheckFailed, SubmissionError, ChildFailure) as exc:
            attempt.error = exc


def _training_summary(attempt: Attempt, s: TrainingSettings) -> str:
    server = attempt.server
    used = budget_used(server.episodes, s.budget) if s.budget is not None else f"{server.episodes} episodes"
    return (f"{learning_summary(server.returns, server.times, s.threshold, s.window)}; {used}, "
            f"trained in {attempt.seconds:.1f} s")


def _report(ctx: GroupContext, s: TrainingSettings, runs: list[list[Attempt]]) -> None:
    """One check per run, decided by its last attempt; notes, curves and evaluations for the feedback."""
    curves, evaluations = [], []
    for i, attempts in enumerate(runs):
        what = f"training run {i + 1}: mean return over {s.eval_episodes} evaluation episodes ≥ {s.threshold:g}"
        if s.budget is not None:
            what = (f"training run {i + 1} ({s.budget}-episode budget): mean return over {s.eval_episodes} evaluation "
                    f"episodes ≥ {s.threshold:g}")
        last = attempts[-1]
        with ctx.check(what):
            for attempt in attempts:
                if attempt.evaluation is not None:
                    e = attempt.evaluation
                    again = ": below the bound, retrained on fresh seeds" if attempt is not last else ""
                    ctx.note(f"{attempt.label}: {_training_summary(attempt, s)}; evaluation {e.mean():.1f} ± {e.std():.1f} "
                             f"over {s.eval_episodes} episodes{again}")
            curves.append(curve(last.server.returns))
            if last.evaluation is not None:
                mean, std = float(last.evaluation.mean()), float(last.evaluation.std())
                evaluations.append({"mean": round(mean, 2), "std": round(std, 2),
                                    "train_seconds": round(last.seconds, 2) if np.isfinite(last.seconds) else None,
                                    "training_episodes": int(last.server.episodes), "attempts": len(attempts)})
                ctx.leaderboard(f"evaluation return (run {i + 1})", mean)
            ctx.extra("learning_curves", curves)
            ctx.extra("evaluations", evaluations)
            if last.error is not None:
                raise last.error
            mean = float(last.evaluation.mean())
            ctx.require(mean >= s.threshold, f"mean evaluation return {mean:.1f} ± {last.evaluation.std():.1f} is below "
                                             f"{s.threshold:g}" + (" (also after retraining on fresh seeds)"
                                                                   if len(attempts) > 1 else ""))
