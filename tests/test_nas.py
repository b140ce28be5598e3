"""The NAS assignment end to end: the reference full marks and the template zero, the public
checks (with the hints of the common mistakes), the parent-side query server, landscape and
learning rule (assignments/nas/serving.py), the course's search with the student's holes (what
each hole must return to the course's loop, and what it is told when it does not), the hidden
table (what it holds and that it agrees with the template's search space), and bad submissions.

The full search group of the reference runs once here; its pass rate over many seeds, and the
catalogue's wrong loop holes, are in test_nas_calibration.py (slow); the red-team hand-ins in
test_nas_redteam.py.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys

import numpy as np
import pytest

from grader.core.assignment import load_assignment
from grader.core.suite import CheckFailed, import_local
from grader.feedback.html import find_curves
from tests.conftest import ROOT, feedback, group_result, scores
from tests.variants.nas import WRONG

NAS = ROOT / "assignments" / "nas"
REFERENCE = (ROOT / "solutions" / "nas.py").read_text()
TEMPLATE = (ROOT / "templates" / "nas.py").read_text()
HOLES = ["efficientnet_reward", "sequence_log_prob", "controller_loss", "update_baseline"]
serving = import_local(str(NAS / "public" / "suite.py"), "serving")
table_module = import_local(str(NAS / "hidden" / "suite.py"), "table")
PARAMS = dict(load_assignment("nas").groups["search"].params)
FAST = {"time_scale": 0.5}


def _reference_module():
    spec = importlib.util.spec_from_file_location("nas_reference_for_tests", ROOT / "solutions" / "nas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _holes(source: str = "") -> dict:
    """The four holes of the reference with ``source`` appended (a variant), as functions of this process."""
    namespace: dict = {"__name__": "nas_variant_for_tests"}
    exec(compile(REFERENCE + "\n" + source, "nas_variant", "exec"), namespace)
    return {name: namespace[name] for name in HOLES}


def _toy_landscape() -> serving.Landscape:
    public = import_local(str(NAS / "public" / "suite.py"), "suite")
    return public._toy(np.random.default_rng(0))[0]


def _in_process_search(holes: dict, seed: int = 0, landscape=None, budget: int = 162):
    """The course's search on the toy landscape, the holes called in this process (as the bench does)."""
    landscape = landscape or _toy_landscape()
    loop = serving.LoopHoles({n: holes[n] for n in serving.LOOP_HOLES})
    return serving.course_search(loop, landscape, seed, budget, "cpu", replace=holes), loop


# -- references and templates ---------------------------------------------------------
@pytest.mark.timeout(300)
def test_reference_full_marks_with_search_feedback(grade_source):
    result = grade_source("nas", REFERENCE, seed=7)
    assert result.score == result.max_score == 10, [feedback(t) for t in result.tests]
    search = group_result(result, "search")
    extra = search.extra_data
    budget, share = int(PARAMS["budget"]), float(PARAMS["share"])
    assert [(run["search"], run["attempt"]) for run in extra["searches"]] == [(1, 1), (2, 1)]
    for run, rewards, best, random_curve in zip(extra["searches"], extra["reward per query curve"],
                                                extra["best so far curve"],
                                                extra["random search best so far (reference curve)"]):
        assert run["share"] >= share and 1 <= run["rank"] <= run["size"] == 1080 and run["passed"]
        assert 0 < run["queries"] == len(rewards) == len(best) <= budget and len(random_curve) == budget
        assert run["distinct"] >= PARAMS["min_queries"] * budget and run["updates"] > 0
        assert np.all(np.diff(best) >= 0) and max(rewards) == best[-1]
        assert 0 <= run["random_search_pass_probability"] <= 1
        assert "secret target" in run["setting"] and len(run["architecture"]) == 6
    assert feedback(search).count("the course's controller prefers") == 2 and "rank" in feedback(search)
    assert "controller updates" in feedback(search) and "Random search with" in feedback(search)
    assert len(find_curves(extra)) == 6        # reward per query, best so far, random search: two runs each


