"""The training env's successor tree (grader/kits/cartpole/lookahead.py): the child's proxy answers
most steps from it, and what it answers, what the parent counts and records, and where the budget
refuses must be exactly what a round trip per step gives, i.e. gymnasium's vector CartPole.

Both ends run in this process, every message through the wire's encoding (as between the parent
and a sandboxed child); the proxy runs end to end in a real child in test_reinforce.py.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from grader.kits.cartpole import lookahead, parent
from grader.kits.cartpole.child import ProxyVectorEnv
from grader.kits.cartpole.lookahead import SuccessorTree
from grader.kits.cartpole.parent import UNSERVED, TrainingEnvServer, make_vector_env
from grader.sandbox import CallbackAbort, wire


class Refused(Exception):
    """What the child's ``ctx.callback`` raises when the parent refuses (ProbeAbort in a real child)."""


class WireContext:
    """The child's ``ctx``: each callback encoded, decoded, served by ``server``, and its answer likewise."""

    def __init__(self, server: TrainingEnvServer) -> None:
        self.server = server
        self.requests: list[dict] = []

    def callback(self, name, **data):
        if name == "progress":
            return None
        data = wire.decode(bytearray(wire.encode(data)))
        self.requests.append(data)
        try:
            reply = self.server.handle(data)
        except CallbackAbort as exc:
            raise Refused(str(exc)) from None
        return wire.decode(bytearray(wire.encode(reply)))



@pytest.fixture(params=["stepped", "from the tree"])
def replay(request, monkeypatch):
    """Both ways the parent replays the steps a child took: with gymnasium's own step (the first
    VERIFIED_STEPS of a run) and from the tree's own nodes, all at once (the rest)."""
    monkeypatch.setattr(parent, "VERIFIED_STEPS", 0 if request.param == "from the tree" else 10**9)
    return request.param


def seed_of(server_seed: int, resets: int) -> int:
    """The seed TrainingEnvServer gives its env at the ``resets``-th reset."""
    return int(np.random.SeedSequence([server_seed, resets]).generate_state(1)[0])


