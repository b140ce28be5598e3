"""How long ``grader similarity`` takes for a class: N submissions of one assignment (target: 300 in ≤ 60 s
on 2 cores), and the scores of the planted copies against the rest.

The class is made by ``tests/fake_class.py``: each student is the template with every hole filled by
an implementation from the variants catalogue (correct and wrong ones, as a class hands in), its
variables renamed and its functions reordered at random; a third hand in notebooks; every 20th
student copies an earlier one (renamed and reordered again). Machines are noisy: quote the machine
and its load with the figures, and compare figures from one run.

    python bench/bench_similarity.py                       # 300 students of reinforce, -j 2
    python bench/bench_similarity.py --n 100 --assignment vae --jobs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.formats.notebooks import notebook_from_source, write_notebook
from grader.workflows.similarity import similarity_report
from tests.fake_class import disguised, fill, holes, implementations, template


def make_class(folder: Path, assignment: str, n: int, seed: int = 0) -> set[tuple[str, str]]:
    """Write ``n`` students under ``folder``; return the planted (original, copy) pairs."""
    rng = random.Random(seed)
    options = {h: implementations(assignment, h, wrong=True) for h in holes(assignment)}
    codes, planted = [], set()
    for i in range(n):
        student = f"student{i:03d}"
        if i % 20 == 19:                          # a copy of an earlier student, disguised again
            original = rng.randrange(i)
            code = disguised(codes[original], seed=i)
            planted.add((f"student{original:03d}", student))
        else:
            code = fill(template(assignment), {h: rng.choice(v) for h, v in options.items() if v})
            if rng.random() < 0.7:
                code = disguised(code, seed=i)
        codes.append(code)
        target = folder / student
        target.mkdir(parents=True)
        if i % 3 == 2:
            nb = notebook_from_source(code, name=assignment, template=False)
            (target / f"{assignment}.ipynb").write_text(write_notebook(nb))
        else:
            (target / f"{assignment}.py").write_text(code)
    return planted


def _cpu_seconds() -> float:
    """User + system time of this process and its finished children (the worker processes)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--assignment", default="reinforce")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        planted = make_class(tmp / "subs", args.assignment, args.n)
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        report = similarity_report(tmp / "subs", tmp / "report", jobs=args.jobs)
        seconds = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        pairs = {(p.a.student, p.b.student): p for p in report.pairs}
        copies = sorted(pairs[pair].similarity for pair in planted if pair in pairs)
        others = [p.similarity for key, p in pairs.items() if key not in planted]
        print(f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"{args.n} submissions of {args.assignment} ({report.notes and len(report.notes) or 0} not compared), "
              f"-j {args.jobs}: {seconds:.1f} s (target ≤ 60 s for 300), {cpu:.1f} s of CPU time (workers included)")
        print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
        print(f"pairs sharing code: {len(report.pairs)} of {args.n * (args.n - 1) // 2}; flagged at "
              f"{report.threshold:.0%}: {len(report.flagged)}")
        print(f"planted copies found: {len(copies)}/{len(planted)}, similarity min {min(copies, default=0):.2f} "
              f"median {copies[len(copies) // 2] if copies else 0:.2f}")
        print(f"other pairs (students who drew the same catalogue implementations look alike): "
              f"{sum(s >= report.threshold for s in others)} flagged, median {sorted(others)[len(others) // 2]:.2f}"
              if others else "other pairs: none share code")
        print(f"HTML report {report.html.stat().st_size / 1e6:.1f} MB, CSV {report.csv.stat().st_size / 1e6:.1f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
