"""Notebooks: templates rendered from the marked solutions, and handed-in notebooks graded like .py files."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.formats.markers import find_holes
from grader.formats.notebooks import CHECK_MARK, notebook_from_source, notebook_to_python, split_code, write_notebook
from grader.formats.source import SubmissionFormatError
from grader.workflows.templates import expected_templates
from tests.conftest import ROOT, feedback, grade_path, scores, stopped_every_group_json

SOLUTIONS = sorted(p for p in (ROOT / "solutions").glob("*.py") if not p.name.startswith("_"))
BANDITS = (ROOT / "solutions" / "bandits.py").read_text()
HOLES = ["epsilon_greedy", "update_estimate"]


def make_nb(cells: list[str], kernel: dict | None = None, language: str | None = "python") -> nbformat.NotebookNode:
    """A v4 notebook; a cell given as ('markdown', text) is markdown, any string a code cell."""
    nb = nbformat.v4.new_notebook()
    for i, c in enumerate(cells):
        cell = nbformat.v4.new_markdown_cell(c[1]) if isinstance(c, tuple) else nbformat.v4.new_code_cell(c)
        cell["id"] = f"c{i}"
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = kernel if kernel is not None else {"name": "python3", "display_name": "Python 3",
                                                                  "language": "python"}
    if language:
        nb.metadata["language_info"] = {"name": language}
    return nb


def save(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.write_text(write_notebook(nb))
    return path


def solution_notebook(path: Path, source: str = BANDITS, name: str = "bandits") -> Path:
    return save(notebook_from_source(source, name=name, template=False), path)


def without_main_guard(source: str) -> str:
    tree = ast.parse(source)
    tree.body = [s for s in tree.body if not (isinstance(s, ast.If) and "__main__" in ast.unparse(s.test))
                 and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return ast.dump(tree)


# -- templates --------------------------------------------------------------------
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_notebook_template_is_valid_and_matches_the_py_template(solution):
    rendered = expected_templates()
    text = rendered[ROOT / "templates" / f"{solution.stem}.ipynb"]
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    assert len({c.id for c in nb.cells}) == len(nb.cells)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.cells[-1].cell_type == "code" and CHECK_MARK in nb.cells[-1].source
    assert "from grader import check" in nb.cells[-1].source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for hole in find_holes(solution.read_text()):
        assert f'raise NotImplementedError("{hole.name}")' in code
        assert any(c.cell_type == "markdown" and f"TODO: `{hole.name}`" in c.source for c in nb.cells)
    # the code of the notebook is the .py template, cell by cell (the main block only gains an argv reset)
    py = rendered[ROOT / "templates" / f"{solution.stem}.py"]
    extracted = "\n\n".join(c.source for c in nb.cells[:-1] if c.cell_type == "code")
    assert without_main_guard(extracted) == without_main_guard(py)


def test_rendering_is_deterministic():
    a = write_notebook(notebook_from_source(BANDITS, name="bandits", statement="# T\n\nx\n\n## A\n\ny"))
    b = write_notebook(notebook_from_source(BANDITS, name="bandits", statement="# T\n\nx\n\n## A\n\ny"))
    assert a == b
    nb = nbformat.reads(a, as_version=4)
    assert [c.id for c in nb.cells] == [f"bandits-{i:02d}" for i in range(len(nb.cells))]
    assert nb.cells[0].source == "# T\n\nx" and nb.cells[1].source == "## A\n\ny"


def test_statement_comes_from_the_readme():
    text = expected_templates()[ROOT / "templates" / "bandits.ipynb"]
    md = "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells if c.cell_type == "markdown")
    assert "Incremental value estimates" in md and "How it is scored" in md and "grader check" in md


def test_splitter_keeps_comments_with_their_definition_and_merges_simple_statements():
    doc, chunks = split_code('"""Doc."""\nimport os\nX = 1\n\n# about f\n@staticmethod\ndef f():\n    return 1\n'
                             '    # trailing body comment\n\nY = 2\nif __name__ == "__main__":\n    f()\n')
    assert doc == "Doc."
    assert [c.kind for c in chunks] == ["simple", "def", "simple", "main"]
    assert chunks[0].text == "import os\nX = 1"
    assert chunks[1].text.startswith("# about f\n@staticmethod") and chunks[1].text.endswith("# trailing body comment")
    assert "sys.argv = sys.argv[:1]" in chunks[3].text


# -- extraction ---------------------------------------------------------------------
def test_magics_shell_escapes_outputs_and_the_check_cell_are_not_run(tmp_path):
    nb = make_nb([
        "%matplotlib inline\nimport numpy as np",
        "!pip install something\nfiles = !ls\nx = 1\nfor i in range(2):\n    %time x += i",
        "%%bash\necho hi\nexit 1",
        "np.sum?",
        "%%time\ny = 2",
        "    z = 3\n    %time w = z",
        "from __future__ import annotations\ndisplay(x)",
        f"{CHECK_MARK}\nfrom grader import check\ncheck()",
    ])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="junk")]
    code, notes = notebook_to_python(save(nb, tmp_path / "n.ipynb"))
    compile(code, "n.py", "exec")
    assert code.startswith("from __future__ import annotations")
    for gone in ("get_ipython", "\n%", "\n!", "\nfrom grader", "\ncheck()", "\necho hi"):
        assert gone not in code
    namespace: dict = {"__name__": "n"}
    exec(compile(code, "n.py", "exec"), namespace)   # runs: magics are gone, display() is a no-op
    assert namespace["x"] == 1 and namespace["y"] == 2 and namespace["z"] == 3
    text = "\n".join(notes)
    assert "%matplotlib" in text and "cell magic (%%bash)" in text and "!pip install" in text
    assert "public checks" not in text          # the template's own check cell is expected, no note


def test_a_hand_written_check_call_is_dropped_with_a_note(tmp_path):
    code, notes = notebook_to_python(save(make_nb(["import grader\nx = 2\ngrader.check('a.ipynb')"]), tmp_path / "n.ipynb"))
    assert "x = 2" in code and "grader.check(" not in code.replace("# not run by the grader: grader.check", "")
    assert any("public checks" in n for n in notes)


@pytest.mark.timeout(120)
def test_same_solution_as_py_and_ipynb_gets_the_same_score(tmp_path):
    nb = solution_notebook(tmp_path / "bandits.ipynb")
    py = grade_path(ROOT / "solutions" / "bandits.py", "bandits", seed=4321)
    ipynb = grade_path(nb, "bandits", seed=4321)
    assert ipynb.score == py.score == py.max_score
    assert [(t.name, t.score, t.status) for t in ipynb.tests] == [(t.name, t.score, t.status) for t in py.tests]
    assert ipynb.leaderboard == py.leaderboard          # same seed, same code: the same agent rewards
    assert ipynb.submission == "bandits.ipynb"


@pytest.mark.timeout(120)
def test_same_wrong_solution_as_py_and_ipynb_loses_the_same_points(tmp_path):
    wrong = BANDITS.replace("if rng.random() < epsilon:", "if rng.random() < epsilon / 2:")
    (tmp_path / "py").mkdir()
    py_file = tmp_path / "py" / "bandits.py"
    py_file.write_text(wrong)
    nb = solution_notebook(tmp_path / "bandits.ipynb", wrong)
    py, ipynb = grade_path(py_file, "bandits", only=HOLES, seed=99), grade_path(nb, "bandits", only=HOLES, seed=99)
    assert scores(ipynb) == scores(py) and scores(py)["epsilon_greedy"] < 4


@pytest.mark.timeout(120)
def test_template_notebook_scores_zero_without_crashing():
    result = grade_path(ROOT / "templates" / "bandits.ipynb", "bandits", seed=1)
    assert result.score == 0
    assert all("not implemented yet" in feedback(t) for t in result.tests)


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_every_solution_notebook_extracts_to_the_solution(tmp_path, solution):
    source = solution.read_text()
    nb = solution_notebook(tmp_path / f"{solution.stem}.ipynb", source, solution.stem)
    code, notes = notebook_to_python(nb)
    assert notes == []
    assert without_main_guard(code) == without_main_guard(source)


@pytest.mark.timeout(120)
def test_messy_notebook_in_another_order_still_gets_full_marks(tmp_path):
    """Class and experiment cells before the functions they call: names resolve at call time."""
    nb = notebook_from_source(BANDITS, name="bandits", template=False)
    code = [c for c in nb.cells if c.cell_type == "code"]
    agent = next(c for c in code if c.source.startswith("class EpsilonGreedyAgent"))
    holes = [c for c in code if c.source.startswith(("def epsilon_greedy", "def update_estimate"))]
    imports = code[0]
    shuffled = [imports, agent, "%matplotlib inline", *reversed(holes)]
    messy = make_nb([c if isinstance(c, str) else c.source for c in shuffled])
    result = grade_path(save(messy, tmp_path / "bandits.ipynb"), "bandits", seed=5)
    assert result.score == result.max_score, [feedback(t) for t in result.tests]


# -- bad input: a readable message, zero, and a result file --------------------------
def grade_cli(path: Path, out: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", str(path), "--assignment", "bandits",
                           "--only", "epsilon_greedy", "--seed", "3", "--json", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


V3 = nbformat.writes(nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
    nbformat.v3.new_code_cell(input=BANDITS.split('\nif __name__ == "__main__":')[0])])]), version=3)

BAD_CASES = {
    "truncated JSON": ('{"cells": [{"cell_type": "code", "source": "x = ', "is not JSON"),
    "not a notebook": ('{"hello": 1}', "not a Jupyter notebook"),
    "binary": ("\udcff", "not UTF-8"),
    "syntax error": (write_notebook(make_nb(["import numpy as np", "def epsilon_greedy(:\n    pass"])),
                     "cell 2 (`def epsilon_greedy(:`) has a syntax error"),
    "R kernel": (write_notebook(make_nb(["x <- 1"], kernel={"name": "ir", "display_name": "R", "language": "R"},
                                        language="R")), "needs Python 3"),
    "no code": (write_notebook(make_nb([("markdown", "# nothing")])), "no code cells"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_notebook_gives_a_readable_message_and_a_result_file(tmp_path, case):
    content, message = BAD_CASES[case]
    path = tmp_path / "bandits.ipynb"
    if content == "\udcff":
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(content)
    proc, result = grade_cli(path, tmp_path / "results.json")
    assert result["score"] == 0 and result["tests"], result
    assert stopped_every_group_json(result, message), result["output"]


@pytest.mark.timeout(120)
def test_nbformat_v3_notebook_is_upgraded_and_graded(tmp_path):
    path = tmp_path / "bandits.ipynb"
    path.write_text(V3)
    proc, result = grade_cli(path, tmp_path / "results.json")
    assert result["score"] == 4, result
    assert "old notebook format v3" in result["output"] or "v3" in json.dumps(result["extra_data"])


@pytest.mark.timeout(120)
def test_unknown_python_kernel_is_graded_with_a_note(tmp_path):
    nb = notebook_from_source(BANDITS, name="bandits", template=False)
    nb.metadata["kernelspec"] = {"name": "conda-env-rl-py", "display_name": "rl", "language": "python"}
    proc, result = grade_cli(save(nb, tmp_path / "bandits.ipynb"), tmp_path / "results.json")
    assert result["score"] == 4
    assert "unknown kernel 'conda-env-rl-py'" in proc.stdout and "unknown kernel" in json.dumps(result)


@pytest.mark.timeout(120)
def test_helper_used_at_import_but_defined_later_is_explained(tmp_path):
    nb = notebook_from_source(BANDITS, name="bandits", template=False)
    cells = [c.source for c in nb.cells if c.cell_type == "code"][:-1]
    cells.insert(1, "ARMS = make_arms(10)")
    cells.append("def make_arms(k):\n    return list(range(k))")
    proc, result = grade_cli(save(make_nb(cells), tmp_path / "bandits.ipynb"), tmp_path / "results.json")
    assert result["score"] == 0
    assert stopped_every_group_json(result, "NameError") and "make_arms" in result["output"]
    notes = " ".join(result["extra_data"]["notes"])
    assert "uses `make_arms` when the notebook is loaded" in notes and "move that definition above" in notes
    assert "note: cell 2 (`ARMS = make_arms(10)`) uses `make_arms`" in " ".join(proc.stdout.split())


def test_order_notes_ignore_names_bound_before_or_only_used_in_functions(tmp_path):
    nb = make_nb(["import numpy as np\nx = 1", "def f():\n    return later()", "y = [i for i in range(3)]",
                  "class A:\n    z = x\n    def m(self, a=np.pi):\n        return later()", "def later():\n    return 1",
                  "i = 5"])
    code, notes = notebook_to_python(save(nb, tmp_path / "n.ipynb"))
    assert notes == []


def test_read_errors_are_submission_format_errors(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text('{"nbformat": 9, "cells": []}')
    with pytest.raises(SubmissionFormatError, match="unsupported notebook format version 9"):
        notebook_to_python(path)


def test_small_schema_slips_are_tolerated_with_a_note(tmp_path):
    """Jupyter opens a notebook whose cells lack 'metadata'; the grader reads its code too."""
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": 7},
                                "cells": [None, {"cell_type": "code", "source": ["x = 1\n", "y = 2"]}]}))
    code, notes = notebook_to_python(path)
    assert "x = 1\ny = 2" in code
    assert any("does not follow the notebook format" in n for n in notes)


@pytest.mark.parametrize("guard", ['if __name__ == "__main__": main()', 'if "__main__" == __name__:\n    main()'])
def test_main_block_is_safe_in_a_kernel_however_it_is_written(guard):
    chunk = split_code(f"def main():\n    import sys\n    return sys.argv[1:]\n\n{guard}\n")[1][-1]
    assert chunk.kind == "main"
    namespace = {"__name__": "__main__"}
    import sys as _sys
    saved = _sys.argv
    try:
        _sys.argv = ["ipykernel_launcher.py", "-f", "kernel.json"]
        exec(compile("def main():\n    import sys\n    assert sys.argv[1:] == []\n" + chunk.text, "cell", "exec"),
             namespace)
    finally:
        _sys.argv = saved
