"""Grading time per assignment: reference and template, per group, and child start-up overhead.

    python bench/bench_grading.py [--assignment NAME ...] [--seed N] [--repeat K]

Prints one table row per (assignment, file); compare runs before and after a change.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from grader.core.assignment import list_assignments, load_assignment
from grader.core.course import solutions_dir, templates_dir
from grader.core.grading import GradeOptions, grade_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", action="append", help="default: all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    names = args.assignment or list_assignments()
    print(f"{'assignment':<20} {'file':<9} {'score':>9} {'wall s':>8} {'start-up s/child (median, max)':>32}  per group s")
    for name in names:
        a = load_assignment(name)
        for label, folder in (("solution", solutions_dir()), ("template", templates_dir())):
            path = Path(folder) / a.submission_name
            walls, startups, result = [], [], None
            for k in range(args.repeat):
                t0 = time.perf_counter()
                result = grade_file(path, a, GradeOptions(seed=args.seed + k))
                walls.append(time.perf_counter() - t0)
                for t in result.tests:
                    startups.extend(t.extra_data.get("startup_seconds", []))
            groups = " ".join(f"{t.name}={t.extra_data.get('seconds', t.seconds):.2f}" for t in result.tests)
            su = f"{statistics.median(startups):.3f}, {max(startups):.3f}" if startups else "-"
            print(f"{name:<20} {label:<9} {result.score:>4g}/{result.max_score:<4g} {statistics.median(walls):>8.2f} "
                  f"{su:>32}  {groups}")


if __name__ == "__main__":
    main()
