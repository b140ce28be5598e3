"""How a child is walled off from the machine: the seam for namespaces.

``Isolation.wrap`` turns the plain child command into the command that runs
it in isolation. ``NoIsolation`` only relies on rlimits, a scrubbed
environment and a private work directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Isolation(Protocol):
    name: str

    def wrap(self, argv: list[str], workdir: Path) -> list[str]:
        """Command line that runs ``argv`` isolated, with ``workdir`` as its only writable place."""

    def describe(self) -> str:
        """One line for the result's output: what protection the child had."""


@dataclass(frozen=True)
class NoIsolation:
    name: str = "none"

    def wrap(self, argv: list[str], workdir: Path) -> list[str]:
        return argv

    def describe(self) -> str:
        return "sandbox: rlimits, scrubbed environment and private work directory (no namespaces)"


def select_isolation(require: bool = False) -> Isolation:
    """The strongest isolation available here."""
    if require:
        raise RuntimeError("namespace isolation is not available on this machine")
    return NoIsolation()
