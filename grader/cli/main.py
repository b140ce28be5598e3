"""The ``grader`` command. Usage errors print one line and exit 2; grading always writes a result."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console

from grader.cli.usage import EXIT_USAGE, Parser, UsageError, names_list, require_regular_file
from grader.core.assignment import AssignmentError, UnknownAssignment
from grader.core.course import Course, CourseNotFound
from grader.core.devices import DEVICES, DeviceError
from grader.core.grading import GradeOptions, SelectionError, grade_file
from grader.core.version import __version__
from grader.feedback.files import write_json_atomic
from grader.feedback.gradescope import to_gradescope
from grader.feedback.progress import LiveProgress
from grader.feedback.terminal import print_report
from grader.formats.markers import MarkerError

# What `grader --help` opens with: plain text for whoever typed it (the module docstring is for developers).
DESCRIPTION = ("Autograder for deep reinforcement learning and generative-model assignments. Students fill in "
               "a template and run 'grader check FILE' for quick feedback from the public checks. Instructors "
               "and course platforms grade with the hidden tests: 'grader grade FILE' for one hand-in, "
               "'grader grade-batch FOLDER' for a class; 'grader release' writes the student bundle and "
               "'grader gradescope' an autograder for Gradescope. Each submission runs in a sandbox; the score "
               "is computed outside it. 'grader COMMAND --help' shows a command's options.")


def build_parser() -> Parser:
    parser = Parser(prog="grader", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"grader {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    g = sub.add_parser("grade", help="grade one submission with the hidden tests")
    g.add_argument("file", type=Path, help="the submission (.py or .ipynb)")
    _grading_options(g)
    g.add_argument("--json", type=Path, metavar="OUT", help="write Gradescope-shaped results.json here")
    g.add_argument("--artifacts", type=Path, metavar="DIR", help="write plots and other artifacts here")
    g.add_argument("--only", metavar="GROUP,...", help="grade only these test groups")
    g.add_argument("--html", type=Path, metavar="OUT", help="write a self-contained HTML feedback page here")
    g.add_argument("-v", "--verbose", action="store_true", help="show the feedback of passed groups too")

    t = sub.add_parser("templates", help="generate templates/ from solutions/")
    t.add_argument("--check", action="store_true", help="only report templates out of sync (exit 1)")

    v = sub.add_parser("verify", help="instructor check: solutions score full marks, templates score zero; "
                                      "'verify assignment NAME' checks one assignment's files")
    v.add_argument("what", choices=["solutions", "templates", "assignment"])
    v.add_argument("name", nargs="?", help="with 'assignment': the assignment to check")
    v.add_argument("--quick", action="store_true", help="with 'assignment': skip grading the reference and templates")
    v.add_argument("--assignment", help="only this assignment")
    v.add_argument("--device", default="auto", choices=DEVICES)
    v.add_argument("--seed", type=int)

    c = sub.add_parser("check", help="students: run the public checks of one file (.py or .ipynb)")
    c.add_argument("file", type=Path, help="your solution (.py or .ipynb)")
    c.add_argument("--full", action="store_true", help="also run the slow threshold (training) checks")
    c.add_argument("--assignment", help="assignment name (default: inferred from the file name)")
    c.add_argument("--device", default="cpu", choices=DEVICES)

    r = sub.add_parser("release", help="instructors: write the student bundle (no solutions, no hidden tests)")
    r.add_argument("out", type=Path, help="a new directory, or a file name ending in .zip")
    r.add_argument("--only", metavar="NAME,...", help="release only these assignments (default: all)")
    r.add_argument("--reveal", metavar="NAME,...",
                   help="assignments whose solutions may appear in the bundle (deadline over)")

    n = sub.add_parser("new", help="instructors: scaffold a new assignment that 'grader verify' accepts at once")
    n.add_argument("name", help="the assignment's name (also the module students hand in)")
    n.add_argument("--title", help="one line shown to students (default: made from the name)")

    ls = sub.add_parser("list", help="list the assignments and their test groups")
    ls.add_argument("--keys", action="store_true", help="describe every key of assignment.toml instead")

    from grader.cli.batch import add_commands  # grade-batch, similarity, gradescope
    add_commands(sub, _grading_options)
    from grader.cli import instructor  # report, override, export
    instructor.add_commands(sub)
    for command in sub.choices.values():   # every subcommand works on any course folder
        command.add_argument("--course", metavar="DIR", default=argparse.SUPPRESS,
                             help="the course folder (default: $GRADER_COURSE, or the nearest folder at or above "
                                  "the current one with a course.toml)")
    return parser


def _grading_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--assignment", help="assignment name (default: inferred from the file name)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--seed", type=int, help="master seed (default: fresh and secret)")
    p.add_argument("--require-isolation", action="store_true",
                   help="refuse to grade without namespace isolation")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C: children are killed and temp folders removed on the way out."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
        # A shell without job control starts background commands with SIGINT ignored, and Python keeps
        # that: `grader grade-batch ... &` could then not be stopped with kill -INT. Ctrl-C always stops us.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        args = parser.parse_args(argv)
        args.course = Course.find(getattr(args, "course", None))    # resolved once, then passed along
        return COMMANDS[args.command](args)
    except (UsageError, CourseNotFound, UnknownAssignment) as exc:   # every command's usage errors, one place
        print(f"grader: error: {str(exc).strip(chr(34))}", file=sys.stderr)
        return EXIT_USAGE
    except (MarkerError, AssignmentError) as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # `grader list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _resolve(file: Path, assignment: str | None, course: Course):
    """(the assignment, notes for the result): the one identity function every command uses."""
    from grader.core.identity import identify_file

    identity = identify_file(file, assignment, course.assignments_dir)
    return course.assignment(identity.assignment), identity.notes


def cmd_grade(args: argparse.Namespace) -> int:
    require_regular_file(args.file)
    assignment, notes = _resolve(args.file, args.assignment, args.course)
    only = names_list(args.only) or None
    try:
        isolation = args.course.isolation(require=args.require_isolation)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    options = GradeOptions(device=args.device, seed=args.seed, only=only, isolation=isolation,
                           artifacts_dir=args.artifacts)
    with tempfile.TemporaryDirectory(prefix="grader-artifacts-") if args.html else nullcontext("") as tmp:
        if args.html and options.artifacts_dir is None:  # the page embeds the artifacts: make them
            options.artifacts_dir = Path(tmp)
        console = Console()
        try:
            with LiveProgress(console) as progress:
                options.progress = progress
                result = grade_file(args.file, assignment, options, notes=notes)
        except (SelectionError, DeviceError) as exc:
            raise UsageError(str(exc)) from None
        if args.html:
            from grader.feedback.html import write_html
            try:
                write_html(args.html, result, roots=[options.artifacts_dir])
            except OSError as exc:
                raise UsageError(f"cannot write {args.html}: {exc.strerror}") from None
    if args.json:
        try:
            write_json_atomic(args.json, to_gradescope(result))
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror}") from None
    print_report(result, console, verbose=args.verbose)
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from grader.workflows.templates import stale_templates, write_templates

    if args.check:
        stale = stale_templates(args.course)
        for path in stale:
            print(f"out of sync: {path} (run 'grader templates')")
        return 1 if stale else 0
    for path in write_templates(args.course):
        print(f"wrote {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from grader.workflows.verify import verify

    if args.what == "assignment":
        from grader.workflows.assignment_check import check_assignment, format_report

        if not args.name:
            raise UsageError("verify assignment needs the assignment's name: grader verify assignment NAME")
        report = check_assignment(args.name, quick=args.quick, device=args.device, seed=args.seed or 0,
                                  course=args.course)
        print(format_report(report))
        return 0 if report.ok else 1
    if args.name:
        raise UsageError(f"verify {args.what} takes no name (use --assignment NAME to verify only one)")
    try:
        return verify(args.what, assignment=args.assignment, device=args.device, seed=args.seed, course=args.course)
    except DeviceError as exc:
        raise UsageError(str(exc)) from None


def cmd_new(args: argparse.Namespace) -> int:
    from grader.workflows.scaffold import ScaffoldError, new_assignment

    try:
        written = new_assignment(args.name, args.title, course=args.course)
    except ScaffoldError as exc:
        raise UsageError(str(exc)) from None
    for path in written:
        print(f"wrote {path}")
    print(f"next: edit them, then 'grader verify assignment {args.name}' (assignments/README.md walks through it)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.keys:
        from grader.core.schema import describe
        print(describe())
        return 0
    for name in args.course.assignment_names():
        a = args.course.assignment(name)
        print(f"{name}: {a.title}" + (f" — {a.summary}" if a.summary else ""))
        for g in a.groups.values():
            kind = "hole" if g.name in a.holes else g.kind
            print(f"  {g.name:<18} {g.points:>4g} pts  {kind:<9} {g.summary}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from grader.workflows.check import CheckError, format_report, resolve_assignment, run_check

    require_regular_file(args.file)
    try:
        assignment, notes = resolve_assignment(args.file, args.assignment, args.course)
        with LiveProgress(Console(stderr=True)) as progress:
            report = run_check(args.file, assignment, full=args.full, device=args.device, notes=notes,
                               progress=progress)
    except (CheckError, DeviceError) as exc:
        raise UsageError(str(exc)) from None
    print(format_report(report))
    return 0 if report.passed else 1


def cmd_release(args: argparse.Namespace) -> int:
    from grader.workflows.release import LeakError, ReleaseError, build_release

    try:
        out = build_release(args.out, only=names_list(args.only) or None, reveal=names_list(args.reveal),
                            root=args.course.root)
    except LeakError as exc:   # not a usage error: every finding is listed, one per line
        print(f"grader: error: {exc}", file=sys.stderr)
        return 1
    except ReleaseError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the student bundle {out}")
    return 0


COMMANDS = {"grade": cmd_grade, "templates": cmd_templates, "verify": cmd_verify, "list": cmd_list, "new": cmd_new,
            "check": cmd_check, "release": cmd_release,
            "grade-batch": lambda args: _batch_cli().cmd_grade_batch(args),
            "gradescope": lambda args: _batch_cli().cmd_gradescope(args),
            "similarity": lambda args: _batch_cli().cmd_similarity(args),
            "report": lambda args: _instructor_cli().COMMANDS["report"](args),
            "override": lambda args: _instructor_cli().COMMANDS["override"](args),
            "export": lambda args: _instructor_cli().COMMANDS["export"](args)}


def _batch_cli():
    from grader.cli import batch
    return batch


def _instructor_cli():
    from grader.cli import instructor
    return instructor


if __name__ == "__main__":
    sys.exit(main())
