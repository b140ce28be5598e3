"""Data-only framing between the trusted parent and the sandboxed child.

A frame is a JSON header plus raw array buffers. Nothing is ever unpickled:
arrays are rebuilt with ``np.frombuffer`` from a whitelisted dtype, so a
hostile child can send wrong numbers but never code. This module is copied
into the child's work directory, so it may only import the standard library
and numpy.
"""

from __future__ import annotations

import json
import math
import os
import struct
from typing import Any

import numpy as np

MAX_FRAME_BYTES = 512 * 1024 * 1024
_HEADER = struct.Struct(">QQ")  # json length, total buffer length
_ALLOWED_KINDS = set("biufc")  # bool, int, uint, float, complex: never object/void


class WireError(Exception):
    """A frame could not be decoded: truncated, oversized, or not data-only."""


def _encode_value(value: Any, buffers: list[bytes], offset: list[int]) -> Any:
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        # (np.ascontiguousarray would turn a 0-d array into shape (1,); a 0-d one is contiguous already)
        arr = value if value.flags.c_contiguous else np.ascontiguousarray(value)
        if arr.dtype.kind not in _ALLOWED_KINDS:
            raise WireError(f"cannot send array of dtype {arr.dtype}")
        raw = arr.tobytes()
        ref = {"__nd__": [arr.dtype.str, list(arr.shape), offset[0], len(raw)]}
        buffers.append(raw)
        offset[0] += len(raw)
        return ref
    if isinstance(value, np.generic):
        return _encode_value(value.item(), buffers, offset)
    if isinstance(value, dict):
        return {str(k): _encode_value(v, buffers, offset) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v, buffers, offset) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def encode(message: Any) -> bytes:
    """Serialise nested dicts/lists of scalars, strings and arrays."""
    buffers: list[bytes] = []
    meta = _encode_value(message, buffers, [0])
    head = json.dumps(meta, allow_nan=False).encode()
    body = b"".join(buffers)
    return _HEADER.pack(len(head), len(body)) + head + body


def _decode_value(value: Any, body: memoryview) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__nd__"}:
            dtype_str, shape, start, size = value["__nd__"]
            dtype = np.dtype(dtype_str)
            if dtype.kind not in _ALLOWED_KINDS or dtype.fields is not None:
                raise WireError(f"refusing array of dtype {dtype_str!r}")
            if start < 0 or size < 0 or start + size > len(body):
                raise WireError("array buffer out of bounds")
            count = math.prod(int(s) for s in shape)
            if count * dtype.itemsize != size:
                raise WireError("array shape does not match its buffer")
            return np.frombuffer(body[start : start + size], dtype=dtype).reshape(shape).copy()
        if set(value) == {"__float__"}:
            return float(value["__float__"])
        return {k: _decode_value(v, body) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, body) for v in value]
    return value


def decode(frame: bytes) -> Any:
    if len(frame) < _HEADER.size:
        raise WireError("truncated frame")
    head_len, body_len = _HEADER.unpack_from(frame)
    if _HEADER.size + head_len + body_len != len(frame):
        raise WireError("frame length mismatch")
    try:
        meta = json.loads(frame[_HEADER.size : _HEADER.size + head_len])
    except ValueError as exc:
        raise WireError(f"bad frame header: {exc}") from None
    return _decode_value(meta, memoryview(frame)[_HEADER.size + head_len :])


def frame_length(prefix: bytes) -> int:
    """Total frame size announced by the first 16 bytes of a frame."""
    head_len, body_len = _HEADER.unpack(prefix)
    total = _HEADER.size + head_len + body_len
    if total > MAX_FRAME_BYTES:
        raise WireError(f"frame of {total} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return total


PREFIX_BYTES = _HEADER.size


def write_frame(fd: int, message: Any) -> None:
    """Blocking write, used by the child (the parent writes with deadlines)."""
    data = memoryview(encode(message))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_frame(fd: int) -> Any:
    """Blocking read, used by the child. Raises EOFError when the parent is gone."""
    prefix = _read_exact(fd, PREFIX_BYTES)
    total = frame_length(prefix)
    return decode(prefix + _read_exact(fd, total - PREFIX_BYTES))


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError("channel closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
