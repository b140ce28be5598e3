"""The REINFORCE assignments end to end: references full marks, templates zero, the course's pipeline
with the student's holes (grader/kits/cartpole: the counting env, the evaluation, what the loop
accepts from a hole), and holes that make the course's loop fail, with a message naming the hole.

The full threshold groups of each reference run once here; the statistics over many runs are in
test_reinforce_calibration.py (slow) and bench/bench_reinforce.py.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from grader.core.assignment import load_assignment
from grader.core.grading import GradeOptions, grade_file
from grader.kits.cartpole.parent import (
    BudgetSpent,
    CountingEnv,
    TrainingSettings,
    course_pipeline,
    evaluate,
    learning_summary,
    make_args,
    make_vector_env,
    reached,
    run_once,
)
from tests.conftest import ROOT, feedback, group_result

pytestmark = pytest.mark.xdist_group("reinforce")

REFERENCE = {name: (ROOT / "solutions" / f"{name}.py").read_text() for name in ("reinforce", "reinforce_baseline")}
TEMPLATE = {name: ROOT / "templates" / f"{name}.py" for name in ("reinforce", "reinforce_baseline")}


# -- references and templates ------------------------------------------------
@pytest.mark.timeout(300)
@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
def test_reference_full_marks_with_learning_curve_feedback(grade_source, assignment):
    result = grade_source(assignment, REFERENCE[assignment], seed=7)
    assert result.score == result.max_score == 10, [feedback(t) for t in result.tests]
    training = group_result(result, "training")
    # What the grader guarantees is the form of the feedback, not where one machine's curve crossed 475:
    # every run gets a learning summary (reached, or the best window) and its evaluation.
    for k in (1, 2):
        assert re.search(rf"run {k}: the course's loop with your holes: (reached 475 \(mean of 20 episodes\) after "
                         rf"\d+ episodes|\d+ training episodes; best mean of \d+ consecutive episodes [\d.]+)",
                         feedback(training)), feedback(training)
    assert feedback(training).count("evaluation ") >= 2 and "±" in feedback(training)
    curves = training.extra_data["learning_curves"]
    assert len(curves) == 2 and all(len(c) > 10 for c in curves)
    evaluations = training.extra_data["evaluations"]
    assert all(e["mean"] >= 475 for e in evaluations)
    if assignment == "reinforce_baseline":
        assert all(350 <= e["training_episodes"] <= 350 + 15 for e in evaluations)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("assignment", ["reinforce", "reinforce_baseline"])
def test_template_scores_exactly_zero_and_says_not_implemented(grade_source, assignment):
    result = grade_source(assignment, TEMPLATE[assignment].read_text())
    assert result.score == 0
    for test in result.tests:
        assert test.score == 0
        assert "not implemented yet" in feedback(test), feedback(test)
    # the training runs stop at the first hole the course's loop calls, and say which
    assert re.search(r"the course's training loop called your compute_returns on \d+ episodes \(rewards of lengths "
                     r"\d+", feedback(group_result(result, "training"))), feedback(group_result(result, "training"))


# -- grader/kits/cartpole/parent.py in this process ------------------------------------------------
def balance(obs: np.ndarray) -> np.ndarray:
    """A hand-written controller that keeps the pole up for 500 steps."""
    return (obs[:, 2] + 0.5 * obs[:, 3] + 0.01 * obs[:, 0] + 0.1 * obs[:, 1] > 0).astype(np.int64)


def test_evaluate_scores_what_the_policy_earns():
    good = evaluate(balance, 100, seed=3)
    assert good.shape == (100,) and good.mean() >= 475
    assert evaluate(lambda o: np.zeros(len(o), np.int64), 100, seed=3).max() < 20


@pytest.mark.parametrize("actions, message", [
    (lambda o: np.zeros((len(o), 1), np.int64), "shape"),
    (lambda o: np.zeros(len(o)), "float64 actions"),
    (lambda o: np.full(len(o), 2), "actions in 0..1"),
])
def test_evaluate_refuses_actions_it_cannot_play(actions, message):
    from grader.core.suite import CheckFailed

    with pytest.raises(CheckFailed, match=message):
        evaluate(actions, 5, seed=1)


def test_counting_env_counts_episodes_records_returns_and_refuses_past_the_budget():
    env = CountingEnv(make_vector_env(4), budget=10)
    with pytest.raises(RuntimeError, match="before resetting"):
        env.step(np.zeros(4, np.int64))
    env.reset(seed=1)
    env.step(np.zeros(4, np.int64))
    env.reset()                                     # 4 episodes cut short: they count
    assert env.cut == 4 and env.episodes == 4
    with pytest.raises(BudgetSpent, match="budget of 10 episodes"):
        for _ in range(1000):
            env.step(np.zeros(4, np.int64))         # pushing left ends each episode after ~10 steps
    assert 10 <= env.episodes < 10 + 4
    assert all(r >= 8 for r in env.returns) and len(env.times) == len(env.returns)
    env.close()


def test_counting_env_follows_next_step_autoreset():
    env = CountingEnv(make_vector_env(2))
    env.reset(seed=0)
    rewards = [env.step(np.zeros(2, np.int64))[1].copy() for _ in range(60)]
    # each episode's return is its length; the step after each end is a reset (reward 0, not counted)
    assert len(env.returns) >= 4 and all(r == int(r) and 8 <= r <= 12 for r in env.returns)
    assert any(r[0] == 0.0 for r in rewards)
    env.close()


def test_learning_summary_lines():
    returns = np.concatenate([np.full(30, 20.0), np.full(40, 500.0)])
    times = np.linspace(0.1, 7.0, returns.size)
    assert reached(returns, 475, 20) == 30 + 19
    assert learning_summary(returns, times).startswith("reached 475 (mean of 20 episodes) after 49 episodes, ")
    assert "best mean" in learning_summary(np.full(50, 30.0), np.zeros(50))
    assert learning_summary([], []) == "no training episode finished"


def _settings(assignment: str) -> TrainingSettings:
    params = load_assignment(assignment).groups["training"].params
    return TrainingSettings.from_params(params, int(params["episodes"]) if "episodes" in params else None)


def test_the_grader_sets_seed_device_budget_and_time_over_the_templates_defaults():
    pipeline = course_pipeline(TEMPLATE["reinforce_baseline"])
    args = make_args(pipeline, 123, _settings("reinforce_baseline"))
    assert (args.seed, args.device, args.episodes, args.max_seconds) == (123, "cpu", 350, 240.0)
    assert (args.gamma, args.lr, args.value_steps, args.batch_episodes) == (0.99, 0.01, 4, 2)   # the template's
    plain = make_args(course_pipeline(TEMPLATE["reinforce"]), 5, dataclasses.replace(_settings("reinforce"), budget=350))
    assert plain.max_episodes == 350


@pytest.mark.timeout(300)
def test_the_course_pipeline_with_the_reference_holes_learns_within_the_budget():
    """What the group runs, in this process: the template's loop with the reference's functions in its
    holes, on the counting env (it never asks for a step past the budget), then the evaluation."""
    import torch

    reference = course_pipeline(ROOT / "solutions" / "reinforce_baseline.py")      # a module of the reference
    pipeline = course_pipeline(TEMPLATE["reinforce_baseline"], replace={
        "compute_returns": reference.compute_returns, "baseline_losses": reference.baseline_losses})
    threads = torch.get_num_threads()
    run = run_once(pipeline, _settings("reinforce_baseline"), seed=11, eval_seed=12)
    assert run.error is None, run.error
    assert torch.get_num_threads() == threads                  # the template's set_num_threads(1) is undone
    assert 350 <= run.episodes <= 350 + 15 and len(run.returns) == run.episodes
    assert run.evaluation.shape == (100,) and run.evaluation.min() >= 0


# -- holes the course's loop cannot use: the run fails, naming the hole and what came back -------
BAD_HOLES = {
    "compute_returns one short": ("reinforce", "compute_returns", '''
def compute_returns(rewards, gamma):
    out = np.zeros(len(rewards))
    for t in reversed(range(len(rewards))):
        out[t] = rewards[t] + (gamma * out[t + 1] if t + 1 < len(rewards) else 0.0)
    return out[1:]
''', r"called your compute_returns\(\[\d+\], 0.99\): it returned a numpy array of shape \[\d+\] \(float64\); "
     r"a float64 array of shape \[\d+\] \(one return per step\) is expected"),
    "compute_returns a string": ("reinforce", "compute_returns", '''
def compute_returns(rewards, gamma):
    return "returns"
''', "it returned an object of type builtins.str"),
    "loss of shape [B]": ("reinforce", "reinforce_loss", '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns)
''', r"called your reinforce_loss\(\[\d+, 2\], \[\d+\], \[\d+\]\): it returned a tensor of shape \[\d+\] \(float32\); "
     "a scalar floating-point tensor"),
    "loss with no graph": ("reinforce", "reinforce_loss", '''
def reinforce_loss(logits, actions, returns):
    logp = torch.log_softmax(logits.detach(), dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * returns).mean()
''', "it returned a tensor with no gradient"),
    "loss raises": ("reinforce", "reinforce_loss", '''
def reinforce_loss(logits, actions, returns):
    raise ValueError("no loss today")
''', r"called your reinforce_loss\(\[\d+, 2\], \[\d+\], \[\d+\]\): your code raised ValueError: no loss today"),
    "NaN value loss": ("reinforce_baseline", "baseline_losses", '''
def baseline_losses(logits, values, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * (returns - values.detach())).mean(), ((returns - values) ** 2).mean() * float("nan")
''', "it returned as value_loss: nan; a finite loss is expected"),
    "a single loss": ("reinforce_baseline", "baseline_losses", '''
def baseline_losses(logits, values, actions, returns):
    logp = torch.log_softmax(logits, dim=-1).gather(1, actions.unsqueeze(1)).squeeze(1)
    return -(logp * (returns - values.detach())).mean() + ((returns - values) ** 2).mean()
''', r"it returned a tensor of shape \[\] \(float32\); a pair \(policy_loss, value_loss\) of scalar tensors is expected"),
    "compute_returns not pasted": ("reinforce_baseline", "compute_returns", '''
def compute_returns(rewards, gamma):
    raise NotImplementedError("compute_returns")
''', r"called your compute_returns on \d+ episodes \(rewards of lengths [\d, …]+; gamma=0.99\): not implemented yet"),
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize("case", list(BAD_HOLES))
def test_a_hole_the_course_loop_cannot_use_fails_the_run_and_says_why(grade_source, case):
    assignment, _, source, message = BAD_HOLES[case]
    result = grade_source(assignment, REFERENCE[assignment] + "\n" + source, only=["training"])
    test = group_result(result, "training")
    text = feedback(test)
    assert test.score == 0 and test.status == "failed", text
    assert re.search(message, text), text
    assert "retrained" not in text and "internal grader error" not in text      # an error is not chance


@pytest.mark.timeout(180)
def test_a_hole_that_never_answers_costs_the_run_with_the_holes_name(tmp_path):
    """A call of the course's loop waits ``call_seconds`` at most; the child is stopped and the runs fail."""
    source = REFERENCE["reinforce"] + '''

_calls = [0]


def compute_returns(rewards, gamma):
    _calls[0] += 1
    if _calls[0] > 30:
        while True:
            pass
    out, running = np.zeros(len(rewards)), 0.0
    for t in reversed(range(len(rewards))):
        running = rewards[t] + gamma * running
        out[t] = running
    return out
'''
    path = tmp_path / "reinforce.py"
    path.write_text(source)
    a = load_assignment("reinforce")
    training = a.groups["training"]
    a = dataclasses.replace(a, groups={**a.groups, "training": dataclasses.replace(
        training, params={**training.params, "call_seconds": 2})})
    result = grade_file(path, a, GradeOptions(seed=1, only=["training"]))
    text = feedback(result.tests[0])
    assert result.tests[0].score == 0, text
    assert "the course's training loop called your compute_returns on " in text and "time limit" in text, text
