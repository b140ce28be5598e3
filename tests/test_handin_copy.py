"""One copy of the hand-in: ``grade`` reads the file's bytes once, every child gets that copy, and the
result records the hash of those bytes (issue 21: a file swapped from the solution to the template after
the first child had copied it was graded half on each, and results.json named the template's hash)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from grader.core.progress import GroupStarted
from tests.conftest import ROOT, grade_path, scores, stopped_every_group

pytestmark = pytest.mark.timeout(180)


def test_a_file_swapped_while_it_is_graded_is_graded_as_it_was_read(tmp_path: Path) -> None:
    path = tmp_path / "bandits.py"
    shutil.copy(ROOT / "solutions" / "bandits.py", path)
    read = hashlib.sha256(path.read_bytes()).hexdigest()
    swapped = []

    def swap(event) -> None:
        if isinstance(event, GroupStarted) and not swapped:   # the first group has started: swap the file under it
            shutil.copy(ROOT / "templates" / "bandits.py", path)
            swapped.append(event.group)

    result = grade_path(path, "bandits", seed=3, progress=swap)
    assert swapped, "the file was never swapped"
    assert scores(result) == {"epsilon_greedy": 4, "update_estimate": 3, "agent": 3}
    assert result.extra_data["submission_sha256"] == read


def test_an_unreadable_hand_in_is_a_result_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "bandits.py"
    path.mkdir()                    # a folder where a file was expected
    result = grade_path(path, "bandits", seed=3)
    assert result.score == 0 and stopped_every_group(result, "directory")