@pytest.mark.timeout(300)
def test_template_scores_exactly_zero_and_says_not_implemented(grade_source):
    result = grade_source("nas", TEMPLATE)
    assert result.score == 0
    for test in result.tests:
        assert test.score == 0 and "not implemented yet" in feedback(test), feedback(test)


@pytest.mark.timeout(300)
def test_public_checks_pass_for_the_reference_and_fail_for_the_template(grade_source):
    result = grade_source("nas", REFERENCE, suite="public")
    assert {t.name for t in result.tests} == {*HOLES, "search"}
    assert result.score == result.max_score, [feedback(t) for t in result.tests]
    assert "toy landscape" in feedback(group_result(result, "search"))
    assert "the course's controller prefers" in feedback(group_result(result, "search"))
    result = grade_source("nas", TEMPLATE, suite="public")
    assert result.score == 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("hole, variant, message, hint", [
    # issue 22: both passed every default public check before, and lost points when graded
    ("sequence_log_prob", "log(softmax) then gather: right values, NaN gradient on -inf logits",
     "gradient with respect to the logits holds NaN", "use torch.log_softmax(logits, dim=-1)"),
    ("update_baseline", "float(np.mean(rewards)): fails on the tensor the course's loop passes",
     "with the rewards as a torch tensor", "np.mean does not take a torch tensor"),
])
def test_public_checks_catch_what_the_course_loop_meets(grade_source, hole, variant, message, hint):
    """A NaN gradient on the -inf logits and np.mean on a tensor of rewards fail the default public checks
    (not only --full's search), with the hint that names the mistake."""
    result = grade_source("nas", REFERENCE + "\n" + WRONG[hole][variant], suite="public", only=[hole])
    test = group_result(result, hole)
    assert test.score < test.max_score
    text = feedback(test)
    assert message in text and hint in text, text


@pytest.mark.timeout(300)
@pytest.mark.parametrize("hole, variant, hint", [
    ("controller_loss", "sign flipped: +mean", "the sign is flipped"),
    ("controller_loss", "summed instead of averaged", "you summed over the batch"),
    ("controller_loss", "baseline ignored", "the baseline is not subtracted"),
    ("sequence_log_prob", "mean over the decisions instead of the sum", "you average over the decisions"),
    ("update_baseline", "decay and 1 - decay swapped", "decay is on the wrong term"),
    ("efficientnet_reward", "exponent sign flipped: (flops / target) ** beta", "upside down"),
])
def test_public_checks_name_the_common_mistakes(grade_source, hole, variant, hint):
    result = grade_source("nas", REFERENCE + "\n" + WRONG[hole][variant], suite="public", only=[hole])
    test = group_result(result, hole)
    assert test.score < test.max_score and hint in feedback(test), feedback(test)


def test_hints_only_when_the_values_match_the_mistake():
    calls = import_local(str(NAS / "public" / "suite.py"), "calls")
    rng = np.random.default_rng(0)
    lp, r, b = -rng.uniform(1, 9, 16), rng.uniform(0.6, 0.97, 16), 0.8
    want, _ = calls.expected_loss(lp, r, b)
    assert "sign is flipped" in calls.loss_hint(-want, lp, r, b)
    assert "summed over the batch" in calls.loss_hint(16 * want, lp, r, b)
    assert "not subtracted" in calls.loss_hint(float(-np.mean(r.astype(np.float32) * lp.astype(np.float32))), lp, r, b)
    assert calls.loss_hint(want * 1.3, lp, r, b) == "" and calls.loss_hint(want, lp, r, b) == ""
    rewards = rng.uniform(0.3, 1, 8)
    assert "wrong term" in calls.baseline_hint(0.2 * 0.6 + 0.8 * rewards.mean(), 0.6, rewards, 0.8)
    assert calls.baseline_hint(0.8 * 0.6 + 0.2 * rewards.mean(), 0.6, rewards, 0.8) == ""
    assert calls.baseline_hint(0.123, 0.6, rewards, 0.8) == ""
    logits = rng.normal(size=(4, 3, 5)).astype(np.float32)
    tokens = rng.integers(3, size=(4, 3))
    want_lp, _ = calls.expected_log_prob(logits, tokens)
    assert "average over the decisions" in calls.log_prob_hint(want_lp / 3, logits, tokens)
    assert calls.log_prob_hint(want_lp, logits, tokens) == "" and calls.log_prob_hint(want_lp + 1, logits, tokens) == ""


