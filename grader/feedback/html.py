"""Per-submission HTML feedback: one self-contained file a student can open offline.

Drawn from the results model (:class:`grader.core.results.GradeResult`), or from
a ``results.json``, which carries the model (``GradeResult.from_gradescope``):
fields are read, never text. Everything is inline: CSS in a ``<style>`` block,
plots and images as ``data:`` URIs, no scripts, no network. Every piece of text
from a submission is HTML-escaped.

What it shows, per test group: the score, the group's cause once, each check
(passed, failed with what was expected, what came back and the hint that fits,
or not run), the notes, learning curves (any numeric list under a suite
``extra_data`` key containing ``curve`` or ``returns``, with a horizontal line
at ``threshold`` when the group records one), images the suite saved as
artifacts (any suite ``extra_data`` value that is a path to an existing PNG
file), and what the submission printed. Only what the suite recorded is
searched for curves and images, never the student's text.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from grader.core.results import CAUSE_KINDS, NOT_RUN, GradeResult, TestResult
from grader.core.text import printable_text
from grader.core.version import __version__
from grader.feedback.files import write_text_atomic
from grader.feedback.text import MARKS, cause_heading, repeated_causes, sandbox_lines, summary_line

CURVE_MARKERS = ("curve", "returns")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 8 << 20          # a larger "image" is not embedded (the page must stay openable)
MAX_IMAGES_PER_TEST = 16
MAX_CURVE_POINTS = 20000

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
.notrun { color: #777; }
.cause { border-left: 4px solid #c62828; background: #fdecea; padding: 0.4em 0.8em; margin: 0.6em 0; }
.cause h3 { font-size: 1em; margin: 0.2em 0; color: #b71c1c; }
.hint { border-left: 4px solid #f9a825; background: #fff8e1; padding: 0.3em 0.7em; margin: 0.3em 0; }
ul.checks { list-style: none; padding-left: 0; }
ul.checks li { margin: 0.35em 0; font-weight: normal; color: inherit; }
ul.checks .mark { display: inline-block; width: 1.3em; font-weight: bold; }
ul.checks li.passed .mark { color: #1a7f37; } ul.checks li.failed .mark { color: #c62828; }
ul.checks li.failed > .name { font-weight: 600; }
.detail { margin-left: 1.3em; } .detail p { margin: 0.2em 0; white-space: pre-wrap; word-break: break-word; }
dl.values { display: grid; grid-template-columns: max-content auto; gap: 0.1em 0.8em; margin: 0.3em 0; }
dl.values dt { color: #555; } dl.values dd { margin: 0; font-family: ui-monospace, monospace; font-size: 0.9em;
       white-space: pre-wrap; word-break: break-word; }
.notes p { margin: 0.2em 0; }
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


def render_html(results: GradeResult | Mapping[str, Any], roots: Sequence[Path] = (), title: str | None = None) -> str:
    """The feedback page of one grading (the model, or a results.json that carries it);
    ``roots`` resolve relative image paths."""
    result = results if isinstance(results, GradeResult) else GradeResult.from_gradescope(results)
    title = title or f"{result.assignment}: {result.submission}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">score <strong>{_fmt(result.score)} / {_fmt(result.max_score)}</strong> · '
        f"{_fmt(round(result.execution_time, 1))} s · grader {_e(result.extra_data.get('grader_version', __version__))}</p>",
    ]
    if result.output:
        parts.append(f"<pre>{_e(result.output)}</pre>")
    if result.cause is not None:      # what stopped every group, said once
        parts.append(_cause_box(result.cause))
    parts.append(_score_table(result))
    if result.leaderboard:
        parts.append("<h2>Leaderboard values</h2><table><tr><th>metric</th><th class='num'>value</th></tr>")
        parts.extend(f"<tr><td>{_e(b.get('name', ''))}</td><td class='num'>{_fmt(b.get('value', ''))}</td></tr>"
                     for b in result.leaderboard)
        parts.append("</table>")
    same = repeated_causes(result.tests)
    for i, test in enumerate(result.tests):
        parts.append(_test_section(i, test, roots, same.get(test.name, "")))
    # last: a student reads the score and what failed first (a grading without isolation says so at the top)
    parts.extend(f'<p class="meta sandbox">{_e(line)}</p>' for line in sandbox_lines(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def _score_table(result: GradeResult) -> str:
    rows = ["<table><tr><th>test group</th><th class='num'>points</th><th class='num'>max</th>"
            "<th>status</th><th>message</th></tr>"]
    for i, t in enumerate(result.tests):
        rows.append(
            f"<tr><td><a href='#test-{i}'>{_e(t.name)}</a></td>"
            f"<td class='num'>{_fmt(t.score)}</td><td class='num'>{_fmt(t.max_score)}</td>"
            f"<td class='{_e(t.status)}'>{_e(t.status)}</td><td>{_e(summary_line(t, 200))}</td></tr>")
    rows.append(f"<tr class='total'><td>total</td><td class='num'>{_fmt(result.score)}</td>"
                f"<td class='num'>{_fmt(result.max_score)}</td><td></td><td></td></tr></table>")
    return "\n".join(rows)


def _cause_box(cause) -> str:
    """A cause in full: its heading, the student's frames and the hint (a group's, or the result's)."""
    out = [f"<div class='cause'><h3>{_e(cause_heading(cause))}</h3>"]
    if cause.traceback.strip():
        out.append(f"<pre>{_e(cause.traceback.rstrip())}</pre>")
    if cause.hint:
        out.append(f"<p class='hint'><strong>hint:</strong> {_e(cause.hint)}</p>")
    out.append("</div>")
    return "".join(out)


