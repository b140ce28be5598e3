"""Grade one submission: run each selected test group in its own child, score in the parent."""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.core import warmup
from grader.core.assignment import Assignment, AssignmentError, GroupConfig
from grader.core.causes import contract_signature, explain_group
from grader.core.course import Course
from grader.core.devices import DeviceChoice, resolve
from grader.core.progress import Event, GroupEnded, GroupStarted, Observer
from grader.core.results import STOPS_EVERY_GROUP, Cause, GradeResult, TestResult
from grader.core.suite import GroupContext, GroupOutcome, seed_for
from grader.core.text import printable_text
from grader.core.version import __version__
from grader.sandbox import ChildSpec, Isolation, Limits, NoIsolation, reaper
from grader.sandbox.spares import Spares

MAX_FEEDBACK_OUTPUT = 4000       # characters of what the program printed kept in the feedback (head and tail)

# Who watches a grading (the live progress display): an observer of grader.core.progress's events.
# Never told anything that decides a score.
ProgressHook = Observer


@dataclass
class GradeOptions:
    device: str | DeviceChoice = "auto"   # a DeviceChoice: resolved already (a batch resolves once)
    seed: int | None = None
    only: Sequence[str] | None = None
    suite: str = "hidden"            # or "public" for ``grader check``
    isolation: Isolation | None = None   # None: the strongest sandbox here, protecting the assignment's course
    artifacts_dir: Path | None = None
    time_scale: float = 1.0          # multiply every wall/CPU limit (slow machines, CI)
    progress: ProgressHook | None = None
    course: Course | None = None     # where assignments are looked up by name (batch jobs, Gradescope)


class SelectionError(ValueError):
    """``--only`` named groups the assignment does not have."""