# -- the parent-side query server and landscape --------------------------------------------------
def _landscape(choices=(2, 3), rewards=None) -> serving.Landscape:
    size = int(np.prod(choices))
    rewards = np.arange(size, dtype=np.float64) / size if rewards is None else np.asarray(rewards, dtype=np.float64)
    return serving.Landscape(tuple(choices), rewards, lambda a: str(list(a)))


def test_query_server_serves_counts_and_refuses_after_the_budget():
    land = _landscape()
    server = serving.QueryServer(land, budget=3)
    assert server([1, 2]) == land.rewards[5]
    server([1, 2])                                        # repeated queries count too
    server(np.array([0, 0], dtype=np.int32))
    assert server.used == 3 and server.indices == [5, 5, 0]
    assert server.rewards.tolist() == [land.rewards[5], land.rewards[5], 0.0]
    with pytest.raises(serving.BudgetSpent, match="query budget of 3 architectures is spent"):
        server([0, 1])
    assert server.used == 3


@pytest.mark.parametrize("value, message", [
    ([0, 1, 2], "2 choice indices"),
    ([[0, 1]], "shape"),
    ([0.5, 1.0], "integer choice indices"),
    ([np.nan, 1.0], "integer choice indices"),
    ([2, 0], "decision 0 has choices 0..1, got 2"),
    ([0, -1], "decision 1 has choices 0..2, got -1"),
    (["a", "b"], "dtype"),
])
def test_query_server_names_a_bad_architecture(value, message):
    server = serving.QueryServer(_landscape(), budget=5)
    with pytest.raises(ValueError, match=message):
        server(value)
    assert server.used == 0


def test_landscape_rank_and_random_search_probability():
    land = _landscape((2, 3), [0.5, 0.9, 0.99, 1.0, 0.2, 0.99])
    assert land.best == 1.0 and land.rank(3) == 1 and land.rank(2) == land.rank(5) == 2 and land.rank(4) == 6
    assert land.qualifying(0.98) == 3
    # 3 of 6 qualify, 2 distinct draws: 1 - C(3, 2) / C(6, 2) = 1 - 3/15
    assert land.random_search_pass_probability(0.98, 2) == pytest.approx(0.8)
    assert land.random_search_pass_probability(0.98, 4) == 1.0
    curve = land.random_search_curve(4, np.random.default_rng(0), runs=50)
    assert curve.shape == (4,) and np.all(np.diff(curve) >= 0) and curve[-1] <= 1.0


def test_random_search_probability_matches_simulation():
    rng = np.random.default_rng(3)
    land = _landscape((4, 5, 6), rng.uniform(size=120))
    exact = land.random_search_pass_probability(0.97, 10)
    hits = [land.rewards[rng.choice(120, 10, replace=False)].max() >= 0.97 * land.best for _ in range(4000)]
    assert abs(np.mean(hits) - exact) < 5 * np.sqrt(exact * (1 - exact) / 4000)


def _server(rewards, asked) -> serving.QueryServer:
    land = serving.Landscape((2, 2, 2), np.asarray(rewards, dtype=np.float64), str)
    server = serving.QueryServer(land, budget=8)
    for index in asked:
        server(np.unravel_index(index, land.choices))
    return server


