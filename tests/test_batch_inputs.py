"""What is graded is what was handed in (issue 12): only regular files really inside a student's
folder are read; one results folder per student; vanished submissions are marked missing; the
gradebook is safe to open in a spreadsheet; bad input (archives, huge notebooks) gets a clear line."""

from __future__ import annotations

import csv
import json
import os
import random
import stat
import zipfile
from pathlib import Path

import pytest

from grader.cli.main import EXIT_USAGE, main
from grader.core.grading import GradeOptions
from grader.core.text import FORMULA_STARTS, csv_text, spreadsheet_cell
from grader.formats.source import RefusedFile, SubmissionFormatError, read_beneath
from grader.workflows.batch import BatchConfig, plan, run_batch
from grader.workflows.discovery import BatchError, discover
from grader.workflows.results_dir import student_dirname
from tests.conftest import ROOT, stopped_every_group_json

pytestmark = pytest.mark.timeout(180)
SOLUTION = (ROOT / "solutions" / "bandits.py").read_text()
TEMPLATE = (ROOT / "templates" / "bandits.py").read_text()
SECRET = "TOP_SECRET_LINE = ("      # a first line that does not parse: the old grader echoed it in feedback


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def batch(subs: Path, out: Path, assignment: str | None = "bandits"):
    return run_batch(BatchConfig(subs, out, jobs=1, assignment=assignment, options=GradeOptions(seed=1)))


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        return {row["student"]: row for row in csv.DictReader(fh)}


def everything_written(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


# -- 1. only regular files really inside the student's folder ------------------------------
def test_symlinks_at_any_level_are_refused_never_followed_never_echoed(tmp_path):
    outside = tmp_path / "outside"
    write(outside / "bandits.py", SECRET + "\n")
    os.mkfifo(outside / "pipe.py")
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    write(subs / "alice" / "notes.txt", "")
    os.symlink(ROOT / "solutions" / "bandits.py", subs / "alice" / "bandits.py")   # the reference: was 10/10
    os.symlink(ROOT / "solutions", subs / "ivan")                                  # the student folder itself
    write(subs / "bob" / "readme.txt", "")
    os.symlink(outside / "bandits.py", subs / "bob" / "bandits.py")                # echoed its first line
    (subs / "carol").mkdir()
    os.symlink(outside, subs / "carol" / "hw")                                     # a folder, one level down
    write(subs / "dave" / "work" / "bandits.py", TEMPLATE)                         # real, next to a link
    os.symlink(outside, subs / "dave" / "work" / "more")
    os.symlink(outside / "bandits.py", subs / "erin.py")                           # a top-level file
    (subs / "fred").mkdir()
    os.symlink(outside / "pipe.py", subs / "fred" / "bandits.py")                  # to a FIFO outside
    (subs / "gus").mkdir()
    os.symlink(tmp_path / "nowhere.py", subs / "gus" / "bandits.py")               # broken
    summary = batch(subs, out)
    rows = gradebook(out)
    assert set(rows) == {"alice", "ivan", "bob", "carol", "dave", "erin", "fred", "gus"}
    for student in ("alice", "ivan", "bob", "carol", "erin", "fred", "gus"):
        assert rows[student]["status"].startswith("refused: symlink"), rows[student]
        assert rows[student]["total"] == "0"
    assert rows["dave"]["status"] == "graded"
    assert summary.invalid == 7 and summary.graded == 1
    written = everything_written(out)
    for leak in (SECRET, str(outside), str(ROOT / "solutions"), "FIFO"):
        assert leak not in written, leak
    feedback = json.loads((out / "bob" / "bandits" / "results.json").read_text())
    assert stopped_every_group_json(feedback, "refused: symlink: bob/bandits.py is a symbolic link")


def test_hard_links_to_files_outside_are_refused_inside_ones_are_fine(tmp_path):
    outside = write(tmp_path / "outside" / "secret.py", SECRET + "\n")
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "frank").mkdir(parents=True)
    os.link(outside, subs / "frank" / "bandits.py")
    write(subs / "gina" / "bandits.py", TEMPLATE)
    (subs / "hank").mkdir()
    os.link(subs / "gina" / "bandits.py", subs / "hank" / "bandits.py")   # both names inside the folder
    batch(subs, out)
    rows = gradebook(out)
    assert rows["frank"]["status"].startswith("refused: hard link: frank/bandits.py has 2 names")
    assert "1 of them outside the submissions folder" in rows["frank"]["status"]
    assert rows["gina"]["status"] == rows["hank"]["status"] == "graded"
    assert SECRET not in everything_written(out)


def test_fifos_and_devices_are_refused_without_being_opened(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "ivy").mkdir(parents=True)
    os.mkfifo(subs / "ivy" / "bandits.py")        # opening it for reading without O_NONBLOCK would hang
    (subs / "jack").mkdir()
    try:
        os.mknod(subs / "jack" / "bandits.py", stat.S_IFCHR | 0o600, os.makedev(1, 3))   # /dev/null's numbers
        device = True
    except (PermissionError, OSError):
        device = False
    batch(subs, out)
    rows = gradebook(out)
    assert rows["ivy"]["status"].startswith("refused: FIFO: ivy/bandits.py is a FIFO")
    if device:
        assert rows["jack"]["status"].startswith("refused: device: jack/bandits.py is a device")


