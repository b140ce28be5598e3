"""``grader similarity``: which pairs of hand-ins share code beyond the template.

The comparison is copydetect's (PyPI ``copydetect``, MIT): each file is tokenized
with Pygments and normalised (every variable name becomes ``V``, function names
``F``, strings ``S``; comments and layout vanish), cut into k-grams of
``NOISE`` characters of that normalised text, and two files are compared by the
k-grams they share; the matching stretches are mapped back to the source for
highlighting. Renaming variables, reformatting or reordering functions therefore
changes little; a shared stretch must be at least ``NOISE`` normalised characters
long (about one line of code) to count.

What this module adds around it:

* the submissions are the ones ``grade-batch`` discovers (the same rules: only
  regular files really inside the folder are read, the same assignment identity),
  and only hand-ins of the same assignment are compared;
* notebooks are compared by their code (:mod:`grader.formats.notebooks`);
* code a hand-in runs from strings (``exec(r'''...''')``, ``exec(base64.b64decode(...))``, zlib, hex,
  rot13, a name bound to such a string, nested) is decoded from the syntax tree, never run
  (:mod:`grader.workflows.similarity_strings`), and compared as the hand-in's own code, each decoded string
  apart; a hand-in that runs code the analysis cannot decode (built at run time) is listed in the report:
  that code is not compared;
* a hand-in of more than ``MAX_CODE_BYTES`` of code (after notebook conversion and decoding) is listed as
  not compared (too large) and never tokenized: every k-gram is kept (below), so one generated 8 MB file
  would cost the report a minute and gigabytes;
* the assignment's template (``templates/<file>.py`` and ``.ipynb``) is boilerplate:
  its k-grams are removed exactly from every submission, so handing in the
  template, or the template plus a little, shares nothing;
* every k-gram is kept (no winnowing window): copydetect hashes k-grams with
  Python's ``hash``, which is salted per process, and winnowing would pick other
  fingerprints, hence other scores, on every run. Without a window the scores are
  exact and the same on every run; files of a few hundred lines keep it cheap;
* Pygments (the slow part) runs in ``jobs`` worker processes; hashing and
  comparing stay in this process (one hash salt for all files);
* the report: ``similarity.html`` (pairs ranked, the shared code highlighted side by
  side) and ``similarity.csv`` (every pair that shares anything), safe to open.

A pair's similarity is the larger of its two shares (the part of each file's own,
non-template code found in the other): a student who copied one function from a
classmate who wrote three scores high on their side.
"""

from __future__ import annotations

import ast
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.course import Course
from grader.core.text import csv_text, printable_text
from grader.formats.source import SubmissionFormatError
from grader.workflows.discovery import ARCHIVE_ADVICE, BatchError, discover, read_payload
from grader.workflows.results_dir import student_dirname
from grader.workflows.similarity_strings import Piece, TooLarge, code_in_strings

DEFAULT_THRESHOLD = 0.5     # measured: copies ≥ 0.9, independent solutions of the same holes ≤ 0.35
NOISE = 25                  # copydetect's noise threshold: shortest shared stretch that counts (normalised chars)
HTML_NAME = "similarity.html"
CSV_NAME = "similarity.csv"
PARALLEL_FROM = 40          # fewer files than this are tokenized in this process (no start-up cost)
MAX_CODE_BYTES = 1_000_000  # per hand-in, decoded strings included (a class's hand-ins: 5-30 kB); beyond: not compared


class SimilarityError(BatchError):
    """Nothing to compare, or the report cannot be written; one line for the user."""


@dataclass
class Submission:
    student: str
    assignment: str
    label: str                 # printable path relative to the submissions folder
    code: str                  # the Python compared (a notebook's code cells), then the code decoded from its strings
    fingerprint: Any = None    # built by :func:`compare`
    sections: tuple[int, ...] = (0,)    # where in ``code`` each part starts (the file's own, each decoded string)
    pieces: list[Piece] = field(default_factory=list)   # what it runs from strings (code None: not decoded)


@dataclass
class Pair:
    a: Submission
    b: Submission
    share_a: float             # part of a's own (non-template) code also found in b
    share_b: float
    overlap: int               # normalised characters a shares with b
    slices_a: Any = None       # 2×N start/end offsets of the shared stretches in a.code (see shared_slices)
    slices_b: Any = None

    @property
    def similarity(self) -> float:
        return max(self.share_a, self.share_b)