def test_learning_counts_distinct_architectures_and_their_last_quarter():
    rewards = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1.0]
    learning = serving.Learning.of(_server(rewards, [0, 1, 1, 2, 0, 3, 4, 7]))   # distinct: 0 1 2 3 4 7
    assert (learning.distinct, learning.last) == (6, 1) and learning.last_share == pytest.approx(1.0)
    assert learning.problems(budget=8, min_queries=0.5, learned_share=0.85) == []
    few = serving.Learning.of(_server(rewards, [7, 7, 7]))
    assert few.distinct == 1 and "at least 4 (50.0 % of the budget of 8)" in few.problems(8, 0.5, 0.85)[0]
    flat = serving.Learning.of(_server(rewards, [7, 0, 1, 2, 3, 4, 5, 6]))       # the best first, then worse ones
    assert flat.last == 2 and flat.last_share == pytest.approx(0.65)
    assert "average 65.0 % of the best reward, below 85.0 %" in flat.problems(8, 0.5, 0.85)[0]


def test_random_search_learning_probability_matches_the_mean():
    rng = np.random.default_rng(0)
    land = serving.Landscape((10, 10), rng.uniform(0, 1, 100), str)
    mean_share = land.rewards.mean() / land.best
    assert land.random_search_learning_probability(mean_share + 0.3, 40, rng) < 0.01
    assert land.random_search_learning_probability(mean_share - 0.3, 40, rng) > 0.99


# -- the course's search with the student's holes (in this process: the same code as the group) ----------
def test_the_course_search_learns_with_the_reference_holes_and_ignores_the_clock():
    """The template's own loop, its defaults but the wall-clock stop, which the grader lifts."""
    run, loop = _in_process_search(_holes())
    land = _toy_landscape()
    verdict = serving.judge(run, land, 162, 0.9, float(PARAMS["learned_share"]), float(PARAMS["min_queries"]))
    assert verdict.passed, verdict.problems
    assert run.updates == loop.updates > 0 and run.server.used <= 162
    again, _ = _in_process_search(_holes())
    assert again.architecture.tolist() == run.architecture.tolist() and again.server.indices == run.server.indices


@pytest.mark.parametrize("hole, source, message", [
    ("sequence_log_prob", "def sequence_log_prob(logits, tokens):\n    return torch.log_softmax(logits, -1).sum(-1)\n",
     "it returned a tensor of shape [16, 6] (float32); a tensor of shape [16] is expected"),
    ("sequence_log_prob", WRONG["sequence_log_prob"]["detached: no gradient"], "carries no gradient"),
    ("sequence_log_prob", "def sequence_log_prob(logits, tokens):\n    return [0.0] * len(tokens)\n",
     "it returned a list; a floating-point tensor of shape [16] is expected"),
    ("controller_loss", "def controller_loss(log_probs, rewards, baseline):\n    return -(rewards - baseline) * log_probs\n",
     "for a batch of 16; a scalar is expected"),
    ("controller_loss", "def controller_loss(log_probs, rewards, baseline):\n    return log_probs.mean() * float('nan')\n",
     "controller_loss (controller update 1): it returned nan"),
    ("controller_loss", "def controller_loss(log_probs, rewards, baseline):\n    return torch.tensor(log_probs.mean().item())\n",
     "its result carries no gradient"),
    ("update_baseline", "def update_baseline(baseline, rewards, decay):\n    return str(baseline)\n",
     "update_baseline (controller update 1): it returned a str; a float is expected"),
    ("update_baseline", "def update_baseline(baseline, rewards, decay):\n    return float('inf')\n", "it returned inf"),
])
def test_a_hole_the_course_loop_cannot_use_is_named(hole, source, message):
    with pytest.raises(CheckFailed, match=None) as caught:
        _in_process_search(_holes(source))
    assert message in caught.value.message and f"the course's search called your {hole}" in caught.value.message, \
        caught.value.message


