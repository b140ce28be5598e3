"""The NAS assignment end to end: the reference full marks and the template zero, the public
checks, the parent-side query server, landscape and learning rule (assignments/nas/serving.py),
the hidden table (what it holds and that it agrees with the template's search space), bad
submissions, and non-learning cheats (a fixed answer, the best fixed answer, random search).

The full search group of the reference runs once here; its pass rate over 20 seeds, and those
of random search and of the loop without a baseline, are in test_nas_calibration.py (slow).
"""

from __future__ import annotations

import importlib.util
import itertools
import sys

import numpy as np
import pytest

from grader.core.assignment import load_assignment
from grader.core.suite import import_local
from grader.feedback.html import find_curves
from grader.sandbox import CallbackAbort
from tests.conftest import ROOT, feedback, group_result, needs_isolation, scores

NAS = ROOT / "assignments" / "nas"
REFERENCE = (ROOT / "solutions" / "nas.py").read_text()
TEMPLATE = (ROOT / "templates" / "nas.py").read_text()
HOLES = ["efficientnet_reward", "sequence_log_prob", "controller_loss", "update_baseline"]
REDTEAM = ROOT / "tests" / "redteam"


def redteam_case(name: str, **replace: str) -> str:
    """tests/redteam/NAME.py with its "# HONEST" line replaced by the honest holes (_honest_nas.py)
    and each ``__KEY__`` by ``replace[KEY]``."""
    source = (REDTEAM / f"{name}.py").read_text().replace("# HONEST\n", (REDTEAM / "_honest_nas.py").read_text())
    for key, value in replace.items():
        source = source.replace(f"__{key}__", value)
    return source
serving = import_local(str(NAS / "public" / "suite.py"), "serving")
table_module = import_local(str(NAS / "hidden" / "suite.py"), "table")
PARAMS = dict(load_assignment("nas").groups["search"].params)
FAST = {"time_scale": 0.15}     # the search group's 90 s wall limit becomes 13.5 s


