"""Sandbox cost: start-up overhead per child, and grading the bandits reference with and without isolation.

    python bench/bench_sandbox.py [--starts 10] [--grades 2]

Prints medians of three set-ups, measured in turn (one run of each, then the
next round) so that a busy machine slows them alike: no isolation, the
namespaces without the seccomp filter, and the namespaces with it (what
grading uses). "start" is the time from spawning a child to its ready
greeting (interpreter, numpy and the submission imported). Targets: the
namespaces add <= 0.3 s per child, the filter <= 0.02 s more.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core.assignment import load_assignment
from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file
from grader.sandbox import Child, ChildSpec, Limits, NamespaceIsolation, NoIsolation


def time_bare(isolation, n: int) -> list[float]:
    """Start an empty interpreter (``python -I -S -c pass``) n times, isolated or not."""
    times = []
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
            argv = isolation.wrap([sys.executable, "-I", "-S", "-c", "pass"], Path(tmp), Limits(), "cpu")
            t0 = time.perf_counter()
            subprocess.run(argv, cwd=tmp, check=True)
            times.append(time.perf_counter() - t0)
    return times


def time_child_start(isolation, n: int) -> list[float]:
    """Spawn a bandits child with the reference solution and wait for its ready greeting."""
    assignment = load_assignment("bandits")
    spec = ChildSpec(submission=ROOT / "solutions" / "bandits.py", probes=assignment.probes_path,
                     child_files=assignment.child_files, isolation=isolation)
    times = []
    for _ in range(n):
        child = Child(spec)
        t0 = time.perf_counter()
        child.start(time.monotonic() + 60)
        times.append(time.perf_counter() - t0)
        child.close()
    return times


def time_grade(isolation, n: int) -> list[float]:
    assignment = load_assignment("bandits")
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        result = grade_file(ROOT / "solutions" / "bandits.py", assignment, GradeOptions(seed=i, isolation=isolation))
        times.append(time.perf_counter() - t0)
        assert result.score == result.max_score, result.score
    return times


def setups() -> list[tuple[str, object]]:
    """(column, isolation): none, namespaces without the filter, namespaces with it (where there are)."""
    isolated = Course.find().isolation()
    print(isolated.describe())
    columns: list[tuple[str, object]] = [("no isolation", NoIsolation())]
    if not isinstance(isolated, NamespaceIsolation):
        print("no namespaces on this machine: only the unisolated figures are meaningful")
        return columns
    columns.append(("namespaces", dataclasses.replace(isolated, seccomp_off="off for the comparison")))
    if isolated.seccomp_off:
        print(f"the seccomp filter is off here ({isolated.seccomp_off}): its cost is not measured")
    else:
        columns.append(("+ seccomp", isolated))
    return columns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--grades", type=int, default=2)
    args = parser.parse_args()

    columns = setups()
    rows = []
    for label, fn, n in (("bare interpreter start", time_bare, args.starts),
                         ("bandits child start (to ready)", time_child_start, args.starts),
                         ("grade bandits reference (3 groups)", time_grade, args.grades)):
        times: dict[str, list[float]] = {name: [] for name, _ in columns}
        for _ in range(n):
            for name, isolation in columns:
                times[name] += fn(isolation, 1)
        rows.append((label, n, [statistics.median(times[name]) for name, _ in columns]))
    names = [name for name, _ in columns]
    overheads = [f"{b} − {a}" for a, b in zip(names, names[1:])]
    print(f"{'':36} {'n':>3}" + "".join(f"{name:>14}" for name in names) + "".join(f"{o:>26}" for o in overheads))
    for label, n, medians in rows:
        print(f"{label:36} {n:>3}" + "".join(f"{m:>13.3f}s" for m in medians)
              + "".join(f"{b - a:>+25.3f}s" for a, b in zip(medians, medians[1:])))


if __name__ == "__main__":
    main()
