"""grade-batch: discovery, parallel grading, resume, gradebook, bad input, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, gradescope_problems

from grader.cli.main import EXIT_USAGE, main
from grader.core.grading import GradeOptions
from grader.workflows.batch import BatchConfig, grade_one, is_current, run_batch
from grader.workflows.discovery import Job, discover
from grader.workflows.results_dir import gradebook_rows, printable, student_dirname, write_gradebook

SOLUTION = (ROOT / "solutions" / "bandits.py").read_text()
TEMPLATE = (ROOT / "templates" / "bandits.py").read_text()
# Hangs on the first ε-greedy check only (ε = 0.3): costs that group's time limit, nothing else.
HANGING = SOLUTION.replace("    if rng.random() < epsilon:",
                           "    while epsilon == 0.3:\n        pass\n    if rng.random() < epsilon:", 1)
# Kills its own child process on import: every group fails fast.
CRASHING = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n" + SOLUTION
assert HANGING != SOLUTION


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def read_gradebook(out: Path) -> list[dict[str, str]]:
    with open(out / "gradebook.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def results_files(out: Path) -> list[Path]:
    return sorted(out.glob("*/*/results.json"))


# -- discovery (no grading) ----------------------------------------------------------
def test_discover_folders_files_and_problems(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", SOLUTION)
    write(subs / "bob" / "hw" / "bandits.py", SOLUTION)               # nested folder
    write(subs / "carol" / "bandits.py", SOLUTION)
    write(subs / "carol" / "old" / "Bandits (2).py", SOLUTION)         # two files, same assignment
    (subs / "dave").mkdir()
    os.symlink(tmp_path / "missing.py", subs / "dave" / "bandits.py")  # a link: refused, never followed
    write(subs / "erin.py", SOLUTION)                                  # top-level file: student "erin"
    write(subs / "frank" / "README.txt", "no code")                    # nothing to grade
    write(subs / ".hidden" / "bandits.py", SOLUTION)
    write(subs / "notes.md", "x")
    jobs = {j.student: j for j in discover(subs, "bandits").jobs}
    assert set(jobs) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert not jobs["alice"].problem and jobs["alice"].sha256 and jobs["alice"].source == "alice/bandits.py"
    assert jobs["bob"].source == "bob/hw/bandits.py" and not jobs["bob"].problem
    assert "2 files for the assignment bandits" in jobs["carol"].problem
    assert jobs["dave"].problem.startswith("refused: symlink") and not jobs["dave"].sha256
    assert jobs["erin"].source == "erin.py" and not jobs["erin"].problem
    assert "no submission file found" in jobs["frank"].problem


def test_discover_infers_the_assignment_and_reports_unknown_names(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    write(subs / "alice" / "hw1-bandits.py", SOLUTION)
    write(subs / "bob" / "my_code.py", "x = 1\n")
    write(subs / "carol" / "my_code.py", SOLUTION)        # told by the functions it defines
    jobs = {j.student: j for j in discover(subs).jobs}
    assert jobs["alice"].assignment == "bandits" and not jobs["alice"].problem
    assert jobs["bob"].assignment == "" and "cannot tell the assignment" in jobs["bob"].problem
    assert jobs["carol"].assignment == "bandits" and not jobs["carol"].problem
    # With --assignment a file that is no assignment by name or functions is taken.
    jobs = {j.student: j for j in discover(subs, "bandits").jobs}
    assert jobs["bob"].assignment == "bandits" and not jobs["bob"].problem


def test_non_utf8_names_are_kept_apart_and_printable(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    for raw in (b"caf\xe9", b"caf\xe8"):
        folder = os.path.join(os.fsencode(subs), raw)
        os.mkdir(folder)
        with open(os.path.join(folder, b"bandits.py"), "w") as fh:
            fh.write(SOLUTION)
    jobs = discover(subs, "bandits").jobs
    names = {student_dirname(j.student) for j in jobs}
    assert {n.split("~")[0] for n in names} == {"caf\\xe9", "caf\\xe8"} and len(names) == 2
    assert all(printable(n) == n for n in names)
    assert all(not j.problem for j in jobs)


def test_is_current_needs_same_hash_version_and_tests(tmp_path: Path) -> None:
    job = Job("alice", "bandits", "alice/bandits.py", "x", sha256="abc")
    path = tmp_path / "results.json"
    from grader import __version__
    good = {"extra_data": {"grader_version": __version__,
                           "batch": {"file_sha256": "abc", "assignment_fingerprint": "f", "source": job.source,
                                     "status": "graded"}}}
    path.write_text(json.dumps(good))
    assert is_current(path, job, "f")
    assert not is_current(path, job, "other tests")
    assert not is_current(path, Job("alice", "bandits", job.source, "x", sha256="changed"), "f")
    bad = json.loads(json.dumps(good))
    bad["extra_data"]["grader_version"] = "0.0.0"
    path.write_text(json.dumps(bad))
    assert not is_current(path, job, "f")
    path.write_text("{ half a file")
    assert not is_current(path, job, "f")


def test_grade_one_grades_the_one_hand_in_of_a_folder(tmp_path: Path) -> None:
    """Gradescope's entry: a student's folder found and read as a batch does, graded in this process; a folder
    with files of two assignments, or with none, still gets a result for every group, saying why."""
    folder = tmp_path / "submission"
    write(folder / "notes" / "bandits.py", SOLUTION)
    write(folder / "readme.txt", "my notes")
    result = grade_one(folder, GradeOptions(seed=1, only=["update_estimate"]))
    assert (result.assignment, result.score, result.max_score) == ("bandits", 3, 3)
    write(folder / "reinforce.py", (ROOT / "templates" / "reinforce.py").read_text())
    result = grade_one(folder, GradeOptions(seed=1))     # nothing runs: the problem stops every group
    assert result.score == 0 and "files for several assignments were handed in" in result.cause.summary
    assert "notes/bandits.py" in result.cause.summary and "reinforce.py" in result.cause.summary
    result = grade_one(tmp_path / "nothing", GradeOptions(seed=1), assignment="bandits")
    assert result.assignment == "bandits" and result.score == 0 and "no submission file found" in result.cause.summary


# -- usage errors ------------------------------------------------------------------------
def test_empty_folder_is_a_one_line_usage_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["grade-batch", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "no submissions found" in err and err.count("\n") == 1


def test_missing_folder_and_bad_jobs_are_usage_errors(tmp_path: Path, capsys) -> None:
    assert main(["grade-batch", str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == EXIT_USAGE
    assert main(["grade-batch", str(tmp_path), "--out", str(tmp_path / "o"), "-j", "0"]) == EXIT_USAGE
    assert main(["grade-batch", str(tmp_path), "--out", str(tmp_path / "o"), "--executor", "dask"]) == EXIT_USAGE
    assert main(["grade-batch", str(tmp_path), "--out", str(tmp_path / "o"), "--assignment", "nope"]) == EXIT_USAGE
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln]
    assert len(lines) == 4 and all(ln.startswith("grader: error:") for ln in lines)


def test_results_folder_not_writable_is_a_usage_error(tmp_path: Path, capsys) -> None:
    write(tmp_path / "subs" / "alice" / "bandits.py", SOLUTION)
    blocker = write(tmp_path / "a-file", "not a folder")   # root can write anywhere, but not below a file
    code = main(["grade-batch", str(tmp_path / "subs"), "--out", str(blocker / "results"), "-q"])
    assert code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "cannot write to the results folder" in err and err.count("\n") == 1


@pytest.mark.timeout(120)
def test_results_folder_failing_mid_batch_stops_cleanly(tmp_path: Path, capsys) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", TEMPLATE)
    write(subs / "bob" / "bandits.py", TEMPLATE)
    write(out / "bob", "a file where bob's results folder should go")
    code = main(["grade-batch", str(subs), "--out", str(out), "-q", "--seed", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot write the results of bob/bandits" in err
    # What was finished is kept and the gradebook matches it.
    assert [r["student"] for r in read_gradebook(out)] == [p.parent.parent.name for p in results_files(out)]


# -- grading ------------------------------------------------------------------------------
@pytest.mark.timeout(240)
def test_batch_grades_in_parallel_resumes_and_rebuilds_the_gradebook(tmp_path: Path, capsys) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", SOLUTION)
    write(subs / "bob" / "bandits.py", TEMPLATE)
    write(subs / "carol" / "bandits.py", SOLUTION)
    write(subs / "carol" / "bandits_v2.py", SOLUTION)
    write(subs / "dave" / "bandits.py", CRASHING)
    write(subs / "erin.py", HANGING)
    args = ["grade-batch", str(subs), "--out", str(out), "-j", "2", "--seed", "7", "-q", "--time-scale", "0.3",
            "--assignment", "bandits"]

    t0 = time.monotonic()
    assert main(args) == 0
    first = time.monotonic() - t0
    rows = {r["student"]: r for r in read_gradebook(out)}
    assert set(rows) == {"alice", "bob", "carol", "dave", "erin"}
    assert list(read_gradebook(out)[0])[:5] == ["student", "assignment", "epsilon_greedy", "update_estimate", "agent"]
    assert rows["alice"]["total"] == "10" and rows["alice"]["status"] == "graded"
    assert rows["bob"]["total"] == "0" and rows["bob"]["status"] == "graded"
    assert rows["carol"]["total"] == "0" and "2 files" in rows["carol"]["status"]
    assert rows["dave"]["total"] == "0" and rows["dave"]["status"] == "graded"
    # The hanging submission loses only the group it hangs in, within that group's (scaled) limit.
    assert rows["erin"]["epsilon_greedy"] != "4"
    assert rows["erin"]["update_estimate"] == "3" and rows["erin"]["agent"] == "3"
    erin = json.loads((out / "erin" / "bandits" / "results.json").read_text())
    assert "time limit" in erin["tests"][0]["output"]
    assert erin["tests"][0]["extra_data"]["seconds"] < 30 * 0.3 + 5

    for path in results_files(out):
        data = json.loads(path.read_text())
        assert gradescope_problems(data) == [], path
        assert (path.parent / "feedback.html").is_file()
    alice = json.loads((out / "alice" / "bandits" / "results.json").read_text())
    assert alice["extra_data"]["batch"]["student"] == "alice"

    # Resume: nothing graded again (the duplicate has no file to hash, so it is re-checked, cheaply).
    capsys.readouterr()
    mtime = (out / "alice" / "bandits" / "results.json").stat().st_mtime_ns
    t0 = time.monotonic()
    assert main(args) == 0
    assert time.monotonic() - t0 < min(first, 20)
    assert "0 graded, 4 already graded" in capsys.readouterr().err
    assert (out / "alice" / "bandits" / "results.json").stat().st_mtime_ns == mtime
    # A changed file is graded again; --regrade grades everything.
    write(subs / "bob" / "bandits.py", SOLUTION)
    assert main(args) == 0
    assert "1 graded, 3 already graded" in capsys.readouterr().err
    assert {r["student"]: r for r in read_gradebook(out)}["bob"]["total"] == "10"

    # The gradebook is a function of the results files alone.
    before = (out / "gradebook.csv").read_text()
    (out / "gradebook.csv").unlink()
    write_gradebook(out)
    assert (out / "gradebook.csv").read_text() == before


@pytest.mark.timeout(120)
def test_non_utf8_and_unreadable_files_get_a_row_each(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    with open(os.path.join(os.fsencode(subs), b"\xff\xfeodd.py"), "w") as fh:
        fh.write(TEMPLATE)
    (subs / "dave").mkdir()
    os.symlink(tmp_path / "missing.py", subs / "dave" / "bandits.py")
    seen = []
    summary = run_batch(BatchConfig(subs, out, jobs=1, assignment="bandits", options=GradeOptions(seed=1)),
                        on_progress=seen.append)
    assert summary.graded == 1 and summary.invalid == 1 and not summary.interrupted
    assert sorted(type(e).__name__ for e in seen) == ["JobEnded", "JobEnded"]     # the typed events of a grading
    assert {e.status.split(":")[0] for e in seen} == {"graded", "refused"}
    header, rows = gradebook_rows(out)
    by_student = {r[0]: r for r in rows}
    assert {s.split("~")[0] for s in by_student} == {"\\xff\\xfeodd", "dave"}
    assert by_student["dave"][-2].startswith("refused: symlink")
    # The CSV is valid UTF-8 and every results file is valid Gradescope JSON.
    (out / "gradebook.csv").read_bytes().decode("utf-8")
    for path in results_files(out):
        assert gradescope_problems(json.loads(path.read_text())) == []


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear in {timeout} s")
        time.sleep(0.1)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("whom", ["process group", "parent only"])
def test_ctrl_c_keeps_finished_results_and_a_consistent_gradebook(tmp_path: Path, whom: str) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    write(subs / "alice" / "bandits.py", SOLUTION)
    write(subs / "zed" / "bandits.py", HANGING)   # graded second (-j 1), and hangs for 30 s
    proc = subprocess.Popen([sys.executable, "-m", "grader", "grade-batch", str(subs), "--out", str(out),
                             "-j", "1", "-q", "--seed", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(out / "alice" / "bandits" / "results.json", 90)
        time.sleep(1.0)   # zed is now running
        t0 = time.monotonic()
        if whom == "process group":   # what a terminal's Ctrl-C does
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        stopped = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.decode()
    assert stopped < 15, "interrupting should not wait for the hanging submission's time limit"
    assert "interrupted" in err.decode()
    assert [p.parent.parent.name for p in results_files(out)] == ["alice"]
    assert json.loads((out / "alice" / "bandits" / "results.json").read_text())["score"] == 10
    assert [r["student"] for r in read_gradebook(out)] == ["alice"]
    assert not list(out.rglob(".tmp-*")) and not list(out.rglob(".results-*"))


# -- the machinery behind "one bad submission costs only its own row" ---------------------
def _die_on_odd(n: int) -> int:
    if n % 2:
        os._exit(3)       # the whole worker process dies, as under the OOM killer
    return n * 10


@pytest.mark.timeout(120)
def test_a_dying_worker_costs_only_its_own_task() -> None:
    from grader.workflows.executors import LocalExecutor

    executor = LocalExecutor(2)
    try:
        done = {key: (value, error) for key, value, error in executor.run(_die_on_odd, [(n, (n,)) for n in range(6)])}
    finally:
        executor.close()
    assert set(done) == set(range(6))
    for n in (0, 2, 4):
        assert done[n] == (n * 10, "")
    for n in (1, 3, 5):
        assert done[n][0] is None and "died" in done[n][1]


@pytest.mark.timeout(60)
def test_watchdog_stops_a_hung_grader(tmp_path: Path, monkeypatch) -> None:
    import grader.workflows.batch as batch

    def hang(*args, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(batch, "grade_file", hang)
    monkeypatch.setattr(batch, "_time_budget", lambda assignment, options: 0.5)
    path = write(tmp_path / "alice" / "bandits.py", SOLUTION)
    job = discover(tmp_path, "bandits").jobs[0]
    t0 = time.monotonic()
    outcome = batch.grade_job(job, path.read_bytes(), GradeOptions(seed=1), "fp")
    assert time.monotonic() - t0 < 10
    assert outcome.status.startswith("error: grading took longer than")
    assert outcome.results["score"] == 0 and len(outcome.results["tests"]) == 3
    assert gradescope_problems(outcome.results) == []


def test_artifacts_travel_with_the_results_and_are_embedded(tmp_path: Path, monkeypatch) -> None:
    """A suite's PNG (e.g. the VAE's sample grid) lands next to results.json, which points at it."""
    from test_html_report import assert_self_contained, tiny_png

    import grader.workflows.batch as batch
    from grader.core.results import GradeResult, TestResult

    def fake_grade(path, assignment, options, **kwargs):
        png = options.artifacts_dir / "vae-samples.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(tiny_png())
        test = TestResult("samples", 1, 1, "passed", extra_data={"images": {"samples": str(png)}})
        return GradeResult("bandits", path.name, tests=[test], extra_data={"grader_version": batch.__version__})

    monkeypatch.setattr(batch, "grade_file", fake_grade)
    path = write(tmp_path / "subs" / "alice" / "bandits.py", SOLUTION)
    job = discover(tmp_path / "subs", "bandits").jobs[0]
    outcome = batch.grade_job(job, path.read_bytes(), GradeOptions(seed=1), "fp")
    assert outcome.artifacts.keys() == {"vae-samples.png"}
    assert outcome.results["tests"][0]["extra_data"]["images"]["samples"] == "artifacts/vae-samples.png"
    page = assert_self_contained(outcome.html)
    assert len(page.images) == 1
    out = tmp_path / "out"
    batch.write_outcome(out, job, outcome)
    folder = out / "alice" / "bandits"
    assert (folder / "artifacts" / "vae-samples.png").read_bytes() == tiny_png()
    assert json.loads((folder / "results.json").read_text())["tests"][0]["extra_data"]["images"]["samples"] \
        == "artifacts/vae-samples.png"


def test_a_result_flagged_for_review_says_so_in_the_gradebook(tmp_path: Path) -> None:
    """A test whose extra_data carries ``needs_review`` (a VAE bound below the physical floor) shows
    ``needs review`` in the status column, so the instructor sees which rows to look at."""
    def write(student: str, extra: dict) -> None:
        folder = tmp_path / student / "vae"
        folder.mkdir(parents=True)
        tests = [{"name": "elbo", "score": 0, "max_score": 4, "status": "failed", "output": "", "extra_data": extra}]
        (folder / "results.json").write_text(json.dumps({
            "score": 0, "execution_time": 1.0, "tests": tests,
            "extra_data": {"assignment": "vae", "max_score": 4, "batch": {"student": student, "status": "graded"}}}))
    write("mallory", {"needs_review": "needs review: a held-out negative ELBO of 60.0 is below 150"})
    write("alice", {"negative_elbo": 190.0})
    _, rows = gradebook_rows(tmp_path)
    status = {r[0]: r[-2] for r in rows}
    assert status == {"mallory": "needs review (elbo)", "alice": "graded"}
