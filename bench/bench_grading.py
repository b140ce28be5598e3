"""Grading time per assignment: reference and template, per group, and child start-up overhead.

    python bench/bench_grading.py [--assignment NAME ...] [--seed N] [--repeat K]
    python bench/bench_grading.py --against ../before --repeat 2   # this checkout and another, alternately

Prints one table row per (assignment, file); compare runs before and after a change.
``--against DIR`` grades each reference with ``grader grade`` from this checkout and from the
checkout at DIR (e.g. a ``git worktree`` of the commit before a change), alternately, in fresh
processes (the whole command, as a user waits for it), with the load average beside each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.core.assignment import list_assignments, load_assignment
from grader.core.course import Course
from grader.core.grading import GradeOptions, grade_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assignment", action="append", help="default: all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--against", type=Path, metavar="DIR", help="another checkout to grade with, alternately")
    args = parser.parse_args()
    names = args.assignment or list_assignments()
    if args.against:
        compare_checkouts(names, args.against.resolve(), args.seed, args.repeat)
        return
    print(f"{'assignment':<20} {'file':<9} {'score':>9} {'wall s':>8} {'start-up s/child (median, max)':>32}  per group s")
    for name in names:
        a = load_assignment(name)
        for label, folder in (("solution", Course.find().solutions_dir), ("template", Course.find().templates_dir)):
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


def compare_checkouts(names: list[str], other: Path, seed: int, repeat: int) -> None:
    """``grader grade`` of each reference from this checkout and from ``other``, alternately."""
    here = Path(__file__).resolve().parent.parent
    walls: dict[tuple[str, str], list[float]] = {}
    for k in range(repeat):
        for name in names:
            for label, root in (("other", other), ("this", here)):
                submission = root / "solutions" / load_assignment(name).submission_name
                load = os.getloadavg()[0]
                with tempfile.TemporaryDirectory() as tmp:
                    out = Path(tmp) / "results.json"
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "grader", "grade", str(submission), "--seed", str(seed + k),
                                    "--json", str(out)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
                    wall = time.perf_counter() - t0
                    result = json.loads(out.read_text()) if out.is_file() else {}
                walls.setdefault((name, label), []).append(wall)
                groups = " ".join(f"{t['name']}={t.get('extra_data', {}).get('seconds', 0):.2f}"
                                  for t in result.get("tests", []))
                score, top = result.get("score", float("nan")), result.get("extra_data", {}).get("max_score", float("nan"))
                print(f"{name:<20} {label:<5} seed {seed + k}  load {load:4.1f}  {score:>4g}/{top:<4g} "
                      f"{wall:7.2f} s  {groups}", flush=True)
    for (name, label), w in walls.items():
        print(f"{name:<20} {label:<5} ({other if label == 'other' else here}): median {statistics.median(w):.2f} s "
              f"over {len(w)} gradings (min {min(w):.2f}, max {max(w):.2f})")


if __name__ == "__main__":
    main()
