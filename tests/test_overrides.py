"""Overrides: an instructor's points for a group, with the reason, kept beside the grader's and across regrades;
a line that cannot be applied as written is refused with its line number."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grader.cli.main import EXIT_USAGE, main
from grader.workflows.overrides import (
    OVERRIDES_NAME,
    Override,
    apply_overrides,
    parse_overrides,
    read_overrides,
    with_overrides,
)
from grader.workflows.results_dir import gradebook_entries, gradebook_rows
from tests.fake_results import make_result, write_result

HEADER = "student,assignment,group,points,reason,who\n"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_result(out, "alice", "bandits")
    write_result(out, "bob", "bandits", {"agent": 0, "epsilon_greedy": 2})
    write_result(out, "mallory", "vae", {"elbo": 0}, needs_review="needs review: a held-out negative ELBO of 60.0 "
                                                                  "is below 165")
    return out


def gradebook(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", newline="", encoding="utf-8") as fh:
        return {r["student"]: r for r in csv.DictReader(fh)}


def test_valid_lines_are_read(tmp_path: Path) -> None:
    text = HEADER + 'bob,bandits,agent,2.5,"hand-checked, fine",dr.k\n\n' + "'-eve,bandits,agent,1,'-1 for style,k\n"
    overrides, problems = parse_overrides(text)
    assert problems == []
    assert overrides[0] == Override("bob", "bandits", "agent", 2.5, "hand-checked, fine", "dr.k", 2)
    # a cell the grader's CSV writer protected with a leading ' reads back as the text it was
    assert (overrides[1].student, overrides[1].reason, overrides[1].line) == ("-eve", "-1 for style", 4)
    # columns in another order, any case, a byte-order mark: the same
    again, _ = parse_overrides("\ufeffWho,Reason,Points,Group,Assignment,Student\nk,r,1,agent,bandits,bob\n")
    assert again[0].key == ("bob", "bandits", "agent") and again[0].who == "k"


@pytest.mark.parametrize(("text", "message"), [
    ("student,assignment,group,points,why,who\n", "line 1: the header must name the columns"),
    ("student,assignment,group,points,reason\n", "missing who"),
    (HEADER + "bob,bandits,agent,ten,r,k\n", "line 2: points 'ten' is not a number"),
    (HEADER + "bob,bandits,agent,2,r,k\nbob,bandits,agent,-1,r,k\n", "line 3: points '-1' must be"),
    (HEADER + "bob,bandits,agent,nan,r,k\n", "line 2: points 'nan' must be"),
    (HEADER + "bob,bandits,agent,2,,k\n", "line 2: reason is empty"),
    (HEADER + "bob,bandits,agent,2,r\n", "line 2: 5 cells, the header has 6"),
    (HEADER + "bob,bandits,agent,2,r,k\n\nbob,bandits,agent,3,r,k\n", "line 4: a second override of bob/bandits/agent "
                                                                       "(the first is on line 2)"),
    (HEADER + 'bob,bandits,agent,2,"a reason\non two lines",k\nbob,bandits,agent,x,r,k\n', "line 4: points 'x'"),
])
def test_malformed_lines_are_refused_with_their_line_number(text: str, message: str) -> None:
    overrides, problems = parse_overrides(text)
    assert any(message in p for p in problems), problems
    assert all(p.startswith(f"{OVERRIDES_NAME} line ") for p in problems)


def test_lines_that_match_no_result_are_refused(results: Path) -> None:
    (results / OVERRIDES_NAME).write_text(HEADER + "carol,bandits,agent,1,r,k\n" + "bob,bandits,nope,1,r,k\n"
                                          + "bob,bandits,agent,4,r,k\n" + "bob,vae,elbo,1,r,k\n"
                                          + "bob,bandits,epsilon_greedy,4,right after all,k\n")
    entries, problems = with_overrides(results, gradebook_entries(results))
    assert [p.split(":")[0] for p in problems] == [f"{OVERRIDES_NAME} line {n}" for n in (2, 3, 4, 5)]
    assert "no result for student 'carol'" in problems[0]
    assert "no group 'nope' (its groups: epsilon_greedy, update_estimate, agent)" in problems[1]
    assert "4 points for agent, which is worth 3" in problems[2]
    assert "no result for student 'bob' in assignment 'vae'" in problems[3]
    bob = next(e for e in entries if e.student == "bob")
    assert bob.result.score == 7 and bob.original_score == 5 and [a.group for a in bob.adjustments] == ["epsilon_greedy"]


def test_applied_overrides_keep_the_graders_points(results: Path) -> None:
    entries = gradebook_entries(results)
    overrides = [Override("bob", "bandits", "agent", 3, "works on the real testbed", "dr.k", 2),
                 Override("bob", "bandits", "epsilon_greedy", 4, "ties: the statement was unclear", "ta", 3)]
    applied, problems = apply_overrides(entries, overrides)
    assert problems == []
    bob = next(e for e in applied if e.student == "bob")
    assert bob.result.score == 10 and bob.original_score == 5
    assert [(a.group, a.original, a.points) for a in bob.adjustments] == [("agent", 0, 3), ("epsilon_greedy", 2, 4)]
    before = next(e for e in entries if e.student == "bob")
    assert before.result.score == 5 and before.adjustments == []        # the input is untouched


def test_the_gradebook_shows_the_override_and_the_original(results: Path) -> None:
    header, _ = gradebook_rows(results)
    assert header[-2:] != ["original_total", "override"]           # no override: the gradebook as it always was
    (results / OVERRIDES_NAME).write_text(HEADER + "mallory,vae,elbo,4,read the code: an honest VAE,dr.k\n")
    header, rows = gradebook_rows(results)
    assert header[-2:] == ["original_total", "override"]
    row = dict(zip(header, next(r for r in rows if r[0] == "mallory")))
    assert (row["vae:elbo"], row["total"], row["original_total"]) == ("4", "10", "6")   # two assignments: prefixed
    assert row["override"] == "elbo: 0 → 4, read the code: an honest VAE (dr.k)"
    assert row["status"] == "needs review (elbo)"                   # the grader's verdict stays


def test_grader_override_sets_replaces_and_clears(results: Path, capsys) -> None:
    assert main(["override", str(results), "bob", "bandits", "agent", "2", "--reason", "partly right",
                 "--who", "dr.k"]) == 0
    out = capsys.readouterr().out
    assert "override: bob/bandits/agent = 2 (partly right; dr.k)" in out and "class page:" in out
    assert gradebook(results)["bob"]["bandits:agent"] == "2" and (results / "index.html").is_file()
    assert main(["override", str(results), "bob", "bandits", "agent", "3", "--reason", "all right"]) == 0
    overrides, _ = read_overrides(results)
    assert [(o.points, o.reason) for o in overrides] == [(3, "all right")]        # replaced, not added
    assert overrides[0].who                                                       # the user's name by default
    assert main(["override", str(results), "alice", "bandits", "agent", "0", "--reason", "copied", "--who", "k"]) == 0
    assert main(["override", str(results), "bob", "bandits", "agent", "--clear"]) == 0
    assert [o.student for o in read_overrides(results)[0]] == ["alice"]
    assert gradebook(results)["bob"]["bandits:agent"] == "0" and gradebook(results)["alice"]["total"] == "7"


@pytest.mark.parametrize(("args", "message"), [
    (["bob", "bandits", "agent", "2"], "--reason is required"),
    (["bob", "bandits", "agent", "--reason", "r"], "give the points"),
    (["bob", "bandits", "agent", "x", "--reason", "r"], "points 'x' is not a number"),
    (["bob", "bandits", "agent", "9", "--reason", "r"], "9 points for agent, which is worth 3"),
    (["zed", "bandits", "agent", "1", "--reason", "r"], "no result for student 'zed'"),
    (["bob", "bandits", "agent", "--clear"], "no override of bob/bandits/agent"),
    (["bob", "bandits", "agent", "1", "--clear"], "--clear takes no points"),
])
def test_grader_override_usage_errors_are_one_line(results: Path, capsys, args: list[str], message: str) -> None:
    assert main(["override", str(results), *args]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (results / OVERRIDES_NAME).exists()


def test_a_malformed_file_is_never_rewritten_or_silently_applied(results: Path, capsys) -> None:
    (results / OVERRIDES_NAME).write_text(HEADER + "bob,bandits,agent,2,r,k\nbob,bandits,update_estimate,lots,r,k\n")
    before = (results / OVERRIDES_NAME).read_text()
    assert main(["override", str(results), "alice", "bandits", "agent", "1", "--reason", "r"]) == EXIT_USAGE
    assert "overrides.csv line 3: points 'lots' is not a number" in capsys.readouterr().err
    assert (results / OVERRIDES_NAME).read_text() == before
    # grader report: the valid line applies, the refused one is said on stderr and on the page; exit 1
    assert main(["report", str(results)]) == 1
    err = capsys.readouterr().err
    assert "grader: error: overrides.csv line 3: points 'lots'" in err
    assert gradebook(results)["bob"]["bandits:agent"] == "2"
    assert gradebook(results)["bob"]["bandits:update_estimate"] == "3"
    page = (results / "index.html").read_text()
    assert "Overrides refused (1)" in page and "overrides.csv line 3" in page


def test_grade_batch_refuses_to_start_on_a_malformed_file(tmp_path: Path, capsys) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "bandits.py").write_text("x = 1\n")
    out.mkdir()
    (out / OVERRIDES_NAME).write_text(HEADER + "alice,bandits,agent,many,r,k\n")
    assert main(["grade-batch", str(subs), "--out", str(out), "-q", "--allow-no-isolation"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "overrides.csv line 2: points 'many'" in err and "nothing was graded" in err
    assert not (out / "alice").exists()


def test_overrides_survive_a_regrade(results: Path) -> None:
    """A regrade rewrites results.json (never overrides.csv): the override applies to the fresh result,
    whose own points become the 'original'."""
    (results / OVERRIDES_NAME).write_text(HEADER + "bob,bandits,agent,3,hand-checked,dr.k\n")
    assert main(["report", str(results)]) == 0
    assert gradebook(results)["bob"]["bandits:agent"] == "3"
    fresh = make_result("bob", "bandits", {"agent": 1, "epsilon_greedy": 4})      # graded again: other points
    (results / "bob" / "bandits" / "results.json").write_text(json.dumps(fresh))
    assert main(["report", str(results)]) == 0
    row = gradebook(results)["bob"]
    assert (row["bandits:agent"], row["total"], row["original_total"]) == ("3", "10", "8")
