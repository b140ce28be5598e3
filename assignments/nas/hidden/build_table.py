"""Build the NAS assignment's hidden table: every architecture of the search space, really trained and counted.

Instructor script, run once when the search space or the training recipe
changes (never by the grader)::

    python assignments/nas/hidden/build_table.py            # all architectures, 2 worker processes

The search space, the networks and the training recipe are the ones students
get (``SPACE``, ``build_model``, ``count_flops``, ``train_and_evaluate`` of
``solutions/nas.py``), so the table measures exactly what the template
describes. Each network is trained on the VAE assignment's 4,000 training
digits and its accuracy measured on the 1,000 held-out digits students never
get (the same fixed split as the VAE's ELBO, ``assignments/vae/hidden/mnist.py``);
its FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode``. One
process per core, one intra-op thread each; the largest networks go first so
the workers finish together.

The result, ``hidden/data/nas-table.npz`` (arrays only, no pickle), is loaded
by ``hidden/table.py``, which pins its sha256: after a rebuild, update
``TABLE_SHA256`` there and recalibrate (``bench/bench_nas.py --compare``, the README of the assignment).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = HERE / "data" / "nas-table.npz"


def load_path(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_WORKER: dict = {}


def _init_worker(solution: str, epochs: int, batch_size: int, lr: float) -> None:
    import torch

    torch.set_num_threads(1)
    nas = load_path("nas_reference", Path(solution))
    train, held = load_digits()
    _WORKER.update(nas=nas, epochs=epochs, batch_size=batch_size, lr=lr,
                   train_x=nas.prepare_digits(train[0]), train_y=torch.as_tensor(train[1], dtype=torch.int64),
                   eval_x=nas.prepare_digits(held[0]), eval_y=torch.as_tensor(held[1], dtype=torch.int64))


def _measure(task: tuple[int, tuple[int, ...]]) -> tuple[int, float, float]:
    index, architecture = task
    w = _WORKER
    t0 = time.monotonic()
    accuracy = w["nas"].train_and_evaluate(architecture, w["train_x"], w["train_y"], w["eval_x"], w["eval_y"],
                                           seed=index, epochs=w["epochs"], batch_size=w["batch_size"], lr=w["lr"])
    return index, accuracy, time.monotonic() - t0


def load_digits() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(images, labels) of the VAE's 4,000 training digits and of its 1,000 held-out digits."""
    from grader.kits.images.datasets import load_checked_npz, stratified_split

    mnist = load_path("vae_hidden_mnist", ROOT / "assignments" / "vae" / "hidden" / "mnist.py")
    arrays = load_checked_npz(mnist.EMBEDDED, mnist.EMBEDDED_SHA256)
    train_idx, held_idx = stratified_split(arrays["labels"], mnist.HELD_OUT_PER_CLASS, mnist.SPLIT_SEED)
    images, labels = arrays["images"], arrays["labels"].astype(np.int64)
    return (images[train_idx], labels[train_idx]), (images[held_idx], labels[held_idx])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--solution", type=Path, default=ROOT / "solutions" / "nas.py")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--sample", type=int, default=0, help="measure only this many architectures, drawn at random "
                                                         "(a quick look; the table is incomplete)")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    nas = load_path("nas_reference", args.solution)
    choices = [len(options) for _, options in nas.SPACE]
    architectures = list(itertools.product(*(range(c) for c in choices)))   # index = np.ravel_multi_index
    flops = np.array([nas.count_flops(nas.build_model(a)) for a in architectures], dtype=np.int64)
    params = np.array([sum(p.numel() for p in nas.build_model(a).parameters()) for a in architectures], dtype=np.int64)
    picked = (np.random.default_rng(0).choice(len(architectures), args.sample, replace=False) if args.sample
              else range(len(architectures)))
    tasks = sorted(((int(i), architectures[i]) for i in picked), key=lambda t: -flops[t[0]])
    accuracy = np.full(len(architectures), np.nan)
    seconds = np.full(len(architectures), np.nan)
    print(f"{len(architectures)} architectures ({len(tasks)} measured), FLOPs {flops.min():,} .. {flops.max():,}; "
          f"{args.workers} workers", flush=True)
    t0 = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, _init_worker, (str(args.solution), args.epochs, args.batch_size, args.lr)) as pool:
        for done, (index, acc, secs) in enumerate(pool.imap_unordered(_measure, tasks, chunksize=1), start=1):
            accuracy[index], seconds[index] = acc, secs
            if done % 50 == 0 or done == len(tasks):
                print(f"{done:5d}/{len(tasks)}  {time.monotonic() - t0:7.1f} s  last: {nas.describe(architectures[index])} "
                      f"accuracy {acc:.3f}", flush=True)
    build_seconds = time.monotonic() - t0
    meta = {"space": [[name, [str(o) for o in options]] for name, options in nas.SPACE],
            "recipe": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "optimizer": "Adam",
                       "seed": "index of the architecture"},
            "data": "4,000 training / 1,000 held-out digits of assignments/vae/hidden/data/mnist-5k.npz",
            "flops": "torch.utils.flop_counter.FlopCounterMode, one 1x1x28x28 input",
            "torch": torch.__version__, "workers": args.workers, "build_seconds": round(build_seconds, 1),
            "measured": len(tasks)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, architectures=np.array(architectures, dtype=np.int8), accuracy=accuracy,
                        flops=flops, params=params, train_seconds=seconds.astype(np.float32),
                        meta=np.array(json.dumps(meta)))
    print(f"wrote {args.out}: {len(tasks)} architectures measured in {build_seconds:.0f} s "
          f"(median {np.nanmedian(seconds):.2f} s each, {args.workers} workers)")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
