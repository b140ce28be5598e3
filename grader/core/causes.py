"""Why a check or a whole group failed, said once, with the hint that fits what was observed.

A group's checks are independent verdicts, but one failure can stop all of
them: the file did not import (a missing package, a data file the grader does
not have, ``main()`` run at import), a function is missing or has another
signature, the student's code ended the process or ran out of time, or the same
exception was raised in every check. :func:`explain_group` turns what the
checks recorded (:class:`Failure` data from the sandbox, never parsed text) into
the results model: that failure becomes the group's :class:`Cause`, reported
once with the exception's type and message, and the checks it stopped say
"not run: see above" (or "failed: see above" when they did run into it).

Hints here are chosen from the failure's data (its type, the module or file it
names, where in the file it happened), so a hint appears only for the mistake
it describes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from grader.core.environment import describe_offered, is_offered
from grader.core.results import FAILED, NOT_RUN, PASSED, Cause, CheckResult

MAX_FIELD = 2000          # characters of one message field kept in the model (a hostile message can be huge)
MAX_TRACEBACK = 4000
SEE_ABOVE = {NOT_RUN: "not run: see above", FAILED: "failed: see above"}


@dataclass(frozen=True)
class Failure:
    """What stopped a check, as the sandbox reported it: the student's exception (``kind="raised"``),
    or the end of the child (``import_error``, ``timeout``, ``crashed``, ``protocol``)."""
    kind: str
    message: str
    type: str = ""
    traceback: str = ""
    frames: tuple[tuple[int, str, str], ...] = ()     # the student's frames, outermost first
    filename: str = ""                               # the file an OSError names
    module: str = ""                                 # the module a ModuleNotFoundError names
    doing: str = ""                                  # what the child was doing when it ended
    skipped: bool = False                            # refused because of this failure, earlier

    @classmethod
    def from_error(cls, kind: str, error: Any, message: str = "", doing: str = "", skipped: bool = False) -> Failure:
        """From the child's description of an exception (``runner.describe_exception``)."""
        error = error if isinstance(error, dict) else {}
        frames = []
        for f in error.get("frames") or []:
            if isinstance(f, (list, tuple)) and len(f) == 3:
                frames.append((int(f[0]) if isinstance(f[0], int) else 0, str(f[1]), str(f[2])))
        told = kind == "raised" or (kind == "import_error" and "type" in error)   # the exception's own message
        return cls(kind=kind, message=_clip(str(error.get("message", "")) if told else message),
                   type=str(error.get("type", "")), traceback=_clip(str(error.get("traceback", "")), MAX_TRACEBACK),
                   frames=tuple(frames), filename=str(error.get("filename") or ""),
                   module=str(error.get("module") or ""), doing=doing, skipped=skipped)

    @property
    def key(self) -> tuple[str, str, str]:
        """Equal for the same failure met again (a skipped call, another check raising the same)."""
        message = re.sub(r"^(\[[^\]]*\] )?skipped: ", r"\1", self.message)
        return self.kind, self.type, message

    @property
    def at_import(self) -> bool:
        return self.kind == "import_error" or self.doing.startswith("starting up")


@dataclass
class Record:
    """One check as the suite ran it (``ctx.check``): its verdict and, when it failed, why."""
    name: str
    weight: float
    passed: bool = False
    message: str = ""
    expected: str = ""
    got: str = ""
    hint: str = ""
    failure: Failure | None = None
    not_run: bool = False       # the suite skipped it (``ctx.skip``)
    data: dict[str, Any] = field(default_factory=dict)