def test_a_nan_gradient_through_a_hole_is_named_with_its_hint():
    source = WRONG["sequence_log_prob"]["log(softmax) then gather: right values, NaN gradient on -inf logits"]
    with pytest.raises(CheckFailed) as caught:
        _in_process_search(_holes(source), landscape=_toy_landscape())
    assert "sequence_log_prob" in caught.value.message and "NaN" in caught.value.message
    assert "torch.log_softmax" in caught.value.hint


def test_update_baseline_gets_the_rewards_as_a_tensor_in_the_course_loop():
    seen = []
    holes = _holes()
    original = holes["update_baseline"]

    def spy(baseline, rewards, decay):
        seen.append(type(rewards).__name__)
        return original(baseline, rewards, decay)
    holes["update_baseline"] = spy
    _in_process_search(holes, budget=20)
    assert seen and set(seen) == {"Tensor"}


@pytest.mark.timeout(300)
def test_the_graded_search_is_the_in_process_search(grade_source):
    """Through the sandbox (holes in the child, VJPs over the wire) the course's controller asks the same
    architectures and prefers the same one as in this process with the holes imported: the grading and
    the bench measure one pipeline."""
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_nas

    result = grade_source("nas", REFERENCE, only=["search"], seed=11)
    test = group_result(result, "search")
    assert test.score == test.max_score, feedback(test)
    local = bench_nas.grading(11, bench_nas.params(), bench_nas.reference_holes())
    graded = test.extra_data["searches"]
    assert [(o.search, o.attempt) for o in local] == [(s["search"], s["attempt"]) for s in graded]
    for o, s in zip(local, graded):
        assert (o.queries, o.distinct, o.updates) == (s["queries"], s["distinct"], s["updates"])
        assert o.share == pytest.approx(s["share"], abs=1e-6)


# -- the hidden table -------------------------------------------------------------------------
def test_table_is_complete_and_matches_the_templates_search_space():
    table = table_module.load_table()
    nas = _reference_module()
    assert table.names == tuple(name for name, _ in nas.SPACE)
    assert table.options == tuple(tuple(str(o) for o in options) for _, options in nas.SPACE)
    assert table.choices == tuple(nas.CHOICES) == import_local(str(NAS / "hidden" / "suite.py"), "suite").SPACE_CHOICES
    assert table.accuracy.shape == table.flops.shape == (int(np.prod(table.choices)),)
    assert np.all((table.accuracy >= 0) & (table.accuracy <= 1)) and np.all(table.flops > 0)
    assert "FlopCounterMode" in table.meta["flops"] and table.meta["build_seconds"] > 0
    # a network that learnt something is in every corner of the space
    assert table.accuracy.max() > 0.9 and np.median(table.accuracy) > 0.5


def test_table_flops_are_what_torch_counts_for_the_templates_networks():
    """FLOPs are exact integers (torch's counter on the template's network), so they agree on every machine."""
    table = table_module.load_table()
    nas = _reference_module()
    rng = np.random.default_rng(0)
    picked = {int(np.argmin(table.flops)), int(np.argmax(table.flops)), *rng.choice(table.flops.size, 12).tolist()}
    for index in picked:
        architecture = table.architectures[index]
        assert nas.count_flops(nas.build_model(architecture)) == table.flops[index], nas.describe(architecture)


def test_table_is_checksum_checked(tmp_path):
    from grader.kits.images.datasets import DatasetError

    bad = tmp_path / "nas-table.npz"
    bad.write_bytes(table_module.TABLE.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="sha256"):
        table_module.load_table(bad)


