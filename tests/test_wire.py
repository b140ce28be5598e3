"""The data-only channel: round trips, and refusal of anything that is not plain data."""

from __future__ import annotations

import json
import os
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
    head = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    return struct.pack(">QQ", len(head), len(body)) + head + body


def _nd(dtype="<f8", shape=(1,), start=0, size=8):
    return {"__nd__": [dtype, list(shape) if isinstance(shape, tuple) else shape, start, size]}


BAD_FRAMES = {
    "object dtype (would need pickle)": _frame(_nd("|O"), b"\0" * 8),
    "shape larger than its buffer": _frame(_nd(shape=(2,)), b"\0" * 8),
    "out of bounds": _frame(_nd(start=8), b"\0" * 8),
    "negative offset": _frame(_nd(start=-8), b"\0" * 8),
    "float offset": _frame(_nd(start=0.0), b"\0" * 8),
    "huge offset": _frame(_nd(start=2**70), b"\0" * 8),
    "negative size": _frame(_nd(size=-8), b"\0" * 8),
    "truncated": b"\0" * 4,
    "length mismatch": _frame({"a": 1}) + b"x",
    "not JSON": _frame(b"{nope"),
    "not UTF-8": _frame(b'"\xff\xfe"'),
    "reference of three items": _frame({"__nd__": ["<f8", [1], 0]}, b"\0" * 8),
    "reference not a list": _frame({"__nd__": "<f8"}, b"\0" * 8),
    "special float not nan/inf": _frame({"__float__": "1e5"}),
    "special float not a string": _frame({"__float__": [1]}),
    "integer beyond 64 bits": _frame({"n": 2**64}),
    "too deep": _frame(b"[" * 40 + b"]" * 40),
    "far too deep (json.loads: RecursionError)": _frame(b"[" * 200_000 + b"]" * 200_000),
    "too many elements": _frame(b"[" + b"[]," * 200_000 + b"[]]"),
    "header over 1 MiB": _frame(b'"' + b"a" * wire.MAX_HEADER_BYTES + b'"'),
}
BAD_DTYPES = ["garbage", "", "<f16", "<c32", "|V8", "V8", "(2,)<f8", "<f8,<i4", "<M8[s]", "<m8", "<U4", "|S4",
              "=f8", "f8", "float64", "O", "<f8\0", 8, None, ["<f8"], {"a": 1}]
BAD_SHAPES = [[-1], [-1, -8], [1.0], ["1"], [True], [None], "1", 1, None, {"0": 1}, [1] * 33, [2**40, 2**40]]


@pytest.mark.parametrize("frame", BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_rejects_malformed_frames(frame):
    with pytest.raises(wire.WireError):
        wire.decode(frame)


@pytest.mark.parametrize("dtype", BAD_DTYPES, ids=repr)
def test_rejects_every_dtype_but_plain_numbers(dtype):
    with pytest.raises(wire.WireError, match="dtype"):
        wire.decode(_frame(_nd(dtype), b"\0" * 8))


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=repr)
def test_rejects_bad_shapes(shape):
    with pytest.raises(wire.WireError):
        wire.decode(_frame(_nd(shape=shape), b"\0" * 8))


def test_limits_are_exact():
    """Just under each limit decodes; the limits reject only what is over them."""
    depth = wire.MAX_DEPTH
    assert wire.decode(_frame(b"[" * depth + b"]" * depth)) == _nest(depth)
    with pytest.raises(wire.WireError, match="nested"):
        wire.decode(_frame(b"[" * (depth + 1) + b"]" * (depth + 1)))
    n = wire.MAX_ELEMENTS              # a list of n numbers: one bracket and n - 1 commas
    assert len(wire.decode(_frame(b"[" + b",".join([b"1"] * n) + b"]"))) == n
    with pytest.raises(wire.WireError, match="elements"):
        wire.decode(_frame(b"[" + b",".join([b"1"] * (n + 1)) + b"]"))