def _cause(test: TestResult, same_cause_as: str) -> list[str]:
    cause = test.cause
    if cause is None:
        return []
    if same_cause_as:
        label = CAUSE_KINDS.get(cause.kind, cause.kind)
        return [f"<div class='cause'><h3>{_e(label)}: the same as in "
                f"<a href='#test-{_e(same_cause_as)}'>{_e(same_cause_as)}</a> (see above)</h3></div>"]
    return [_cause_box(cause)]


def _checks(test: TestResult) -> list[str]:
    if not test.checks:
        return []
    out = ["<ul class='checks'>"]
    for c in test.checks:
        css = "notrun" if c.status == NOT_RUN else c.status
        out.append(f"<li class='{_e(css)}'><span class='mark'>{_e(MARKS.get(c.status, '?'))}</span>"
                   f"<span class='name'>{_e(c.name)}</span>")
        if c.status == NOT_RUN or c.by_cause:
            out.append(f" <span class='notrun'>— {_e(c.message or 'not run')}</span>")
        elif not c.passed:
            out.append("<div class='detail'>")
            if c.message:
                out.append(f"<p>{_e(c.message)}</p>")
            if c.expected or c.got:
                out.append("<dl class='values'>"
                           + (f"<dt>expected</dt><dd>{_e(c.expected)}</dd>" if c.expected else "")
                           + (f"<dt>got</dt><dd>{_e(c.got)}</dd>" if c.got else "") + "</dl>")
            if c.hint:
                out.append(f"<p class='hint'><strong>hint:</strong> {_e(c.hint)}</p>")
            if c.traceback.strip():
                out.append(f"<pre>{_e(c.traceback.rstrip())}</pre>")
            out.append("</div>")
        out.append("</li>")
    out.append("</ul>")
    return out


def _test_section(index: int, test: TestResult, roots: Sequence[Path], same_cause_as: str = "") -> str:
    extra = test.extra_data
    status = "passed" if test.status == "passed" else "failed"
    out = [f"<section class='test' id='test-{index}'><a id='test-{_e(test.name)}'></a>",
           f"<h2>{_e(test.name)} — <span class='{status}'>{_fmt(test.score)} / {_fmt(test.max_score)}</span></h2>"]
    out += _cause(test, same_cause_as)
    out += _checks(test)
    if test.notes:
        out.append("<div class='notes'>" + "".join(f"<p>{_e(n)}</p>" for n in test.notes) + "</div>")
    curves = find_curves(extra)
    if curves:
        png = plot_curves(curves, find_threshold(extra), title=test.name)
        if png is not None:
            out.append(f"<figure><img alt='learning curve of {_e(test.name)}' src='{png_data_uri(png)}'>"
                       "<figcaption>learning curve</figcaption></figure>")
        else:
            out.append("<p class='meta'>(matplotlib is not installed: curves not drawn)</p>")
    for label, path in find_images(extra, roots):
        data = _read_png(path)
        if data is not None:
            out.append(f"<figure><img alt='{_e(label)}' src='{png_data_uri(data)}'>"
                       f"<figcaption>{_e(label)}: {_e(path.name)}</figcaption></figure>")
    if test.student_output.strip():
        out.append(f"<details><summary>what your program printed</summary><pre>{_e(test.student_output)}</pre>"
                   "</details>")
    out.append("</section>")
    return "\n".join(out)


def write_html(path: Path, results: GradeResult | Mapping[str, Any], roots: Sequence[Path] = ()) -> None:
    """Render and write atomically (a reader never sees half a page)."""
    write_text_atomic(Path(path), render_html(results, roots))


__all__ = ["find_curves", "find_images", "plot_curves", "render_html", "write_html", "write_text_atomic"]
