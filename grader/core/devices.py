"""``--device auto|cpu|cuda``: resolved once in the parent, passed to every child."""

from __future__ import annotations

DEVICES = ("auto", "cpu", "cuda")


class DeviceError(ValueError):
    pass


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(requested: str) -> str:
    """``auto`` means CUDA when torch sees a GPU; asking for CUDA without one is an error, not a silent CPU run."""
    if requested not in DEVICES:
        raise DeviceError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    if requested == "cpu":
        return "cpu"
    available = cuda_available()
    if requested == "cuda" and not available:
        raise DeviceError("--device cuda was requested but torch sees no CUDA device")
    return "cuda" if available else "cpu"
