"""The VAE threshold: the course's pipeline in-process, calibration, chance, wrong variants, speed.

Usage::

    python bench/bench_vae.py                               # one run: training time, held-out bound
    python bench/bench_vae.py --calibrate 20                # final bound over seeds: median, sd, worst, thresholds
    python bench/bench_vae.py --chance 200 --first-seed 1000   # misses of the threshold, Clopper-Pearson bound
    python bench/bench_vae.py --variants                    # where the catalogue's wrong holes fall (2 seeds)
    python bench/bench_vae.py --speed 3 [--against DIR]     # grading vs the same work in-process

Every run is exactly what the ``elbo`` group runs (``assignments/vae/calls.py``): the course's
template loaded as a fresh module, its ``train(images, args)`` with the template's defaults on the
4,000 training digits, then the grader's own held-out negative ELBO on the 1,000 held-out digits
(one ``eps`` per image, drawn by the grader). Only the holes differ: here the reference's functions
of this process (``load_pipeline(template, None, replace=...)``) instead of the submission's
child, so 200 runs take minutes. ``--speed`` times that in-process work (the hole checks' calls,
the training, the evaluation) beside ``grader grade solutions/vae.py`` in a fresh process, from
this checkout and from ``--against DIR`` (e.g. a ``git worktree`` of the commit before a change).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import chance

from grader.core.assignment import load_assignment
from grader.core.suite import import_local

SUITE = ROOT / "assignments" / "vae" / "hidden" / "suite.py"
calls = import_local(str(SUITE), "calls")
mnist = import_local(str(SUITE), "mnist")
PARAMS = load_assignment("vae").groups["elbo"].params


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


solution = _load("vae_solution", ROOT / "solutions" / "vae.py")
REFERENCE = {"reparametrize": solution.reparametrize, "kl_divergence": solution.kl_divergence}


def run(seed: int, holes: dict | None = None, threads: int = 1, data: str = "") -> tuple[float, float, float]:
    """One grading's ``elbo`` run in-process: (held-out negative ELBO, training seconds, evaluation seconds).
    The seeds of the training and of the grader's eps derive from ``seed``."""
    split = mnist.load_split({"data": data})
    t0 = time.perf_counter()
    module = calls.pipeline(replace={**REFERENCE, **(holes or {})})
    model = calls.train(module, split.train, seed, "cpu", threads=threads)
    t1 = time.perf_counter()
    bound = calls.held_out_bound(model, split.held_out, np.random.default_rng([seed, 10_000]))
    return bound.value, t1 - t0, time.perf_counter() - t1


def hole_checks_in_process() -> float:
    """Seconds for the hole groups' calls made in-process on the reference (the sizes the hidden checks
    send, gradients included): the hole checks' share of the work a grading does."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    sizes = [(5, 3), (1, 7), (4, 6), (20000, 6), (20000, 6), (2000, 4), (2000, 4), (64, 5), (64, 5)]
    for shape in sizes:
        m = torch.tensor(rng.normal(size=shape), dtype=torch.float32, requires_grad=True)
        s = torch.tensor(rng.uniform(0.5, 2, size=shape), dtype=torch.float32, requires_grad=True)
        z = solution.reparametrize(m, s)
        torch.autograd.grad(z.sum(), (m, s))
    for b, z in ((7, 3), (1, 5), (4, 8), (200, 10), (50, 1), (50, 64), (32, 6), (8, 4)):
        m = torch.tensor(rng.normal(size=(b, z)), dtype=torch.float32, requires_grad=True)
        s = torch.tensor(rng.uniform(0.5, 2, size=(b, z)), dtype=torch.float32, requires_grad=True)
        torch.autograd.grad(solution.kl_divergence(m, s).sum(), (m, s))
    return time.perf_counter() - t0


# -- where the catalogue's wrong holes fall ------------------------------------------------------
def wrong_variants() -> dict[str, dict]:
    """tests/variants/vae.py's wrong holes as functions of this process: {label: {hole: function}}."""
    from tests.variants.vae import WRONG

    out = {}
    for hole, variants in WRONG.items():
        for name, source in variants.items():
            namespace = {"torch": torch, "np": np}
            exec(compile(source, f"<{hole}: {name}>", "exec"), namespace)
            out[f"{hole}: {name}"] = {hole: namespace[hole]}
    return out


