"""Per-submission HTML feedback: one self-contained file a student can open offline.

Built from the Gradescope-shaped result (``GradeResult.to_gradescope()``), so
it can be made again from any ``results.json``. Everything is inline: CSS in a
``<style>`` block, plots and images as ``data:`` URIs, no scripts, no network.
Every piece of text from a submission is HTML-escaped.

What it shows, per test group: the score, the verdict of each check, learning
curves (any numeric list under an ``extra_data`` key containing ``curve`` or
``returns``, with a horizontal line at ``threshold`` when the group records
one), images the suite saved as artifacts (any ``extra_data`` value that is a
path to an existing PNG file), and what the submission printed.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grader import __version__
from grader.core.text import printable_text

CURVE_MARKERS = ("curve", "returns")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 8 << 20          # a larger "image" is not embedded (the page must stay openable)
MAX_IMAGES_PER_TEST = 16
MAX_CURVE_POINTS = 20000
PRINTED_MARKER = "--- your program printed ---"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 60em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 1em 0; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.total td { font-weight: bold; border-top: 2px solid #999; }
.passed { color: #1a7f37; font-weight: 600; }
.failed { color: #c62828; font-weight: 600; }
section.test { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; margin: 1em 0; }
section.test h2 { font-size: 1.15em; margin: 0.3em 0; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; word-break: break-word;
      font-size: 0.85em; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
figure { margin: 0.5em 0; } figcaption { color: #666; font-size: 0.85em; }
"""


# -- finding what to draw ------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _numeric_list(value: Any) -> list[float] | None:
    if isinstance(value, (list, tuple)) and len(value) >= 2 and all(_is_number(v) for v in value):
        return [float(v) for v in value[:MAX_CURVE_POINTS]]
    return None


def find_curves(extra: Mapping[str, Any]) -> list[tuple[str, list[float]]]:
    """(label, values) for every numeric list under a key naming a curve or returns.

    A list of numeric lists (one per seed or run) gives one line per inner list.
    """
    curves: list[tuple[str, list[float]]] = []
    for key, value in extra.items():
        if not isinstance(key, str) or not any(m in key.lower() for m in CURVE_MARKERS):
            continue
        flat = _numeric_list(value)
        if flat is not None:
            curves.append((key, flat))
        elif isinstance(value, (list, tuple)):
            for i, inner in enumerate(value[:20]):
                flat = _numeric_list(inner)
                if flat is not None:
                    curves.append((f"{key} (run {i + 1})", flat))
    return curves


def find_threshold(extra: Mapping[str, Any]) -> float | None:
    value = extra.get("threshold")
    return float(value) if _is_number(value) else None


def _strings(value: Any, depth: int = 0) -> Iterable[tuple[str, str]]:
    """(key path, string) for every string in a nested structure (shallow: extra_data is small)."""
    if depth > 4:
        return
    if isinstance(value, str):
        yield "", value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            for sub, s in _strings(v, depth + 1):
                yield (f"{k}.{sub}" if sub else str(k)), s
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value[:100]):
            for sub, s in _strings(v, depth + 1):
                yield (f"{i}.{sub}" if sub else str(i)), s


