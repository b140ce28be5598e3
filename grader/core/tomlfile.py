"""TOML, from the standard library where it has it (3.11+), else from ``tomli`` (3.10)."""

from __future__ import annotations

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

TOMLDecodeError = tomllib.TOMLDecodeError
loads = tomllib.loads
