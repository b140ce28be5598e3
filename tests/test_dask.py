"""grade-batch --executor dask on a LocalCluster: same results as local workers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import distributed
import pytest
from conftest import ROOT, gradescope_problems, twin_course

from grader.cli.main import EXIT_USAGE, main

pytestmark = pytest.mark.xdist_group("test_dask")   # one worker: its module fixture is built once


@pytest.fixture(scope="module")
def cluster():
    # In-process workers keep the test light; real clusters run the same task function in worker processes.
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as c:
        yield c


@pytest.mark.timeout(180)
def test_batch_on_a_dask_cluster(tmp_path: Path, cluster) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student, source in (("alice", "solutions"), ("bob", "templates")):
        (subs / student).mkdir(parents=True)
        (subs / student / "bandits.py").write_text((ROOT / source / "bandits.py").read_text())
    (subs / "carol").mkdir()
    (subs / "carol" / "bandits.py").symlink_to(tmp_path / "missing.py")
    args = ["grade-batch", str(subs), "--out", str(out), "--executor", "dask",
            "--scheduler", cluster.scheduler_address, "--seed", "11", "-q"]
    assert main(args) == 0
    with open(out / "gradebook.csv", newline="") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["alice"]["total"] == "10" and rows["alice"]["status"] == "graded"
    assert rows["bob"]["total"] == "0" and rows["bob"]["status"] == "graded"
    assert rows["carol"]["status"].startswith("refused: symlink")   # a link is never followed
    for path in out.glob("*/*/results.json"):
        assert gradescope_problems(json.loads(path.read_text())) == []
        assert (path.parent / "feedback.html").is_file()
    # Resuming works the same way on the cluster.
    assert main(args) == 0
    assert (out / "alice" / "bandits" / "results.json").is_file()


@pytest.mark.timeout(180)
def test_a_batch_on_dask_grades_in_the_course_it_was_given(tmp_path: Path, cluster, monkeypatch) -> None:
    """--course reaches the workers as part of each job (issue 22: the course was a process-global that the
    workers never saw): a twin course whose agent group is worth 5 points gives 12, not this checkout's 10."""
    course = twin_course(tmp_path / "course")
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "bandits.py").write_text((ROOT / "solutions" / "bandits.py").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GRADER_COURSE", raising=False)
    args = ["grade-batch", str(subs), "--out", str(out), "--executor", "dask", "--scheduler",
            cluster.scheduler_address, "--seed", "11", "-q", "--course", str(course)]
    assert main(args) == 0
    with open(out / "gradebook.csv", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert (row["total"], row["agent"], row["status"]) == ("12", "5", "graded"), row


def test_dask_needs_a_scheduler_and_local_refuses_one(tmp_path: Path, capsys) -> None:
    (tmp_path / "s" / "a").mkdir(parents=True)
    base = ["grade-batch", str(tmp_path / "s"), "--out", str(tmp_path / "o")]
    assert main([*base, "--executor", "dask"]) == EXIT_USAGE
    assert main([*base, "--scheduler", "tcp://127.0.0.1:8786"]) == EXIT_USAGE
    assert len(capsys.readouterr().err.strip().splitlines()) == 2
