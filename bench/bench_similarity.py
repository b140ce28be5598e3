"""How long ``grader similarity`` takes for a class: N submissions of one assignment (target: 300 in ≤ 60 s
on 2 cores), and the scores of the planted copies against the rest; then two more cases:

* ``strings``: copies of one student hidden in strings that another runs with ``exec`` (a raw string,
  base64, hex, zlib of base64, rot13, a name bound to the string) and one run from code built at run time:
  each copy's score against its source (target: about 100 %), and what the report says;
* ``large``: a class of 30 with one generated 7.8 MB hand-in: seconds and peak memory (target: bounded,
  the hand-in listed as not compared: too large). ``--cap 0`` lifts the cap (the behaviour before it).

Each case runs in a process of its own (``--case``), so that the peak memory printed is that case's.

The class is made by ``tests/fake_class.py``: each student is the template with every hole filled by
an implementation from the variants catalogue (correct and wrong ones, as a class hands in), its
variables renamed and its functions reordered at random; a third hand in notebooks; every 20th
student copies an earlier one (renamed and reordered again). Machines are noisy: quote the machine
and its load with the figures, and compare figures from one run.

    python bench/bench_similarity.py                       # all three cases; 300 students of reinforce, -j 2
    python bench/bench_similarity.py --case class --n 100 --assignment vae --jobs 1
    python bench/bench_similarity.py --case large --cap 0  # the 7.8 MB hand-in compared (no cap)
"""

from __future__ import annotations

import argparse
import base64
import codecs
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader.formats.notebooks import notebook_from_source, write_notebook
from grader.workflows.similarity import MAX_CODE_BYTES, similarity_report
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


