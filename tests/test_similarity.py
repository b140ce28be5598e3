"""``grader similarity`` and ``grade-batch --similarity``: copies are flagged, independent solutions are not,
the template never counts, notebooks are compared by their code, and the report is safe to open."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import grader.workflows.similarity as similarity
from grader.cli.main import EXIT_USAGE, main
from grader.core.text import FORMULA_STARTS
from grader.formats.notebooks import notebook_from_source, write_notebook
from grader.workflows.similarity import DEFAULT_THRESHOLD, similarity_report
from tests.conftest import ROOT
from tests.fake_class import disguised, holes, implementations, independent, reference, template

pytestmark = pytest.mark.timeout(180)
ASSIGNMENTS = ["bandits", "reinforce", "reinforce_baseline", "vae"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def scores(report) -> dict[frozenset, float]:
    return {frozenset((p.a.student, p.b.student)): p.similarity for p in report.pairs}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_disguised_copy_is_flagged_and_independent_solutions_are_not(tmp_path, assignment):
    """The reference and a copy of it with renamed variables and reordered functions are flagged; the
    reference against each independent correct solution of the catalogue (tests/variants) is not."""
    subs = tmp_path / "subs"
    write(subs / "original" / f"{assignment}.py", reference(assignment))
    copy = disguised(reference(assignment), seed=7)
    assert copy != reference(assignment)
    write(subs / "copier" / f"{assignment}.py", copy)
    n = max(len(implementations(assignment, h, wrong=False)) for h in holes(assignment))
    for i in range(n):
        write(subs / f"independent{i}" / f"{assignment}.py", independent(assignment, i))
    report = similarity_report(subs, tmp_path / "report")
    found = scores(report)
    assert found[frozenset(("original", "copier"))] >= DEFAULT_THRESHOLD
    assert [p.a.student for p in report.flagged[:1]] + [p.b.student for p in report.flagged[:1]] \
        in (["copier", "original"], ["original", "copier"])
    for i in range(n):
        assert found.get(frozenset(("original", f"independent{i}")), 0.0) < DEFAULT_THRESHOLD, i
        assert found.get(frozenset(("copier", f"independent{i}")), 0.0) < DEFAULT_THRESHOLD, i
    assert report.notes == []


def test_the_template_is_boilerplate_and_never_counts(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", template("bandits"))
    write(subs / "bob" / "bandits.ipynb", (ROOT / "templates" / "bandits.ipynb").read_text())
    write(subs / "carol" / "bandits.py", template("bandits").replace("import numpy as np", "import numpy as np\n# mine"))
    report = similarity_report(subs, tmp_path / "report")
    assert report.pairs == [] and report.flagged == []
    assert report.notes[0].startswith("nothing to compare: all 3 submission(s) are the template's code")
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "No two submissions share code beyond the template" in page
    assert (tmp_path / "report" / "similarity.csv").read_text().count("\n") == 1   # the header only


def test_notebooks_are_compared_by_their_code(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "alice" / "vae.py", reference("vae"))
    nb = notebook_from_source(disguised(reference("vae"), seed=3), name="vae", template=False)
    write(subs / "bob" / "vae.ipynb", write_notebook(nb))
    report = similarity_report(subs, tmp_path / "report")
    assert scores(report)[frozenset(("alice", "bob"))] >= DEFAULT_THRESHOLD


def test_only_the_same_assignment_is_compared_and_bad_files_are_listed(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", reference("bandits"))
    write(subs / "alice" / "vae.py", reference("vae"))
    write(subs / "bob" / "vae.py", reference("vae"))
    big = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "execution_count": 1,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "y" * (50 << 20)}]}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(subs / "carol" / "bandits.ipynb", json.dumps(big))
    (subs / "dave").mkdir()
    (subs / "dave" / "bandits.py").symlink_to(ROOT / "solutions" / "bandits.py")
    report = similarity_report(subs, tmp_path / "report")
    assert [(p.a.label, p.b.label) for p in report.pairs] == [("alice/vae.py", "bob/vae.py")]
    notes = "\n".join(report.notes)
    assert "carol/bandits.ipynb: not compared: the submission carol/bandits.ipynb is too large (50.0 MB" in notes
    assert "dave/bandits.py: not compared: refused: symlink" in notes
    assert "Not compared" in (tmp_path / "report" / "similarity.html").read_text()


def test_the_report_is_safe_to_open(tmp_path):
    """Hostile folder names and code cannot inject markup into the page or formulas into the CSV."""
    subs = tmp_path / "subs"
    hostile = reference("bandits").replace('"""Multi-armed bandits', '"""</pre><script>alert(2)</script>\u202e\x1b[2J')
    hostile = hostile.replace("    if rng.random() < epsilon:",
                              "    # </pre><SCRIPT>alert(3)</SCRIPT>\n    if rng.random() < epsilon:")
    write(subs / "<script>alert(1)<" / "bandits.py", hostile)
    write(subs / '=HYPERLINK("evil.example","x")' / "bandits.py", disguised(hostile, seed=1))
    report = similarity_report(subs, tmp_path / "report")
    assert len(report.flagged) == 1
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "<script" not in page.lower() and "\x1b" not in page and "\u202e" not in page
    assert "&lt;script&gt;alert(1)&lt;" in page and "<mark>" in page
    with open(tmp_path / "report" / "similarity.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert len(table) == 2
    for row in table:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell


def test_scores_are_the_same_on_every_run(tmp_path):
    """copydetect hashes with Python's salted hash(): every k-gram is kept (no winnowing), so two runs in
    two processes (two salts) give the same report."""
    subs = tmp_path / "subs"
    for i in range(3):
        write(subs / f"s{i}" / "reinforce.py", independent("reinforce", i, wrong=True))
    write(subs / "copy" / "reinforce.py", disguised(independent("reinforce", 1, wrong=True), seed=5))
    csvs = []
    for run in range(2):
        proc = subprocess.run([sys.executable, "-m", "grader", "similarity", str(subs), "--out", str(tmp_path / f"r{run}")],
                              cwd=ROOT, capture_output=True, text=True, env={"PYTHONHASHSEED": str(run + 1),
                                                                             "PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("\n") == 1 and "4 submission(s) compared" in proc.stdout
        csvs.append((tmp_path / f"r{run}" / "similarity.csv").read_text())
    assert csvs[0] == csvs[1] and csvs[0].count("\n") >= 2


def test_tokenizing_and_comparing_in_workers_gives_the_same_report(tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    for i in range(4):
        write(subs / f"s{i}" / "reinforce.py", independent("reinforce", i, wrong=True))
    write(subs / "copy" / "reinforce.py", disguised(independent("reinforce", 2, wrong=True), seed=5))
    alone = similarity_report(subs, tmp_path / "r1", jobs=1)
    monkeypatch.setattr(similarity, "PARALLEL_FROM", 1)
    together = similarity_report(subs, tmp_path / "r2", jobs=2)
    assert [(p.a.label, p.b.label, p.similarity, p.overlap) for p in alone.pairs] == \
        [(p.a.label, p.b.label, p.similarity, p.overlap) for p in together.pairs]
    assert (tmp_path / "r1" / "similarity.csv").read_text() == (tmp_path / "r2" / "similarity.csv").read_text()


def test_usage_errors_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    zipped = tmp_path / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "class.zip", "w") as zf:
        zf.writestr("alice/bandits.py", reference("bandits"))
    cases = [([str(tmp_path / "empty")], "no submissions found"),
             ([str(tmp_path / "nope")], "is not a folder of submissions"),
             ([str(zipped)], "unpack them first"),
             ([str(tmp_path / "empty"), "--threshold", "1.5"], "between 0 and 1"),
             ([str(tmp_path / "empty"), "--assignment", "nope"], "unknown assignment 'nope'")]
    for args, message in cases:
        assert main(["similarity", *args, "--out", str(tmp_path / "report")]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)


@pytest.mark.timeout(240)
def test_grade_batch_writes_the_similarity_report_next_to_the_gradebook(tmp_path, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", template("bandits"))
    write(subs / "bob" / "bandits.py", independent("bandits", 0, wrong=True))
    write(subs / "similarity" / "bandits.py", disguised(independent("bandits", 0, wrong=True), seed=2))
    assert main(["grade-batch", str(subs), "--out", str(out), "-q", "--seed", "1", "--similarity"]) == 0
    err = capsys.readouterr().err
    assert "similarity: 3 submission(s) compared, 1 pair(s) at or above 50%" in err
    assert (out / "similarity" / "similarity.html").is_file() and (out / "similarity" / "similarity.csv").is_file()
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        students = [r["student"] for r in csv.DictReader(fh)]
    assert len(students) == 3 and "similarity" not in students       # a student named so gets another folder
    assert any(s.startswith("similarity~") for s in students)
