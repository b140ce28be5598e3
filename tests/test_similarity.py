"""``grader similarity`` and ``grade-batch --similarity``: copies are flagged, independent solutions are not,
the template never counts, notebooks are compared by their code, copies hidden in strings run by ``exec``
are decoded and compared (or the hand-in is listed when they cannot be), a hand-in over the per-file cap
is listed as not compared, and the report is safe to open."""

from __future__ import annotations

import ast
import base64
import codecs
import csv
import json
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

import grader.workflows.similarity as similarity
from grader.cli.main import EXIT_USAGE, main
from grader.core.text import FORMULA_STARTS
from grader.formats.notebooks import notebook_from_source, write_notebook
from grader.workflows.similarity import DEFAULT_THRESHOLD, MAX_CODE_BYTES, similarity_report
from grader.workflows.similarity_strings import code_in_strings
from tests.conftest import ROOT
from tests.fake_class import disguised, fill, holes, implementations, independent, reference, template

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
    assert report.strings == []         # model.eval(), re.compile, torch.compile: not code run from strings


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


# -- code hidden in strings -----------------------------------------------------------------------
def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


HIDE = {
    "exec of a raw string": lambda code: f"exec(r\'\'\'{code}\'\'\')\n",
    "base64": lambda code: f"import base64\nexec(base64.b64decode({_b64(code)!r}))\n",
    "base64, aliased, decoded": lambda code: f"from base64 import b64decode as d\nexec(d({_b64(code)!r}).decode('utf-8'))\n",
    "hex": lambda code: f"exec(bytes.fromhex({code.encode().hex()!r}))\n",
    "codecs hex": lambda code: f"import codecs\nexec(codecs.decode({code.encode().hex()!r}, 'hex'))\n",
    "rot13": lambda code: f"import codecs\nexec(codecs.decode({codecs.encode(code, 'rot13')!r}, 'rot13'))\n",
    "zlib of base64": lambda code: (f"import base64, zlib\n"
                                    f"exec(zlib.decompress(base64.b64decode({_b64_bytes(zlib.compress(code.encode()))!r})))\n"),
    "a name bound to a string": lambda code: f"source = {code!r}\nsource += '\\n'\nrun = exec\nrun(source, globals())\n",
    "compile, then exec": lambda code: f"import builtins\nc = compile({code!r}, 'x', 'exec')\ngetattr(builtins, 'exec')(c)\n",
    "exec in an exec of base64": lambda code: f"import base64\nexec(base64.b64decode({_b64(f'exec({code!r})')!r}))\n",
    "a helper's argument": lambda code: f"def load(text):\n    exec(text, globals())\n\nload({code!r})\n",
}


def _b64_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _hole_defs(source: str, names: list[str]) -> dict[str, str]:
    tree = ast.parse(source)
    return {n.name: ast.get_source_segment(source, n) for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name in names}


@pytest.mark.parametrize("how", sorted(HIDE))
def test_a_copy_hidden_in_a_string_run_by_exec_scores_like_the_copy_it_is(tmp_path, how):
    """Before: the copier's code was one string token, 0 % against its source, while exec made its
    functions. Now the string is decoded from the syntax tree (never run) and compared as code."""
    subs = tmp_path / "subs"
    write(subs / "original" / "bandits.py", reference("bandits"))
    write(subs / "whole" / "bandits.py", HIDE[how](disguised(reference("bandits"), seed=4)))
    # only the holes hidden, the rest the template's: the hand-in graded as the reference would be
    defs = _hole_defs(reference("bandits"), holes("bandits"))
    write(subs / "holes" / "bandits.py", fill(template("bandits"), {name: HIDE[how](code) for name, code in defs.items()}))
    write(subs / "other" / "bandits.py", independent("bandits", 1))
    report = similarity_report(subs, tmp_path / "report")
    found = scores(report)
    assert found[frozenset(("original", "whole"))] >= 0.9, report.pairs
    assert found[frozenset(("original", "holes"))] >= 0.9, report.pairs
    assert found.get(frozenset(("other", "whole")), 0.0) < DEFAULT_THRESHOLD
    strings = "\n".join(map(str, report.strings))
    assert "whole/bandits.py: runs code from strings: decoded and compared (" in strings
    assert "holes/bandits.py: runs code from strings: decoded and compared (" in strings
    assert "not compared" not in strings and report.notes == []
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "# ---- decoded by the grader: " in page and "Code run from strings" in page
    table = (tmp_path / "report" / "similarity.csv").read_text()
    assert "runs code from strings: decoded and compared" in table
    assert "run code from strings, decoded and compared" in report.summary()


