"""The measured table of the NAS assignment (parent side only; never sent to a child).

``data/nas-table.npz`` holds every architecture of the search space with the
accuracy it reached on 1,000 held-out digits after the template's short
training schedule and its FLOPs counted by torch's ``FlopCounterMode``
(built by ``build_table.py`` beside this file). It is loaded with its
sha256 checked, so a corrupted or swapped table stops the grader instead of
silently moving every threshold.

The reward the grader serves is MnasNet's form of EfficientNet's objective:
``accuracy * (target / flops) ** beta`` for a network above the target, its
accuracy at or below it. (With the same exponent on both sides the target
would only scale every reward by ``target ** beta`` and never change which
architecture is best; the exponent 0 below the target is what makes a secret
target move the optimum.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from grader.kits.images.datasets import load_checked_npz

HERE = Path(__file__).resolve().parent
TABLE = HERE / "data" / "nas-table.npz"
TABLE_SHA256 = "08706d5dd1f787bf828dfda35db8f61a9a1fcae274bdee36cea26429284f98bd"


@dataclass(frozen=True)
class Table:
    names: tuple[str, ...]                 # the decisions
    options: tuple[tuple[str, ...], ...]   # each decision's choices, as text
    architectures: np.ndarray              # int [S, T], row i = np.unravel_index(i, choices)
    accuracy: np.ndarray                   # float64 [S], on the held-out digits
    flops: np.ndarray                      # int64 [S], one forward pass of one digit
    meta: dict

    @property
    def choices(self) -> tuple[int, ...]:
        return tuple(len(o) for o in self.options)

    def describe(self, architecture) -> str:
        return " ".join(f"{n}={o[int(a)]}" for n, o, a in zip(self.names, self.options, architecture))

    def details(self, index: int) -> str:
        return f"accuracy {100 * self.accuracy[index]:.1f} %, {int(self.flops[index]):,} FLOPs"


def nas_reward(accuracy: np.ndarray, flops: np.ndarray, target_flops: float, beta: float) -> np.ndarray:
    """``accuracy * (target / flops) ** beta`` above the target, ``accuracy`` at or below it (float64)."""
    acc, cost = np.asarray(accuracy, dtype=np.float64), np.asarray(flops, dtype=np.float64)
    return np.where(cost > target_flops, acc * (target_flops / cost) ** beta, acc)


@cache
def load_table(path: Path = TABLE, sha256: str | None = None) -> Table:
    arrays = load_checked_npz(path, TABLE_SHA256 if sha256 is None else sha256)
    meta = json.loads(str(arrays["meta"]))
    names = tuple(str(name) for name, _ in meta["space"])
    options = tuple(tuple(str(o) for o in opts) for _, opts in meta["space"])
    table = Table(names, options, arrays["architectures"].astype(np.int64), arrays["accuracy"].astype(np.float64),
                  arrays["flops"].astype(np.int64), meta)
    expected = np.stack(np.unravel_index(np.arange(table.accuracy.size), table.choices), axis=1)
    if not np.array_equal(table.architectures, expected) or not np.all(np.isfinite(table.accuracy)):
        raise ValueError(f"{path} is not a complete table in np.ravel_multi_index order")
    return table