def test_read_beneath_refuses_a_link_anywhere_on_the_path(tmp_path):
    root = tmp_path / "root"
    write(root / "a" / "real.py", "x = 1\n")
    write(tmp_path / "elsewhere" / "f.py", SECRET)
    os.symlink(tmp_path / "elsewhere", root / "a" / "linked")
    os.symlink(tmp_path / "elsewhere" / "f.py", root / "a" / "f.py")
    assert read_beneath(root, "a/real.py", "a/real.py") == b"x = 1\n"
    for rel, reason in (("a/linked/f.py", "symlink"), ("a/f.py", "symlink"), ("a", "folder")):
        with pytest.raises(RefusedFile) as caught:
            read_beneath(root, rel, rel)
        assert caught.value.reason == reason and SECRET not in str(caught.value)
        assert str(tmp_path / "elsewhere") not in str(caught.value)
    for rel in ("../elsewhere/f.py", "/etc/passwd", "a/missing.py"):
        with pytest.raises(SubmissionFormatError):
            read_beneath(root, rel, "x")


# -- 2. one student, one results folder ------------------------------------------------------
def test_results_folder_names_are_one_to_one():
    rng = random.Random(12)
    alphabet = ["a", "x", "\\", "0", "9", "~", ".", "\t", "\n", "\x1b", "\u202e", "é", "\udce9", " ", "f", "_"]
    names = {"x\ty", "x\\x09y", "gradebook.csv", "_gradebook.csv", "similarity", "a" * 300, "a" * 300 + "b",
             "x\\x09y~0123456789ab", "Zoë", "李雷", "=HYPERLINK(1)", ".config"}
    names |= {"".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12))) for _ in range(3000)}
    names.discard("")
    folders = {student_dirname(n) for n in names}
    assert len(folders) == len(names)
    for folder in folders:
        assert folder.isprintable() and "/" not in folder and not folder.startswith(".")
        assert len(folder.encode("utf-8")) <= 255 and folder not in ("gradebook.csv", "similarity")
    assert student_dirname("Zoë") == "Zoë" and student_dirname("x\\x09y") == "x\\x09y"   # plain names kept


def test_two_students_whose_names_print_alike_keep_two_rows(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "x\ty" / "notes.txt", "a tab in the name")
    write(subs / "x\\x09y" / "notes.txt", "a backslash in the name")
    batch(subs, out)
    rows = gradebook(out)
    assert len(rows) == 2 and "x\\x09y" in rows
    assert len(list(out.glob("*/bandits/results.json"))) == 2


