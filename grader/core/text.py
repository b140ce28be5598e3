"""Student text made safe to show: control characters become visible escapes.

A submission's output, exception messages and file names end up in a terminal
table, an HTML page, a CSV gradebook and Gradescope's results. Left raw, an
ESC sequence can move the cursor and repaint the table (a fake "passed" row),
a carriage return can overwrite a line, and bidirectional overrides can make
text read differently from what it is. Every renderer passes student text
through :func:`printable_text`; newlines and tabs stay (they are layout).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# C0 controls but tab and newline, DEL, C1 controls; bidi embeddings, overrides and isolates.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_text(text: object) -> str:
    """``text`` with every control character shown as ``\\xNN`` (idempotent: escapes are printable).
    Lone surrogates (from undecodable file names) are shown as escapes too."""
    s = str(text)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return _UNSAFE.sub(_escape, s)


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(text: object) -> str:
    """``text`` made safe for a CSV cell an instructor opens in a spreadsheet: control characters
    escaped (:func:`printable_text`) and, when it could start a formula, a leading ``'`` so that
    Excel, LibreOffice and Google Sheets show it as text (the OWASP CSV-injection rule)."""
    s = printable_text(text)
    return "'" + s if s.startswith(FORMULA_STARTS) else s


def cell_text(cell: str) -> str:
    """What a cell written by :func:`spreadsheet_cell` stood for: the leading ``'`` it added before a
    formula start is dropped (so a name or reason read back from a CSV the grader wrote, or from
    such a CSV an instructor edited, is the text it was). Escaped control characters stay escaped."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_STARTS) else cell


def csv_text(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A CSV document (``\\n`` line ends) with every cell passed through :func:`spreadsheet_cell`:
    the one way the grader writes a CSV (gradebook, similarity report)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([spreadsheet_cell(c) for c in header])
    writer.writerows([spreadsheet_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def numbered_rows(reader: Any, problems: list[str], label: str, after: str = "") -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every row of a ``csv.reader`` that is not blank, counted as a text editor
    numbers the file's lines (a quoted cell may span lines). A row that is not CSV ends the reading:
    ``problems`` gets "LABEL line N: not CSV (why)" (and ``after``), since the lines after it cannot be
    told apart. Shared by the files an instructor writes by hand (overrides, rosters)."""
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.append(f"{label} line {start}: not CSV ({exc}){after}")
            return
        line = reader.line_num
        if any(c.strip() for c in cells):
            yield start, cells
