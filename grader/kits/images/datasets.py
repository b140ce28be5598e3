"""Image data sets for the generative-model assignments, loaded without a network.

Two sources:

* an embedded file checked against its sha256 (``load_checked_npz``), so that a
  corrupted or swapped data file stops the grader instead of silently
  changing every threshold;
* full MNIST or Fashion-MNIST from a directory an instructor provides
  (``load_idx_dataset``): the four standard IDX files, gzipped or not, or an
  ``.npz`` with ``x_train``/``y_train``/``x_test``/``y_test`` (Keras layout) or
  ``images``/``labels``. Both data sets use the same file names and format.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetError(Exception):
    """The data could not be found or is not what it claims to be; the message says what was looked for."""


@dataclass(frozen=True)
class ImageDataset:
    """uint8 images ``[N, 28, 28]`` and integer labels ``[N]`` for a training and a test part."""
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checked_npz(path: Path, sha256: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` whose checksum must be ``sha256`` (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"data file {path} is missing")
    actual = sha256_of(path)
    if actual != sha256:
        raise DatasetError(f"data file {path} has sha256 {actual}, expected {sha256}: "
                           "the file is corrupted or not the one the thresholds were calibrated on")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (``.gz`` or plain): magic 0x0000TTDD, DD big-endian int32 sizes, then the data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DatasetError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated (header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) - header != count * dtype.itemsize:
        raise DatasetError(f"{path} holds {len(raw) - header} data bytes, expected {count * dtype.itemsize} for shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _candidates(directory: Path, stem: str) -> list[Path]:
    """The spellings MNIST mirrors use: ``train-images-idx3-ubyte`` and ``train-images.idx3-ubyte``, each ± ``.gz``."""
    dotted = stem.replace("-idx", ".idx")
    names = [stem, stem + ".gz", dotted, dotted + ".gz"]
    return [directory / n for n in names]


def load_idx_dataset(location: Path | str) -> ImageDataset:
    """MNIST or Fashion-MNIST from a directory of IDX files or from an ``.npz``.

    Raises :class:`DatasetError` listing every file name it looked for.
    """
    location = Path(location).expanduser()
    if location.is_file():
        return _from_npz(location)
    if not location.is_dir():
        raise DatasetError(f"{location} is neither a directory of IDX files nor an .npz file")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for key, stem in IDX_FILES.items():
        hits = [p for p in _candidates(location, stem) if p.is_file()]
        if hits:
            found[key] = hits[0]
        else:
            missing.append(" or ".join(p.name for p in _candidates(location, stem)))
    if missing:
        npz = sorted(location.glob("*.npz"))
        if len(npz) == 1:
            return _from_npz(npz[0])
        raise DatasetError(f"no MNIST / Fashion-MNIST data in {location}: missing " + "; ".join(missing)
                           + " (or a single .npz with x_train, y_train, x_test, y_test)")
    arrays = {key: read_idx(path) for key, path in found.items()}
    return _validated(arrays, str(location))


def _from_npz(path: Path) -> ImageDataset:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path} as .npz: {exc}") from None
    if {"x_train", "y_train", "x_test", "y_test"} <= set(arrays):
        named = {"train_images": arrays["x_train"], "train_labels": arrays["y_train"],
                 "test_images": arrays["x_test"], "test_labels": arrays["y_test"]}
    elif {"images", "labels"} <= set(arrays):
        empty_x = np.zeros((0, 28, 28), np.uint8)
        named = {"train_images": arrays["images"], "train_labels": arrays["labels"],
                 "test_images": empty_x, "test_labels": np.zeros(0, np.int64)}
    else:
        raise DatasetError(f"{path} has arrays {sorted(arrays)}; expected x_train, y_train, x_test, y_test "
                           "(Keras layout) or images, labels")
    return _validated(named, str(path))


def _validated(arrays: dict[str, np.ndarray], where: str) -> ImageDataset:
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
            raise DatasetError(f"{where}: {part} images have shape {images.shape} and dtype {images.dtype}, "
                               "expected uint8 [N, 28, 28]")
        if labels.shape != (images.shape[0],):
            raise DatasetError(f"{where}: {part} labels have shape {labels.shape}, expected ({images.shape[0]},)")
    return ImageDataset(**{k: np.ascontiguousarray(v) for k, v in arrays.items()})


def stratified_split(labels: np.ndarray, held_out_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, held_out)``: ``held_out_per_class`` examples of each label held out, fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        held.append(idx[:held_out_per_class])
        train.append(idx[held_out_per_class:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))
