"""Red team of the NAS assignment: hand-ins that cheat the search threshold (tests/redteam/nas_*.py).

The threshold trains the course's controller with the course's loop in the grader, the hand-in's
holes called in its sandboxed child; nothing the hand-in builds is scored. So:

* the issue's hand-in (no controller: a hill climber with a least-squares surrogate in ``search``,
  4/4 under the old design) scores what its holes earn: 0 without them, full marks with honest ones,
  and its ``search`` is never run;
* holes that steer the course's controller to an answer fixed in advance (whatever the rewards say)
  would pass the answer rule alone at most targets: the learning rule fails them;
* holes that teach the controller nothing (the course's loop then searches at random) fail;
* holes that look for the hidden table or the secret target find nothing: the child never sees them.
"""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT, feedback, group_result, needs_isolation, scores

sys.path.insert(0, str(ROOT / "bench"))
import bench_nas

REDTEAM = ROOT / "tests" / "redteam"
HONEST = (REDTEAM / "_honest_nas.py").read_text()
MISSING = '''
def efficientnet_reward(accuracy, flops, target_flops, beta=0.07):
    raise NotImplementedError


def sequence_log_prob(logits, tokens):
    raise NotImplementedError


def controller_loss(log_probs, rewards, baseline):
    raise NotImplementedError


def update_baseline(baseline, rewards, decay):
    raise NotImplementedError
'''


def case(name: str, holes: str = HONEST, **replace: str) -> str:
    """tests/redteam/NAME.py with its "# HONEST" line replaced by ``holes`` and each ``__KEY__`` by ``replace[KEY]``."""
    source = (REDTEAM / f"{name}.py").read_text().replace("# HONEST\n", holes)
    for key, value in replace.items():
        source = source.replace(f"__{key}__", value)
    return source


@pytest.mark.timeout(300)
def test_the_hill_climber_hand_in_without_holes_scores_nothing(grade_source):
    """Issue 21's hand-in, as it was handed in (a search of its own, no holes): 0 of 4, and 0 overall."""
    result = grade_source("nas", case("nas_hill_climber", MISSING))
    assert result.score == 0, [feedback(t) for t in result.tests]
    search = group_result(result, "search")
    assert "not implemented yet" in feedback(search) and "HILL CLIMBER SEARCH RAN" not in feedback(search)


@pytest.mark.timeout(300)
def test_the_hill_climber_hand_in_with_honest_holes_scores_what_its_holes_earn(grade_source):
    """With honest holes the same hand-in gets full marks: its hill climber is never run (nothing it builds
    is scored), the course's controller learns with its holes."""
    result = grade_source("nas", case("nas_hill_climber"), only=["search"], seed=5)
    test = group_result(result, "search")
    assert scores(result) == {"search": 4}, feedback(test)
    assert "HILL CLIMBER SEARCH RAN" not in feedback(test) and "the course's controller prefers" in feedback(test)


@pytest.mark.timeout(300)
def test_holes_that_steer_to_a_fixed_answer_get_nothing(grade_source):
    """The architecture that earns 95 % at the most targets, imposed by the holes whatever the rewards: its
    answer passes the answer rule on every search; the queries show no learning (measured over more seeds
    and rates by bench/bench_nas.py --variants)."""
    result = grade_source("nas", case("nas_fixed_answer", ARCH=repr(bench_nas.best_fixed_answer()), RATE="1.0"),
                          only=["search"], seed=5)
    test = group_result(result, "search")
    assert test.score == 0, feedback(test)
    runs = test.extra_data["searches"]
    assert len(runs) == 4 and all(r["architecture"] == bench_nas.best_fixed_answer() for r in runs)
    assert all(r["share"] >= 0.95 for r in runs)          # the answer rule alone would have passed them
    assert "distinct architectures before it stopped finding new ones" in feedback(test) \
        or "the last quarter of the architectures" in feedback(test), feedback(test)


@pytest.mark.timeout(300)
def test_holes_that_teach_nothing_get_nothing(grade_source):
    """A loss with a graph but no gradient: the course's loop samples at random; the learning rule fails it."""
    result = grade_source("nas", case("nas_random_search"), only=["search"], seed=5)
    test = group_result(result, "search")
    assert test.score == 0, feedback(test)
    for run in test.extra_data["searches"]:
        assert run["last_quarter_share"] < bench_nas.params()["learned_share"]
    assert feedback(test).count("earn on average") >= 2


@needs_isolation
@pytest.mark.timeout(300)
def test_holes_looking_for_the_table_or_the_target_find_nothing(grade_source):
    result = grade_source("nas", case("nas_read_table", ROOT=str(ROOT)), only=["search"], seed=5)
    test = group_result(result, "search")
    text = feedback(test)
    assert "hole found: nothing" in text and "hole found in the search: nothing" in text, text
    assert test.score == 0, text