def _reference_module():
    spec = importlib.util.spec_from_file_location("nas_reference_for_tests", ROOT / "solutions" / "nas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# -- references and templates ---------------------------------------------------------
@pytest.mark.timeout(300)
def test_reference_full_marks_with_search_feedback(grade_source):
    result = grade_source("nas", REFERENCE, seed=7)
    assert result.score == result.max_score == 10, [feedback(t) for t in result.tests]
    search = group_result(result, "search")
    extra = search.extra_data
    budget, share = int(PARAMS["budget"]), float(PARAMS["share"])
    assert len(extra["searches"]) == 2
    for run, rewards, best, random_curve in zip(extra["searches"], extra["reward per query curve"],
                                                extra["best so far curve"],
                                                extra["random search best so far (reference curve)"]):
        assert run["share"] >= share and 1 <= run["rank"] <= run["size"] == 1080
        assert 0 < run["queries"] == len(rewards) == len(best) <= budget and len(random_curve) == budget
        assert np.all(np.diff(best) >= 0) and max(rewards) == best[-1]
        assert 0 <= run["random_search_pass_probability"] <= 1
        assert "secret target" in run["setting"] and len(run["architecture"]) == 6
    assert feedback(search).count("the controller prefers") == 2 and "rank" in feedback(search)
    assert "Random search with" in feedback(search)
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
    result = grade_source("nas", TEMPLATE, suite="public")
    assert result.score == 0


# -- the parent-side query server and landscape --------------------------------------------------
def _landscape(choices=(2, 3), rewards=None) -> serving.Landscape:
    size = int(np.prod(choices))
    rewards = np.arange(size, dtype=np.float64) / size if rewards is None else np.asarray(rewards, dtype=np.float64)
    return serving.Landscape(tuple(choices), rewards, lambda a: str(list(a)))


def test_query_server_serves_counts_and_refuses_after_the_budget():
    land = _landscape()
    server = serving.QueryServer(land, budget=3)
    assert server.handle({"architecture": np.array([1, 2])}) == {"reward": land.rewards[5]}
    server.handle({"architecture": np.array([1, 2])})          # repeated queries count too
    server.handle({"architecture": np.array([0, 0], dtype=np.int32)})
    assert server.used == 3 and server.indices == [5, 5, 0]
    assert server.rewards.tolist() == [land.rewards[5], land.rewards[5], 0.0]
    with pytest.raises(CallbackAbort, match="query budget of 3 architectures is spent"):
        server.handle({"architecture": np.array([0, 1])})
    assert server.used == 3


@pytest.mark.parametrize("value, message", [
    (np.array([0, 1, 2]), "2 choice indices"),
    (np.array([[0, 1]]), "shape"),
    (np.array([0.5, 1.0]), "integer choice indices"),
    (np.array([np.nan, 1.0]), "integer choice indices"),
    (np.array([2, 0]), "decision 0 has choices 0..1, got 2"),
    (np.array([0, -1]), "decision 1 has choices 0..2, got -1"),
    (np.array(["a", "b"]), "dtype"),
    ([0, 1], "list of choice indices"),
])
def test_query_server_names_a_bad_architecture(value, message):
    server = serving.QueryServer(_landscape(), budget=5)
    with pytest.raises(CallbackAbort, match=message):
        server.handle({"architecture": value})
    assert server.used == 0
    with pytest.raises(CallbackAbort, match="malformed"):
        server.handle([0, 1])


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


def _best_fixed_answer() -> list[int]:
    """The architecture that reaches the stated share at the most targets of the range (a log grid)."""
    table = table_module.load_table()
    targets = np.exp(np.linspace(np.log(float(PARAMS["target_low"])), np.log(float(PARAMS["target_high"])), 200))
    passes = np.zeros(table.flops.size)
    for target in targets:
        rewards = table_module.nas_reward(table.accuracy, table.flops, target, float(PARAMS["beta"]))
        passes += rewards >= float(PARAMS["share"]) * rewards.max()
    return table.architectures[int(np.argmax(passes))].tolist()


def _server(rewards, asked) -> serving.QueryServer:
    land = serving.Landscape((2, 2, 2), np.asarray(rewards, dtype=np.float64), str)
    server = serving.QueryServer(land, budget=8)
    for index in asked:
        server.handle({"architecture": np.asarray(np.unravel_index(index, land.choices), dtype=np.int64)})
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


# -- bad submissions -----------------------------------------------------------------------------
def _with_search(body: str) -> str:
    return REFERENCE + "\n\n" + body


@pytest.mark.timeout(120)
@pytest.mark.parametrize("body, message", [
    ('''
def search(query, args):
    rng = np.random.default_rng(0)
    for _ in range(10 * args.budget):
        query([int(rng.integers(c)) for c in args.choices])
''', "query budget of 162 architectures is spent"),
    ('''
def search(query, args):
    query([0, 1])
''', "expects 6 choice indices"),
    ('''
def search(query, args):
    query([0.5] * 6)
''', "integer choice indices"),
    ('''
def search(query, args):
    query([0, 0, 7, 0, 0, 0])
''', "decision 2 has choices 0..2, got 7"),
    ('''
def search(query, args):
    return None
''', "must return the controller"),
    ('''
class Broken:
    def greedy(self):
        return [0, 1]

def search(query, args):
    return Broken()
''', "should hold 6 choice indices"),
    ('''
class Broken:
    def greedy(self):
        return ["relu"] * 6

def search(query, args):
    return Broken()
''', "not a list of choice indices"),
    ('''
_original_search = search

def search(query, args):
    return _original_search(lambda architecture: query(architecture) * float("nan"), args)
''', "nan"),
    ('''
def search(query, args):
    while True:
        pass
''', "time limit"),
])
def test_bad_search_gets_a_clear_message_and_costs_only_the_search(grade_source, body, message):
    result = grade_source("nas", _with_search(body), only=["update_baseline", "search"], **FAST)
    assert scores(result) == {"update_baseline": 1, "search": 0}
    output = feedback(group_result(result, "search"))
    assert message in output, output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("hole, body, message", [
    ("controller_loss", "def controller_loss(log_probs, rewards, baseline):\n    return log_probs.mean() * float('nan')\n",
     "controller_loss returned nan"),
    ("sequence_log_prob", "def sequence_log_prob(logits, tokens):\n    return logits[:, :, 0]\n",
     "expected [B]"),
    ("efficientnet_reward", "def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):\n    return 'big'\n",
     "float64 number or numpy array, got builtins.str"),
    ("update_baseline", "def update_baseline(baseline, rewards, decay):\n    return [baseline]\n",
     "should return a float, got builtins.list"),
])
def test_bad_hole_gets_a_clear_message(grade_source, hole, body, message):
    result = grade_source("nas", REFERENCE + "\n\n" + body, only=[hole])
    assert scores(result) == {hole: 0}
    assert message in feedback(group_result(result, hole)), feedback(group_result(result, hole))


# -- cheats ----------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_a_fixed_poor_answer_does_not_pass_the_search(grade_source):
    """A search that asks nothing and always answers the smallest network gets nothing."""
    table = table_module.load_table()
    architecture = table.architectures[int(np.argmin(table.flops))].tolist()
    source = redteam_case("nas_fixed_answer", ARCH=repr(architecture))
    result = grade_source("nas", source, only=["search"], **FAST)
    test = group_result(result, "search")
    assert test.score == 0, feedback(test)
    assert "below 95.0 %" in feedback(test) and "asked about 0 distinct architectures" in feedback(test)


@pytest.mark.timeout(120)
def test_the_best_fixed_answer_does_not_pass_the_search(grade_source):
    """The architecture fixed in advance that earns 95 % at the most targets (most of the range with beta =
    0.07): the answer rule alone would pass it; the learning rule does not, since it asks nothing."""
    source = redteam_case("nas_fixed_answer", ARCH=repr(_best_fixed_answer()))
    result = grade_source("nas", source, only=["search"], **FAST)
    test = group_result(result, "search")
    assert test.score == 0, feedback(test)
    assert "asked about 0 distinct architectures; at least 81" in feedback(test)


@pytest.mark.timeout(120)
def test_random_search_does_not_pass_the_search(grade_source):
    """Random search with the whole budget, answering the best it was told: the last quarter of its queries
    averages the space's mean (about 71 % of the best), far below the learning rule's 83 %."""
    result = grade_source("nas", redteam_case("nas_random_search"), only=["search"], seed=5, **FAST)
    test = group_result(result, "search")
    assert test.score == 0, feedback(test)
    assert feedback(test).count("of the architectures it asked about (40) earn on average") == 2, feedback(test)
    for run in test.extra_data["searches"]:
        assert run["distinct"] == 162 and run["last_quarter_share"] < float(PARAMS["learned_share"])
        assert run["random_search_learning_probability"] < 0.01


@needs_isolation
@pytest.mark.timeout(120)
def test_the_table_never_reaches_a_child(grade_source):
    source = redteam_case("nas_read_table", ROOT=str(ROOT))
    result = grade_source("nas", source, only=["search"], **FAST)
    test = group_result(result, "search")
    assert "search found: nothing" in feedback(test) and test.score == 0, feedback(test)


def test_the_table_ships_only_under_hidden():
    found = [p.relative_to(NAS) for p in NAS.rglob("*.npz")]
    assert found == [table_module.TABLE.relative_to(NAS)] and found[0].parts[0] == "hidden"
    assert not load_assignment("nas").child_files


def test_search_space_constants_agree():
    public = import_local(str(NAS / "public" / "suite.py"), "suite")
    assert public.SPACE_CHOICES == tuple(_reference_module().CHOICES)
    assert len(public.TOY_BEST) == len(public.SPACE_CHOICES)
    assert all(0 <= b < c for b, c in zip(public.TOY_BEST, public.SPACE_CHOICES))
    assert len(list(itertools.product(*(range(c) for c in public.SPACE_CHOICES)))) == 1080