@dataclass
class Remark:
    """One line of the report about one hand-in: why it was not compared, or the code it runs from strings."""
    student: str
    assignment: str
    label: str
    text: str

    def __str__(self) -> str:
        return printable_text(f"{self.label}: {self.text}")


@dataclass
class SimilarityReport:
    submissions: list[Submission]
    pairs: list[Pair]                           # every pair that shares code, most similar first
    threshold: float
    notes: list[str] = field(default_factory=list)   # hand-ins not compared, and why (and notes on the whole)
    skipped: list[Remark] = field(default_factory=list)   # the hand-ins not compared
    strings: list[Remark] = field(default_factory=list)   # hand-ins that run code from strings (decoded or not)
    max_bytes: int = MAX_CODE_BYTES                       # the per-file cap it was made with
    html: Path | None = None
    csv: Path | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.similarity >= self.threshold]

    def summary(self) -> str:
        compared = len(self.submissions)
        line = (f"{compared} submission(s) compared, {len(self.flagged)} pair(s) at or above {self.threshold:.0%} "
                f"similarity")
        if self.pairs:
            top = self.pairs[0]
            line += f" (highest: {top.similarity:.0%}, {top.a.label} and {top.b.label})"
        if self.skipped:
            large = sum(r.text.startswith(TOO_LARGE) for r in self.skipped)
            line += f"; {len(self.skipped)} not compared" + (f" ({large} too large)" if large else "") \
                + " (listed in the report)"
        hidden = sum(r.text.startswith(NOT_DECODED) for r in self.strings)
        if hidden:
            line += f"; {hidden} run code built from strings that was not compared (listed in the report)"
        decoded = sum(r.text.startswith(DECODED) for r in self.strings)
        if decoded:
            line += f"; {decoded} run code from strings, decoded and compared"
        return printable_text(line + (f"; report: {self.html}" if self.html else ""))


