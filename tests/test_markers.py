"""Solutions → templates: markers, errors with file and line, and the committed templates in sync."""

from __future__ import annotations

import pytest

from grader.formats.markers import MarkerError, find_holes, make_template
from grader.workflows.templates import stale_templates

SOLUTION = '''\
def f(x):
    """Doc."""
    # BEGIN SOLUTION: double it
    y = 2 * x
    return y
    # END SOLUTION


class A:
    def g(self):
        # BEGIN SOLUTION
        return 1
        # END SOLUTION
'''


def test_template_replaces_each_region_with_a_hint_and_a_raise():
    out = make_template(SOLUTION)
    assert "2 * x" not in out and "return 1" not in out
    assert '    # TODO: double it\n    raise NotImplementedError("f")' in out
    assert '        # TODO: implement g\n        raise NotImplementedError("g")' in out
    compile(out, "t.py", "exec")


def test_holes_are_named_after_the_enclosing_function():
    assert [h.name for h in find_holes(SOLUTION)] == ["f", "g"]


@pytest.mark.parametrize("source, line, message", [
    ("def f():\n    # BEGIN SOLUTION\n    pass\n", 2, "never closed"),
    ("def f():\n    pass\n    # END SOLUTION\n", 3, "without a matching"),
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    pass\n    # END SOLUTION\n", 3, "nested"),
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION\n", 1, "inside a function"),
])
def test_marker_errors_name_file_and_line(source, line, message):
    with pytest.raises(MarkerError) as err:
        make_template(source, "solutions/x.py")
    assert f"solutions/x.py:{line}:" in str(err.value) and message in str(err.value)


def test_committed_templates_are_in_sync_with_solutions():
    stale = stale_templates()
    assert not stale, f"run 'grader templates': out of sync: {[str(p) for p in stale]}"


def test_templates_check_command_detects_drift(tmp_path):
    from grader.workflows.templates import write_templates
    sol, tpl = tmp_path / "solutions", tmp_path / "templates"
    sol.mkdir()
    (sol / "x.py").write_text(SOLUTION)
    write_templates(solutions=sol, templates=tpl)
    assert stale_templates(solutions=sol, templates=tpl) == []
    (sol / "x.py").write_text(SOLUTION.replace("double it", "triple it"))
    assert tpl / "x.py" in stale_templates(solutions=sol, templates=tpl)
