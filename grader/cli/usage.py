"""Wrong use of the command: one line on stderr, exit status 2 (shared by every subcommand)."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    """Wrong use of the command: reported on one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def names_list(arg: str | None) -> list[str]:
    """'a, b,c' → ['a', 'b', 'c'] (for --only and the like); None → []."""
    return [s.strip() for s in arg.split(",") if s.strip()] if arg else []


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