def noisy_balance(obs: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A controller that keeps the pole up, with a share ``noise`` of random actions: episodes that end
    early, in the middle and at the 500-step truncation, on different sub-envs at different steps."""
    good = (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)
    return np.where(rng.random(len(obs)) < noise, rng.integers(2, size=len(obs)), good)


def play(env, steps: int, noise_of, seed: int = 0, resets_at=()):
    """Outcomes of ``steps`` steps of ``noise_of(t)``-noisy balancing, with ``env.reset()`` at ``resets_at``."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset()
    out = [obs]
    for t in range(steps):
        if t in resets_at:
            obs, _ = env.reset()
            out.append(obs)
            continue
        obs, reward, terminated, truncated, _ = env.step(noisy_balance(obs, rng, noise_of(t)))
        out.extend([obs, reward, terminated, truncated])
    return out


class SeededGym:
    """gymnasium's own vector CartPole, reset with the seeds the server uses: the reference."""

    def __init__(self, num_envs: int, server_seed: int) -> None:
        self.env = make_vector_env(num_envs)
        self.seed, self.resets = server_seed, 0

    def reset(self):
        self.resets += 1
        return self.env.reset(seed=seed_of(self.seed, self.resets - 1))

    def step(self, actions):
        obs, reward, terminated, truncated, info = self.env.step(actions)
        return obs, reward.astype(np.float64), terminated, truncated, info


def noise_schedule(t: int) -> float:
    # short episodes first (most steps are next to an autoreset), then long ones that reach the truncation
    return 0.9 if t < 150 else (0.03 if t < 1400 else 0.3)


@pytest.mark.parametrize("written_out", [True, False])
@pytest.mark.parametrize("depth", [1, 3, 6])
def test_proxy_gives_exactly_what_gymnasium_gives_across_autoresets(depth, written_out, monkeypatch):
    if not written_out:      # gymnasium's own step per level: what runs if its arithmetic ever changes
        monkeypatch.setattr(lookahead, "written_out_matches", lambda: False)
    n, steps = 16, 1800
    server = TrainingEnvServer(n, seed=11, budget=None, lookahead=depth)
    assert server._grower.written_out is written_out
    ctx = WireContext(server)
    proxy = ProxyVectorEnv(ctx, n)
    got = play(proxy, steps, noise_schedule, resets_at=(900,))
    want = play(SeededGym(n, 11), steps, noise_schedule, resets_at=(900,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w)
    truncated = np.concatenate([w for w in want[4::4]])
    assert truncated.any(), "the schedule must reach the 500-step truncation"
    # Same counts and curve as a round trip per step, with far fewer round trips. (A final reset sends
    # the proxy's last local steps to be replayed.)
    plain = TrainingEnvServer(n, seed=11, budget=None, lookahead=0)
    plain_env = ProxyVectorEnv(WireContext(plain), n)
    play(plain_env, steps, noise_schedule, resets_at=(900,))
    proxy.reset()
    plain_env.reset()
    assert (server.returns, server.lengths, server.cut, server.steps) == \
        (plain.returns, plain.lengths, plain.cut, plain.steps)
    assert len(server.returns) > 100
    assert plain.trips == steps + 2
    assert server.trips < plain.trips / {1: 1.5, 3: 2.5, 6: 3.5}[depth]


@pytest.mark.parametrize("verified", [0, 5])
def test_steps_replayed_from_the_tree_leave_the_env_where_gymnasium_would(verified, monkeypatch):
    """After its first ``VERIFIED_STEPS``, the parent puts its env in the tree's node state instead of
    stepping it: the float64 state, step counts and pending autoresets must be gymnasium's own, or the
    episodes (and the starting states drawn at the autoresets) would drift from a plain env's."""
    monkeypatch.setattr(parent, "VERIFIED_STEPS", verified)
    n, steps = 16, 1800
    server = TrainingEnvServer(n, seed=7, budget=None, lookahead=6)
    proxy = ProxyVectorEnv(WireContext(server), n)
    got = play(proxy, steps, noise_schedule)
    want = play(SeededGym(n, 7), steps, noise_schedule)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)
    reference = make_vector_env(n).unwrapped
    assert server._verify == 0 and server.trips < steps / 3
    assert server._env.unwrapped.state.dtype == np.float64 and server._env.unwrapped.steps.dtype == reference.steps.dtype


def test_budget_refused_at_the_same_step_with_the_same_episodes(replay):
    n, budget = 16, 37
    outcomes = []
    for depth in (0, 2, 6):
        server = TrainingEnvServer(n, seed=5, budget=budget, lookahead=depth)
        env = ProxyVectorEnv(WireContext(server), n)
        rng = np.random.default_rng(3)
        obs, _ = env.reset()
        served = 0
        with pytest.raises(Refused, match=f"training budget of {budget} episodes is spent"):
            while True:
                obs, *_ = env.step(noisy_balance(obs, rng, 0.6))
                served += 1
        outcomes.append((served, server.steps, server.episodes, server.returns, server.lengths))
    assert outcomes[0][2] >= budget
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]


def test_the_step_after_the_last_budget_episode_goes_to_the_parent_even_with_a_deep_tree(replay):
    # One episode in the budget: the step after the one that ends it is an autoreset, never in the tree.
    server = TrainingEnvServer(2, seed=0, budget=1, lookahead=8)
    env = ProxyVectorEnv(WireContext(server), 2)
    env.reset()
    with pytest.raises(Refused, match="budget of 1 episodes"):
        for _ in range(100):
            env.step(np.zeros(2, np.int64))
    assert server.steps == min(server.lengths)