def explain_group(records: Sequence[Record], points: float, module: str = "",
                  signature: Callable[[str], str] | None = None) -> tuple[list[CheckResult], Cause | None]:
    """The checks of a group as the model has them, and the group's cause (None when there is none)."""
    total = sum(r.weight for r in records) or 1.0
    failed = [r for r in records if not r.passed]
    cause_failure = _group_failure(failed, every=len(failed) == len(records))
    cause = describe_cause(cause_failure, module, signature) if cause_failure is not None else None
    checks = []
    for r in records:
        share = points * r.weight / total
        check = CheckResult(r.name, r.weight, PASSED if r.passed else FAILED, share if r.passed else 0.0, share)
        if r.passed:
            checks.append(check)
            continue
        f = r.failure
        if r.not_run:
            check.status, check.message = NOT_RUN, _clip(r.message) or "not run"
        elif f is not None and cause_failure is not None and (f.key == cause_failure.key):
            check.status = NOT_RUN if (f.skipped or f.kind == "import_error"
                                       or cause is not None and cause.kind in ("missing", "signature")) else FAILED
            check.message, check.by_cause = SEE_ABOVE[check.status], True
        elif f is not None:
            alone = describe_cause(f, module, signature)
            check.message = _clip(_check_message(f, alone))
            check.traceback, check.hint = alone.traceback, alone.hint
        else:
            check.message, check.expected, check.got, check.hint = (_clip(r.message), _clip(r.expected),
                                                                    _clip(r.got), _clip(r.hint))
        checks.append(check)
    return checks, cause


def _group_failure(failed: Sequence[Record], every: bool) -> Failure | None:
    """The failure that stopped the group: one that ends the child for good, or (``every`` check failed)
    one met by all of them."""
    for r in failed:
        f = r.failure
        if f is not None and (f.kind in ("import_error", "timeout", "protocol") or f.skipped):
            return next((o.failure for o in failed if o.failure is not None and o.failure.key == f.key
                         and not o.failure.skipped), f)
    with_failure = [r.failure for r in failed if r.failure is not None]
    if every and len(failed) >= 2 and len(with_failure) == len(failed) and len({f.key for f in with_failure}) == 1:
        return with_failure[0]
    return None


def _check_message(f: Failure, alone: Cause) -> str:
    """A failure met by this check alone, in one line."""
    if f.kind == "raised" and alone.kind == "todo":
        return f"not implemented yet ({alone.summary})"
    if f.kind == "raised":
        return f"your code raised {alone.summary}" + (f" ({alone.where})" if alone.where else "")
    return alone.summary


# -- what each kind of failure means ---------------------------------------------
def describe_cause(f: Failure, module: str = "", signature: Callable[[str], str] | None = None) -> Cause:
    """The cause ``f`` stands for: its kind, its one-line summary, the student's frames and the fitting hint."""
    where = _where(f)
    if f.kind == "timeout":
        message = re.sub(r"^(\[[^\]]*\] )?skipped: ", r"\1", f.message)
        hint = ("importing your file took longer than the time limit: does it train or run experiments at the top "
                "level? Put them under `if __name__ == \"__main__\":`") if f.at_import else ""
        return Cause("timeout", _clip(message), hint=hint)
    if f.kind == "protocol":
        return Cause("protocol", _clip(f.message))
    if f.kind == "crashed":
        return Cause("crash", _clip(re.sub(r"^(\[[^\]]*\] )?skipped: ", r"\1", f.message)))
    summary = exception_line(f.type, f.message)
    f = replace(f, traceback=_without_last_line(f.traceback, summary))
    if f.kind == "import_error":
        return Cause("import", summary, f.traceback, _hint(f, module, signature), where)
    # the student's code raised in a probe
    missing = re.match(r"module '([^']*)' has no attribute '(\w+)'", f.message)
    if f.type == "AttributeError" and not f.frames and missing and (not module or missing.group(1) == module):
        name = missing.group(2)
        return Cause("missing", summary,
                     hint=f"the grader calls `{name}` (see the contract in the statement): define it at the top level "
                          "of your file under exactly that name (not inside another function, nor only under "
                          "`if __name__ == \"__main__\":`)")
    called = re.match(r"(?:\w+\.)*(\w+)\(\) (?:takes|got an unexpected|got multiple|missing)", f.message)
    if f.type == "TypeError" and not f.frames and called:
        name = called.group(1)
        contract = signature(name) if signature else ""
        hint = (f"the grader calls it as the contract says: `{contract}`; keep exactly these parameters"
                if contract else "keep the parameters the contract in the statement gives it")
        return Cause("signature", summary, hint=hint, where=f"calling {name}")
    if f.type == "SystemExit":
        return Cause("exit", summary, f.traceback,
                     "the functions the grader calls must return, never call sys.exit(), exit() or quit()", where)
    if f.type == "NotImplementedError":
        return Cause("todo", summary, where=where)
    return Cause("error", summary, f.traceback, _hint(f, module, signature), where)


