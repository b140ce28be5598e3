"""Parent-side data of the VAE assignment: which images train, which are held out.

The embedded set is ``hidden/data/mnist-5k.npz`` (5,000 MNIST digits, 500 per
class, sha256 checked on load). A fixed stratified split keeps 100 digits of
each class (1,000) for the grader's held-out ELBO; only the other 4,000 are
ever sent to a child. An instructor may point ``data`` in ``assignment.toml``
at full MNIST or Fashion-MNIST (IDX directory or ``.npz``): then training
images come from its training part and held-out images from its test part
(recalibrate ``reference`` in that case).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.kits.images.datasets import load_checked_npz, load_idx_dataset, stratified_split

HERE = Path(__file__).resolve().parent
EMBEDDED = HERE / "data" / "mnist-5k.npz"
EMBEDDED_SHA256 = "246e0c30eeea57c8d0037d3f38c8e00651ec204cc61b8022563e9aeeb9d756f4"
SPLIT_SEED = 20240501          # fixed: the same 4,000 / 1,000 split in every run
HELD_OUT_PER_CLASS = 100


@dataclass(frozen=True)
class Split:
    train: np.ndarray      # uint8 [N, 28, 28]
    held_out: np.ndarray   # uint8 [M, 28, 28]; never sent to a child that will decode
    source: str


_CACHE: dict[str, Split] = {}


def load_split(params: Mapping[str, Any] | None = None) -> Split:
    """The training and held-out images named by the group's ``data`` parameter (default: embedded)."""
    params = params or {}
    where = str(params.get("data", "") or "embedded")
    if where not in _CACHE:
        if where == "embedded":
            arrays = load_checked_npz(EMBEDDED, EMBEDDED_SHA256)
            train_idx, held_idx = stratified_split(arrays["labels"], HELD_OUT_PER_CLASS, SPLIT_SEED)
            _CACHE[where] = Split(arrays["images"][train_idx], arrays["images"][held_idx], "mnist-5k (embedded)")
        else:
            ds = load_idx_dataset(where)
            _CACHE[where] = Split(ds.train_images, ds.test_images, where)
    split = _CACHE[where]
    n_train = int(params.get("train_images", len(split.train)))
    n_held = int(params.get("held_out_images", len(split.held_out)))
    return Split(split.train[:n_train], split.held_out[:n_held], split.source)