def test_steps_answered_in_the_child_count_once_flushed_when_train_returns(replay):
    # A loop that stops itself after k episodes (as train does): its last steps were answered from the
    # tree, so the parent counts them when the probe flushes the proxy after train returns.
    server = TrainingEnvServer(16, seed=3, budget=350, lookahead=6)
    env, rng, done = ProxyVectorEnv(WireContext(server), 16), np.random.default_rng(0), 0
    env.reset()
    while done < 175:
        _, _, terminated, truncated, _ = env.step(rng.integers(2, size=16))
        done += int(np.sum(terminated | truncated))
    assert server.episodes < done
    env.flush()
    assert server.episodes == done
    env.flush()                                  # nothing left: no round trip
    trips = server.trips
    env.flush()
    assert server.trips == trips


# -- a child that does not use the proxy as given --------------------------------------------
def started(depth=4, n=4, budget=None):
    server = TrainingEnvServer(n, seed=2, budget=budget, lookahead=depth)
    reply = server.handle({"op": "reset"})
    return server, reply


@pytest.mark.parametrize("taken, message", [
    (np.zeros((2, 3), np.int64), "malformed env request: the steps taken must be integer actions \\[steps, 4\\]"),
    (np.zeros(4, np.int64), "malformed env request"),
    (np.zeros((2, 4)), "malformed env request"),
    ([[0, 0, 0, 0]], "malformed env request"),
    (np.full((1, 4), 2), "CartPole's actions are 0 and 1"),
    (np.full((1, 4), -1), "CartPole's actions are 0 and 1"),
])
def test_malformed_steps_taken_get_a_clear_message(taken, message):
    server, _ = started()
    with pytest.raises(CallbackAbort, match=message):
        server.handle({"op": "step", "actions": np.zeros(4, np.int64), "taken": taken})
    assert server.steps == 0 and server.episodes == 0


def test_steps_beyond_the_tree_are_refused(replay):
    server, _ = started(depth=4)
    with pytest.raises(CallbackAbort, match="at most 4 steps between two requests"):
        server.handle({"op": "step", "actions": np.ones(4, np.int64), "taken": np.ones((5, 4), np.int64)})
    assert server.steps == 4                               # the 4 it could have answered were served
    assert UNSERVED.startswith("the training env was told of steps it could not have answered")


def test_steps_before_the_first_reset_are_refused():
    server = TrainingEnvServer(4, seed=2, budget=None, lookahead=4)
    with pytest.raises(CallbackAbort, match="could not have answered"):
        server.handle({"op": "reset", "taken": np.ones((1, 4), np.int64)})
    assert server.steps == 0


def test_the_autoreset_after_an_episode_end_cannot_be_claimed_as_answered_locally(replay):
    server, reply = started(depth=12, n=2)
    tree, left = reply["tree"], np.zeros(2, np.int64)
    # Always pushing left ends an episode within the tree; the child may not claim the step after it.
    end = next(d for d in range(1, SuccessorTree.depth_of(tree) + 1)
               if (tree["terminated"] | tree["truncated"])[:, lookahead.node_index(d, left)].any())
    with pytest.raises(CallbackAbort, match="never the step after an episode's end"):
        server.handle({"op": "step", "actions": left, "taken": np.zeros((end + 1, 2), np.int64)})
    assert server.steps == end and server.episodes >= 1


def test_a_child_that_lies_about_its_actions_is_recorded_by_what_it_reported(replay):
    # Whatever it played on the tree it was sent (every branch is in it), it reports random actions:
    # the parent counts and records those, exactly as for an honest child that played them one round
    # trip each. A report is only refused when the tree could not have answered it (tests above).
    n, depth = 4, 5
    rng = np.random.default_rng(1)
    liar = TrainingEnvServer(n, seed=9, budget=None, lookahead=depth)
    honest = TrainingEnvServer(n, seed=9, budget=None, lookahead=0)
    reply = liar.handle({"op": "reset"})
    honest.handle({"op": "reset"})
    for _ in range(60):
        tree, claimed = reply.get("tree"), rng.integers(2, size=(depth + 1, n))
        taken, code = 0, np.zeros(n, np.int64)
        while tree is not None and taken < depth and not (taken == 0 and reply_done(reply)):
            code = 2 * code + claimed[taken]
            taken += 1
            node = lookahead.node_index(taken, code)
            if (tree["terminated"] | tree["truncated"])[np.arange(n), node].any():
                break
        reply = liar.handle({"op": "step", "actions": claimed[taken], "taken": claimed[:taken]})
        for actions in claimed[:taken + 1]:
            truth = honest.handle({"op": "step", "actions": actions})
        assert np.array_equal(reply["obs"], truth["obs"]) and np.array_equal(reply["terminated"], truth["terminated"])
    assert liar.steps == honest.steps > 60
    assert (liar.returns, liar.lengths, liar.episodes) == (honest.returns, honest.lengths, honest.episodes)