@pytest.mark.parametrize("runner", [
    "exec(open(__file__.replace('.py', '.txt')).read())",
    "exec(''.join(chr(c) for c in CODES))",
    "import base64\nexec(base64.b64decode(PART_A + PART_B))",
    "import builtins\ngetattr(builtins, 'ex' + NAME)(SOURCE)",
    "list(map(exec, SOURCES))",
    "exec(marshal.loads(DATA))",
])
def test_code_built_at_run_time_is_flagged_as_not_compared(tmp_path, runner):
    """Code the syntax tree cannot give (read from a file, built in a loop, a builtin looked up by a
    computed name, exec passed as a value) cannot be compared: the report says so instead of staying silent."""
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", reference("bandits"))
    write(subs / "bob" / "bandits.py", template("bandits") + "\n" + runner + "\n")
    report = similarity_report(subs, tmp_path / "report")
    assert [str(r).split(" (")[0] for r in report.strings] == ["bob/bandits.py: runs code built from strings: not compared"]
    assert "1 run code built from strings that was not compared (listed in the report)" in report.summary()
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "bob/bandits.py: runs code built from strings: not compared" in page
    with open(tmp_path / "report" / "similarity.csv", newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["student_a"] == "bob" and not r["student_b"]]
    assert len(rows) == 1 and rows[0]["note"].startswith("runs code built from strings: not compared (")


def test_decoding_never_runs_the_code_and_knows_the_builtins_from_their_namesakes(tmp_path):
    marker = tmp_path / "ran"
    payload = f"open({str(marker)!r}, 'w').write('x')\n"
    code = (f"import base64\nexec(base64.b64decode({_b64(payload)!r}))\neval({payload!r})\n"
            "import re, torch\nre.compile('a+')\nmodel.eval()\nnet = torch.compile(net)\n"
            "from re import compile\npattern = compile(PATTERN)\n")
    pieces = code_in_strings(code, MAX_CODE_BYTES)
    assert [(p.call, p.how, p.code) for p in pieces] == [("exec", "base64", payload)]    # the eval: the same code
    assert not marker.exists()


def test_a_compressed_bomb_is_too_large_and_costs_nothing(tmp_path):
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", reference("bandits"))
    bomb = zlib.compress(b"x = 1\n" * 20_000_000)       # 120 MB of code in 120 kB
    write(subs / "bob" / "bandits.py", f"import zlib\nexec(zlib.decompress({bomb!r}))\n")
    report = similarity_report(subs, tmp_path / "report")
    assert [str(r) for r in report.skipped] == [
        "bob/bandits.py: not compared: too large (more than 1.0 MB of code once its strings are decoded)"]


def test_a_hand_in_over_the_cap_is_listed_as_not_compared_too_large(tmp_path):
    """Before: every k-gram of a generated 8 MB hand-in was kept (a minute, gigabytes). Now a hand-in of
    more than MAX_CODE_BYTES of code (notebooks: their code) is listed in the page, the CSV and the summary."""
    subs = tmp_path / "subs"
    write(subs / "alice" / "bandits.py", reference("bandits"))
    write(subs / "bob" / "bandits.py", disguised(reference("bandits"), seed=2))
    table = "".join(f"W{i} = [{i}, {i + 1}, {i + 2}, {i * 7 % 13}]\n" for i in range(40_000))   # about 1.2 MB
    write(subs / "carol" / "bandits.py", reference("bandits") + table)
    size = len((reference("bandits") + table).encode()) / 1e6
    assert size > MAX_CODE_BYTES / 1e6
    nb = notebook_from_source(reference("bandits") + table, name="bandits", template=False)
    write(subs / "dave" / "bandits.ipynb", write_notebook(nb))
    report = similarity_report(subs, tmp_path / "report")
    assert {s.student for s in report.submissions} == {"alice", "bob"}
    assert [(p.a.student, p.b.student) for p in report.pairs] == [("alice", "bob")]
    expected = f"not compared: too large ({size:.1f} MB of code; the cap is 1.0 MB)"
    assert [str(r) for r in report.skipped] == [f"carol/bandits.py: {expected}", f"dave/bandits.ipynb: {expected}"]
    assert "2 not compared (2 too large) (listed in the report)" in report.summary()
    assert f"carol/bandits.py: {expected}" in (tmp_path / "report" / "similarity.html").read_text()
    with open(tmp_path / "report" / "similarity.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["student_a"], r["file_a"], r["note"]) for r in rows if not r["student_b"]] == [
        ("carol", "carol/bandits.py", expected), ("dave", "dave/bandits.ipynb", expected)]
