"""Floods the grader's reply pipe from update_estimate (its fd number is in sys.argv), in the way
named by __HOW__; epsilon_greedy and update_estimate are otherwise honest.

    header_32mb     a valid prefix, then a 32 MB JSON header of [],[],...
    elements        a header just under 1 MB of [],[],... (300,000 elements)
    deep            a header nested 100,000 levels deep
    header_max      the costliest header within the limits: 49,991 empty dicts and an 880 KB string
    announce_100gb  a prefix announcing a 100 GB body, then zeros for as long as the pipe takes them
    body_512mib     a valid frame of just under 512 MiB (the largest any frame may be)
    body_16mib      a valid frame with a 16 MiB body: the most a call accepts by default, in full
    trickle         a valid frame, one byte every 20 ms
    garbage         random bytes
    forged          a valid "ok" reply for the next call (its number read from the runner's stack)
"""
# HONEST
import json
import os
import struct
import sys
import time

_HOW = "__HOW__"
_honest_update = update_estimate


def _frame(head, body=b""):
    return struct.pack(">QQ", len(head), len(body)) + head + body


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def _call_number():
    """The number of the call being served, found where the runner keeps its request."""
    frame = sys._getframe()
    while frame is not None:
        request = frame.f_locals.get("request")
        if isinstance(request, dict) and "call" in request:
            return request["call"]
        frame = frame.f_back
    return 1


def _flood():
    fd = int(sys.argv[2])
    if _HOW == "header_32mb":
        _write_all(fd, _frame(b"[" + b"[]," * ((32 << 20) // 3) + b"[]]"))
    elif _HOW == "elements":
        _write_all(fd, _frame(b"[" + b"[]," * 300_000 + b"[]]"))
    elif _HOW == "header_max":
        _write_all(fd, _frame(b'["' + b"x" * 880_000 + b'",' + b"{}," * 49_990 + b"{}]"))
    elif _HOW == "deep":
        _write_all(fd, _frame(b"[" * 100_000 + b"]" * 100_000))
    elif _HOW == "announce_100gb":
        _write_all(fd, struct.pack(">QQ", 2, 100 << 30) + b"{}")
        while True:
            _write_all(fd, bytes(1 << 20))
    elif _HOW in ("body_512mib", "body_16mib"):
        size = (512 << 20) - 4096 if _HOW == "body_512mib" else 16 << 20
        head = json.dumps({"status": "ok", "call": 0, "result": {"__nd__": ["|u1", [size], 0, size]}}).encode()
        _write_all(fd, struct.pack(">QQ", len(head), size) + head)
        _write_all(fd, bytes(size))
    elif _HOW == "trickle":
        for byte in _frame(json.dumps({"status": "ok", "result": {"type": "float"}}).encode() + b" " * 1000):
            os.write(fd, bytes([byte]))
            time.sleep(0.02)
    elif _HOW == "garbage":
        while True:
            _write_all(fd, os.urandom(1 << 20))
    elif _HOW == "forged":
        head = json.dumps({"status": "ok", "call": _call_number() + 1, "result": {"type": "float", "values": [1.0]}})
        _write_all(fd, _frame(head.encode()))


def update_estimate(estimate, count, reward, alpha):
    _flood()
    return _honest_update(estimate, count, reward, alpha)
