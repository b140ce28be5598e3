"""How long `grader check` takes (public hole checks, no threshold runs) per assignment, solution and template.

Usage: python bench/bench_check.py [--full] [--repeat N]
Prints seconds of wall-clock time per run; the target is < 5 s for the holes.
"""

from __future__ import annotations

import argparse
import time

from grader.core.assignment import AssignmentError, list_assignments, load_assignment
from grader.core.course import Course
from grader.workflows.check import CheckError, run_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for name in list_assignments():
        a = load_assignment(name)
        stem = a.submission_name.rsplit(".", 1)[0]
        for label, path in [("solution .py", Course.find().solutions_dir / a.submission_name),
                            ("template .ipynb", Course.find().templates_dir / f"{stem}.ipynb")]:
            times = []
            try:
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    report = run_check(path, a, full=args.full)
                    times.append(time.perf_counter() - t0)
            except (CheckError, AssignmentError) as exc:
                print(f"{name:20s} {label:16s} skipped: {exc}")
                continue
            status = "pass" if report.passed else "fail"
            print(f"{name:20s} {label:16s} {status}  min {min(times):.2f} s  max {max(times):.2f} s  "
                  f"groups {[t.name for t in report.result.tests]}")


if __name__ == "__main__":
    main()
