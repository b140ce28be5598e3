"""grader.kits.images.datasets: the checksum-checked embedded set and the MNIST / Fashion-MNIST loader (IDX or .npz)."""

from __future__ import annotations

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from grader.kits.images.datasets import (
    DatasetError,
    load_checked_npz,
    load_idx_dataset,
    read_idx,
    sha256_of,
    stratified_split,
)
from tests.conftest import ROOT

EMBEDDED = ROOT / "assignments" / "vae" / "hidden" / "data" / "mnist-5k.npz"
SHA256 = "246e0c30eeea57c8d0037d3f38c8e00651ec204cc61b8022563e9aeeb9d756f4"


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """An IDX file as LeCun's site serves them: magic 0x00000803 (uint8, 3 dims), big-endian sizes, data."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def fake_mnist(folder: Path, compress: bool, dotted: bool = False, n_train: int = 12, n_test: int = 5) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx(folder / (name.replace("-idx", ".idx") if dotted else name), array, compress)
    return arrays


@pytest.mark.parametrize("compress, dotted", [(False, False), (True, False), (False, True), (True, True)])
def test_loads_the_four_idx_files(tmp_path, compress, dotted):
    arrays = fake_mnist(tmp_path / "mnist", compress, dotted)
    ds = load_idx_dataset(tmp_path / "mnist")
    assert np.array_equal(ds.train_images, arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.train_labels, arrays["train-labels-idx1-ubyte"])
    assert np.array_equal(ds.test_images, arrays["t10k-images-idx3-ubyte"])
    assert np.array_equal(ds.test_labels, arrays["t10k-labels-idx1-ubyte"])
    assert ds.train_images.dtype == np.uint8 and ds.train_images.shape == (12, 28, 28)


def test_fashion_mnist_uses_the_same_files(tmp_path):
    fake_mnist(tmp_path / "fashion", compress=True, n_train=7, n_test=3)
    ds = load_idx_dataset(str(tmp_path / "fashion"))
    assert ds.train_images.shape == (7, 28, 28) and ds.test_labels.shape == (3,)


def test_missing_files_error_lists_what_was_looked_for(tmp_path):
    fake_mnist(tmp_path / "partial", compress=False)
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError) as info:
        load_idx_dataset(tmp_path / "partial")
    text = str(info.value)
    assert "t10k-labels-idx1-ubyte" in text and "t10k-labels-idx1-ubyte.gz" in text and "t10k-labels.idx1-ubyte" in text
    assert "train-images" not in text    # only what is missing
    assert ".npz" in text


def test_not_a_directory_or_file(tmp_path):
    with pytest.raises(DatasetError, match="neither a directory"):
        load_idx_dataset(tmp_path / "nowhere")


def test_keras_npz_and_images_labels_npz(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, 6, dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:2], y_test=y[:2])
    ds = load_idx_dataset(tmp_path / "mnist.npz")
    assert np.array_equal(ds.train_images, x) and np.array_equal(ds.test_labels, y[:2])
    ds = load_idx_dataset(tmp_path)             # a directory with a single .npz
    assert ds.test_images.shape == (2, 28, 28)
    np.savez(tmp_path / "other.npz", images=x, labels=y)
    assert load_idx_dataset(tmp_path / "other.npz").train_images.shape == (6, 28, 28)
    np.savez(tmp_path / "bad.npz", pixels=x)
    with pytest.raises(DatasetError, match="x_train"):
        load_idx_dataset(tmp_path / "bad.npz")


def test_corrupt_idx_files_are_refused(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="data bytes"):
        read_idx(path)
    path.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DatasetError, match="magic"):
        read_idx(path)


def test_wrong_image_shape_is_refused(tmp_path):
    fake_mnist(tmp_path / "m", compress=False)
    write_idx(tmp_path / "m" / "train-images-idx3-ubyte", np.zeros((12, 32, 32), np.uint8))
    with pytest.raises(DatasetError, match=r"uint8 \[N, 28, 28\]"):
        load_idx_dataset(tmp_path / "m")


def test_embedded_set_checksum(tmp_path):
    assert sha256_of(EMBEDDED) == SHA256
    data = load_checked_npz(EMBEDDED, SHA256)
    assert data["images"].shape == (5000, 28, 28) and data["images"].dtype == np.uint8
    assert np.array_equal(np.bincount(data["labels"]), np.full(10, 500))
    tampered = tmp_path / "mnist-5k.npz"
    shutil.copy(EMBEDDED, tampered)
    with open(tampered, "r+b") as f:
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(DatasetError, match="sha256"):
        load_checked_npz(tampered, SHA256)
    with pytest.raises(DatasetError, match="missing"):
        load_checked_npz(tmp_path / "absent.npz", SHA256)


def test_embedded_note_is_shipped_with_the_data():
    note = (EMBEDDED.parent / "README.md").read_text()
    assert SHA256 in note and "CC BY-SA" in note


def test_stratified_split():
    labels = np.repeat(np.arange(10), 50)
    train, held = stratified_split(labels, 5, seed=3)
    assert len(train) == 450 and len(held) == 50 and not set(train) & set(held)
    assert np.array_equal(np.bincount(labels[held]), np.full(10, 5))
    again = stratified_split(labels, 5, seed=3)
    assert np.array_equal(again[1], held)


def test_assignment_can_use_full_mnist_from_a_directory(tmp_path):
    from grader.core.suite import import_local

    mnist = import_local(str(ROOT / "assignments" / "vae" / "hidden" / "suite.py"), "mnist")
    arrays = fake_mnist(tmp_path / "full", compress=True, n_train=20, n_test=8)
    split = mnist.load_split({"data": str(tmp_path / "full"), "train_images": 15})
    assert np.array_equal(split.train, arrays["train-images-idx3-ubyte"][:15])
    assert np.array_equal(split.held_out, arrays["t10k-images-idx3-ubyte"])


def test_public_training_split_is_exactly_the_training_part():
    """Students get the 4,000 training digits; none of the grader's held-out digits."""
    import sys

    import numpy as np

    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "assignments" / "vae" / "hidden"))
    try:
        import mnist
    finally:
        sys.path.pop(0)
    split = mnist.load_split()
    with np.load(ROOT / "assignments" / "vae" / "data" / "mnist-train-4k.npz", allow_pickle=False) as public:
        assert np.array_equal(public["images"], split.train)
    held = {img.tobytes() for img in split.held_out}
    assert not any(img.tobytes() in held for img in split.train)
