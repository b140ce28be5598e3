"""The similarity report page: pairs ranked, the shared code highlighted side by side.

One self-contained file (inline CSS, no scripts, no network). Every name and every
line of code comes from students: all of it is HTML-escaped, with control
characters and bidirectional overrides shown as escapes (:mod:`grader.core.text`),
so a folder name or a comment cannot inject markup or make code read differently.
The shared stretches are marked with copydetect's ``highlight_overlap`` on the
escaped text; code far from any shared stretch is elided.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from grader.core.text import printable_text
from grader.core.version import __version__

CONTEXT_LINES = 6           # lines kept around each shared stretch; the rest is elided ("...")

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 110em;
       color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr.flagged td { background: #fff3f0; }
section.pair { border: 1px solid #ddd; border-radius: 6px; padding: 0.5em 1em; margin: 1.5em 0; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.side > div { min-width: 0; }
pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; font-size: 0.8em; margin: 0; }
mark { background: #ffd33d; }
"""


def _e(text: Any) -> str:
    return html.escape(printable_text(text), quote=True)


def _pct(x: float) -> str:
    return f"{x:.0%}"


def highlighted(code: str, slices: Any) -> str:
    """``code`` as HTML with the shared stretches in ``<mark>`` and far-away lines elided."""
    from copydetect.utils import highlight_overlap

    if len(slices) == 0 or len(slices[0]) == 0:
        return html.escape(printable_text(code))
    marked, _ = highlight_overlap(code, slices, "<mark>", "</mark>", truncate=CONTEXT_LINES, escape_html=True)
    return printable_text(marked)     # after escaping: the markup added has no control characters


def render_similarity(data: Mapping[str, Any]) -> str:
    """The page for the report data built by :mod:`grader.workflows.similarity`."""
    threshold = data["threshold"]
    counts = data.get("counts", {})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Similarity report</title><style>{STYLE}</style></head><body>",
        "<h1>Similarity report</h1>",
        f"<p class='meta'>{sum(counts.values())} submission(s) compared "
        f"({', '.join(f'{_e(a)}: {n}' for a, n in sorted(counts.items())) or 'none'}), "
        f"{data.get('total_pairs', 0)} pair(s) share code; pairs at or above {_pct(threshold)} are flagged. "
        f"grader {_e(__version__)}, comparison by copydetect</p>",
        "<p>Only hand-ins of the same assignment are compared. The template's code is boilerplate and never "
        "counts; names are normalised (renaming variables changes nothing), and a shared stretch counts from "
        f"{int(data.get('noise', 0))} normalised characters (about one line). A pair's similarity is the larger "
        "of the two shares: the part of one student's own code found in the other's. Short functions written the "
        "natural way look alike: read the code before concluding anything.</p>",
        "<p>Code a hand-in runs from strings (<code>exec</code>, <code>eval</code> or <code>compile</code> of a "
        "string, also base64, hex, rot13 or zlib-encoded) is decoded without running it and compared as its own "
        "code (shown after a <code># ---- decoded by the grader</code> line); code it builds at run time cannot be "
        "decoded and is listed below. A hand-in of more than "
        f"{float(data.get('max_bytes', 0)) / 1e6:g} MB of code (notebooks: their code cells; decoded strings "
        "included) is not compared.</p>",
    ]
    notes = data.get("notes") or []
    if notes:
        parts.append("<h2>Not compared</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    strings = data.get("strings") or []
    if strings:
        parts.append("<h2>Code run from strings</h2><ul>" + "".join(f"<li>{_e(n)}</li>" for n in strings) + "</ul>")
    ranking = data.get("ranking") or []
    if ranking:
        parts.append("<h2>Pairs, most similar first</h2><table><tr><th>assignment</th><th>student</th>"
                     "<th>student</th><th class='num'>similarity</th><th class='num'>shares</th>"
                     "<th class='num'>shared chars</th></tr>")
        shown = {(p["a"], p["b"], p["assignment"]): i for i, p in enumerate(data.get("pairs") or [])}
        for r in ranking:
            index = shown.get((r["a"], r["b"], r["assignment"]))
            link = f"<a href='#pair-{index}'>{_pct(r['similarity'])}</a>" if index is not None else _pct(r["similarity"])
            parts.append(f"<tr class='{'flagged' if r['flagged'] else ''}'><td>{_e(r['assignment'])}</td>"
                         f"<td>{_e(r['a'])}</td><td>{_e(r['b'])}</td><td class='num'>{link}</td>"
                         f"<td class='num'>{_pct(r['share_a'])} / {_pct(r['share_b'])}</td>"
                         f"<td class='num'>{int(r['overlap'])}</td></tr>")
        parts.append("</table>")
        if data.get("total_pairs", 0) > len(ranking):
            parts.append(f"<p class='meta'>{data['total_pairs'] - len(ranking)} more pair(s) in the CSV.</p>")
    else:
        parts.append("<p><strong>No two submissions share code beyond the template.</strong></p>")
    for i, p in enumerate(data.get("pairs") or []):
        parts.append(
            f"<section class='pair' id='pair-{i}'><h2>{_e(p['assignment'])}: {_e(p['a'])} and {_e(p['b'])} — "
            f"{_pct(p['similarity'])}</h2><div class='side'>"
            f"<div><p>{_e(p['file_a'])}: {_pct(p['share_a'])} of its own code is shared</p>"
            f"<pre>{highlighted(p['code_a'], p['slices'][0])}</pre></div>"
            f"<div><p>{_e(p['file_b'])}: {_pct(p['share_b'])} of its own code is shared</p>"
            f"<pre>{highlighted(p['code_b'], p['slices'][1])}</pre></div></div></section>")
    parts.append("</body></html>")
    return "\n".join(parts)