def _nest(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_every_kind_of_plain_array_crosses_in_both_byte_orders():
    for name in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"):
        for order in "<>":
            arr = np.arange(6).astype(np.dtype(name).newbyteorder(order)).reshape(2, 3)
            out = wire.decode(wire.encode({"a": arr}))["a"]
            assert out.dtype == arr.dtype and np.array_equal(out, arr)


@pytest.mark.parametrize("value", [np.zeros(2, np.longdouble), np.zeros(2, "i4,f8"), np.zeros(2, "U3"),
                                   np.zeros((1,) * 33), 2**64, -(2**63) - 1, _nest(wire.MAX_DEPTH + 2)],
                         ids=["longdouble", "structured", "unicode", "33 dims", "2**64", "-2**63-1", "deep"])
def test_sender_refuses_what_the_receiver_would(value):
    with pytest.raises(wire.WireError):
        wire.encode({"v": value})


def test_sender_refuses_a_body_over_its_limit_and_a_header_over_the_limits():
    wire.encode({"a": np.zeros(128, np.uint8)}, max_body=128)
    with pytest.raises(wire.WireError, match="MiB of arrays"):
        wire.encode({"a": np.zeros(129, np.uint8)}, max_body=128)
    with pytest.raises(wire.WireError, match="elements"):
        wire.encode(list(range(wire.MAX_ELEMENTS + 1)))
    with pytest.raises(wire.WireError, match="limit"):
        wire.encode("a" * wire.MAX_HEADER_BYTES)


def test_arrays_are_views_of_a_received_bytearray_and_copies_of_bytes():
    """A reply is held once in memory (the receive buffer), not twice; every array is aligned and writable."""
    frame = wire.encode({"a": np.arange(3, dtype=np.int8), "b": np.arange(5.0), "c": np.ones((2, 2), np.complex128)})
    buffer = bytearray(frame)
    out = wire.decode(buffer)
    for arr in out.values():
        assert arr.flags.aligned and arr.flags.writeable and np.shares_memory(arr, np.frombuffer(buffer, np.uint8))
    for arr in wire.decode(bytes(frame)).values():
        assert arr.flags.aligned and arr.flags.writeable and not np.shares_memory(arr, np.frombuffer(frame, np.uint8))


def test_lone_surrogates_become_replacement_characters():
    """A student's exception message may hold a lone surrogate; nothing downstream could print it."""
    out = wire.decode(wire.encode({"message": "bad \ud800 thing", "\udcff": "ok"}))
    assert "\ufffd" in out["message"] and out["message"].encode("utf-8")
    assert all(k.encode("utf-8") for k in out)


def test_fuzzed_frames_raise_only_wire_errors():
    """Random corruptions of valid frames: each decodes or raises WireError, never anything else."""
    rng = np.random.default_rng(0)
    base = wire.encode({"a": np.arange(12.0).reshape(3, 4), "b": [1, "two", None, {"c": np.int32(3)}],
                        "d": np.zeros((2, 0)), "nan": float("nan"), "t": np.ones(3, bool)})
    head_len = struct.unpack(">QQ", base[:16])[0]
    tokens = [b"[", b"]", b"{", b"}", b",", b'"', b"-1", b"1e400", b"99999999999999999999999", b"null", b'"|O"',
              b'"__nd__"', b'"__float__"', b"\\", b"\xff"]
    for _ in range(3000):
        frame = bytearray(base)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(16, 16 + head_len))
            if rng.random() < 0.5:
                frame[at] = int(rng.integers(256))
            else:
                token = tokens[int(rng.integers(len(tokens)))]
                frame[at:at + len(token)] = token
        frame[:16] = struct.pack(">QQ", head_len + len(frame) - len(base), len(base) - 16 - head_len)
        try:
            wire.decode(bytes(frame))
        except wire.WireError:
            pass


def test_prefix_limits():
    assert wire.frame_length(struct.pack(">QQ", wire.MAX_HEADER_BYTES, 100), max_body=100) == 16 + wire.MAX_HEADER_BYTES + 100
    with pytest.raises(wire.WireError, match="header"):
        wire.frame_length(struct.pack(">QQ", wire.MAX_HEADER_BYTES + 1, 0))
    with pytest.raises(wire.WireError, match="101 bytes of arrays"):
        wire.frame_length(struct.pack(">QQ", 10, 101), max_body=100)


def test_oversized_frame_is_refused_before_reading():
    with pytest.raises(wire.WireError):
        wire.frame_length(struct.pack(">QQ", 1, wire.MAX_FRAME_BYTES + 1))


# -- FrameReader on a real pipe ------------------------------------------------------
@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    for fd in (r, w):
        try:
            os.close(fd)
        except OSError:
            pass


def _read(reader, max_body):
    while not reader.feed(max_body):
        pass
    return reader.take()


def test_reader_reads_frame_by_frame_and_never_past_a_frame(pipe):
    r, w = pipe
    first, second = wire.encode({"x": np.arange(1000.0)}), wire.encode("next")
    os.write(w, first + second + b"rest")
    reader = wire.FrameReader(r)
    assert np.array_equal(_read(reader, 8000)["x"], np.arange(1000.0))
    assert _read(reader, 0) == "next"
    assert os.read(r, 100) == b"rest"


@pytest.mark.parametrize("prefix, limit, match", [
    (struct.pack(">QQ", 10, 100 << 30), 1 << 20, "bytes of arrays"),      # a body of 100 GB announced
    (struct.pack(">QQ", 10, 1025), 1024, "1,025 bytes of arrays"),        # one byte over the call's limit
    (struct.pack(">QQ", 32 << 20, 0), 1 << 20, "header"),                 # a 32 MB header announced
    (b"[],[],[],[],[],[],", 1 << 20, "header"),                           # no prefix at all: garbage
])
def test_reader_refuses_an_oversized_frame_after_its_prefix_only(pipe, prefix, limit, match):
    r, w = pipe
    os.write(w, prefix + b"x" * 1000)
    reader = wire.FrameReader(r)
    with pytest.raises(wire.WireError, match=match):
        _read(reader, limit)
    assert len(os.read(r, 4096)) == 1000 + len(prefix) - 16   # nothing of the body was read


def test_reader_takes_a_frame_of_exactly_its_limit(pipe):
    r, w = pipe
    os.write(w, wire.encode(np.zeros(1024, np.uint8)))
    assert _read(wire.FrameReader(r), 1024).shape == (1024,)


def test_reader_says_eof_mid_frame_and_reports_progress(pipe):
    r, w = pipe
    frame = wire.encode({"a": 1})
    os.write(w, frame[:20])
    os.close(w)
    reader = wire.FrameReader(r)
    assert not reader.feed(100) and not reader.feed(100)
    assert reader.progress == (20, len(frame))
    with pytest.raises(EOFError):
        reader.feed(100)


def test_result_file_survives_non_finite_numbers(tmp_path):
    import json

    from grader.feedback.files import write_json_atomic
    write_json_atomic(tmp_path / "r.json", {"a": float("nan"), "b": [float("inf"), 1.0]})
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": None, "b": [None, 1.0]}
