"""Throughput of ``grader grade-batch``: submissions per hour with -j 1 and -j 2, and the speed-up.

Generates N submissions per assignment (the reference solution, the template,
and wrong variants mixed: the known-wrong implementations of
``tests/variants/<assignment>.py`` when there is such a catalogue, else the
solution with one hole left unimplemented), grades them with each worker
count in a fresh results folder, and prints the figures. Machines are noisy:
run it on an otherwise idle machine and quote the machine with the numbers.

    python bench/bench_batch.py                      # bandits (+ reinforce when it exists), N = 12
    python bench/bench_batch.py --n 30 --jobs 1,2,4 --assignments bandits
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.core.assignment import list_assignments, load_assignment
from grader.core.course import Course
from grader.core.grading import GradeOptions
from grader.formats.markers import BEGIN, find_holes, make_template
from grader.workflows.batch import BatchConfig, run_batch

DEFAULT_ASSIGNMENTS = ("bandits", "reinforce")


def wrong_variants(name: str, solution: str) -> list[str]:
    """Plausible wrong submissions: the test-suite catalogue if there is one, else one hole left open."""
    catalogue = ROOT / "tests" / "variants" / f"{name}.py"
    if catalogue.is_file():
        spec = importlib.util.spec_from_file_location(f"_variants_{name}", catalogue)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        wrong = getattr(module, "WRONG", {})
        found = [solution + "\n" + src for per_hole in wrong.values() for src in per_hole.values()]
        if found:
            return found
    lines = solution.splitlines()
    variants = []
    for hole in find_holes(solution):
        indent = BEGIN.match(lines[hole.begin_line - 1]).group("indent")
        body = lines[:hole.begin_line - 1] + [f'{indent}raise NotImplementedError("{hole.name}")'] + lines[hole.end_line:]
        variants.append("\n".join(body) + "\n")
    return variants


def make_submissions(folder: Path, names: list[str], n: int) -> int:
    count = 0
    for name in names:
        a = load_assignment(name)
        solution = (Course.find().solutions_dir / a.submission_name).read_text()
        wrong = wrong_variants(name, solution)
        pool = [solution, make_template(solution), *wrong]
        for i in range(n):
            # Reference, template and wrong variants in turn.
            source = pool[0] if i % 3 == 0 else pool[1] if i % 3 == 1 else pool[2 + (i // 3) % max(1, len(wrong))]
            target = folder / f"student{i:03d}" / a.submission_name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source)
            count += 1
    return count


def _rows(out: Path):
    from grader.workflows.results_dir import gradebook_rows

    header, rows = gradebook_rows(out)
    i_time, i_status = header.index("time_s"), header.index("status")
    for r in rows:
        yield r[0], r[1], r[i_status], float(r[i_time] or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=12, help="submissions per assignment (default 12)")
    parser.add_argument("--jobs", default="1,2", help="worker counts to compare (default 1,2)")
    parser.add_argument("--assignments", help="comma-separated (default: bandits, and reinforce when it exists)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    available = set(list_assignments())
    wanted = args.assignments.split(",") if args.assignments else [a for a in DEFAULT_ASSIGNMENTS if a in available]
    missing = [a for a in wanted if a not in available]
    if missing:
        print(f"unknown assignment(s): {', '.join(missing)} (have: {', '.join(sorted(available))})")
        return 2
    jobs = [int(j) for j in args.jobs.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        subs = Path(tmp) / "subs"
        total = make_submissions(subs, wanted, args.n)
        print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
        print(f"{total} submissions ({', '.join(wanted)}: reference, template, wrong variants mixed)")
        rates: dict[int, float] = {}
        for j in jobs:
            out = Path(tmp) / f"out-j{j}"
            shutil.rmtree(out, ignore_errors=True)
            t0 = time.monotonic()
            summary = run_batch(BatchConfig(subs, out, jobs=j, options=GradeOptions(device=args.device, seed=args.seed)))
            seconds = time.monotonic() - t0
            rates[j] = total / seconds * 3600
            print(f"-j {j}: {seconds:7.1f} s  {rates[j]:8.0f} submissions/hour  "
                  f"({summary.graded} graded, {summary.invalid} invalid, {summary.errors} errors)")
            per = {}
            for _student, assignment, _status, seconds_one in _rows(out):
                per.setdefault(assignment, []).append(seconds_one)
            print("       mean grading time per submission: " + ", ".join(
                f"{name} {sum(v) / len(v):.1f} s (max {max(v):.1f} s)" for name, v in sorted(per.items())))
        if 1 in rates:
            for j in jobs:
                if j != 1:
                    print(f"speed-up -j {j} vs -j 1: {rates[j] / rates[1]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
