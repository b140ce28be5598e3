"""The data-only channel: round trips, and refusal of anything that is not plain data."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch

from grader.sandbox import wire


def test_round_trip_of_nested_data():
    msg = {"a": [1, 2.5, None, True, "s"], "x": np.arange(6, dtype=np.int64).reshape(2, 3),
           "t": torch.ones(2, requires_grad=True), "nan": float("nan"), "f32": np.float32(1.5)}
    out = wire.decode(wire.encode(msg))
    assert out["a"] == [1, 2.5, None, True, "s"]
    assert out["x"].dtype == np.int64 and out["x"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert out["t"].dtype == np.float32 and out["t"].tolist() == [1.0, 1.0]
    assert np.isnan(out["nan"]) and out["f32"] == 1.5



def test_round_trip_keeps_zero_d_and_strided_shapes():
    """A 0-d array (a scalar buffer such as BatchNorm's num_batches_tracked) stays 0-d."""
    out = wire.decode(wire.encode({"scalar": np.array(7, dtype=np.int64), "t0": torch.tensor(2.5),
                                   "strided": np.arange(12.0).reshape(3, 4)[:, ::2]}))
    assert out["scalar"].shape == () and int(out["scalar"]) == 7
    assert out["t0"].shape == () and float(out["t0"]) == 2.5
    assert out["strided"].tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]

@pytest.mark.parametrize("value", [object(), np.array([object()]), {1, 2}, lambda: 0])
def test_refuses_objects(value):
    with pytest.raises(wire.WireError):
        wire.encode({"v": value})


def _frame(meta, body=b""):
    head = json.dumps(meta).encode()
    return struct.pack(">QQ", len(head), len(body)) + head + body


@pytest.mark.parametrize("frame", [
    _frame({"__nd__": ["|O", [1], 0, 8]}, b"\0" * 8),           # object dtype: would need pickle
    _frame({"__nd__": ["<f8", [2], 0, 8]}, b"\0" * 8),          # shape larger than buffer
    _frame({"__nd__": ["<f8", [1], 8, 8]}, b"\0" * 8),          # out of bounds
    b"\0" * 4,                                                   # truncated
])
def test_rejects_malformed_frames(frame):
    with pytest.raises(wire.WireError):
        wire.decode(frame)


def test_oversized_frame_is_refused_before_reading():
    with pytest.raises(wire.WireError):
        wire.frame_length(struct.pack(">QQ", 1, wire.MAX_FRAME_BYTES))


def test_result_file_survives_non_finite_numbers(tmp_path):
    import json

    from grader.core.results import write_json_atomic
    write_json_atomic(tmp_path / "r.json", {"a": float("nan"), "b": [float("inf"), 1.0]})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": None, "b": [None, 1.0]}