def find_images(extra: Mapping[str, Any], roots: Sequence[Path] = ()) -> list[tuple[str, Path]]:
    """(label, file) for every value naming an existing PNG file, absolute or relative to a root."""
    found: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    for label, text in _strings(dict(extra)):
        if not text.lower().endswith(".png") or len(text) > 4096:
            continue
        candidates = [Path(text)] if os.path.isabs(text) else [Path(r) / text for r in roots]
        for path in candidates:
            try:
                if path.is_file() and path.stat().st_size <= MAX_IMAGE_BYTES:
                    resolved = path.resolve()
                    if resolved not in seen:
                        seen.add(resolved)
                        found.append((label, path))
                    break
            except OSError:
                continue
        if len(found) >= MAX_IMAGES_PER_TEST:
            break
    return found


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _read_png(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(PNG_MAGIC) else None


# -- plotting ----------------------------------------------------------------
def plot_curves(curves: Sequence[tuple[str, Sequence[float]]], threshold: float | None = None,
                title: str = "") -> bytes | None:
    """A PNG of the curves (x = index, e.g. episode), or None when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(7, 3.4), dpi=100)
    ax = fig.subplots()
    for label, values in curves:
        style = {"linestyle": "--", "alpha": 0.8} if "reference" in label.lower() else {}
        ax.plot(range(len(values)), values, label=label, linewidth=1.2, **style)
    if threshold is not None:
        ax.axhline(threshold, color="#c62828", linestyle=":", linewidth=1.5, label=f"threshold {threshold:g}")
    ax.set_xlabel("episode / step (as recorded)")
    ax.set_ylabel("return / reward")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -- rendering ---------------------------------------------------------------
def _e(text: Any) -> str:
    """Escape for HTML, control characters and lone surrogates shown as escapes (see grader.core.text)."""
    return html.escape(printable_text(text), quote=True)


def _fmt(x: Any) -> str:
    return f"{x:g}" if _is_number(x) else _e(x)


def _split_output(output: str) -> tuple[str, str]:
    """(grader's messages, what the program printed)."""
    head, sep, printed = output.partition(PRINTED_MARKER)
    return head.rstrip(), printed.strip("\n") if sep else ""


def _first_message(test: Mapping[str, Any]) -> str:
    if test.get("status") == "passed":
        return "passed"
    head, _ = _split_output(str(test.get("output", "")))
    lines = [ln.strip() for ln in head.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("✗"):
            detail = lines[i + 1] if i + 1 < len(lines) and lines[i + 1][:1] not in "✓✗" else ""
            return (line[1:].strip() + (": " + detail if detail else ""))[:200]
    return (lines[0] if lines else "failed")[:200]


def render_html(results: Mapping[str, Any], roots: Sequence[Path] = (), title: str | None = None) -> str:
    """The feedback page for one Gradescope-shaped result; ``roots`` resolve relative image paths."""
    extra = results.get("extra_data") or {}
    assignment = extra.get("assignment", "")
    submission = extra.get("submission", "")
    tests = list(results.get("tests") or [])
    score = results.get("score", 0)
    max_score = extra.get("max_score", sum(t.get("max_score", 0) for t in tests))
    title = title or f"{assignment}: {submission}"

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">score <strong>{_fmt(score)} / {_fmt(max_score)}</strong> · '
        f"{_fmt(results.get('execution_time', 0))} s · grader {_e(extra.get('grader_version', __version__))}</p>",
    ]
    if results.get("output"):
        parts.append(f"<pre>{_e(results['output'])}</pre>")
    parts.append(_score_table(tests, score, max_score))
    board = results.get("leaderboard") or []
    if board:
        parts.append("<h2>Leaderboard values</h2><table><tr><th>metric</th><th class='num'>value</th></tr>")
        parts.extend(f"<tr><td>{_e(b.get('name', ''))}</td><td class='num'>{_fmt(b.get('value', ''))}</td></tr>"
                     for b in board)
        parts.append("</table>")
    for i, test in enumerate(tests):
        parts.append(_test_section(i, test, roots))
    parts.append("</body></html>")
    return "\n".join(parts)


def _score_table(tests: Sequence[Mapping[str, Any]], score: Any, max_score: Any) -> str:
    rows = ["<table><tr><th>test group</th><th class='num'>points</th><th class='num'>max</th>"
            "<th>status</th><th>message</th></tr>"]
    for i, t in enumerate(tests):
        status = str(t.get("status", ""))
        rows.append(
            f"<tr><td><a href='#test-{i}'>{_e(t.get('name', ''))}</a></td>"
            f"<td class='num'>{_fmt(t.get('score', 0))}</td><td class='num'>{_fmt(t.get('max_score', 0))}</td>"
            f"<td class='{_e(status)}'>{_e(status)}</td><td>{_e(_first_message(t))}</td></tr>")
    rows.append(f"<tr class='total'><td>total</td><td class='num'>{_fmt(score)}</td>"
                f"<td class='num'>{_fmt(max_score)}</td><td></td><td></td></tr></table>")
    return "\n".join(rows)


def _test_section(index: int, test: Mapping[str, Any], roots: Sequence[Path]) -> str:
    extra = test.get("extra_data") or {}
    status = str(test.get("status", ""))
    messages, printed = _split_output(str(test.get("output", "")))
    out = [f"<section class='test' id='test-{index}'>",
           f"<h2>{_e(test.get('name', ''))} — <span class='{_e(status)}'>{_fmt(test.get('score', 0))} / "
           f"{_fmt(test.get('max_score', 0))}</span></h2>"]
    if messages:
        out.append(f"<pre>{_e(messages)}</pre>")
    curves = find_curves(extra)
    if curves:
        png = plot_curves(curves, find_threshold(extra), title=str(test.get("name", "")))
        if png is not None:
            out.append(f"<figure><img alt='learning curve of {_e(test.get('name', ''))}' src='{png_data_uri(png)}'>"
                       "<figcaption>learning curve</figcaption></figure>")
        else:
            out.append("<p class='meta'>(matplotlib is not installed: curves not drawn)</p>")
    for label, path in find_images(extra, roots):
        data = _read_png(path)
        if data is not None:
            out.append(f"<figure><img alt='{_e(label)}' src='{png_data_uri(data)}'>"
                       f"<figcaption>{_e(label)}: {_e(path.name)}</figcaption></figure>")
    if printed:
        out.append(f"<details><summary>what your program printed</summary><pre>{_e(printed)}</pre></details>")
    out.append("</section>")
    return "\n".join(out)


def write_html(path: Path, results: Mapping[str, Any], roots: Sequence[Path] = ()) -> None:
    """Render and write atomically (a reader never sees half a page)."""
    write_text_atomic(Path(path), render_html(results, roots))


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
