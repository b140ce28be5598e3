"""The kit registry (grader.core.kits): bundled kits by folder, other distributions' by entry point."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

import pytest

from grader.core import kits
from grader.core.assignment import AssignmentError, load_assignment
from grader.core.kits import UnknownKit, load_kit


def test_a_bundled_kit_brings_its_child_files():
    kit = load_kit("holes")
    assert kit.package == "grader.kits.holes"
    assert [(name, path.name) for name, path in kit.child_files] == [("holes_child", "child.py")]
    assert all(path.is_file() for _, path in kit.child_files)
    assert load_kit("cartpole").child_files == ()


def test_an_unknown_kit_lists_the_kits_there_are():
    with pytest.raises(UnknownKit, match=r"unknown kit 'nope' \(kits: cartpole, holes, images\)"):
        load_kit("nope")


def _package(root: Path, name: str, init: str) -> None:
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(init)


def test_another_distribution_registers_a_kit_by_entry_point(tmp_path, monkeypatch):
    _package(tmp_path, "course_kit", 'CHILD_MODULES = {"course_child": "child.py"}\n')
    (tmp_path / "course_kit" / "child.py").write_text("X = 1\n")
    _package(tmp_path, "broken_kit", 'CHILD_MODULES = {"broken_child": "gone.py"}\n')
    _package(tmp_path, "shadow", "")
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [metadata.EntryPoint("course", "course_kit", kits.ENTRY_POINT_GROUP),
              metadata.EntryPoint("broken", "broken_kit", kits.ENTRY_POINT_GROUP),
              metadata.EntryPoint("holes", "shadow", kits.ENTRY_POINT_GROUP)]
    monkeypatch.setattr(kits.metadata, "entry_points",
                        lambda group: [p for p in points if p.group == group])
    kit = load_kit("course")
    assert kit.package == "course_kit" and kit.child_files == (("course_child", tmp_path / "course_kit" / "child.py"),)
    with pytest.raises(UnknownKit, match="names child files that do not exist"):
        load_kit("broken")
    assert load_kit("holes").package == "grader.kits.holes"      # a distribution cannot shadow a bundled kit
    for name in ("course_kit", "broken_kit", "shadow"):
        sys.modules.pop(name, None)


def test_an_assignment_naming_an_unknown_kit_says_so(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "assignment.toml").write_text('name = "toy"\ntitle = "Toy"\nkits = ["nope"]\n')
    with pytest.raises(AssignmentError, match="kits: unknown kit 'nope'"):
        load_assignment("toy", tmp_path)