def variants(seeds: range, threads: int) -> None:
    threshold = float(PARAMS["threshold"])
    print(f"threshold {threshold:g}; each row: final held-out bound per seed (or why the course's loop stopped)")
    for label, holes in {"reference": {}, **wrong_variants()}.items():
        values, stopped = [], ""
        for seed in seeds:
            try:
                values.append(run(seed, holes, threads)[0])
            except Exception as exc:  # noqa: BLE001 - a wrong hole may stop the course's loop: say how
                stopped = f"{type(exc).__name__}: {str(exc).splitlines()[0][:150]}"
                break
        side = stopped or _side(values, threshold)
        print(f"  {label:<78} {np.round(values, 1).tolist()}  {side}", flush=True)


def _side(values: list[float], threshold: float) -> str:
    v = np.asarray(values)
    if (v <= threshold).all():
        return "passes"
    if (v > threshold).all():
        return "fails"
    return f"mixed: {(v <= threshold).sum()}/{len(v)} pass"


# -- grading time against the same work in-process -----------------------------------------------
def grade_wall(root: Path, seed: int, device: str) -> tuple[float, dict]:
    """``grader grade solutions/vae.py`` from the checkout ``root`` in a fresh process: (seconds, results)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "grader", "grade", str(root / "solutions" / "vae.py"), "--seed", str(seed),
                        "--device", device, "--json", str(out)], cwd=root, env={**os.environ, "PYTHONPATH": str(root)},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        wall = time.perf_counter() - t0
        return wall, json.loads(out.read_text()) if out.is_file() else {}


def _old_evaluation(before: Path, model, seed: int) -> float:
    """Seconds of the evaluation the grader at ``before`` did in-process: the 1,000 held-out digits each
    distorted 4 times (its ``grader/kits/images/distortion.py``, with its assignment.toml's strength),
    then the bound on those 4,000."""
    from grader.core import tomlfile

    distortion = _load("vae_before_distortion", before / "grader" / "kits" / "images" / "distortion.py")
    params = tomlfile.loads((before / "assignments" / "vae" / "assignment.toml").read_text())["groups"]["elbo"]["params"]
    held = mnist.load_split().held_out
    t0 = time.perf_counter()
    scored = distortion.distort(np.repeat(held, int(params["copies"]), axis=0), np.random.default_rng(seed),
                                distortion.Distortion.from_params(params["distortion"]))
    calls.held_out_bound(model, scored, np.random.default_rng(seed))
    return time.perf_counter() - t0


def speed(repeat: int, against: Path | None, threads: int, device: str) -> None:
    """Per seed: the in-process work of a grading (this checkout's: hole checks + the course's training
    + the evaluation; with ``against``, the older grader's too: the same training, its evaluation on
    distorted digits), then ``grader grade`` from each checkout. The target is 1.5 x the in-process
    work + one child start-up (the longest of the grading's start-ups: the one it waits for)."""
    rows: dict[str, list[float]] = {}
    for k in range(repeat):
        seed = 500 + k
        load = os.getloadavg()[0]
        holes = hole_checks_in_process()
        split = mnist.load_split()
        t0 = time.perf_counter()
        model = calls.train(calls.pipeline(replace=REFERENCE), split.train, seed, "cpu", threads=threads)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        value = calls.held_out_bound(model, split.held_out, np.random.default_rng([seed, 10_000])).value
        eval_s = time.perf_counter() - t0
        work = {"this": holes + train_s + eval_s}
        line = (f"seed {seed}  load {load:4.1f}  in-process: hole checks {holes:.2f} s + training {train_s:.2f} s + "
                f"evaluation {eval_s:.2f} s = {work['this']:.2f} s (bound {value:.1f})")
        if against is not None:
            old_eval = _old_evaluation(against, model, seed)
            work["before"] = holes + train_s + old_eval
            line += f"; before: evaluation on 4,000 distorted digits {old_eval:.2f} s = {work['before']:.2f} s"
        print(line, flush=True)
        for label, root in (("before", against), ("this", ROOT)):
            if root is None:
                continue
            load = os.getloadavg()[0]
            wall, result = grade_wall(root, seed, device)
            tests = result.get("tests", [])
            startups = [s for t in tests for s in t.get("extra_data", {}).get("startup_seconds", [])]
            target = 1.5 * work[label] + max(startups, default=0.0)
            for key, value in ((f"in-process work ({label})", work[label]), (f"grading ({label})", wall),
                               (f"target ({label})", target), (f"grading / target ({label})", wall / target)):
                rows.setdefault(key, []).append(value)
            groups = " ".join(f"{t['name']}={t.get('extra_data', {}).get('seconds', 0):.2f}" for t in tests)
            elbo = next((t.get("extra_data", {}) for t in tests if t["name"] == "elbo"), {})
            print(f"seed {seed}  load {load:4.1f}  grading ({label}): {result.get('score', float('nan')):g} points, "
                  f"{wall:.2f} s (target {target:.2f} s)  {groups}  elbo training {elbo.get('train_seconds', '?')} s, "
                  f"{elbo.get('hole_calls', '-')} hole calls; child start-ups {np.round(startups, 2).tolist()}",
                  flush=True)
    print()
    for label, values in rows.items():
        print(f"{label:<28} median {statistics.median(values):6.2f}  (min {min(values):.2f}, max {max(values):.2f}, "
              f"n {len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", "--first-seed", dest="seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=int(PARAMS.get("threads", 1)))
    parser.add_argument("--data", default="", help="MNIST / Fashion-MNIST IDX directory or .npz (default: embedded 4k/1k split)")
    parser.add_argument("--calibrate", type=int, metavar="SEEDS", default=0,
                        help="this many seeds: the final held-out bound of each, median, sd, thresholds")
    parser.add_argument("--chance", type=int, metavar="RUNS", default=0,
                        help="this many runs: how many miss the threshold of assignment.toml, and the bound")
    parser.add_argument("--variants", action="store_true", help="where the catalogue's wrong holes fall (2 seeds)")
    parser.add_argument("--speed", type=int, metavar="REPEAT", default=0,
                        help="grading time vs the same work in-process, this many times")
    parser.add_argument("--against", type=Path, metavar="DIR", help="with --speed: also grade from this checkout")
    parser.add_argument("--device", default="cpu",
                        help="with --speed: the gradings' --device (the in-process work runs on the CPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module = calls.pipeline(replace=REFERENCE)
    a = calls.course_arguments(module, 0, "cpu")
    print(f"the course's VAE (templates/vae.py defaults): 784-{a.hidden}-{a.hidden}-{a.z_dim}, {a.epochs} epochs, "
          f"batch {a.batch_size}, Adam lr {a.learning_rate:g}; {args.threads} thread(s), torch {torch.__version__}")
    if args.variants:
        variants(range(args.seed, args.seed + 2), args.threads)
        return
    if args.speed:
        speed(args.speed, args.against.resolve() if args.against else None, args.threads, args.device)
        return
    runs = args.calibrate or args.chance
    if not runs:
        value, train_s, eval_s = run(args.seed, threads=args.threads, data=args.data)
        print(f"seed {args.seed}: held-out negative ELBO {value:.2f} (training {train_s:.1f} s, evaluation {eval_s:.2f} s)")
        return
    finals = []
    for seed in range(args.seed, args.seed + runs):
        value, train_s, _ = run(seed, threads=args.threads, data=args.data)
        finals.append(value)
        print(f"seed {seed:4d}: held-out negative ELBO {value:.3f} ({train_s:.1f} s)", flush=True)
    f = np.array(finals)
    sd = f.std(ddof=1)
    print(f"over {len(f)} seeds: median {np.median(f):.2f}, mean {f.mean():.2f}, sd {sd:.3f}, min {f.min():.2f}, "
          f"max {f.max():.2f}; median + 3 sd = {np.median(f) + 3 * sd:.2f}, + 3.5 sd = {np.median(f) + 3.5 * sd:.2f}, "
          f"+ 4 sd = {np.median(f) + 4 * sd:.2f}")
    if args.chance:
        threshold = float(PARAMS["threshold"])
        print(chance.report("vae elbo", int((f > threshold).sum()), len(f), 1, int(PARAMS.get("retries", 0))))


if __name__ == "__main__":
    main()