def _without_last_line(traceback: str, summary: str) -> str:
    """The traceback without its closing ``Type: message`` line when the summary says just that."""
    lines = traceback.rstrip().splitlines()
    if lines and lines[-1].strip() == summary:
        lines = lines[:-1]
    return "\n".join(lines)


def exception_line(type_: str, message: str) -> str:
    """``Type: first line of the message`` (a torch error's message can run to many lines)."""
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "")
    return _clip(f"{type_}: {first}" if first else type_ or "an exception", 300)


def _where(f: Failure) -> str:
    if not f.frames:
        return ""
    line, function, _ = f.frames[-1]
    place = "at the top level" if function == "<module>" else f"in {function}"
    return f"line {line}, {place}" if line else place


def _hint(f: Failure, module: str, signature: Callable[[str], str] | None) -> str:
    """The hint for an exception, from its data: a package the grader lacks, a file it does not have,
    code run at import."""
    if f.type == "ModuleNotFoundError":
        name = f.module or next(iter(re.findall(r"No module named '([^']+)'", f.message)), "")
        top = name.split(".", 1)[0]
        if top and top != module and not is_offered(top):
            offered = describe_offered()
            return (f"`{top}` is not available to submissions"
                    + (f": a submission may import {offered}" if offered else "")
                    + f". Remove `import {top}` and what uses it (grader check warns about such imports).")
        if top == module or not top:
            return ""
        return f"`{name}` does not exist in the grader's `{top}`: check the name (and the version the statement gives)"
    if f.filename and f.type in ("FileNotFoundError", "IsADirectoryError", "NotADirectoryError", "PermissionError"):
        return (f"`{f.filename}` is not there when the grader runs your file: only your file is graded, alone in "
                "an empty folder, so data files next to it are not. Read no files at import; what your functions "
                "need is passed to them as arguments")
    call = _call_at_import(f)
    if call:
        exits = " (argparse exits like this when it reads the grader's command line)" \
            if f.type == "SystemExit" and f.message == "2" else ""
        return (f"your file calls `{call[1]}` when it is imported (line {call[0]}){exits}: the grader imports your "
                "file to call its functions, so that call runs first. Put it under `if __name__ == \"__main__\":`")
    return ""


def _call_at_import(f: Failure) -> tuple[int, str] | None:
    """(line, code) of the top-level statement that called into the failing code while the file was imported."""
    if not f.at_import or not f.frames:
        return None
    line, function, code = f.frames[0]
    if function != "<module>" or not code.strip():
        return None
    if len(f.frames) > 1 or f.type == "SystemExit":
        return line, code.strip()
    return None


def contract_signature(statement: str, name: str) -> str:
    """``def name(...) -> ...`` as the statement's contract writes it, or ''."""
    match = re.search(rf"^\s*(def {re.escape(name)}\(.*?\)(?:\s*->\s*[^:\n]+)?)", statement, re.M | re.S)
    if not match:
        return ""
    return re.sub(r"\s+", " ", match.group(1)).strip()[:300]


def _clip(text: str, limit: int = MAX_FIELD) -> str:
    text = str(text)
    if len(text) <= limit:
        return text
    return text[: limit - 40] + f" […{len(text) - limit + 40} more characters]"