def _peak_rss_mb() -> float:
    """Peak resident memory of this process and (separately) of its largest finished child, in MB."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024


def _load() -> str:
    return "load " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def class_case(args: argparse.Namespace, tmp: Path) -> None:
    planted = make_class(tmp / "subs", args.assignment, args.n)
    cpu0 = _cpu_seconds()
    load = _load()
    t0 = time.perf_counter()
    report = similarity_report(tmp / "subs", tmp / "report", jobs=args.jobs)
    seconds = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    pairs = {(p.a.student, p.b.student): p for p in report.pairs}
    copies = sorted(pairs[pair].similarity for pair in planted if pair in pairs)
    others = [p.similarity for key, p in pairs.items() if key not in planted]
    print(f"[class] {platform.machine()}, {os.cpu_count()} cores, {load} before, {_load()} after; "
          f"{args.n} submissions of {args.assignment} ({len(report.skipped)} not compared), "
          f"-j {args.jobs}: {seconds:.1f} s (target ≤ 60 s for 300), {cpu:.1f} s of CPU time (workers included), "
          f"peak RSS {_peak_rss_mb():.0f} MB")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    print(f"pairs sharing code: {len(report.pairs)} of {args.n * (args.n - 1) // 2}; flagged at "
          f"{report.threshold:.0%}: {len(report.flagged)}")
    print(f"planted copies found: {len(copies)}/{len(planted)}, similarity min {min(copies, default=0):.2f} "
          f"median {copies[len(copies) // 2] if copies else 0:.2f}")
    print(f"other pairs (students who drew the same catalogue implementations look alike): "
          f"{sum(s >= report.threshold for s in others)} flagged, median {sorted(others)[len(others) // 2]:.2f}"
          if others else "other pairs: none share code")
    print(f"HTML report {report.html.stat().st_size / 1e6:.1f} MB, CSV {report.csv.stat().st_size / 1e6:.1f} MB")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


HIDDEN = {   # how a copier hides the whole of another's file: the hand-in's complete text
    "exec of a raw string": lambda code: f"exec(r'''{code}''')\n",
    "exec of base64": lambda code: f"import base64\nexec(base64.b64decode({_b64(code.encode())!r}))\n",
    "exec of hex": lambda code: f"exec(bytes.fromhex({code.encode().hex()!r}))\n",
    "exec of zlib of base64": lambda code: (f"import base64, zlib\nexec(zlib.decompress(base64.b64decode("
                                            f"{_b64(zlib.compress(code.encode(), 9))!r})))\n"),
    "exec of rot13": lambda code: f"import codecs\nexec(codecs.decode({codecs.encode(code, 'rot13')!r}, 'rot13'))\n",
    "a name bound to base64, exec'd": lambda code: (f"import base64\nSOURCE = {_b64(code.encode())!r}\n"
                                                    "exec(base64.b64decode(SOURCE), globals())\n"),
    "exec of code built at run time": lambda code: (f"CODES = {list(zlib.compress(code.encode()))!r}\n"
                                                    "import zlib\nexec(zlib.decompress(bytes(c for c in CODES)))\n"),
}


def strings_case(args: argparse.Namespace, tmp: Path) -> None:
    """The source, a copy of it hidden each way (renamed and reordered first), and a few independent hand-ins."""
    from tests.fake_class import independent, reference

    subs = tmp / "subs"
    source = reference(args.assignment)
    (subs / "source").mkdir(parents=True)
    (subs / "source" / f"{args.assignment}.py").write_text(source)
    for i, hide in enumerate(HIDDEN.values()):
        (subs / f"copy{i}").mkdir()
        (subs / f"copy{i}" / f"{args.assignment}.py").write_text(hide(disguised(source, seed=i)))
    for i in range(4):
        (subs / f"other{i}").mkdir()
        (subs / f"other{i}" / f"{args.assignment}.py").write_text(independent(args.assignment, i + 1, wrong=True))
    t0 = time.perf_counter()
    report = similarity_report(subs, tmp / "report", jobs=1)
    seconds = time.perf_counter() - t0
    found = {frozenset((p.a.student, p.b.student)): p.similarity for p in report.pairs}
    print(f"[strings] {args.assignment}: the source and {len(HIDDEN)} copies of it hidden in strings, "
          f"{seconds:.1f} s, {_load()}, peak RSS {_peak_rss_mb():.0f} MB")
    for i, how in enumerate(HIDDEN):
        said = [r.text.split(" (")[0] for r in report.strings if r.student == f"copy{i}"]
        print(f"  {how:32s} {found.get(frozenset(('source', f'copy{i}')), 0.0):5.0%} against its source; "
              f"report: {'; '.join(said) or 'nothing'}")
    others = [v for k, v in found.items() if any(s.startswith("other") for s in k)]
    print(f"  independent hand-ins against the rest: max {max(others, default=0.0):.0%}")


def large_file(assignment: str, target: int) -> str:
    """The reference followed by generated code (helpers and tables, as a generated hand-in has) to
    ``target`` bytes; every line different, so that every k-gram is new."""
    from tests.fake_class import reference

    parts = [reference(assignment)]
    size, i = len(parts[0]), 0
    while size < target:
        block = (f"\n\ndef generated_{i}(x, scale={i % 17 + 1}):\n"
                 f"    table_{i} = [{', '.join(str((i * 31 + j * 7) % 1009) for j in range(12))}]\n"
                 f"    total = sum(v * scale for v in table_{i}) + x * {i}\n"
                 f"    return total if total > {i % 101} else -total\n")
        parts.append(block)
        size += len(block)
        i += 1
    return "".join(parts)


def large_case(args: argparse.Namespace, tmp: Path) -> None:
    from tests.fake_class import independent

    big = large_file(args.assignment, int(args.large_mb * 1e6))
    make_class(tmp / "subs", args.assignment, 29)
    (tmp / "subs" / "big").mkdir()
    (tmp / "subs" / "big" / f"{args.assignment}.py").write_text(big)
    del big
    (tmp / "subs" / "student000" / f"{args.assignment}.py").write_text(independent(args.assignment, 0))
    cap = args.cap if args.cap > 0 else 1 << 40
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    report = similarity_report(tmp / "subs", tmp / "report", jobs=args.jobs, max_bytes=cap)
    seconds = time.perf_counter() - t0
    size = (tmp / "subs" / "big" / f"{args.assignment}.py").stat().st_size / 1e6
    said = [r.text for r in report.skipped if r.student == "big"]
    print(f"[large] 29 hand-ins of {args.assignment} and one of {size:.1f} MB, cap "
          f"{'none' if args.cap <= 0 else f'{cap / 1e6:g} MB'}, -j {args.jobs}: {seconds:.1f} s, peak RSS "
          f"{_peak_rss_mb():.0f} MB ({rss0:.0f} MB before the report), {_load()}")
    print("phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    print(f"the large one: {said[0] if said else 'compared'}; summary: {report.summary()}")
    if args.discovery:
        # 'read' above includes finding the hand-ins as grade-batch does (grader.workflows.discovery.discover),
        # which tells each file's assignment by the names it defines (grader.core.identity: ast.parse of the
        # whole file): time that alone, in this process (its peak memory is already counted above)
        from grader.workflows.discovery import discover

        t0 = time.perf_counter()
        discover(tmp / "subs")
        print(f"discovery alone (grade-batch's, not the report's): {time.perf_counter() - t0:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["all", "class", "strings", "large"], default="all")
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--assignment", default="reinforce")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--large-mb", type=float, default=7.8, help="size of the large hand-in (default 7.8 MB)")
    parser.add_argument("--discovery", action="store_true", help="large case: also time grade-batch's discovery alone")
    parser.add_argument("--cap", type=int, default=MAX_CODE_BYTES,
                        help=f"per-file cap in bytes for the large case (default {MAX_CODE_BYTES}; 0: none)")
    args = parser.parse_args()
    if args.case == "all":      # each case in a process of its own: its own peak memory
        for case in ("class", "strings", "large"):
            subprocess.run([sys.executable, __file__, *sys.argv[1:], "--case", case], check=True)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        {"class": class_case, "strings": strings_case, "large": large_case}[args.case](args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