def test_a_clash_of_results_folders_stops_the_batch_before_grading(tmp_path, monkeypatch, capsys):
    import grader.workflows.discovery as discovery_module

    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", TEMPLATE)
    write(subs / "bob" / "bandits.py", TEMPLATE)
    monkeypatch.setattr(discovery_module, "student_dirname", lambda student: "same")
    with pytest.raises(BatchError, match="2 submissions would share the results folder same/bandits"):
        plan(BatchConfig(subs, out, assignment="bandits"))
    assert main(["grade-batch", str(subs), "--out", str(out), "-q", "--allow-no-isolation"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rename one of them" in err
    assert not list(out.glob("*/*/results.json"))


def test_vanished_submissions_are_marked_missing_not_kept_with_an_old_score(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", TEMPLATE)
    write(subs / "bob" / "bandits.py", TEMPLATE)
    batch(subs, out)
    assert {r["status"] for r in gradebook(out).values()} == {"graded"}
    (subs / "bob" / "bandits.py").unlink()
    (subs / "bob").rmdir()
    summary = batch(subs, out)
    assert summary.missing == ["bob/bandits"] and summary.skipped == 1
    bob = gradebook(out)["bob"]
    assert bob["status"].startswith("missing: bob/bandits.py is no longer in the submissions folder")
    assert bob["total"] == "" and bob["epsilon_greedy"] == ""
    assert (out / "bob" / "bandits" / "results.json").is_file()     # kept, for the record
    # A batch of another assignment says nothing about bandits results.
    assert batch(subs, out, assignment="vae").missing == []
    alice = json.loads((out / "alice" / "bandits" / "results.json").read_text())
    assert alice["extra_data"]["batch"]["status"] == "graded"
    # Handed in again: graded again (not skipped as current).
    write(subs / "bob" / "bandits.py", TEMPLATE)
    summary = batch(subs, out)
    assert summary.graded == 1 and gradebook(out)["bob"]["status"] == "graded"


# -- 3. a gradebook that is safe to open ------------------------------------------------------
HOSTILE = ['=HYPERLINK("evil.example","click me")', "+1+2", "-3-4", "@SUM(A1)", "Zoë", "李雷", "plain"]


def test_gradebook_cells_never_start_a_formula_and_utf8_names_survive(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for name in HOSTILE:
        write(subs / name / "notes.txt", "no code")
    batch(subs, out)
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert len(table) == 1 + len(HOSTILE)
    for row in table:
        for cell in row:
            assert not cell.startswith(FORMULA_STARTS), cell
    students = [row[0] for row in table[1:]]
    assert "'=HYPERLINK(\"evil.example\",\"click me\")" in students
    assert {"Zoë", "李雷", "plain", "'+1+2", "'-3-4", "'@SUM(A1)"} <= set(students)


def test_the_csv_rule_covers_every_formula_start():
    for start in FORMULA_STARTS:   # neutralised by a leading quote, or (CR) escaped to text
        cell = spreadsheet_cell(start + "cmd|' /C calc'!A0")
        assert not cell.startswith(FORMULA_STARTS) and cell.endswith("cmd|' /C calc'!A0")
    assert spreadsheet_cell("10") == "10" and spreadsheet_cell("a=b") == "a=b"
    assert spreadsheet_cell("\x1b[2J=1") == "\\x1b[2J=1"
    text = csv_text(["a", "=b"], [["\t1", "\r2"], ["ok", "@3"]])
    rows = list(csv.reader(text.splitlines()))
    assert rows == [["a", "'=b"], ["'\t1", "\\x0d2"], ["ok", "'@3"]]


# -- bad input ----------------------------------------------------------------------------------
def test_archives_are_not_unpacked_and_say_so(tmp_path, capsys):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    with zipfile.ZipFile(subs / "all.zip", "w") as zf:
        zf.writestr("alice/bandits.py", SOLUTION)
        zf.writestr("../../escaped.py", "x = 1")                  # path traversal: must land nowhere
    assert main(["grade-batch", str(subs), "--out", str(out), "-q", "--allow-no-isolation"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "all.zip" in err and "unpack" in err
    assert not (tmp_path / "escaped.py").exists() and not list(tmp_path.rglob("escaped.py"))
    # An archive in a student's folder: that student's row says so.
    with zipfile.ZipFile(write(subs / "bob" / "placeholder", "") .parent / "hw.zip", "w") as zf:
        zf.writestr("bandits.py", SOLUTION)
    (subs / "bob" / "placeholder").unlink()
    batch(subs, out)
    assert gradebook(out)["bob"]["status"].startswith("refused: archive: bob/hw.zip")


def test_a_50_mb_notebook_is_refused_with_a_clear_line(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    big = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}, "execution_count": 1,
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "y" * (50 << 20)}]}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    write(subs / "bigs" / "bandits.ipynb", json.dumps(big))
    write(subs / "small" / "bandits.py", TEMPLATE)
    summary = batch(subs, out)
    rows = gradebook(out)
    assert rows["bigs"]["status"].startswith("invalid: the submission bigs/bandits.ipynb is too large (50.0 MB")
    assert "clear a notebook's outputs" in rows["bigs"]["status"]
    assert rows["small"]["status"] == "graded" and summary.invalid == 1


def test_only_templates_are_graded_zero_without_a_crash(tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", TEMPLATE)
    write(subs / "bob" / "bandits.ipynb", (ROOT / "templates" / "bandits.ipynb").read_text())
    summary = batch(subs, out, assignment=None)
    rows = gradebook(out)
    assert summary.graded == 2 and {r["total"] for r in rows.values()} == {"0"}


def test_discovery_reads_each_file_once_and_only_inside(tmp_path, monkeypatch):
    """Every file discovery opens is opened relative to a folder it opened itself (never by a path
    that could run through a link)."""
    subs = tmp_path / "subs"
    write(subs / "alice" / "hw" / "bandits.py", TEMPLATE)
    opened = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *, dir_fd=None):
        opened.append((str(path), dir_fd is not None, bool(flags & getattr(os, "O_NOFOLLOW", 0))))
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", spy)
    jobs = discover(subs, "bandits").jobs
    assert [j.student for j in jobs] == ["alice"] and not jobs[0].problem
    below = [o for o in opened if o[1]]
    assert below and all(nofollow for _, _, nofollow in below)
    assert [p for p, relative, _ in opened if not relative] == [str(subs)]


def test_a_file_named_after_one_assignment_but_written_for_another_is_graded_as_written(tmp_path):
    """The batch uses the same identity as grade: the functions win over the name, and the result says so."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "vae.py", TEMPLATE)                     # the bandits template, named vae.py
    write(subs / "bob" / "Untitled.ipynb", (ROOT / "templates" / "bandits.ipynb").read_text())   # its metadata
    write(subs / "carol" / "Untitled.ipynb", json.dumps({"cells": [], "metadata": {}, "nbformat": 4,
                                                           "nbformat_minor": 5}) + " " * (40 << 20))
    batch(subs, out, assignment=None)
    rows = gradebook(out)
    assert rows["alice"]["assignment"] == rows["bob"]["assignment"] == "bandits"
    alice = json.loads((out / "alice" / "bandits" / "results.json").read_text())
    assert sum("the file name vae.py says vae" in line for line in alice["output"].splitlines()) == 1
    # Too large to be read: that is what the row says (not 'cannot tell the assignment').
    assert "too large" in rows["carol"]["status"]