def reply_done(reply) -> bool:
    """Whether some sub-env's next step is an autoreset (only the parent serves it)."""
    return bool(np.any(reply.get("terminated", False) | reply.get("truncated", False)))


def test_the_parent_checks_its_replay_against_the_tree_it_sent():
    server, reply = started(depth=3)
    server._tree["obs"][:, 0] += 1.0        # a tree that is not what the env does (a grader bug)
    with pytest.raises(RuntimeError, match="grader error: the successor tree"):
        server.handle({"op": "step", "actions": np.zeros(4, np.int64), "taken": np.zeros((1, 4), np.int64)})


def test_written_out_dynamics_match_gymnasium_on_every_node():
    env = make_vector_env(8)
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    env.unwrapped.state = rng.uniform(-1, 1, size=(4, 8)) * np.array([[2.5], [2.0], [0.22], [2.0]])
    env.unwrapped.steps = rng.integers(494, 500, size=8).astype(np.int32)
    fast, slow = SuccessorTree(8, 6).grow(env.unwrapped), SuccessorTree(8, 6, written_out=False).grow(env.unwrapped)
    assert lookahead.written_out_matches()
    for key in fast:
        assert np.array_equal(fast[key], slow[key]), key
    assert fast["terminated"].any() and fast["truncated"].any() and not fast["terminated"].all()


def test_the_tree_stops_where_every_path_of_a_sub_env_has_ended():
    env = make_vector_env(3)
    env.reset(seed=0)
    # sub-env 1 falls over within 3 steps whatever the actions
    env.unwrapped.state = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.15, 0.0], [0.0, 1.5, 0.0]])
    env.unwrapped.steps = np.zeros(3, dtype=np.int32)
    tree = SuccessorTree(3, 6).grow(env.unwrapped)
    assert SuccessorTree.depth_of(tree) == 3 and tree["obs"].shape == (3, lookahead.tree_nodes(3), 4)
    ended = tree["terminated"][1]
    assert ended[lookahead.node_index(3, np.arange(8))].all() and not ended[lookahead.node_index(2, np.arange(4))].all()
    assert not tree["terminated"][0].any()
    # sub-env 2 is truncated after 2 more steps, whatever the actions
    env.unwrapped.state[:, 1] = 0.0
    env.unwrapped.steps = np.array([0, 0, 498], dtype=np.int32)
    tree = SuccessorTree(3, 6).grow(env.unwrapped)
    assert SuccessorTree.depth_of(tree) == 2 and tree["truncated"][2, lookahead.node_index(2, np.arange(4))].all()
    env.unwrapped.steps[2] = 0
    assert SuccessorTree.depth_of(SuccessorTree(3, 6).grow(env.unwrapped)) == 6


def test_no_tree_when_the_next_step_is_an_autoreset():
    server, reply = started(depth=4, n=2)
    while not reply_done(reply):
        assert "tree" in reply
        reply = server.handle({"op": "step", "actions": np.zeros(2, np.int64)})
    assert "tree" not in reply
    assert "tree" in server.handle({"op": "step", "actions": np.zeros(2, np.int64)})


def test_tree_indexing():
    assert lookahead.tree_nodes(1) == 2 and lookahead.tree_nodes(3) == 14
    assert list(lookahead.node_index(2, np.arange(4))) == [2, 3, 4, 5]
    assert gym.__version__
