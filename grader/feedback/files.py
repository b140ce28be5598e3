"""The one way the grader writes a file: whole or not at all.

results.json, feedback.html and gradebook.csv are read by other programs (a
course platform, a browser, a spreadsheet, the next ``grade-batch`` deciding
what to skip) possibly while the grader runs: each is written to a temporary
file in the same folder and renamed over the target, so a reader sees the old
file or the new one, never half of one. The file gets the mode a plain ``open``
would give it (0644 under the usual umask 022): teaching assistants and a course's
web folder must be able to read results, pages and the gradebook. (The temporary
file starts private, as ``mkstemp`` makes it; the children's work folders stay 0700.)
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name[:40]}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            os.fchmod(fh.fileno(), 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """This process's umask, read without changing it (``os.umask`` sets it while it reads, which races
    with threads creating files); 022 where it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as JSON (NaN and infinities become null: a student's NaN must not break the file)."""
    write_text_atomic(path, json.dumps(_finite(data), indent=2, allow_nan=False, default=_jsonable) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    if hasattr(value, "item"):
        return _finite(value.item())
    return str(value)
