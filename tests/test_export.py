"""grader export: Canvas and Moodle import files, read back the way each importer reads them, and a plain CSV.

``canvas_reads`` follows Canvas's GradebookImporter (app/models/gradebook_importer.rb): the header
must start with a column containing "Student" and one containing "ID", optionally "SIS User ID" and
"SIS Login ID", then "Section" as the last student column; titles containing a total's name
("Current Score", "Final Grade", ...) are not assignments; "Title (123)" targets assignment 123; a
row whose first cell contains "Points Possible" sets the points; a student is found by ID, else
SIS User ID, else SIS Login ID, else by name. ``moodle_reads`` follows Moodle's CSV grade import
(grade/import/csv: the mapping form and load_data): "Map from" defaults to the first header equal
to a user field's label (User ID, Username, ID number, Email address); a header "NAME (Real)" maps
to the grade item NAME; '' and '-' are no grade, anything else must be a number; a row with an
empty identifier is skipped and an unknown user stops the import.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from grader.cli.main import EXIT_USAGE, main
from grader.workflows.export import CANVAS_TOTALS, ExportError, export
from tests.fake_results import write_result

CANVAS_NON_ASSIGNMENT = re.compile("|".join(CANVAS_TOTALS))


def canvas_reads(text: str) -> tuple[dict[str, tuple[str, str | None]], dict[str, str], dict[tuple[str, str], dict]]:
    """(column → (title, assignment id), title → points possible, (how matched, key) → {title: grade})."""
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    assert len(header) > 3 and "Student" in header[0] and "ID" in header[1], header
    sis_user = sis_login = None
    columns = 3
    if re.search(r"SIS\s+Login\s+ID", header[2]):
        sis_login, columns = 2, 4
    elif re.search(r"SIS\s+User\s+ID", header[2]) and re.search(r"SIS\s+Login\s+ID", header[3]):
        sis_user, sis_login, columns = 2, 3, 5
    assert "Section" in header[columns - 1], "Canvas: Invalid header row"
    assignments = {}
    for i, title in enumerate(header[columns:], columns):
        if CANVAS_NON_ASSIGNMENT.search(title):
            continue
        m = re.fullmatch(r"(.*)\s+\((\d+)\)", title)
        assignments[i] = (m.group(1), m.group(2)) if m else (title, None)
    points: dict[str, str] = {}
    students: dict[tuple[str, str], dict] = {}
    for row in rows[1:]:
        if "Points Possible" in row[0]:
            points = {assignments[i][0]: row[i] for i in assignments}
            continue
        if all(re.fullmatch(r"\s*(Muted|Manual Posting.*)?\s*", c, re.I) for c in row):
            continue
        if row[1]:
            key = ("id", row[1])
        elif sis_user is not None and row[sis_user]:
            key = ("sis_user_id", row[sis_user])
        elif sis_login is not None and row[sis_login]:
            key = ("sis_login_id", row[sis_login])
        else:
            key = ("name", row[0])
        assert key not in students
        students[key] = {assignments[i][0]: row[i].strip() for i in assignments}
    return assignments, points, students


MOODLE_USER_FIELDS = {"User ID": "userid", "Username": "username", "ID number": "useridnumber",
                      "Email address": "useremail"}


def moodle_reads(text: str, items: list[str]) -> tuple[str, dict[str, dict[str, float | None]]]:
    """(the user field mapped from, identifier → {grade item: grade})."""
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in rows[0]]
    mapfrom = next(((i, field) for label, field in MOODLE_USER_FIELDS.items() for i, h in enumerate(header)
                    if h == label), None)
    assert mapfrom is not None, f"Moodle would not know whose grade each row is: {header}"
    mapping = {}
    for i, h in enumerate(header):
        if "(Real)" in h:
            name = h.split("(Real)")[0].strip()
            assert name in items, f"{h!r} maps to no grade item of {items}"
            mapping[i] = name
    grades: dict[str, dict[str, float | None]] = {}
    for row in rows[1:]:
        who = row[mapfrom[0]]
        assert who, "Moodle skips a row without an identifier"
        values = {}
        for i, name in mapping.items():
            v = row[i].strip()
            values[name] = None if v in ("", "-") else float(v)
            assert values[name] is None or values[name] <= 100
        grades[who] = values
    return mapfrom[1], grades


@pytest.fixture
def results(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    write_result(out, "alice", "bandits")
    write_result(out, "alice", "vae", {"elbo": 2})
    write_result(out, "bob", "bandits", {"agent": 0})
    write_result(out, "carol", "vae", status="error: grading took longer than 400 s")
    write_result(out, "mallory", "vae", {"elbo": 0}, needs_review="needs review: below the floor")
    write_result(out, "zoe", "bandits")                        # graded, but not in the roster
    return out


def roster(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    return path


CANVAS_ROSTER = ("student,name,id,sis_user_id,sis_login_id,section\n"
                 "alice,\"Liddell, Alice\",101,S1,alice01,A\n"
                 "bob,=HYPERLINK(\"http://evil\"),102,S2,bob02,A\n"
                 "carol,Carol,,S3,,B\n"
                 "dave,Dave,,,dave04,B\n"
                 "mallory,Mallory,105,,,B\n")


def test_canvas_import_reads_every_grade_for_the_right_student(results: Path, tmp_path: Path) -> None:
    summary = export(results, "canvas", roster(tmp_path, CANVAS_ROSTER))
    text = summary.path.read_text(encoding="utf-8")
    assert summary.path == results / "exports" / "canvas.csv"
    assert text.splitlines()[0] == "Student,ID,SIS User ID,SIS Login ID,Section,bandits,vae"
    assignments, points, students = canvas_reads(text)
    assert [a for a, _ in assignments.values()] == ["bandits", "vae"]
    assert points == {"bandits": "10", "vae": "10"}
    assert students == {("id", "101"): {"bandits": "10", "vae": "8"},
                        ("id", "102"): {"bandits": "7", "vae": ""},
                        ("sis_user_id", "S3"): {"bandits": "", "vae": ""},          # grading failed: never a score
                        ("sis_login_id", "dave04"): {"bandits": "", "vae": ""},     # no hand-in
                        ("id", "105"): {"bandits": "", "vae": "6"}}
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text          # a name is never a formula
    assert summary.not_in_roster == ["zoe"]
    assert summary.not_exported == ["carol/vae"] and summary.unreviewed == ["mallory/vae"]
    assert sorted(summary.no_hand_in) == ["bob/vae", "carol/bandits", "dave/bandits", "dave/vae", "mallory/bandits"]
    # --missing zero: an explicit 0 for no hand-in; still never for a failed grading
    export(results, "canvas", roster(tmp_path, CANVAS_ROSTER), missing="zero")
    _, _, students = canvas_reads((results / "exports" / "canvas.csv").read_text())
    assert students[("sis_login_id", "dave04")] == {"bandits": "0", "vae": "0"}
    assert students[("sis_user_id", "S3")] == {"bandits": "0", "vae": ""}


def test_canvas_columns_target_assignments_by_id_and_refuse_what_canvas_would_not_read(results: Path,
                                                                                       tmp_path: Path) -> None:
    path = roster(tmp_path, CANVAS_ROSTER)
    export(results, "canvas", path, names={"bandits": "Lab 1 (4521)", "vae": "Lab 5: VAE"})
    assignments, points, _ = canvas_reads((results / "exports" / "canvas.csv").read_text())
    assert sorted(assignments.values()) == [("Lab 1", "4521"), ("Lab 5: VAE", None)]
    assert points == {"Lab 1": "10", "Lab 5: VAE": "10"}
    for title in ("Final Score", "Lab 1 Current Grade", "Section", "ID", "Points Possible"):
        with pytest.raises(ExportError, match="Canvas"):
            export(results, "canvas", path, names={"bandits": title})
    with pytest.raises(ExportError, match="share a column title"):
        export(results, "canvas", path, names={"bandits": "Lab", "vae": "Lab"})
    with pytest.raises(ExportError, match="--column names nas, which has no result"):
        export(results, "canvas", path, names={"nas": "Lab 4"})


@pytest.mark.parametrize(("text", "message"), [
    ("name,id\nAlice,101\n", "roster line 1: no 'student' column"),
    ("student,id\nalice,101\nalice,102\n", "roster line 3: alice again (first on line 2)"),
    ("student,id\nalice,101\n,102\n", "roster line 3: the student (results folder name) is empty"),
    ("student,id\nalice,101,x\n", "roster line 2: 3 cells, the header has 2"),
    ("student,name\nalice,Alice\n", "roster line 2: alice has no id, sis_user_id or sis_login_id"),
    ("student,id\nalice,abc\n", "roster line 2: id 'abc' of alice is not a Canvas user id"),
    ("student,sis_login_id\nalice,a1\nbob,a1\n", "roster line 3: sis_login_id 'a1' is also alice's (line 2)"),
    ("student,sis_login_id\nalice,a1\nbob,-b2\n", "roster line 3: sis_login_id '-b2' of bob starts with '-'"),
])
def test_canvas_roster_problems_are_refused_with_their_line(results: Path, tmp_path: Path, text: str,
                                                            message: str) -> None:
    with pytest.raises(ExportError, match=re.escape(message)):
        export(results, "canvas", roster(tmp_path, text))
    assert not (results / "exports").exists()


def test_moodle_import_maps_the_identifier_and_the_grade_items_by_itself(results: Path, tmp_path: Path) -> None:
    path = roster(tmp_path, "Student,Email address,Full name\nalice,alice@uni.edu,Alice\nbob,bob@uni.edu,Bob\n"
                            "carol,carol@uni.edu,Carol\nmallory,m@uni.edu,Mallory\n")
    summary = export(results, "moodle", path, names={"vae": "Assignment: VAE lab"})
    text = summary.path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "Email address,bandits (Real),Assignment: VAE lab (Real)"
    field, grades = moodle_reads(text, ["bandits", "Assignment: VAE lab"])
    assert field == "useremail"
    assert grades == {"alice@uni.edu": {"bandits": 10, "Assignment: VAE lab": 8},
                      "bob@uni.edu": {"bandits": 7, "Assignment: VAE lab": None},
                      "carol@uni.edu": {"bandits": None, "Assignment: VAE lab": None},
                      "m@uni.edu": {"bandits": None, "Assignment: VAE lab": 6}}
    # the identifier a roster offers: email first, then idnumber, username, id; each row must have it
    export(results, "moodle", roster(tmp_path, "student,idnumber\nalice,20240001\nbob,20240002\n"))
    assert moodle_reads((results / "exports" / "moodle.csv").read_text(), ["bandits", "vae"])[0] == "useridnumber"
    with pytest.raises(ExportError, match="roster line 3: bob has no email"):
        export(results, "moodle", roster(tmp_path, "student,email,username\nalice,a@u,al\nbob,,bo\n"))
    with pytest.raises(ExportError, match="no email, idnumber, username or id column"):
        export(results, "moodle", roster(tmp_path, "student,name\nalice,Alice\n"))
    with pytest.raises(ExportError, match="email 'a@u' is also alice's"):
        export(results, "moodle", roster(tmp_path, "student,email\nalice,a@u\nbob,a@u\n"))


def test_plain_csv_with_and_without_a_roster(results: Path, tmp_path: Path) -> None:
    summary = export(results, "csv")
    with open(summary.path, newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert list(rows) == ["alice", "bob", "carol", "mallory", "zoe"]
    assert rows["alice"]["bandits"] == "10" and rows["alice"]["vae"] == "8" and rows["alice"]["total"] == "18"
    assert rows["carol"]["vae"] == "" and rows["carol"]["vae:status"].startswith("error")
    assert rows["bob"]["vae:status"] == "no hand-in"
    export(results, "csv", roster(tmp_path, "student,email\nalice,a@u\nnew,n@u\n"), dest=tmp_path / "g.csv",
           missing="zero")
    with open(tmp_path / "g.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["new"] == {"student": "new", "email": "n@u", "bandits": "0", "bandits:status": "no hand-in",
                           "vae": "0", "vae:status": "no hand-in", "total": "0"}


def test_exports_carry_the_overrides_and_stop_on_a_refused_one(results: Path, tmp_path: Path) -> None:
    (results / "overrides.csv").write_text("student,assignment,group,points,reason,who\n"
                                           "mallory,vae,elbo,4,read the code,dr.k\n")
    summary = export(results, "csv")
    assert summary.unreviewed == []                       # reviewed: overridden
    with open(summary.path, newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert rows["mallory"]["vae"] == "10" and rows["mallory"]["vae:status"].endswith("(overridden)")
    (results / "overrides.csv").write_text("student,assignment,group,points,reason,who\n"
                                           "mallory,vae,elbo,40,read the code,dr.k\n")
    with pytest.raises(ExportError, match="overrides.csv line 2: 40 points for elbo, which is worth 4"):
        export(results, "csv")


def test_grader_export_command(results: Path, tmp_path: Path, capsys) -> None:
    path = roster(tmp_path, CANVAS_ROSTER)
    assert main(["export", str(results), "--format", "canvas", "--roster", str(path), "--column", "bandits=Lab 1"]) == 0
    captured = capsys.readouterr()
    assert "canvas.csv: 5 student(s) × 2 assignment(s)" in captured.out
    assert "graded but not in the roster, NOT exported: 1: zoe" in captured.err
    assert "no hand-in, exported as an empty cell" in captured.err
    for args, message in [(["--format", "canvas"], "--format canvas needs --roster FILE"),
                          (["--format", "pdf"], "invalid choice"),
                          (["--format", "csv", "--column", "bandits"], "write ASSIGNMENT=TITLE"),
                          (["--format", "moodle", "--roster", str(tmp_path / "nope.csv")], "no such roster file")]:
        assert main(["export", str(results), *args]) == EXIT_USAGE
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (args, err)
    assert main(["export", str(tmp_path / "nothing"), "--format", "csv"]) == EXIT_USAGE
    assert "is not a results folder" in capsys.readouterr().err
