"""``grader report``, ``grader override`` and ``grader export``: the instructor's view of a results folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grader.cli.usage import UsageError


def add_commands(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("report", help="instructors: rebuild RESULTS_DIR/index.html (the class page, with the "
                                      "review queue) and gradebook.csv from the results and overrides.csv")
    r.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a folder grade-batch wrote")

    o = sub.add_parser("override", help="instructors: give a test group other points than the grader did, with "
                                        "the reason (RESULTS_DIR/overrides.csv; kept across --regrade)")
    o.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a folder grade-batch wrote")
    o.add_argument("student", help="the student's results folder name (as in gradebook.csv)")
    o.add_argument("assignment")
    o.add_argument("group", help="the test group (a column of gradebook.csv)")
    o.add_argument("points", nargs="?", help="the points to give, from 0 to the group's points")
    o.add_argument("--reason", help="why (required; shown beside the points in the gradebook and the class page)")
    o.add_argument("--who", help="who decided (default: your user name)")
    o.add_argument("--clear", action="store_true", help="remove this group's override: the grader's points count again")

    e = sub.add_parser("export", help="instructors: the grades as an LMS import file (Canvas, Moodle) or a "
                                      "plain CSV, one row per student of the roster")
    e.add_argument("results", type=Path, metavar="RESULTS_DIR", help="a folder grade-batch wrote")
    e.add_argument("--format", required=True, choices=["canvas", "moodle", "csv"])
    e.add_argument("--roster", type=Path, metavar="FILE",
                   help="CSV: student (results folder name) and the LMS identity: name, id, sis_user_id, sis_login_id, "
                        "section (Canvas); email, idnumber, username or id (Moodle); required but for --format csv")
    e.add_argument("--out", type=Path, metavar="FILE", help="where to write (default: RESULTS_DIR/exports/FORMAT.csv)")
    e.add_argument("--missing", choices=["empty", "zero"], default="empty",
                   help="a roster student with no hand-in: an empty cell (default: the LMS keeps its grade) or 0")
    e.add_argument("--column", action="append", default=[], metavar="ASSIGNMENT=TITLE",
                   help="the LMS column of an assignment (default: its name); Canvas: 'Title (12345)' targets "
                        "assignment 12345; Moodle: the grade item's name")


def _results_dir(path: Path) -> Path:
    if not path.is_dir():
        raise UsageError(f"{path} is not a results folder (grader grade-batch SUBMISSIONS_DIR --out {path} makes one)")
    return path


def _report(out: Path) -> int:
    """Rebuild the page and the gradebook; print the summary, and each refused override line on stderr."""
    from grader.workflows.report import ReportError, write_report

    try:
        summary = write_report(out)
    except ReportError as exc:
        raise UsageError(str(exc)) from None
    print(summary.summary())
    for problem in summary.problems:
        print(f"grader: error: {problem}", file=sys.stderr)
    return 1 if summary.problems else 0


def cmd_report(args: argparse.Namespace) -> int:
    return _report(_results_dir(args.results))


def cmd_override(args: argparse.Namespace) -> int:
    from grader.core.text import printable_text
    from grader.workflows.overrides import Override, OverrideError, apply_overrides, check_points, set_override
    from grader.workflows.results_dir import gradebook_entries

    out = _results_dir(args.results)
    key = (args.student, args.assignment, args.group)
    try:
        if args.clear:
            if args.points is not None or args.reason:
                raise UsageError("--clear takes no points and no --reason")
            set_override(out, None, clear=key)
            print(f"override of {'/'.join(key)} removed")
        else:
            if args.points is None:
                raise UsageError("give the points (or --clear to remove the override)")
            if not (args.reason or "").strip():
                raise UsageError("--reason is required: it is shown beside the points wherever they appear")
            new = Override(*key, check_points(args.points), args.reason.strip(), (args.who or _user()).strip())
            _, problems = apply_overrides(gradebook_entries(out), [new])
            if problems:
                raise UsageError(problems[0])
            set_override(out, new)
            print(printable_text(f"override: {'/'.join(key)} = {new.points:g} ({new.reason}; {new.who})"))
    except OverrideError as exc:
        raise UsageError(str(exc)) from None
    return _report(out)


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):       # no login name and no $USER: a container
        return "instructor"


def cmd_export(args: argparse.Namespace) -> int:
    from grader.workflows.export import ExportError, export

    out = _results_dir(args.results)
    names = {}
    for spec in args.column:
        assignment, sep, title = spec.partition("=")
        if not sep or not assignment.strip():
            raise UsageError(f"--column {spec!r}: write ASSIGNMENT=TITLE")
        names[assignment.strip()] = title
    try:
        summary = export(out, args.format, args.roster, args.out, args.missing, names)
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    lines = summary.lines()
    print(lines[0])
    for line in lines[1:]:
        print(line, file=sys.stderr)
    return 0


COMMANDS = {"report": cmd_report, "override": cmd_override, "export": cmd_export}
