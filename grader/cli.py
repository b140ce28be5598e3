"""The ``grader`` command. Usage errors print one line and exit 2; grading always writes a result."""

from __future__ import annotations

import argparse
import os
import signal
import stat
import sys
import tempfile
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

from rich.console import Console

from . import __version__
from .assignment import AssignmentError, UnknownAssignment, infer_assignment, list_assignments, load_assignment
from .devices import DEVICES, DeviceError
from .grading import GradeOptions, SelectionError, grade_file
from .markers import MarkerError
from .report import print_report
from .results import write_json_atomic
from .sandbox import select_isolation

EXIT_USAGE = 2


class UsageError(Exception):
    """Wrong use of the command: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


def build_parser() -> Parser:
    parser = Parser(prog="grader", description=__doc__)
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

    v = sub.add_parser("verify", help="instructor check: solutions score full marks, templates score zero")
    v.add_argument("what", choices=["solutions", "templates"])
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

    sub.add_parser("list", help="list the assignments and their test groups")

    from .batch_cli import add_commands  # grade-batch, gradescope
    add_commands(sub, _grading_options)
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
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (MarkerError, AssignmentError) as exc:
        print(f"grader: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("grader: interrupted", file=sys.stderr)
        return 130


def names_list(arg: str | None) -> list[str]:
    """'a, b,c' → ['a', 'b', 'c'] (for --only and the like); None → []."""
    return [s.strip() for s in arg.split(",") if s.strip()] if arg else []


def _resolve(file: Path, assignment: str | None):
    try:
        name = assignment or infer_assignment(file)
        return load_assignment(name)
    except UnknownAssignment as exc:
        raise UsageError(str(exc).strip('"')) from None


def require_regular_file(path: Path) -> None:
    """A usage error unless ``path`` is a regular file: a FIFO or a device would hang the read."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path} is a directory, not a submission file")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{path} is not a regular file (a FIFO, socket or device), not a submission file")


def cmd_grade(args: argparse.Namespace) -> int:
    require_regular_file(args.file)
    assignment = _resolve(args.file, args.assignment)
    only = names_list(args.only) or None
    try:
        isolation = select_isolation(require=args.require_isolation)
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    options = GradeOptions(device=args.device, seed=args.seed, only=only, isolation=isolation,
                           artifacts_dir=args.artifacts)
    with tempfile.TemporaryDirectory(prefix="grader-artifacts-") if args.html else nullcontext("") as tmp:
        if args.html and options.artifacts_dir is None:  # the page embeds the artifacts: make them
            options.artifacts_dir = Path(tmp)
        try:
            result = grade_file(args.file, assignment, options)
        except (SelectionError, DeviceError) as exc:
            raise UsageError(str(exc)) from None
        if args.html:
            from .html_report import write_html
            try:
                write_html(args.html, result.to_gradescope(), roots=[options.artifacts_dir])
            except OSError as exc:
                raise UsageError(f"cannot write {args.html}: {exc.strerror}") from None
    if args.json:
        try:
            write_json_atomic(args.json, result.to_gradescope())
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror}") from None
    print_report(result, Console(), verbose=args.verbose)
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    from .templates import stale_templates, write_templates

    if args.check:
        stale = stale_templates()
        for path in stale:
            print(f"out of sync: {path} (run 'grader templates')")
        return 1 if stale else 0
    for path in write_templates():
        print(f"wrote {path}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    try:
        return verify(args.what, assignment=args.assignment, device=args.device, seed=args.seed)
    except (UnknownAssignment, DeviceError) as exc:
        raise UsageError(str(exc)) from None


def cmd_list(args: argparse.Namespace) -> int:
    for name in list_assignments():
        a = load_assignment(name)
        groups = ", ".join(f"{g.name} ({g.points:g})" for g in a.groups.values())
        print(f"{name}: {a.title} — {groups}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .checking import CheckError, assignment_for, format_report, run_check

    require_regular_file(args.file)
    try:
        report = run_check(args.file, assignment_for(args.file, args.assignment), full=args.full, device=args.device)
    except (CheckError, DeviceError) as exc:
        raise UsageError(str(exc)) from None
    print(format_report(report))
    return 0 if report.passed else 1


def cmd_release(args: argparse.Namespace) -> int:
    from .release import LeakError, ReleaseError, build_release

    try:
        out = build_release(args.out, only=names_list(args.only) or None, reveal=names_list(args.reveal))
    except LeakError as exc:   # not a usage error: every finding is listed, one per line
        print(f"grader: error: {exc}", file=sys.stderr)
        return 1
    except ReleaseError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the student bundle {out}")
    return 0


COMMANDS = {"grade": cmd_grade, "templates": cmd_templates, "verify": cmd_verify, "list": cmd_list,
            "check": cmd_check, "release": cmd_release,
            "grade-batch": lambda args: _batch_cli().cmd_grade_batch(args),
            "gradescope": lambda args: _batch_cli().cmd_gradescope(args)}


def _batch_cli():
    from . import batch_cli
    return batch_cli


if __name__ == "__main__":
    sys.exit(main())
