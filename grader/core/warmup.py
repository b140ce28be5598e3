"""The grader process's own first-use costs, paid while it waits for a child to start up.

The courses' pipelines train in the grader's process (the VAE, the RL loops, the NAS
controller), and the first ``torch.optim`` call of a process imports ``torch._dynamo``
(≈ 0.8 s on the 2-core machine): paid in the middle of the first training run, it lengthens
every grading by as much. The grading instead hands :func:`torch_training` to its spares
(:meth:`grader.sandbox.spares.Spares.meanwhile`), which run it right after the first child is
told to start, while that child imports Python, torch and the submission on another core.

Nothing here touches the submission, a random generator or a torch setting: the warm-up
steps an optimizer over a tensor of zeros, and is done once per process.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_torch_warmed = False


def torch_training() -> None:
    """Import what the first optimizer step and backward pass of a process import (once per process;
    a failure here is not the grading's: the pipeline then pays the cost, or says the error, itself)."""
    global _torch_warmed
    with _lock:
        if _torch_warmed:
            return
        _torch_warmed = True
    try:
        import torch

        weight = torch.zeros(2, requires_grad=True)
        optimizer = torch.optim.Adam([weight], lr=1e-3)
        optimizer.zero_grad()
        (weight * 2.0).sum().backward()
        optimizer.step()
    except Exception:  # noqa: BLE001 - only a warm-up
        pass
