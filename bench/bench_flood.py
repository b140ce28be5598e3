"""What flooding the grader's reply pipe costs the parent: peak memory above its baseline, and time.

    python bench/bench_flood.py [--deadline 5] [--only header_32mb trickle ...] [--root CHECKOUT]

Each flood is a hostile bandits submission (tests/redteam/flood_channel.py,
the same one the red-team tests grade) whose update_estimate writes on the
reply pipe; a real Child serves one ``update_estimate`` call of the bandits
probes with a ``--deadline``-second limit, in a fresh parent process per flood
so that no run inherits another's heap.

Memory: right before the call the parent resets its peak RSS (``echo 5 >
/proc/self/clear_refs``) and reads its RSS; after the call, ``VmHWM`` minus
that RSS is the call's peak increase. Where the reset is refused the figure
is ``ru_maxrss`` of the run minus that of the honest run (method "maxrss").
Time is the call's wall time, from sending the request to the failure.

``--root`` grades with the ``grader`` package of another checkout (say, an
older commit unpacked with ``git archive``) for before/after figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
FLOODS = ["honest", "header_32mb", "elements", "header_max", "deep", "announce_100gb", "body_512mib", "body_16mib",
          "garbage", "forged", "trickle"]


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run_one(how: str, deadline_s: float, root: Path) -> dict:
    """In this (fresh) process: start a child with the flooding submission, make one call, measure."""
    import gc

    import numpy as np

    sys.path.insert(0, str(root))
    import grader
    try:
        from grader.core.assignment import load_assignment
    except ImportError:   # a checkout from before the house moved (--root)
        from grader.assignment import load_assignment
    from grader.sandbox import Child, ChildFailure, ChildSpec, SubmissionError

    redteam = HERE / "tests" / "redteam"
    source = (redteam / "flood_channel.py").read_text()
    source = source.replace("# HONEST\n", (redteam / "_honest.py").read_text()).replace("__HOW__", how)
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        path = Path(tmp) / "bandits.py"
        path.write_text(source)
        assignment = load_assignment("bandits")
        child = Child(ChildSpec(submission=path, probes=assignment.probes_path, child_files=assignment.child_files))
        child.start(time.monotonic() + 60)
        args = {"estimates": np.zeros(1), "counts": np.ones(1, np.int64), "rewards": np.ones(1), "alphas": np.zeros(1)}
        gc.collect()
        reset = _reset_peak()
        before = _status()
        t0 = time.monotonic()
        try:
            child.call("update_estimate", args, time.monotonic() + deadline_s)
            outcome = "answered"
        except ChildFailure as exc:
            outcome = f"{exc.kind}: {exc.message}"
        except SubmissionError as exc:
            outcome = f"error: {exc}"
        except Exception as exc:  # noqa: BLE001 - what the old grader did: an internal error
            outcome = f"grader raised {type(exc).__name__}: {str(exc)[:100]}"
        seconds = time.monotonic() - t0
        after = _status()
        child.close()
    return {"how": how, "grader": str(Path(grader.__file__).parent), "seconds": seconds, "outcome": outcome, "reset": reset,
            "increase_kib": after["VmHWM"] - before["VmRSS"] if reset else None,
            "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadline", type=float, default=5.0, help="the call's time limit in seconds (default 5)")
    parser.add_argument("--only", nargs="*", choices=FLOODS, help="floods to run (default: all)")
    parser.add_argument("--root", type=Path, default=HERE, help="checkout whose grader package is measured")
    parser.add_argument("--one", choices=FLOODS, help=argparse.SUPPRESS)   # internal: run one flood here
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.deadline, args.root.resolve())))
        return

    floods = ["honest"] + [f for f in (args.only or FLOODS) if f != "honest"]
    print(f"grader from {args.root.resolve()}; call time limit {args.deadline:g} s; one fresh parent per flood")
    print(f"{'flood':<16}{'peak above baseline':>21}{'time':>9}  outcome")
    baseline = None
    for how in floods:
        proc = subprocess.run([sys.executable, __file__, "--one", how, "--deadline", str(args.deadline),
                               "--root", str(args.root)], capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{how:<16}{'(parent died: ' + str(proc.returncode) + ')':>21}  {proc.stderr.strip()[-200:]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        if baseline is None:
            baseline = row
            print(f"(grader package: {row['grader']})")
        if row["reset"]:
            mib, method = row["increase_kib"] / 1024, "hwm"
        else:
            mib, method = (row["maxrss_kib"] - baseline["maxrss_kib"]) / 1024, "maxrss"
        outcome = " ".join(row["outcome"].split())
        print(f"{how:<16}{max(mib, 0.0):>14.1f} MiB {method:<6}{row['seconds']:>6.2f} s  {outcome[:110]}")


if __name__ == "__main__":
    main()
