"""How long the class page (RESULTS_DIR/index.html) takes to build, and what it weighs, for a class of
N students × 5 assignments (target of issue 23: 300 × 5 in ≤ 2 s and ≤ 2 MB).

The results folder is made by ``tests/fake_results.py`` through the results model (the course's groups and
points, learning curves of ``--curve`` points per run in the threshold groups, as a real batch leaves
them; a few refused, invalid, errored, timed-out and needs-review results). What is timed is what
``grader report`` does: read every results.json and overrides.csv, build the review queue, write
gradebook.csv and render and write index.html. Timings are the median of ``--repeat`` runs (the results
files in the page cache after the first); the first, cold-ish run is printed too.

    python bench/bench_class_page.py                              # 300 × 5
    python bench/bench_class_page.py --students 600 --repeat 3
    python bench/bench_class_page.py --screenshot docs/class-page/index-300-students.png   # needs Chromium
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.feedback.classpage import render_class_page
from grader.workflows.overrides import Override, write_overrides
from grader.workflows.report import build_report, write_report
from tests.fake_results import make_class


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--curve", type=int, default=600, help="points per learning curve (2 runs per threshold group)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--overrides", type=int, default=3, help="override this many needs-review results (overrides.csv)")
    parser.add_argument("--screenshot", type=Path, help="also load the page in headless Chromium and save a PNG here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-class-page-") as tmp:
        out = Path(tmp) / "results"
        t0 = time.monotonic()
        make_class(out, args.students, curve=args.curve)
        made = time.monotonic() - t0
        flagged = sorted(p.parent.parent.name for p in out.glob("*/vae/results.json")
                         if '"needs_review"' in p.read_text())[:args.overrides]
        write_overrides(out, [Override(s, "vae", "elbo", 4, "read the code: an honest VAE; the bound is the seed's",
                                       "dr.k") for s in flagged])
        files = list(out.glob("*/*/results.json"))
        size_in = sum(p.stat().st_size for p in files)
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"python {platform.python_version()}")
        print(f"class: {args.students} students × 5 assignments = {len(files)} results.json "
              f"({size_in / 1e6:.1f} MB, curves of {args.curve} points), made in {made:.1f} s")
        runs, reads, renders = [], [], []
        for _ in range(args.repeat):
            t0 = time.monotonic()
            summary = write_report(out)
            runs.append(time.monotonic() - t0)
            t0 = time.monotonic()
            report, _, _ = build_report(out)
            reads.append(time.monotonic() - t0)
            t0 = time.monotonic()
            render_class_page(report)
            renders.append(time.monotonic() - t0)
        size = summary.page.stat().st_size
        print(f"grader report (read, queue, gradebook.csv, index.html): median {statistics.median(runs):.2f} s "
              f"(first {runs[0]:.2f} s, max {max(runs):.2f} s, {args.repeat} runs; target ≤ 2 s)")
        print(f"  of which reading the folder and building the queue {statistics.median(reads):.2f} s, "
              f"rendering the page {statistics.median(renders):.2f} s")
        print(f"index.html: {size / 1e6:.2f} MB ({size:,} bytes; target ≤ 2 MB); review queue {summary.queue} rows, "
              f"{len(flagged)} overridden")
        if args.screenshot:
            from tests.browser import CHROMIUM, Browser
            if CHROMIUM is None:
                print("no Chromium installed: no screenshot (apt-get install chromium-headless-shell)")
                return 1
            with Browser(width=1400, height=1500) as browser:
                t0 = time.monotonic()
                browser.open(summary.page.as_uri())
                loaded = time.monotonic() - t0
                browser.eval("document.querySelector('#a-1 thead th:nth-child(2) button').click()")
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                browser.screenshot(args.screenshot)
                print(f"Chromium: loaded in {loaded:.2f} s, console errors: {browser.errors or 'none'}; "
                      f"screenshot {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
