"""Sandbox cost: start-up overhead per child, and grading the bandits reference with and without isolation.

    python bench/bench_sandbox.py [--starts 10] [--grades 2]

Prints medians. "start" is the time from spawning a child to its ready
greeting (interpreter, numpy and the submission imported); the namespace
overhead is the difference between the two rows (target <= 0.3 s).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core.assignment import load_assignment
from grader.core.course import sandbox_isolation
from grader.core.grading import GradeOptions, grade_file
from grader.sandbox import Child, ChildSpec, Limits, NoIsolation


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--grades", type=int, default=2)
    args = parser.parse_args()

    isolated = sandbox_isolation()
    plain = NoIsolation()
    print(isolated.describe())
    if isinstance(isolated, NoIsolation):
        print("no namespaces on this machine: only the unisolated figures are meaningful")
    rows = []
    for label, fn, n in (("bare interpreter start", time_bare, args.starts),
                         ("bandits child start (to ready)", time_child_start, args.starts),
                         ("grade bandits reference (3 groups)", time_grade, args.grades)):
        with_ns = statistics.median(fn(isolated, n))
        without = statistics.median(fn(plain, n))
        rows.append((label, n, without, with_ns))
    print(f"{'':36} {'n':>3} {'no isolation':>13} {'namespaces':>11} {'overhead':>9}")
    for label, n, without, with_ns in rows:
        print(f"{label:36} {n:>3} {without:>12.3f}s {with_ns:>10.3f}s {with_ns - without:>+8.3f}s")


if __name__ == "__main__":
    main()
