"""Red team, RL (issue 21): hostile ``reinforce.py`` / ``reinforce_baseline.py`` hand-ins get the points
their holes earn and nothing for what else they build.

The ``training`` threshold trains the course's own pipeline (the template's loop, network and
optimizer, in the grader's process) with the submission's holes, so a hand-in's ``train()``, its
networks and its policy are never called: with the holes unimplemented, a hand-set balancing law or
a network that runs CartPole's physics scores 0 training points (it scored full points on main
0c73fbe); with honest holes the same cheating code scores full training points (nothing it builds
is scored). Each case's ``# HOLES`` line becomes tests/redteam/_honest_rl.py or
_unimplemented_rl.py. Every case ends with no process left behind and nothing left on disk (the
``children`` fixture of test_redteam.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.feedback.text import group_text
from tests.conftest import grade_path, group_result, scores
from tests.test_redteam import REDTEAM, children  # noqa: F401 - children is a fixture

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("reinforce_redteam"), pytest.mark.usefixtures("children")]
HOLES = {how: (REDTEAM / f"_{how}_rl.py").read_text() for how in ("honest", "unimplemented")}


def grade_rl_case(tmp_path: Path, case: str, assignment: str, holes: str, only: list[str]):
    source = (REDTEAM / f"{case}.py").read_text().replace("# HOLES\n", HOLES[holes])
    folder = tmp_path / "submission"
    folder.mkdir()
    path = folder / f"{assignment}.py"
    path.write_text(source)
    result = grade_path(path, assignment, only=only)
    assert result.extra_data["sandbox"].startswith("sandbox:")
    return result


def feedback(result, group: str) -> str:
    return group_text(group_result(result, group))


@pytest.mark.parametrize("case, assignment, points", [("rl_hand_set_law", "reinforce", 4),
                                                      ("rl_physics_network", "reinforce_baseline", 5)])
@pytest.mark.parametrize("holes", ["unimplemented", "honest"])
def test_what_a_hand_in_builds_besides_its_holes_plays_no_part(tmp_path, case, assignment, points, holes):
    """A balancing law (a hand-set linear layer after 40 random episodes; a network running CartPole's
    physics after 180): 0 with the holes unimplemented, full points with honest ones."""
    result = grade_rl_case(tmp_path, case, assignment, holes, ["training"])
    text = feedback(result, "training")
    if holes == "unimplemented":
        assert scores(result) == {"training": 0}, text
        assert "the course's training loop called your compute_returns on " in text and "not implemented yet" in text
        assert "evaluation 500" not in text and "retrained" not in text
    else:
        assert scores(result) == {"training": points}, text
        assert text.count("the course's loop with your holes:") >= 2, text


def test_a_dtype_that_lies_gets_no_compute_returns_points(tmp_path):
    """compute_returns returns float32 behind an ndarray subclass whose dtype says float64: every check
    reads the dtype from the frame (the array's real one), so all of them fail."""
    result = grade_rl_case(tmp_path, "rl_lying_dtype", "reinforce", "honest", ["compute_returns", "reinforce_loss"])
    assert scores(result) == {"compute_returns": 0, "reinforce_loss": 3}, feedback(result, "compute_returns")
    test = group_result(result, "compute_returns")
    assert all(c.status == "failed" for c in test.checks)
    assert "returned dtype float32, expected float64" in feedback(result, "compute_returns")
