"""``grader new NAME``: a new assignment that ``grader verify assignment NAME`` accepts at once.

It writes every file an assignment has — statement, ``assignment.toml``, child-side
probes, public and hidden suites, a reference solution with markers — around one
small hole (a numerically stable softmax), then generates the templates. The
instructor replaces the hole with theirs; each file says what it is for. This is
the grader's equivalent of otter's ``assign`` step and nbgrader's quickstart.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from grader.core.course import Course
from grader.workflows.templates import write_templates

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ScaffoldError(ValueError):
    """The assignment cannot be created (bad or taken name); the message says why."""


def _files(name: str, title: str) -> dict[str, str]:
    return {
        "README.md": f"""# {title}

Write `softmax` in `{name}.py` (start from `templates/{name}.py` or `.ipynb`).

## The maths

For a row of logits $z$, $\\mathrm{{softmax}}(z)_i = e^{{z_i}} / \\sum_j e^{{z_j}}$. Subtracting
$\\max_j z_j$ first changes nothing mathematically and keeps $e^{{z}}$ from overflowing.

## Contract

```python
def softmax(logits: np.ndarray) -> np.ndarray
```
`logits` float `[B, K]` → probabilities float64 `[B, K]`, each row summing to 1; finite for
logits as large as 1e4; `logits` is not modified.

## How it is scored

| group | points | what |
| --- | --- | --- |
| `softmax` | 3 | values on random batches, rows summing to 1, large logits, inputs unchanged |

Check your work with `grader check {name}.py`.
""",
        "assignment.toml": f'''# The {name} assignment: what is graded, for how many points, within which limits
# (every key: `grader list --keys`).
name = "{name}"
title = "{title}"
summary = "a numerically stable softmax (replace with what this assignment teaches)"
submission = "{name}.py"
holes = ["softmax"]

[limits]
wall_seconds = 30
cpu_seconds = 60
memory_mb = 2048

[groups.softmax]
points = 3
summary = "row-wise softmax, stable for large logits"
''',
        "probes.py": '''"""Child-side probes: call the student's code and return raw values, never a verdict.

Runs in the sandbox (standard library and numpy here). The parent computes the
expected values itself and decides.
"""

from __future__ import annotations

import numpy as np


def softmax(sub, ctx, logits):
    """``softmax(logits)``: the result (as float64), its type, and whether the input changed."""
    given = np.array(logits, dtype=np.float64)
    before = given.copy()
    out = sub.softmax(given)
    reply = {"type": type(out).__name__, "mutated": bool(not np.array_equal(given, before))}
    if isinstance(out, np.ndarray) and out.dtype.kind in "biuf":
        reply["values"] = out.astype(np.float64)
    return reply
''',
        "public/suite.py": '''"""Public checks (`grader check`): fixed inputs, expected values in plain sight."""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array, group


@group("softmax")
def softmax(ctx: GroupContext) -> None:
    with ctx.check("softmax([[0, ln 3]]) = [[0.25, 0.75]]"):
        reply = ctx.call("softmax", logits=np.array([[0.0, np.log(3.0)]]))
        if "values" not in reply:
            raise CheckFailed(f"softmax should return a numpy array, got {reply['type']}")
        got = as_array(reply["values"], "softmax's result", shape=(1, 2), kind="f")
        ctx.require(bool(np.allclose(got, [[0.25, 0.75]])), f"got {got.tolist()}, expected [[0.25, 0.75]]")
''',
        "hidden/suite.py": '''"""Hidden tests (never released): expected values computed here, in the trusted parent."""

from __future__ import annotations

import numpy as np

from grader.core.suite import CheckFailed, GroupContext, as_array, group


def expected(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _softmax(ctx: GroupContext, logits: np.ndarray) -> np.ndarray:
    reply = ctx.call("softmax", logits=logits)
    if reply.get("mutated"):
        raise CheckFailed("softmax modified the logits it was given")
    if "values" not in reply:
        raise CheckFailed(f"softmax should return a numpy array, got {reply.get('type')}")
    return as_array(reply["values"], "softmax's result", shape=logits.shape, kind="f")


@group("softmax")
def softmax(ctx: GroupContext) -> None:
    rng = ctx.rng   # seeded from the run's secret master seed

    with ctx.check("values on a random batch (B = 32, K = 5)", weight=2):
        logits = rng.normal(size=(32, 5)) * 3
        got = _softmax(ctx, logits)
        ctx.require(bool(np.allclose(got, expected(logits), atol=1e-8)),
                    f"largest difference from the softmax {np.abs(got - expected(logits)).max():.3g}")

    with ctx.check("each row sums to 1"):
        got = _softmax(ctx, rng.normal(size=(7, 11)))
        ctx.require(bool(np.allclose(got.sum(axis=1), 1.0)), f"row sums {np.round(got.sum(axis=1), 4).tolist()}")

    with ctx.check("large logits stay finite (subtract the row maximum first)"):
        logits = rng.normal(size=(4, 3)) * 1e4
        got = _softmax(ctx, logits)
        ctx.require(bool(np.allclose(got, expected(logits), atol=1e-8)),
                    "wrong for logits around 1e4: subtract each row's maximum before exp")
''',
    }


def _solution(name: str, title: str) -> str:
    return f'''"""{title}

Fill in the function marked TODO; `grader check {name}.py` runs the public checks.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` [B, K] as float64, stable for large logits."""
    # BEGIN SOLUTION: subtract each row's maximum, exponentiate, divide by the row sums
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
    # END SOLUTION


if __name__ == "__main__":
    print(softmax(np.array([[0.0, np.log(3.0)]])))
'''


def new_assignment(name: str, title: str | None = None, course: Course | None = None) -> list[Path]:
    """Create the assignment ``name`` in ``course`` and its templates; return the files written."""
    course = course or Course.find()
    if not NAME.match(name) or keyword.iskeyword(name):
        raise ScaffoldError(f"{name!r} is not a usable assignment name: lower-case letters, digits and _, "
                            "starting with a letter (it is also the module students hand in)")
    if name in course.assignment_names():
        raise ScaffoldError(f"the assignment {name!r} exists already ({course.assignments_dir / name})")
    folder = course.assignments_dir / name
    solution = course.solutions_dir / f"{name}.py"
    for path in (folder, solution):
        if path.exists():
            raise ScaffoldError(f"{path} exists already: choose another name or remove it")
    title = title or f"{name.replace('_', ' ').capitalize()}: a new assignment"
    written = []
    for rel, text in _files(name, title).items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    solution.parent.mkdir(parents=True, exist_ok=True)
    solution.write_text(_solution(name, title), encoding="utf-8")
    written.append(solution)
    course.templates_dir.mkdir(parents=True, exist_ok=True)
    written += [p for p in write_templates(course) if p.stem == name]
    return written
