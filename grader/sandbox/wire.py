"""Data-only framing between the trusted parent and the sandboxed child.

A frame is a 16-byte prefix (header length, body length), a JSON header and
the raw array buffers (the body). Nothing is ever unpickled: arrays are
rebuilt with ``np.frombuffer`` from a whitelisted dtype, so a hostile child
can send wrong numbers but never code.

A hostile child can also write anything at all on its reply pipe (the fd
number is in its ``sys.argv``), so decoding is bounded before it starts:

* the prefix is checked first: a header over :data:`MAX_HEADER_BYTES` or a
  body over what the reader accepts for this call is refused before a byte
  of it is read or any memory is set aside for it;
* the header is scanned (linear, bails out early) for nesting depth and
  element count before ``json.loads`` sees it: ``json.loads`` recurses in C
  per nesting level (RecursionError) and builds one Python object per
  element (a megabyte of ``[],`` is 300,000 lists);
* every array reference, dtype string, shape and offset is validated; any
  malformed frame raises :class:`WireError` and nothing else.

The sender applies the same limits (``encode``), so an honest child never
sends what the parent would refuse: it reports an error instead.

This module is copied into the child's work directory, so it may only import
the standard library and numpy.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from typing import Any

import numpy as np

# Largest frame in either direction. The parent's own requests are bounded
# only by this (it sends a VAE's state_dict back to the decoder process);
# replies are bounded by what the parent accepts per call (FrameReader.feed).
MAX_FRAME_BYTES = 512 * 1024 * 1024
# Honest headers are a few kilobytes (a state_dict of 1,000 tensors is ~60 KB):
# arrays travel in the body, so the header only names them.
MAX_HEADER_BYTES = 1024 * 1024
# Tokens of the header (strings, containers, commas) json.loads may see: an
# upper bound on the Python objects it builds (~16 per state_dict entry).
MAX_ELEMENTS = 100_000
MAX_DEPTH = 32      # honest frames nest ~6 deep
MAX_DIMS = 32       # numpy allows 64

_HEADER = struct.Struct(">QQ")  # json length, total buffer length
PREFIX_BYTES = _HEADER.size
_ALIGN = 16         # header and every buffer start on a 16-byte boundary: arrays are views, not copies

# The only dtypes that cross, by their exact ``dtype.str`` (both byte orders):
# bool, integers, float16/32/64, complex64/128. Never object, void, structured,
# datetime or platform-dependent long double, and never a string np.dtype parses.
_DTYPES: dict[str, np.dtype] = {}
for _name in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"):
    for _order in ("<", ">"):
        _dt = np.dtype(_name).newbyteorder(_order)
        _DTYPES[_dt.str] = _dt
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_INT_RANGE = (-(2**63), 2**64)  # int64 and uint64

# A string (possibly unterminated: then it runs to the end, so a scan never
# fails and restarts; linear on any input) or one structural character.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[{,\]}]', re.DOTALL)
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


class WireError(Exception):
    """A frame could not be decoded: truncated, oversized, too deep, or not data-only."""


# -- limits ------------------------------------------------------------------
def check_header(head: bytes) -> None:
    """Refuse a JSON header that would cost more than a bounded amount to parse, before parsing it.

    Counts tokens and nesting depth in one linear scan that stops at the first
    limit exceeded, so a megabyte of ``[[[[`` or ``[],[],`` costs milliseconds.
    """
    if len(head) > MAX_HEADER_BYTES:
        raise WireError(f"a frame header of {len(head):,} bytes is over the {MAX_HEADER_BYTES:,}-byte limit")
    depth = tokens = 0
    for match in _TOKEN.finditer(head):
        first = head[match.start()]
        if first in _CLOSE:
            depth -= 1
            continue
        tokens += 1
        if tokens > MAX_ELEMENTS:
            raise WireError(f"a frame header with more than {MAX_ELEMENTS:,} elements")
        if first in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise WireError(f"a frame header nested more than {MAX_DEPTH} levels deep")


def check_prefix(prefix: bytes, max_body: int) -> tuple[int, int]:
    """Header and body lengths announced by a frame's 16-byte prefix, refused if over the limits."""
    head_len, body_len = _HEADER.unpack(prefix)
    if head_len > MAX_HEADER_BYTES:
        raise WireError(f"a frame announced a {head_len:,}-byte header, over the {MAX_HEADER_BYTES:,}-byte limit")
    limit = min(max_body, MAX_FRAME_BYTES)
    if body_len > limit:
        raise WireError(f"a frame announced {body_len:,} bytes of arrays, more than the {limit:,} accepted here")
    return head_len, body_len


def frame_length(prefix: bytes, max_body: int = MAX_FRAME_BYTES) -> int:
    """Total frame size announced by the first 16 bytes of a frame (WireError if over the limits)."""
    head_len, body_len = check_prefix(prefix, max_body)
    return PREFIX_BYTES + head_len + body_len


# -- encoding ------------------------------------------------------------------
def _encode_value(value: Any, buffers: list[bytes], offset: list[int], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError(f"cannot send data nested more than {MAX_DEPTH} levels deep")
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        # (np.ascontiguousarray would turn a 0-d array into shape (1,); a 0-d one is contiguous already)
        arr = value if value.flags.c_contiguous else np.ascontiguousarray(value)
        if arr.dtype.str not in _DTYPES:
            raise WireError(f"cannot send array of dtype {arr.dtype}")
        if arr.ndim > MAX_DIMS:
            raise WireError(f"cannot send an array of {arr.ndim} dimensions (at most {MAX_DIMS})")
        pad = -offset[0] % _ALIGN
        if pad:
            buffers.append(bytes(pad))
            offset[0] += pad
        raw = arr.tobytes()
        ref = {"__nd__": [arr.dtype.str, list(arr.shape), offset[0], len(raw)]}
        buffers.append(raw)
        offset[0] += len(raw)
        return ref
    if isinstance(value, np.generic):
        return _encode_value(value.item(), buffers, offset, depth)
    if isinstance(value, dict):
        return {str(k): _encode_value(v, buffers, offset, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode_value(v, buffers, offset, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, int) and not isinstance(value, bool) and not _INT_RANGE[0] <= value < _INT_RANGE[1]:
        raise WireError("cannot send an integer that does not fit in 64 bits")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def encode(message: Any, max_body: int = MAX_FRAME_BYTES) -> bytes:
    """Serialise nested dicts/lists of scalars, strings and arrays.

    Raises WireError for anything the receiver would refuse (a header over
    the limits, a body over ``max_body``), so the sender can say so instead.
    """
    buffers: list[bytes] = []
    offset = [0]
    meta = _encode_value(message, buffers, offset, 0)
    head = json.dumps(meta, allow_nan=False).encode()
    head += b" " * (-(PREFIX_BYTES + len(head)) % _ALIGN)   # JSON allows trailing spaces
    check_header(head)
    limit = min(max_body, MAX_FRAME_BYTES)
    if offset[0] > limit:
        raise WireError(f"{offset[0] / 2**20:.1f} MiB of arrays, more than the {limit / 2**20:.1f} MiB "
                        "the grader accepts here")
    body = b"".join(buffers)
    return _HEADER.pack(len(head), len(body)) + head + body


# -- decoding ------------------------------------------------------------------
def _decode_array(spec: Any, body: memoryview) -> np.ndarray:
    if not (isinstance(spec, list) and len(spec) == 4):
        raise WireError("malformed array reference")
    dtype_str, shape, start, size = spec
    dtype = _DTYPES.get(dtype_str) if isinstance(dtype_str, str) else None
    if dtype is None:
        raise WireError(f"refusing array of dtype {str(dtype_str)[:40]!r}")
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(type(s) is int and s >= 0 for s in shape)):
        raise WireError(f"malformed array shape {str(shape)[:60]}")
    if not (type(start) is int and type(size) is int and 0 <= start and 0 <= size and start + size <= len(body)):
        raise WireError("array buffer out of bounds")
    count = math.prod(shape)
    if count * dtype.itemsize != size:
        raise WireError("array shape does not match its buffer")
    if count == 0:
        return np.zeros(shape, dtype=dtype)
    arr = np.frombuffer(body, dtype=dtype, count=count, offset=start).reshape(shape)
    # A view of the receive buffer when it is ours to keep (a bytearray) and aligned:
    # one copy of a large reply in memory, not two.
    return arr if arr.flags.writeable and arr.flags.aligned else arr.copy()


def _text(value: str) -> str:
    """The string as valid Unicode: JSON's "\\ud800" escapes decode to lone surrogates, which
    nothing downstream can print or write as UTF-8 (a student's exception message can hold one)."""
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _decode_value(value: Any, body: memoryview) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "__nd__" in value:
            return _decode_array(value["__nd__"], body)
        if len(value) == 1 and "__float__" in value:
            special = value["__float__"]
            if not (isinstance(special, str) and special in _FLOATS):
                raise WireError("malformed special float")
            return _FLOATS[special]
        return {_text(k): _decode_value(v, body) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_value(v, body) for v in value]
    if isinstance(value, str):
        return _text(value)
    if type(value) is int and not _INT_RANGE[0] <= value < _INT_RANGE[1]:
        raise WireError("an integer that does not fit in 64 bits")
    return value


def _parse_header(head: bytes) -> Any:
    check_header(head)
    try:
        return json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise WireError(f"bad frame header: {str(exc)[:200]}") from None


def decode(frame: bytes | bytearray) -> Any:
    """The message in one complete frame. Raises WireError, and only WireError, if it is malformed.

    Arrays are views of ``frame`` when it is a bytearray (writable) and they
    are aligned, else copies.
    """
    if len(frame) < PREFIX_BYTES:
        raise WireError("truncated frame")
    head_len, body_len = _HEADER.unpack_from(frame)
    if PREFIX_BYTES + head_len + body_len != len(frame):
        raise WireError("frame length mismatch")
    view = memoryview(frame)
    meta = _parse_header(bytes(view[PREFIX_BYTES:PREFIX_BYTES + head_len]))
    return _decode_value(meta, view[PREFIX_BYTES + head_len:])


# -- reading and writing -------------------------------------------------------
class FrameReader:
    """Reads one frame at a time from a pipe, used by both ends.

    The prefix is checked against the limits before any of the frame's body
    is read or any memory set aside for it; the rest then goes straight into
    one bytearray of the announced size (no quadratic ``bytes +=``, and the
    decoded arrays are views of it). Reads never go past the frame's end, so
    whatever follows stays in the pipe, where it costs the reader nothing.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._prefix = b""
        self._frame: bytearray | None = None
        self._filled = 0

    @property
    def progress(self) -> tuple[int, int] | None:
        """(bytes received, bytes announced) of a frame part-way in, else None."""
        if self._frame is not None:
            return self._filled, len(self._frame)
        return (len(self._prefix), 0) if self._prefix else None

    def feed(self, max_body: int) -> bool:
        """One read from the pipe (blocks if nothing is ready); True once a whole frame is in.

        Raises WireError when the prefix is over the limits (``max_body``:
        the most body bytes accepted) and EOFError when the pipe is closed.
        """
        if self._frame is None:
            chunk = os.read(self.fd, PREFIX_BYTES - len(self._prefix))
            if not chunk:
                raise EOFError("channel closed")
            self._prefix += chunk
            if len(self._prefix) < PREFIX_BYTES:
                return False
            head_len, body_len = check_prefix(self._prefix, max_body)
            self._frame = bytearray(PREFIX_BYTES + head_len + body_len)
            self._frame[:PREFIX_BYTES] = self._prefix
            self._filled = PREFIX_BYTES
        else:
            n = os.readv(self.fd, [memoryview(self._frame)[self._filled:]])
            if not n:
                raise EOFError("channel closed")
            self._filled += n
        return self._filled == len(self._frame)

    def take(self) -> Any:
        """Decode the frame ``feed`` completed, and start on the next one."""
        frame = self._frame
        self._prefix, self._frame, self._filled = b"", None, 0
        if frame is None:
            raise WireError("no complete frame")
        return decode(frame)


def write_frame(fd: int, message: Any, max_body: int = MAX_FRAME_BYTES) -> None:
    """Blocking write, used by the child (the parent writes with deadlines)."""
    data = memoryview(encode(message, max_body))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_frame(fd: int, max_body: int = MAX_FRAME_BYTES) -> Any:
    """Blocking read, used by the child. Raises EOFError when the parent is gone."""
    reader = FrameReader(fd)
    while not reader.feed(max_body):
        pass
    return reader.take()