# -- collecting --------------------------------------------------------------------
def python_code(data: bytes, name: str) -> str:
    """The Python of a hand-in: a notebook's code cells, or the file's text (SubmissionFormatError if neither)."""
    if name.lower().endswith(".ipynb"):
        from grader.formats.notebooks import notebook_source
        try:
            return notebook_source(data, name)[0]
        except (RecursionError, MemoryError, ValueError) as exc:
            raise SubmissionFormatError(f"{name} could not be read as a notebook ({type(exc).__name__})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionFormatError(f"{name} is not UTF-8 text") from None


TOO_LARGE = "not compared: too large"
NOT_DECODED = "runs code built from strings: not compared"
DECODED = "runs code from strings: decoded and compared"


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def with_decoded_strings(submission: Submission, max_bytes: int = MAX_CODE_BYTES) -> str | None:
    """Add to ``submission.code`` the code it runs from strings (one section each, after a comment saying
    where it comes from); None, or why it cannot be compared ('not compared: too large (...)')."""
    own = len(submission.code.encode("utf-8", "surrogatepass"))
    if own > max_bytes:
        return f"{TOO_LARGE} ({_mb(own)} of code; the cap is {_mb(max_bytes)})"
    try:
        pieces = code_in_strings(submission.code, max_bytes - own)
    except TooLarge:
        return f"{TOO_LARGE} (more than {_mb(max_bytes)} of code once its strings are decoded)"
    except (RecursionError, MemoryError):
        pieces = [Piece(0, "exec", "code the analysis could not follow (too deeply nested)", 0, None)]
    code, sections = submission.code, [0]
    if not code.endswith("\n"):
        code += "\n"
    for piece in pieces:
        if piece.code is None:
            continue
        sections.append(len(code))
        code += f"\n# ---- decoded by the grader: {piece.describe()} ----\n{piece.code}"
        if not code.endswith("\n"):
            code += "\n"
    if len(sections) > 1:
        submission.code, submission.sections = code, tuple(sections)
    submission.pieces = pieces
    return None


def strings_remarks(s: Submission) -> list[Remark]:
    """What the report says about the code ``s`` runs from strings (nothing when it runs none)."""
    out = []
    hidden = [p.describe() for p in s.pieces if p.code is None]
    if hidden:
        out.append(Remark(s.student, s.assignment, s.label, f"{NOT_DECODED} ({'; '.join(hidden)})"))
    decoded = [p.describe() for p in s.pieces if p.code is not None]
    if decoded:
        out.append(Remark(s.student, s.assignment, s.label, f"{DECODED} ({'; '.join(decoded)})"))
    return out


def _skipped(job: Any, why: str) -> Remark:
    return Remark(job.student, job.assignment, job.source, f"not compared: {why}")


def collect(root: Path, assignment: str | None = None, exclude: Sequence[Path] = (),
            max_bytes: int = MAX_CODE_BYTES, course: Course | None = None) -> tuple[list[Submission], list[Remark]]:
    """(submissions to compare, the hand-ins that cannot be and why), found as grade-batch finds them.
    Each submission's code includes the code decoded from its strings (:func:`with_decoded_strings`)."""
    found = discover(root, assignment, exclude, course=course)
    if not found.jobs:
        archives = f"; found only archive(s): {ARCHIVE_ADVICE}" if found.archives else ""
        raise SimilarityError(f"no submissions found in {root} (expected a folder per student, or files named "
                              f"after the assignment){archives}")
    submissions, skipped = [], []
    for job in found.jobs:
        if job.problem or not job.assignment:
            skipped.append(_skipped(job, job.problem.splitlines()[0] if job.problem else "unknown"))
            continue
        data = read_payload(job)
        if data is None:
            skipped.append(_skipped(job, "it could not be read again (changed while running?)"))
            continue
        try:
            code = python_code(data, Path(job.path).name)
        except SubmissionFormatError as exc:
            skipped.append(_skipped(job, str(exc)))
            continue
        del data
        submission = Submission(job.student, job.assignment, job.source, code)
        why = with_decoded_strings(submission, max_bytes)
        if why:
            skipped.append(Remark(job.student, job.assignment, job.source, why))
            continue
        submissions.append(submission)
    return submissions, skipped


def boilerplate(assignment: str, course: Course | None = None) -> list[str]:
    """The code every student was given for ``assignment``: its templates (``.py``, and ``.ipynb``'s code)."""
    course = Course.find(course)
    stem = Path(course.assignment(assignment).submission_name).stem
    codes = []
    for suffix in (".py", ".ipynb"):
        path = course.templates_dir / (stem + suffix)
        if path.is_file():
            try:
                codes.append(python_code(path.read_bytes(), path.name))
            except SubmissionFormatError:
                continue
    return codes


# -- comparing ------------------------------------------------------------------------
@dataclass
class _Fingerprint:
    """The attributes copydetect's ``compare_files`` reads (as its CodeFingerprint has them)."""
    raw_code: str
    filtered_code: str
    offsets: Any
    hashes: set
    hash_idx: dict
    k: int
    token_coverage: float


def _normalise(block: str) -> tuple[str, Any]:
    """copydetect's tokenizer on one block (Pygments: the slow part): normalised text, offsets back into it."""
    from copydetect.utils import filter_code

    return filter_code(block, "submission.py", language="python")


def _blocks(code: str, sections: Sequence[int] = (0,)) -> list[tuple[int, int]]:
    """(start, end) character spans of the top-level statements (decorators included; comments and
    blank lines after a statement stay with it), each section of ``code`` apart (a file's own code, each
    string decoded from it). A section that does not parse is one block."""
    if len(sections) > 1:
        ends = [*sections[1:], len(code)]
        return [(a + start, b + start) for start, end in zip(sections, ends) for a, b in _blocks(code[start:end])]
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return [(0, len(code))]
    line_starts = [0]
    for line in code.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    firsts = sorted({min([n.lineno, *[d.lineno for d in getattr(n, "decorator_list", [])]]) for n in tree.body})
    starts = [0] + [line_starts[ln - 1] for ln in firsts if ln > 1]
    return [(a, b) for a, b in zip(starts, [*starts[1:], len(code)]) if b > a]


def _fingerprint(code: str, blocks: list[tuple[int, str, Any]], k: int, template: set,
                 cache: dict[str, tuple[set, dict]] | None = None) -> _Fingerprint:
    """Every k-gram of each block's normalised code (window 1, see the module's docstring), less the
    template's, as one fingerprint of the whole file (positions and offsets made global). ``cache``
    keeps each distinct block's k-grams (a class hands in the same template blocks again and again)."""
    from copydetect.utils import get_document_fingerprints, get_token_coverage

    cache = {} if cache is None else cache
    filtered, offsets, hashes, idx = [], [], set(), {}
    at = 0
    for raw_start, text, local in blocks:
        if text not in cache:
            cache[text] = get_document_fingerprints(text, k, 1)
        block_hashes, block_idx = cache[text]
        if not block_hashes <= template:        # a block of the template's own k-grams adds nothing
            hashes |= block_hashes
            for h, positions in block_idx.items():
                idx.setdefault(h, []).extend(p + at for p in positions)
        shift = raw_start - at          # raw = filtered + shift + the block's own offset
        if len(local):
            offsets.append(np.asarray(local) + (at, shift))
        else:
            offsets.append(np.array([[at, shift]]))
        filtered.append(text)
        at += len(text)
    common = hashes & template
    for h in common:
        del idx[h]
    text = "".join(filtered)
    return _Fingerprint(code, text, np.concatenate(offsets) if offsets else np.zeros((0, 2), dtype=int),
                        hashes - common, idx, k, get_token_coverage(idx, k, len(text)))


def _normalise_all(codes: list[str], jobs: int,
                   sections: Sequence[Sequence[int]] = ()) -> list[list[tuple[int, str, Any]]]:
    """For each code, [(where a block starts, its normalised text, offsets back into the block)]: each
    top-level statement apart, so that no k-gram runs from one function into the next (reordering
    functions then changes nothing). Every distinct block is tokenized once: most of a class's blocks
    are the template's, unchanged."""
    sections = [*sections, *[(0,)] * (len(codes) - len(sections))]
    spans = [_blocks(code, part) for code, part in zip(codes, sections)]
    distinct = list(dict.fromkeys(code[a:b] for code, span in zip(codes, spans) for a, b in span))
    if jobs <= 1 or len(codes) < PARALLEL_FROM:
        done = [_normalise(block) for block in distinct]
    else:
        # spawn: a clean interpreter (no forked threads or locks); workers only tokenize, they never hash
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            done = list(pool.map(_normalise, distinct, chunksize=max(1, len(distinct) // (jobs * 8))))
    table = dict(zip(distinct, done))
    return [[(a, *table[code[a:b]]) for a, b in span] for code, span in zip(codes, spans)]


_WORKER_PRINTS: list[_Fingerprint] = []


def _set_fingerprints(prints: list[_Fingerprint]) -> None:
    _WORKER_PRINTS[:] = prints


def _compare_rows(rows: list[tuple[int, list[int]]]) -> list[tuple[int, int, int, float, float]]:
    """(i, j, overlap, share_i, share_j) for every (i, [j...]) of the worker's fingerprints that share code."""
    from copydetect.detector import compare_files

    out = []
    for i, others in rows:
        for j in others:
            overlap, (share_i, share_j), _ = compare_files(_WORKER_PRINTS[i], _WORKER_PRINTS[j])
            if overlap:
                out.append((i, j, int(overlap), float(share_i), float(share_j)))
    return out


def _compare_all(prints: list[_Fingerprint], candidates: list[tuple[int, list[int]]], jobs: int):
    if jobs <= 1 or sum(len(c) for _, c in candidates) < PARALLEL_FROM * 50:
        _set_fingerprints(prints)
        try:
            return _compare_rows(candidates)
        finally:
            _set_fingerprints([])
    # Fingerprints go to each worker once; their hashes were all made here (one salt for all).
    chunks = [candidates[n::jobs * 4] for n in range(jobs * 4)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"), initializer=_set_fingerprints,
                             initargs=(prints,)) as pool:
        return [r for part in pool.map(_compare_rows, chunks) for r in part]


def compare(submissions: list[Submission], jobs: int = 1, k: int = NOISE,
            timings: dict[str, float] | None = None, course: Course | None = None) -> list[Pair]:
    """Every pair of submissions of the same assignment that shares code, most similar first.
    ``timings`` receives the seconds of each phase (for the bench); the templates are ``course``'s."""
    timings = {} if timings is None else timings
    t0 = time.monotonic()
    assignments = sorted({s.assignment for s in submissions})
    course = Course.find(course)
    templates = {a: boilerplate(a, course) for a in assignments}
    normalised = _normalise_all([s.code for s in submissions] + [c for a in assignments for c in templates[a]], jobs,
                                [s.sections for s in submissions])
    timings["tokenize"] = time.monotonic() - t0
    by_code = iter(normalised[len(submissions):])
    template_hashes = {}
    cache: dict[str, tuple[set, dict]] = {}
    for a in assignments:
        template_hashes[a] = set()
        for code in templates[a]:
            template_hashes[a] |= _fingerprint(code, next(by_code), k, set(), cache).hashes
    for s, norm in zip(submissions, normalised):
        s.fingerprint = _fingerprint(s.code, norm, k, template_hashes[s.assignment], cache)
    # Pairs of one assignment that share at least one k-gram (a set test) are compared in full.
    candidates = []
    for i, first in enumerate(submissions):
        others = [j for j in range(i + 1, len(submissions)) if submissions[j].assignment == first.assignment
                  and not first.fingerprint.hashes.isdisjoint(submissions[j].fingerprint.hashes)]
        if others:
            candidates.append((i, others))
    timings["fingerprint"] = time.monotonic() - t0 - timings["tokenize"]
    found = _compare_all([s.fingerprint for s in submissions], candidates, jobs)
    pairs = [Pair(submissions[i], submissions[j], share_i, share_j, overlap, None, None)
             for i, j, overlap, share_i, share_j in found]
    pairs.sort(key=lambda p: (-p.similarity, -p.overlap, p.a.label, p.b.label))
    timings["compare"] = time.monotonic() - t0 - timings["tokenize"] - timings["fingerprint"]
    return pairs


def shared_slices(pair: Pair) -> tuple[Any, Any]:
    """Where in each file's code the shared stretches lie (2×N start/end offsets), for highlighting."""
    from copydetect.detector import compare_files

    if pair.slices_a is None:
        _, _, (pair.slices_a, pair.slices_b) = compare_files(pair.a.fingerprint, pair.b.fingerprint)
    return pair.slices_a, pair.slices_b


# -- the report ----------------------------------------------------------------------
CSV_HEADER = ["assignment", "student_a", "student_b", "similarity", "share_a", "share_b", "overlap_chars",
              "file_a", "file_b", "flagged", "note"]


def csv_rows(report: SimilarityReport) -> list[list[str]]:
    """One row per pair that shares code (``note``: who of the two runs code from strings), then one per
    hand-in the report has a remark on (``student_a``, ``file_a`` and ``note`` only): not compared (too
    large, unreadable, ...), or running code from strings."""

    def note(p: Pair) -> str:
        said = []
        for s in (p.a, p.b):
            if any(x.code is None for x in s.pieces):
                said.append(f"{student_dirname(s.student)} runs code built from strings (not all compared)")
            elif s.pieces:
                said.append(f"{student_dirname(s.student)} runs code from strings (decoded and compared)")
        return "; ".join(said)

    rows = [[p.a.assignment, student_dirname(p.a.student), student_dirname(p.b.student), f"{p.similarity:.3f}",
             f"{p.share_a:.3f}", f"{p.share_b:.3f}", str(p.overlap), p.a.label, p.b.label,
             "yes" if p.similarity >= report.threshold else "", note(p)] for p in report.pairs]
    for r in [*report.skipped, *report.strings]:
        rows.append([r.assignment, student_dirname(r.student), "", "", "", "", "", r.label, "", "", r.text])
    return rows


def similarity_report(submissions_dir: Path, out: Path, assignment: str | None = None,
                      threshold: float = DEFAULT_THRESHOLD, jobs: int = 1, exclude: Sequence[Path] = (),
                      max_bytes: int = MAX_CODE_BYTES, course: Course | None = None) -> SimilarityReport:
    """Compare every pair of hand-ins in ``submissions_dir``; write ``out/similarity.html`` and ``.csv``.
    A hand-in of more than ``max_bytes`` of code (its decoded strings included) is listed, not compared.
    ``course``: the course whose assignments and templates these are (None: :meth:`Course.find`)."""
    from grader.feedback.files import write_text_atomic
    from grader.feedback.similarity import render_similarity

    t0 = time.monotonic()
    course = Course.find(course)
    submissions, skipped = collect(Path(submissions_dir), assignment, exclude, max_bytes, course)
    timings = {"read": time.monotonic() - t0}
    pairs = compare(submissions, jobs, timings=timings, course=course)
    t1 = time.monotonic()
    notes = [str(r) for r in skipped]
    own = [s for s in submissions if s.fingerprint.hashes]
    if submissions and not own:
        notes.insert(0, f"nothing to compare: all {len(submissions)} submission(s) are the template's code "
                        "(nothing of their own beyond it)")
    strings = [r for s in submissions for r in strings_remarks(s)]
    report = SimilarityReport(submissions, pairs, threshold, notes, skipped, strings, max_bytes=max_bytes,
                              timings=timings)
    try:
        out.mkdir(parents=True, exist_ok=True)
        report.csv = out / CSV_NAME
        write_text_atomic(report.csv, csv_text(CSV_HEADER, csv_rows(report)))
        report.html = out / HTML_NAME
        report.seconds = time.monotonic() - t0
        write_text_atomic(report.html, render_similarity(_page_data(report)))
    except OSError as exc:
        raise SimilarityError(f"cannot write the similarity report to {out}: {exc.strerror or exc}") from None
    report.seconds = time.monotonic() - t0
    timings["write"] = time.monotonic() - t1
    return report


MAX_PAIRS_SHOWN = 100       # side by side on the page; the CSV has them all


@dataclass(frozen=True)
class FlaggedPair:
    """A pair at or above the threshold, as a report folder records it (for the class page)."""
    assignment: str
    a: str                      # results folder names (student_dirname), as in gradebook.csv
    b: str
    similarity: float
    anchor: str                 # "pair-N" in similarity.html, "" when the page does not show it (CSV only)


def flagged_pairs(report_dir: Path) -> list[FlaggedPair]:
    """The flagged pairs of the report in ``report_dir`` (none when there is no report), read from its CSV.
    The anchor follows :func:`_page_data`: the page shows the flagged pairs, most similar first, up to
    :data:`MAX_PAIRS_SHOWN`, as ``pair-0``, ``pair-1``, ..."""
    import csv

    from grader.core.text import cell_text

    try:
        with open(Path(report_dir) / CSV_NAME, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return []
    found = []
    for row in rows:
        if (row.get("flagged") or "").strip() != "yes":
            continue
        try:
            similarity = float(row.get("similarity") or "")
        except ValueError:
            continue
        shown = len(found) < MAX_PAIRS_SHOWN
        found.append(FlaggedPair(cell_text(row.get("assignment") or ""), cell_text(row.get("student_a") or ""),
                                 cell_text(row.get("student_b") or ""), similarity,
                                 f"pair-{len(found)}" if shown else ""))
    return found


def _page_data(report: SimilarityReport) -> dict[str, Any]:

    by_assignment: dict[str, int] = {}
    for s in report.submissions:
        by_assignment[s.assignment] = by_assignment.get(s.assignment, 0) + 1
    shown = report.flagged[:MAX_PAIRS_SHOWN] or report.pairs[:min(10, MAX_PAIRS_SHOWN)]
    return {
        "threshold": report.threshold,
        "noise": NOISE,
        "counts": by_assignment,
        "notes": report.notes,
        "strings": [str(r) for r in report.strings],
        "max_bytes": report.max_bytes,
        "seconds": report.seconds,
        "ranking": [{"assignment": p.a.assignment, "a": student_dirname(p.a.student), "b": student_dirname(p.b.student),
                     "file_a": p.a.label, "file_b": p.b.label, "similarity": p.similarity, "share_a": p.share_a,
                     "share_b": p.share_b, "overlap": p.overlap, "flagged": p.similarity >= report.threshold}
                    for p in report.pairs[:max(len(shown), 200)]],
        "pairs": [{"assignment": p.a.assignment, "a": student_dirname(p.a.student), "b": student_dirname(p.b.student),
                   "file_a": p.a.label, "file_b": p.b.label, "similarity": p.similarity, "share_a": p.share_a,
                   "share_b": p.share_b, "overlap": p.overlap, "code_a": p.a.code, "code_b": p.b.code,
                   "slices": shared_slices(p)} for p in shown],
        "total_pairs": len(report.pairs),
    }
