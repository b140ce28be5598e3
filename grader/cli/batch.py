"""``grader grade-batch``, ``grader similarity`` and ``grader gradescope``: argument wiring and the progress display."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from grader.cli.usage import UsageError
from grader.core.devices import DeviceError
from grader.core.grading import GradeOptions


def add_commands(sub: argparse._SubParsersAction, grading_options: Callable[[argparse.ArgumentParser], None]) -> None:
    b = sub.add_parser("grade-batch", help="grade a folder of submissions in parallel; write a gradebook")
    b.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                   help="a folder per student (or a file per student) with the assignment files")
    b.add_argument("--out", type=Path, required=True, metavar="RESULTS_DIR",
                   help="per-student results.json and feedback.html, and gradebook.csv, go here")
    b.add_argument("-j", "--jobs", type=_positive_int, default=1, metavar="N", help="parallel workers (default 1)")
    b.add_argument("--regrade", action="store_true", help="grade again submissions already graded")
    b.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local worker processes (default) or a Dask distributed cluster")
    b.add_argument("--scheduler", metavar="ADDRESS", help="the Dask scheduler (with --executor dask)")
    b.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="X",
                   help="multiply every time limit by X (slow or busy machines)")
    b.add_argument("--no-html", action="store_true", help="skip the HTML feedback pages")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.add_argument("--allow-no-isolation", action="store_true",
                   help="grade even where namespace isolation is unavailable (each result says so); "
                        "without it a batch refuses to start there")
    b.add_argument("--similarity", action="store_true",
                   help="also write a similarity report (pairs sharing code beyond the template) to "
                        "RESULTS_DIR/similarity/")
    grading_options(b)

    m = sub.add_parser("similarity", help="instructors: which pairs of hand-ins share code beyond the template")
    m.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR",
                   help="a folder per student (or a file per student), as for grade-batch")
    m.add_argument("--out", type=Path, required=True, metavar="REPORT_DIR",
                   help="similarity.html (pairs ranked, shared code side by side) and similarity.csv go here")
    m.add_argument("--assignment", help="compare only this assignment's hand-ins (default: every assignment, "
                                        "each file told as grade-batch tells it)")
    m.add_argument("--threshold", type=_fraction, default=None, metavar="X",
                   help="flag pairs whose similarity is at least X (0 to 1; default 0.5)")
    m.add_argument("-j", "--jobs", type=_positive_int, default=1, metavar="N", help="parallel workers (default 1)")

    g = sub.add_parser("gradescope", help="build a Gradescope autograder bundle (zip)")
    g.add_argument("out", type=Path, metavar="OUT.zip")
    g.add_argument("--assignment", help="grade this assignment (default: told from the submitted file's name)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1: {text!r}")
    return value


def cmd_similarity(args: argparse.Namespace) -> int:
    from grader.core.assignment import UnknownAssignment
    from grader.workflows.similarity import DEFAULT_THRESHOLD, SimilarityError, similarity_report

    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder of submissions")
    if args.assignment:
        try:
            args.course.assignment(args.assignment)
        except UnknownAssignment as exc:
            raise UsageError(str(exc).strip('"')) from None
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    try:
        report = similarity_report(args.submissions, args.out, args.assignment, threshold, jobs=args.jobs,
                                   exclude=[args.out], course=args.course)
    except SimilarityError as exc:
        raise UsageError(str(exc)) from None
    print(report.summary())
    return 0


def cmd_grade_batch(args: argparse.Namespace) -> int:
    from grader.core.assignment import UnknownAssignment
    from grader.core.devices import resolve
    from grader.sandbox import NoIsolation
    from grader.workflows.batch import BatchConfig, BatchError, BatchFailed, check_writable, plan, run_batch

    if not args.submissions.is_dir():
        raise UsageError(f"{args.submissions} is not a folder of submissions")
    if args.executor == "dask" and not args.scheduler:
        raise UsageError("--executor dask needs --scheduler ADDRESS")
    if args.scheduler and args.executor != "dask":
        raise UsageError("--scheduler is only used with --executor dask")
    if args.assignment:
        try:
            args.course.assignment(args.assignment)
        except UnknownAssignment as exc:
            raise UsageError(str(exc).strip('"')) from None
    try:
        isolation = args.course.isolation(require=args.require_isolation)
        if args.device == "cuda":  # fail early (the probe's answer is kept); "auto" is resolved by run_batch
            resolve(args.device, isolation)
    except (DeviceError, RuntimeError) as exc:
        raise UsageError(str(exc)) from None
    if isinstance(isolation, NoIsolation) and not args.allow_no_isolation:
        # Many students' code on one machine, results written while others still run: without
        # namespaces one submission could rewrite another's result.
        raise UsageError(f"namespace isolation is not available here ({isolation.reason}); a batch refuses to "
                         "grade without it (pass --allow-no-isolation to grade anyway, each result will say so)")
    options = GradeOptions(device=args.device, seed=args.seed, isolation=isolation, time_scale=args.time_scale,
                           course=args.course)
    config = BatchConfig(submissions=args.submissions, out=args.out, jobs=args.jobs, regrade=args.regrade,
                         assignment=args.assignment, options=options, executor=args.executor,
                         scheduler=args.scheduler, html=not args.no_html)
    try:  # bad input is reported before any progress bar appears
        check_writable(config.out)
        planned = plan(config)
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    _check_overrides(config.out)
    console = Console(stderr=True)
    progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TimeRemainingColumn(), TextColumn("{task.description}"),
                        console=console, disable=args.quiet, transient=False)
    task = progress.add_task("", total=0)

    def on_start(n: int) -> None:
        progress.update(task, total=n)

    def on_progress(event) -> None:          # a JobEnded (grader.core.progress)
        progress.update(task, advance=1, description=f"{event.job}: {event.status}"[:60])

    try:
        with progress:
            summary = run_batch(config, on_progress=on_progress, on_start=on_start, planned=planned)
    except BatchFailed as exc:
        console.print(f"grader: error: {exc}", markup=False, soft_wrap=True)
        _class_page(config.out, console)
        return 1
    except BatchError as exc:
        raise UsageError(str(exc)) from None
    if summary.ignored:
        shown = ", ".join(summary.ignored[:5]) + (" ..." if len(summary.ignored) > 5 else "")
        console.print(f"ignored {len(summary.ignored)} file(s) that are no submission: {shown}",
                      markup=False, soft_wrap=True)
    console.print(f"{summary.graded} graded, {summary.skipped} already graded (skipped), "
                  f"{summary.invalid} invalid, {summary.errors} errors in {summary.seconds:.1f} s; "
                  f"gradebook: {summary.gradebook}", markup=False, soft_wrap=True)
    if summary.missing:
        shown = ", ".join(summary.missing[:5]) + (" ..." if len(summary.missing) > 5 else "")
        console.print(f"marked {len(summary.missing)} result(s) missing: their submission is no longer in "
                      f"{args.submissions} ({shown})", markup=False, soft_wrap=True)
    code = 1 if summary.errors else 0
    if summary.interrupted:
        console.print("interrupted: finished results are kept; run the same command again to resume",
                      markup=False, soft_wrap=True)
        code = 130
    elif args.similarity:
        from grader.workflows.results_dir import SIMILARITY_DIR
        from grader.workflows.similarity import SimilarityError, similarity_report
        try:
            report = similarity_report(config.submissions, config.out / SIMILARITY_DIR, config.assignment,
                                       jobs=config.jobs, exclude=[config.out], course=args.course)
            console.print(f"similarity: {report.summary()}", markup=False, soft_wrap=True)
        except SimilarityError as exc:
            console.print(f"grader: error: similarity report: {exc}", markup=False, soft_wrap=True)
            code = 1
    return code if _class_page(config.out, console) else (code or 1)


def _check_overrides(out: Path) -> None:
    """A batch does not start while overrides.csv has a line it would refuse: fix it first."""
    from grader.workflows.overrides import read_overrides

    _, refused = read_overrides(out)
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UsageError(f"{refused[0]}{more}: fix {out / 'overrides.csv'} first (nothing was graded)")


def _class_page(out: Path, console: Console) -> bool:
    """Write RESULTS_DIR/index.html (and the gradebook with the overrides); False if an override was refused."""
    from grader.workflows.report import ReportError, write_report

    try:
        summary = write_report(out)
    except ReportError as exc:
        console.print(f"grader: error: {exc}", markup=False, soft_wrap=True)
        return False
    console.print(summary.summary(), markup=False, soft_wrap=True)
    for problem in summary.problems:
        console.print(f"grader: error: {problem}", markup=False, soft_wrap=True)
    return not summary.problems


def cmd_gradescope(args: argparse.Namespace) -> int:
    from grader.workflows.gradescope import BundleError, build_bundle

    if args.out.suffix.lower() != ".zip":
        raise UsageError(f"the bundle must be a .zip file, got {args.out}")
    try:
        names = build_bundle(args.out, args.assignment, root=args.course.root)
    except BundleError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.out} ({len(names)} files): upload it as the autograder of a Gradescope "
          f"programming assignment")
    return 0
