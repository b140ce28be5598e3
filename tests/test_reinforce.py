"""The REINFORCE assignments end to end: references full marks, templates zero, the parent-side
CartPole machinery (grader/kits/cartpole), the training-env proxy and its budget, and bad submissions.

The full threshold groups of each reference run once here (~12 s each); the
statistics over many seeds are in test_reinforce_calibration.py (slow).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from grader.core.suite import CheckFailed
from grader.kits.cartpole.parent import TrainingEnvServer, evaluate_policy, learning_summary, reached, validate_actions
from grader.sandbox import CallbackAbort
from tests.conftest import ROOT, feedback, group_result, require_isolation, scores

REFERENCE = {name: (ROOT / "solutions" / f"{name}.py").read_text() for name in ("reinforce", "reinforce_baseline")}
TEMPLATE = {name: (ROOT / "templates" / f"{name}.py").read_text() for name in ("reinforce", "reinforce_baseline")}


# -- references and templates ------------------------------------------------
@pytest.mark.timeout(240)
@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
def test_reference_full_marks_with_learning_curve_feedback(grade_source, assignment):
    result = grade_source(assignment, REFERENCE[assignment], seed=7)
    assert result.score == result.max_score == 10, [feedback(t) for t in result.tests]
    training = group_result(result, "training")
    # What the grader guarantees is the form of the feedback, not where one machine's curve crossed 475:
    # every run gets a learning summary (reached, or the best window) and its evaluation.
    for k in (1, 2):
        assert re.search(rf"run {k}: (reached 475 \(mean of 20 episodes\) after \d+ episodes"
                         rf"|\d+ training episodes; best mean of \d+ consecutive episodes [\d.]+)", feedback(training)), \
            feedback(training)
    assert feedback(training).count("evaluation ") >= 2 and "±" in feedback(training)
    curves = training.extra_data["learning_curves"]
    assert len(curves) == 2 and all(len(c) > 10 for c in curves)
    evaluations = training.extra_data["evaluations"]
    assert all(e["mean"] >= 475 for e in evaluations)
    if assignment == "reinforce_baseline":
        assert all(e["training_episodes"] <= 350 + 16 for e in evaluations)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
def test_template_scores_exactly_zero_and_says_not_implemented(grade_source, assignment):
    result = grade_source(assignment, TEMPLATE[assignment])
    assert result.score == 0
    for test in result.tests:
        assert test.score == 0
        assert "not implemented yet" in feedback(test), feedback(test)


# -- grader/kits/cartpole/parent.py in the parent, without a child -------------------------------
class FakeContext:
    """``ctx.call('act', ...)`` answered by a local policy function (what the child's probe returns)."""

    def __init__(self, policy):
        self.policy = policy

    def call(self, op, run, obs, timeout, endpoint="main"):
        assert op == "act" and obs.dtype == np.float32 and obs.ndim == 2 and obs.shape[1] == 4
        return {"actions": self.policy(obs)}


def balance(obs: np.ndarray) -> np.ndarray:
    """A hand-written controller that keeps the pole up for 500 steps."""
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


def test_evaluate_policy_scores_what_the_policy_earns():
    good = evaluate_policy(FakeContext(balance), "r", 100, seed=3, timeout=30)
    assert good.shape == (100,) and good.mean() >= 475
    always_left = evaluate_policy(FakeContext(lambda o: np.zeros(len(o), np.int64)), "r", 100, seed=3, timeout=30)
    assert always_left.max() < 20


@pytest.mark.parametrize("reply, message", [
    ({"actions": np.zeros((5, 1), np.int64)}, "shape"),
    ({"actions": np.zeros(5)}, "dtype"),
    ({"actions": np.full(5, np.nan)}, "dtype"),
    ({"actions": np.full(5, 2)}, "actions are 0 and 1"),
    ({"actions": np.full(5, -1)}, "actions are 0 and 1"),
    ({"actions": np.zeros(5, bool)}, "dtype"),
    ({"error": "the policy should return a numpy int64 array of actions, got str"}, "got str"),
    ([1, 2], "could not be read"),
])
def test_validate_actions_names_the_problem(reply, message):
    with pytest.raises(CheckFailed, match=message):
        validate_actions(reply, 5)


def test_training_server_counts_episodes_and_refuses_after_the_budget():
    server = TrainingEnvServer(num_envs=4, seed=1, budget=10)
    with pytest.raises(CallbackAbort, match="reset"):
        server.handle({"op": "step", "actions": np.zeros(4, np.int64)})
    obs = server.handle({"op": "reset"})["obs"]
    assert obs.shape == (4, 4) and obs.dtype == np.float32
    server.handle({"op": "step", "actions": np.zeros(4, np.int64)})
    server.handle({"op": "reset"})                 # 4 episodes cut short: they count
    assert server.cut == 4 and server.episodes == 4
    with pytest.raises(CallbackAbort, match="integer actions"):
        server.handle({"op": "step", "actions": np.zeros(3, np.int64)})
    with pytest.raises(CallbackAbort, match="0 and 1"):
        server.handle({"op": "step", "actions": np.full(4, 5)})
    with pytest.raises(CallbackAbort, match="budget of 10 episodes"):
        for _ in range(1000):
            reply = server.handle({"op": "step", "actions": np.zeros(4, np.int64)})
    assert 10 <= server.episodes < 10 + 4
    assert all(r >= 1 for r in server.returns) and len(server.times) == len(server.returns)
    assert set(reply) == {"obs", "reward", "terminated", "truncated"}
    server.close()


def test_training_server_follows_next_step_autoreset():
    server = TrainingEnvServer(num_envs=2, seed=0, budget=None)
    server.handle({"op": "reset"})
    lengths = []
    for _ in range(60):
        r = server.handle({"op": "step", "actions": np.zeros(2, np.int64)})
        lengths.append(r["reward"].copy())
    # always pushing left ends each episode after ~10 steps; the step after each end is a reset (reward 0)
    assert len(server.returns) >= 4
    assert server.returns == [float(n) for n in server.lengths]
    assert any(r[0] == 0.0 for r in lengths)
    server.close()


def test_learning_summary_lines():
    returns = np.concatenate([np.full(30, 20.0), np.full(40, 500.0)])
    times = np.linspace(0.1, 7.0, returns.size)
    assert reached(returns, 475, 20) == 30 + 19
    assert learning_summary(returns, times).startswith("reached 475 (mean of 20 episodes) after 49 episodes, ")
    assert "best mean" in learning_summary(np.full(50, 30.0), np.zeros(50))
    assert learning_summary([], []) == "no training episode finished"


# -- bad submissions: zero for the training group only, with a clear message ----
# Each replaces train() of the reinforce_baseline reference. Those that return a network first play
# half the budget at random (FAKE_CURVE), so that the learning rules pass and the network itself is judged.
FAKE_CURVE = '''
import torch
from torch import nn


def _fake_curve(env, args):
    if not args.episodes:                      # the policy process rebuilding the network: no episode
        return
    rng = np.random.default_rng(0)
    env.reset()
    done = 0
    while done < args.episodes // 2:
        _, _, terminated, truncated, _ = env.step(rng.integers(2, size=env.num_envs))
        done += int(np.sum(terminated | truncated))


class Out(nn.Module):
    def __init__(self, make):
        super().__init__()
        self.layer = nn.Linear(4, 2)
        self.make = make

    def forward(self, obs):
        return self.make(self.layer(obs))
'''

BAD_POLICIES = {
    "train returns a dict": ('return {"weights": 1}', "it returned builtins.dict"),
    "train returns a plain function": ("return lambda obs: np.zeros(len(obs), dtype=np.int64)",
                                       "it returned builtins.function"),
    "logits of shape [N, 1]": ("_fake_curve(env, args)\n    return nn.Linear(4, 1)",
                               "the network returned logits of shape (100, 1) for 100 observations, expected [100, 2]"),
    "integer logits": ("_fake_curve(env, args)\n    return Out(lambda x: x.long())", "expected float logits"),
    "NaN logits": ("_fake_curve(env, args)\n    return Out(lambda x: x * float('nan'))",
                   "logits contain NaN or infinite"),
    "numpy logits": ("_fake_curve(env, args)\n    return Out(lambda x: x.numpy())", "the network returned numpy.ndarray"),
    "forward raises mid-evaluation": ("""_fake_curve(env, args)
    calls = [0]
    def explode(x):
        calls[0] += 1
        if calls[0] > 5:
            raise RuntimeError("policy exploded")
        return x
    return Out(explode)""", "RuntimeError: policy exploded"),
    "another network with args.episodes = 0": ("_fake_curve(env, args)\n    return nn.Linear(4, 2 if args.episodes else 3)",
                                               "with args.episodes = 0, train built a different architecture: 'weight'"),
    "steps the env with args.episodes = 0": ("""_fake_curve(env, args)
    if not args.episodes:
        env.reset()
        env.step(np.zeros(env.num_envs, dtype=np.int64))
    return nn.Linear(4, 2)""", "train(env, args) with args.episodes = 0 (and args.max_episodes = 0): train must then "
                               "build the network"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(BAD_POLICIES))
def test_bad_network_gets_zero_and_a_clear_message(grade_source, case):
    body, message = BAD_POLICIES[case]
    source = REFERENCE["reinforce_baseline"] + FAKE_CURVE + f"""

def train(env, args):
    {body}
"""
    result = grade_source("reinforce_baseline", source, only=["training"])
    test = group_result(result, "training")
    assert test.score == 0 and test.status == "failed"
    text = feedback(test)
    assert message in text, text                          # said for the runs (once, if it is their common cause)
    assert "retrained" not in text                        # an error is not chance: no retraining
    assert "internal grader error" not in text


def test_the_network_is_found_in_greedy_policy_or_returned_as_is():
    from torch import nn

    from grader.kits.cartpole.child import find_network

    net = nn.Linear(4, 2)
    assert find_network(net) is net
    assert find_network(type("GreedyPolicy", (), {"net": net})()) is net
    assert find_network(lambda obs: obs) is None
    assert find_network(type("P", (), {"net": "not a module"})()) is None


@pytest.mark.timeout(120)
def test_train_that_never_returns_times_out_and_other_groups_are_still_graded(grade_source):
    source = REFERENCE["reinforce"] + "\n\ndef train(env, args):\n    while True:\n        pass\n"
    result = grade_source("reinforce", source, only=["compute_returns", "training"], time_scale=0.07)
    assert scores(result) == {"compute_returns": 3, "training": 0}
    out = feedback(group_result(result, "training"))
    assert "time limit reached while running train" in out, out


# -- reinforce_baseline: the budget is the parent's, and gymnasium's CartPole is switched off ---
GYM_ROUTES = '''
import gymnasium as gym
from gymnasium.envs.classic_control.cartpole import CartPoleEnv as _ImportedEarly


def train(env, args):
    from gymnasium.envs.classic_control import cartpole
    outcomes = []
    for make in (lambda: gym.make("CartPole-v1"),
                 lambda: gym.make("CartPole-v0"),
                 lambda: gym.make_vec("CartPole-v1", num_envs=4, vectorization_mode="vector_entry_point"),
                 lambda: gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync"),
                 lambda: _ImportedEarly(),
                 lambda: cartpole.CartPoleVectorEnv(num_envs=4)):
        try:
            make()
            outcomes.append("CREATED")
        except Exception as exc:
            outcomes.append(type(exc).__name__ + ": " + str(exc))
    raise RuntimeError(" | ".join(outcomes))
'''


@pytest.mark.timeout(120)
def test_gymnasium_cartpole_is_switched_off_in_the_baseline_child(grade_source):
    """Even without namespaces (so the cartpole source is readable), every route is refused."""
    from grader.sandbox import NoIsolation

    result = grade_source("reinforce_baseline", REFERENCE["reinforce_baseline"] + GYM_ROUTES, only=["training"],
                          isolation=NoIsolation(reason="testing lock_cartpole alone"))
    out = feedback(group_result(result, "training"))
    assert "CREATED" not in out, out
    # both runs met the same error: said once, for the group, with every route's refusal in it
    assert group_result(result, "training").cause.kind == "error"
    assert out.count("CartPole is not available inside the grader") >= 6, out


@pytest.mark.timeout(120)
def test_gymnasium_cartpole_source_is_hidden_under_namespaces(grade_source):
    require_isolation()
    result = grade_source("reinforce_baseline", REFERENCE["reinforce_baseline"] + GYM_ROUTES, only=["training"])
    out = feedback(group_result(result, "training"))
    assert "CREATED" not in out, out
    assert "No module named 'gymnasium.envs.classic_control.cartpole'" in out, out


@pytest.mark.timeout(120)
def test_training_on_a_private_cartpole_beyond_the_budget_scores_zero(grade_source):
    source = REFERENCE["reinforce_baseline"] + '''

_reference_train = train


def train(env, args):
    import gymnasium as gym
    own = gym.make_vec("CartPole-v1", num_envs=16, vectorization_mode="vector_entry_point")
    args.episodes = 100_000
    return _reference_train(own, args)
'''
    result = grade_source("reinforce_baseline", source, only=["training"])
    test = group_result(result, "training")
    assert test.score == 0
    assert "CartPole is not available inside the grader" in feedback(test)


@pytest.mark.timeout(120)
def test_stepping_past_the_budget_is_refused(grade_source):
    source = REFERENCE["reinforce_baseline"] + '''

def train(env, args):
    env.reset(seed=args.seed)
    while True:                       # ignores args.episodes
        env.step(np.zeros(env.num_envs, dtype=np.int64))
'''
    result = grade_source("reinforce_baseline", source, only=["training"])
    test = group_result(result, "training")
    assert test.score == 0
    assert "budget of 350 episodes is spent" in feedback(test), feedback(test)
    assert "training episodes" in feedback(test)


@pytest.mark.timeout(120)
def test_args_carry_the_budget_seed_and_device(grade_source):
    source = REFERENCE["reinforce_baseline"] + '''

def train(env, args):
    raise RuntimeError(f"args: episodes={args.episodes} device={args.device} gamma={args.gamma} "
                       f"seed_is_int={isinstance(args.seed, int)} num_envs={env.num_envs} lr={args.lr}")
'''
    result = grade_source("reinforce_baseline", source, only=["training"])
    out = feedback(group_result(result, "training"))
    assert "episodes=350 device=cpu gamma=0.99 seed_is_int=True num_envs=16 lr=0.01" in out, out


# -- the learning rules and the retraining, in the parent, without a child ----------------------
def _settings(**kw):
    from grader.kits.cartpole.parent import TrainingSettings
    return TrainingSettings(**{"budget": 350, "min_episodes": 175, **kw})


def test_learning_rules_name_what_was_not_learnt():
    from grader.kits.cartpole.parent import learning_problem

    s = _settings()
    learnt = np.concatenate([np.full(150, 20.0), np.linspace(20, 500, 150), np.full(50, 500.0)])
    assert learning_problem(learnt, 350, s) == ""
    assert learning_problem(learnt[:300], 300, s) == ""                    # stopped early, after reaching 475
    solved = np.full(40, 500.0)
    assert "first 20 training episodes averaged 500.0" in learning_problem(solved, 40, s)
    assert "first 20" in learning_problem(np.full(350, 480.0), 350, s)     # even with the whole budget used
    assert "train returned after 0 training episodes" in learning_problem([], 0, s)
    random_play = np.full(100, 22.0)
    assert "after 100 training episodes without reaching 475" in learning_problem(random_play, 100, s)
    assert learning_problem(np.full(175, 22.0), 175, s) == ""              # half the budget: the evaluation decides
    assert "first 20" not in learning_problem(np.full(19, 500.0), 19, s)   # too few episodes for rule 1: rule 2 speaks


class InProcessContext:
    """The parent side of the training group against the kit's probes run in this process: each endpoint
    is a name with its own probe state, callbacks go straight to the group's handlers."""

    def __new__(cls, module, **params):
        from dataclasses import replace

        from grader.core.assignment import load_assignment
        from grader.core.suite import GroupContext
        from grader.kits.cartpole import child

        class Context(GroupContext):
            def call(self, op, *, timeout=None, handlers=None, endpoint="main", **args):
                self.endpoints.append(endpoint)
                probe_ctx = self.probe_states.setdefault(endpoint, _ProbeContext())
                probe_ctx.handlers = handlers or {}
                return getattr(child, op)(module, probe_ctx, **args)

            def call_together(self, calls):
                return [self.call(c.op, endpoint=c.endpoint, handlers=c.handlers, **c.args) for c in calls]

            def prestart(self):
                pass

        config = load_assignment("reinforce_baseline").groups["training"]
        ctx = Context(replace(config, params={**config.params, **params}), None, 7, "cpu")
        ctx.endpoints, ctx.probe_states = [], {}
        return ctx


class _ProbeContext:
    def __init__(self):
        self.state, self.handlers = {}, {}

    def callback(self, name, **data):
        return self.handlers[name](data)


def test_a_run_that_misses_the_bound_is_retrained_on_fresh_seeds_and_can_pass():
    """First trainings return an untrained network (a miss), the retrainings the controller's weights:
    both runs pass after one retraining, each in new processes; a broken rule would not be retried."""
    import types

    from torch import nn

    from grader.kits.cartpole.parent import training_group

    trainings = []

    def train(env, args):
        net = nn.Linear(4, 2)
        if args.episodes:
            trainings.append(args.seed)
            rng = np.random.default_rng(0)
            env.reset()
            done = 0
            while done < 175:
                _, _, terminated, truncated, _ = env.step(rng.integers(2, size=env.num_envs))
                done += int(np.sum(terminated | truncated))
            if len(trainings) > 2:      # the retrainings: a controller in the weights
                with __import__("torch").no_grad():
                    net.weight.copy_(__import__("torch").tensor([[0.0, 0.0, 0.0, 0.0], [0.01, 0.1, 1.0, 0.5]]))
                    net.bias.zero_()
        return net

    ctx = InProcessContext(types.SimpleNamespace(train=train))
    training_group(ctx, budget=350)
    assert [c.passed for c in ctx.outcome.checks] == [True, True], [c.message for c in ctx.outcome.checks]
    assert len(trainings) == 4 and len(set(trainings)) == 4                    # fresh seeds every time
    assert sum("below the bound, retrained on fresh seeds" in n for n in ctx.outcome.notes) == 2
    assert [e for e in dict.fromkeys(ctx.endpoints)] == [
        "run 1 training", "run 2 training", "policy",
        "run 1 (retraining 1) training", "run 2 (retraining 1) training", "policy (retraining 1)"]
    assert [e["attempts"] for e in ctx.outcome.extra["evaluations"]] == [2, 2]