def test_served_reward_is_the_templates_nas_reward():
    """The grader serves MnasNet's form of the EfficientNet objective, as the template's nas_reward computes it."""
    nas = _reference_module()
    rng = np.random.default_rng(1)
    accuracy, flops = rng.uniform(0.1, 1, 200), np.round(10 ** rng.uniform(3, 6.5, 200)).astype(np.int64)
    for target in (2e4, 1e5, 5e5):
        served = table_module.nas_reward(accuracy, flops, target, 0.07)
        assert np.allclose(served, nas.nas_reward(accuracy, flops, target, 0.07), rtol=1e-12)
        over = flops > target
        assert np.array_equal(served[~over], accuracy[~over])
        assert np.allclose(served[over], accuracy[over] * (target / flops[over]) ** 0.07)



# -- bad submissions -----------------------------------------------------------------------------
@pytest.mark.timeout(180)
@pytest.mark.parametrize("body", [
    "def search(query, args):\n    while True:\n        pass\n",
    "def search(query, args):\n    raise SystemExit(0)\n",
    "search = None\nController = None\nbuild_parser = None\n",
])
def test_the_submissions_own_search_is_never_called(grade_source, body):
    """A search that loops forever, one that exits, none at all: the course's search runs with the holes."""
    result = grade_source("nas", REFERENCE + "\n\n" + body, only=["search"])
    assert scores(result) == {"search": 4}, feedback(group_result(result, "search"))


@pytest.mark.timeout(180)
@pytest.mark.parametrize("body, message", [
    ("def controller_loss(log_probs, rewards, baseline):\n    return -(rewards - baseline) * log_probs\n",
     "the course's search called your controller_loss (controller update 1): it returned a tensor of shape [16] "
     "(float32) for a batch of 16; a scalar is expected"),
    ("def sequence_log_prob(logits, tokens):\n    raise ValueError('no idea')\n", "ValueError: no idea"),
    ("def update_baseline(baseline, rewards, decay):\n    import time\n    time.sleep(60)\n", "time limit reached"),
])
def test_a_bad_hole_in_the_graded_search_gets_a_clear_message(grade_source, body, message):
    result = grade_source("nas", REFERENCE + "\n\n" + body, only=["search"], **FAST)
    test = group_result(result, "search")
    assert test.score == 0
    assert message in feedback(test), feedback(test)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hole, body, message", [
    ("controller_loss", "def controller_loss(log_probs, rewards, baseline):\n    return log_probs.mean() * float('nan')\n",
     "controller_loss returned nan"),
    ("sequence_log_prob", "def sequence_log_prob(logits, tokens):\n    return logits[:, :, 0]\n",
     "expected [B]"),
    ("efficientnet_reward", "def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):\n    return 'big'\n",
     "float64 number or numpy array, got str"),
    ("update_baseline", "def update_baseline(baseline, rewards, decay):\n    return [baseline]\n",
     "should return a float, got list"),
    ("efficientnet_reward", "def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):\n"
     "    return np.float32(accuracy * (target_flops / np.asarray(flops, dtype=np.float64)) ** beta)\n",
     "returned float32 values"),
])
def test_bad_hole_gets_a_clear_message(grade_source, hole, body, message):
    result = grade_source("nas", REFERENCE + "\n\n" + body, only=[hole])
    assert scores(result) == {hole: 0}
    assert message in feedback(group_result(result, hole)), feedback(group_result(result, hole))


def test_the_table_ships_only_under_hidden():
    found = [p.relative_to(NAS) for p in NAS.rglob("*.npz")]
    assert found == [table_module.TABLE.relative_to(NAS)] and found[0].parts[0] == "hidden"
    assert [name for name, _ in load_assignment("nas").child_files] == ["holes_child"]     # the kit's, no data


def test_search_space_constants_agree():
    public = import_local(str(NAS / "public" / "suite.py"), "suite")
    assert public.SPACE_CHOICES == tuple(_reference_module().CHOICES)
    assert len(public.TOY_BEST) == len(public.SPACE_CHOICES)
    assert all(0 <= b < c for b, c in zip(public.TOY_BEST, public.SPACE_CHOICES))
    assert len(list(itertools.product(*(range(c) for c in public.SPACE_CHOICES)))) == 1080