def select_groups(assignment: Assignment, names: Sequence[str] | None, available: Sequence[str]) -> list[str]:
    if not names:
        return list(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SelectionError(f"unknown test group(s) {', '.join(unknown)} for {assignment.name} "
                             f"(groups: {', '.join(available)})")
    return [n for n in available if n in names]


def grade_submission(submission: Path, assignment: Assignment, options: GradeOptions,
                     problem: str = "", notes: Sequence[str] = ()) -> GradeResult:
    """Grade ``submission``; never raises for anything the submission does.

    ``problem`` (e.g. a notebook that could not be converted) fails every group
    with that message without starting a child; ``notes`` go into the output.
    The file's bytes are read once, into a private folder: every child gets that copy and the
    result records its hash, so a file changed while it is graded changes nothing.
    """
    with tempfile.TemporaryDirectory(prefix="grader-handin-") as private:
        copy, digest, unreadable = private_copy(submission, Path(private))
        result = _grade_copy(copy, assignment, options, problem or unreadable, notes)
    result.submission = submission.name
    result.extra_data["submission_sha256"] = digest
    return result


def private_copy(submission: Path, folder: Path) -> tuple[Path, str, str]:
    """(the copy in ``folder``, the sha256 of the bytes read, why they could not be read or '')."""
    from grader.formats.source import SubmissionFormatError, read_submission

    copy = folder / submission.name
    try:
        data = read_submission(submission)
    except SubmissionFormatError as exc:
        return copy, "", str(exc)
    fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return copy, hashlib.sha256(data).hexdigest(), ""


def _grade_copy(submission: Path, assignment: Assignment, options: GradeOptions, problem: str,
                notes: Sequence[str]) -> GradeResult:
    t0 = time.monotonic()
    if options.isolation is None:
        options = replace(options, isolation=Course(assignment.course_root).isolation())
    master_seed = options.seed if options.seed is not None else secrets.randbits(63)
    suite = assignment.suite(options.suite)
    configs = _group_configs(assignment, suite, options.suite)
    names = select_groups(assignment, options.only, list(configs))
    choice = device_choice(assignment, options)
    device = choice.device
    result = GradeResult(assignment=assignment.name, submission=submission.name)
    header = [f"{assignment.title}: {submission.name}"]
    if isinstance(options.isolation, NoIsolation):
        header.insert(0, no_isolation_warning(options.isolation))

    problem = problem or submission_problem(submission)
    signature = _contract(assignment)
    scaled = {name: _scaled(configs[name], options.time_scale) for name in names}
    specs = child_specs(scaled, submission, assignment, master_seed, device, options)
    spares = Spares()
    if assignment.uses_torch:
        spares.meanwhile(warmup.torch_training)   # torch.optim's first-use imports, during the first child's start-up
    stopped: Cause | None = None      # a cause that stops every group (the file did not import): the rest are not run
    if problem:
        stopped = Cause("file", problem.splitlines()[0] if problem.strip() else "the file cannot be graded",
                        traceback="\n".join(problem.splitlines()[1:]))
    try:
        for i, name in enumerate(names):
            config = scaled[name]
            if stopped is not None:
                test = to_test_result(config, GroupOutcome())
                test.cause = replace(stopped)
                result.tests.append(test)
                continue
            following = names[i + 1] if i + 1 < len(names) else None
            shares = following is not None and specs[following] is specs[name]
            upcoming = next((n for n in names[i + 1:] if specs[n] is not specs[name]), None)
            starts_run = i == 0 or specs[names[i - 1]] is not specs[name]     # (a spec is one run of groups)
            if starts_run and upcoming is not None:
                # the next run's children start up while this run works, once its child is up (spares.py)
                spares.defer(specs[upcoming], scaled[upcoming].start_ahead)
            _tell(options, GroupStarted(name, config.points, config.kind, config.limits.wall_seconds))
            outcome = run_group(suite[name], config, specs[name], master_seed, device, options, spares, shares)
            test = to_test_result(config, outcome, Path(assignment.submission_name).stem, signature)
            _tell(options, GroupEnded(name, test.score, test.max_score))
            result.tests.append(test)
            result.leaderboard.extend(outcome.leaderboard)
            if test.cause is not None and test.cause.kind in STOPS_EVERY_GROUP:
                stopped = test.cause
    finally:
        spares.close()

    result.say_once()
    result.execution_time = time.monotonic() - t0
    result.output = printable_text("\n".join([*header, f"score: {result.score:g} / {result.max_score:g}",
                                              choice.header(), *notes]))
    result.extra_data = {
        "grader_version": __version__,
        "device": device,
        **({"device_note": choice.note} if choice.note else {}),
        "suite": options.suite,
        "seed": master_seed,
        "isolation": options.isolation.name,
        "sandbox": options.isolation.describe(),   # said last on every page (feedback.text.sandbox_lines)
    }
    if isinstance(options.isolation, NoIsolation):
        reaper.sweep()   # nothing the submission started outlives its grading
        result.extra_data["isolation_warning"] = no_isolation_warning(options.isolation)
    if notes:
        result.extra_data["notes"] = list(notes)   # e.g. what a notebook converter left out
    return result


def device_choice(assignment: Assignment, options: GradeOptions) -> DeviceChoice:
    """Where this grading runs: the CPU for an assignment without torch; for one whose networks are too
    small to gain from a GPU (``cpu_only``), the CPU too, saying why where CUDA was asked for or would
    have been picked; else what ``--device`` resolves to (:func:`grader.core.devices.resolve`)."""
    if not assignment.uses_torch:
        return DeviceChoice("cpu")
    cpu_only = f"{assignment.name} grades on the CPU: {assignment.cpu_only}" if assignment.cpu_only else ""
    return resolve(options.device, options.isolation, cpu_only=cpu_only)


def no_isolation_warning(isolation: NoIsolation) -> str:
    """The first line a reader sees when a result was produced without namespace isolation."""
    why = f" ({isolation.reason})" if isolation.reason else ""
    return (f"WARNING: graded WITHOUT namespace isolation{why}: the submission could read the machine's files "
            "and use the network, so this score cannot be trusted; grade with --require-isolation in production")


def child_specs(configs: dict[str, GroupConfig], submission: Path, assignment: Assignment, master_seed: int,
                device: str, options: GradeOptions) -> dict[str, ChildSpec]:
    """The child process spec of each group, in grading order. Consecutive hole groups (kind "unit")
    whose limits agree but for time share one spec, and so one child, handed on from group to group
    while each ends with every check passed (:mod:`grader.sandbox.spares`): a hole group's work takes
    a fraction of a second, starting Python and torch for it seconds. Their child may use the sum of
    their CPU seconds; each group keeps its own wall time. Threshold groups always get their own."""
    specs: dict[str, ChildSpec] = {}
    run: list[str] = []
    allowed = allowed_imports(assignment)

    def close_run() -> None:
        if not run:
            return
        first = configs[run[0]]
        limits = replace(first.limits, cpu_seconds=sum(configs[n].limits.cpu_seconds for n in run))
        hash_seed = int(seed_for(master_seed, first.name, "hash").generate_state(1)[0] % (2**32 - 1))
        spec = ChildSpec(
            submission=submission,
            probes=assignment.probes_path,
            child_files=assignment.child_files,
            limits=limits,
            isolation=options.isolation,
            device=device,
            hash_seed=hash_seed,
            preload=("torch",) if assignment.uses_torch else (),
            env={"GRADER_ALLOWED_IMPORTS": allowed} if allowed else {},
        )
        specs.update({n: spec for n in run})
        run.clear()

    for name, config in configs.items():
        if run and not (config.kind == "unit" and configs[run[-1]].kind == "unit"
                        and _untimed(config.limits) == _untimed(configs[run[-1]].limits)):
            close_run()
        run.append(name)
    close_run()
    return specs


def allowed_imports(assignment: Assignment) -> str:
    """The course's list of packages a submission may import, for the child (``GRADER_ALLOWED_IMPORTS``:
    :func:`grader.sandbox.runner.guard_imports`); '' when the course declares none."""
    from grader.core.environment import offered_packages

    packages = offered_packages(Course(assignment.course_root))
    return ",".join(p.name for p in packages) if packages else ""


def _untimed(limits: Limits) -> Limits:
    return replace(limits, wall_seconds=0.0, cpu_seconds=0)


def run_group(fn, config: GroupConfig, spec: ChildSpec, master_seed: int, device: str, options: GradeOptions,
              spares: Spares | None = None, hand_on: bool = False) -> GroupOutcome:
    """Run one group's suite function against its children; ``hand_on``: the next group shares its spec."""
    ctx = GroupContext(config, spec, master_seed, device, options.artifacts_dir, spares, hand_on)
    if options.progress is not None:
        ctx.on_progress = lambda event: _tell(options, event)
    try:
        fn(ctx)
    except AssignmentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug in the suite: say so, give no points, keep grading
        ctx.outcome.error = f"internal grader error in group {config.name}: {type(exc).__name__}: {exc}"
    finally:
        ctx.close()
    return ctx.outcome


def to_test_result(config: GroupConfig, outcome: GroupOutcome, module: str = "",
                   signature: Callable[[str], str] | None = None) -> TestResult:
    """The results model of one group: its checks and cause (:mod:`grader.core.causes`), notes and output."""
    checks, cause = explain_group(outcome.checks, config.points, module, signature)
    if outcome.error:
        cause = Cause("internal", outcome.error,
                      hint="this is a bug in the grader, not in your code: please tell the course staff")
    score = round(config.points * outcome.fraction, 4)
    passed = bool(outcome.checks) and all(c.passed for c in outcome.checks) and not outcome.error
    return TestResult(
        name=config.name,
        score=score,
        max_score=config.points,
        status="passed" if passed else "failed",
        checks=checks,
        cause=cause,
        notes=list(outcome.notes),
        student_output=clip_output(outcome.student_output),
        visibility=config.visibility,
        kind=config.kind,
        seconds=outcome.seconds,
        extra_data={"startup_seconds": [round(s, 3) for s in outcome.startup_seconds], **outcome.extra},
    )


def clip_output(text: str, limit: int = MAX_FEEDBACK_OUTPUT) -> str:
    """What the program printed, at most ``limit`` characters: its beginning and its end (where an
    error usually is), with how much was left out in between."""
    if not text.strip():
        return ""
    text = text.rstrip()
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 3 // 4], text[-(limit // 4):]
    return f"{head}\n[... {len(text) - len(head) - len(tail):,} characters not shown ...]\n{tail}"


def _contract(assignment: Assignment) -> Callable[[str], str]:
    """``name`` → the contract's ``def name(...)`` line, read from the statement (for signature hints)."""
    readme = assignment.directory / "README.md"
    try:
        statement = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    except (OSError, UnicodeDecodeError):
        statement = ""
    return lambda name: contract_signature(statement, name)


def _tell(options: GradeOptions, event: Event) -> None:
    if options.progress is not None:
        try:
            options.progress(event)
        except Exception:  # noqa: BLE001 - a display must never cost a grading
            options.progress = None


def submission_problem(path: Path) -> str:
    """Why a file cannot be a Python submission at all, or '' if it may be one."""
    from grader.formats.source import SubmissionFormatError, read_submission, syntax_problem

    try:
        raw = read_submission(path)
    except SubmissionFormatError as exc:
        return str(exc)
    if b"\x00" in raw[:4096]:
        return "the submission is not a Python source file (it contains binary data)"
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "the submission is not UTF-8 text"
    return syntax_problem(source, path.name)


def _group_configs(assignment: Assignment, suite: dict, kind: str) -> dict[str, GroupConfig]:
    if kind == "hidden":
        return {name: assignment.groups[name] for name in assignment.groups}
    base = next(iter(assignment.groups.values())).limits if assignment.groups else None
    public = {}
    for name in suite:
        cfg = assignment.groups.get(name)
        public[name] = replace(cfg, points=1.0) if cfg else GroupConfig(name=name, points=1.0, limits=base)
    return public


def _scaled(config: GroupConfig, scale: float) -> GroupConfig:
    if scale == 1.0:
        return config
    limits = config.limits
    return replace(config, limits=replace(limits, wall_seconds=limits.wall_seconds * scale,
                                          cpu_seconds=int(limits.cpu_seconds * scale)))


def grade_file(path: Path, assignment: Assignment, options: GradeOptions, notes: Sequence[str] = ()) -> GradeResult:
    """Grade a handed-in file of any supported format (``.py``, or one a converter handles).
    ``notes`` (e.g. why the file was taken for this assignment) head the result's output."""
    from grader.formats.submission import SubmissionFormatError, prepare_submission

    notes = [n for n in notes if n]
    try:
        prepared = prepare_submission(path, assignment.submission_name)
    except SubmissionFormatError as exc:
        return grade_submission(path, assignment, options, problem=str(exc), notes=notes)
    except (RecursionError, MemoryError) as exc:   # a converter met a pathological file: still a result
        return grade_submission(path, assignment, options, notes=notes,
                                problem=f"the submission could not be read ({type(exc).__name__}): is it a real "
                                        f"{path.suffix or 'Python'} file?")
    with prepared:
        result = grade_submission(prepared.python_file, assignment, options, notes=[*notes, *prepared.notes])
    result.submission = path.name
    return result
