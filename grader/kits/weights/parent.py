"""Parent side of the ``weights`` kit: check a child's exported ``state_dict`` before passing it on."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.core.suite import CheckFailed


def check_state(reply: Any, what: str = "the trained model") -> dict[str, list]:
    """The exported state as ``{"names", "arrays", "dtypes"}`` (data only, names unique), or a
    CheckFailed that says what was wrong. Run before the state is sent to a fresh child."""
    if not isinstance(reply, dict):
        raise CheckFailed(f"{what}'s state_dict could not be read")
    if "error" in reply:
        raise CheckFailed(str(reply["error"]))
    names, arrays, dtypes = reply.get("names"), reply.get("arrays"), reply.get("dtypes")
    if not (isinstance(names, list) and isinstance(arrays, list) and isinstance(dtypes, list)
            and len(names) == len(arrays) == len(dtypes) and len(set(map(str, names))) == len(names)
            and all(isinstance(n, str) for n in names + dtypes)
            and all(isinstance(a, np.ndarray) for a in arrays)):
        raise CheckFailed(f"{what}'s state_dict could not be read as named tensors")
    if not names:
        raise CheckFailed(f"{what} has no parameters or buffers (empty state_dict)")
    return {"names": names, "arrays": arrays, "dtypes": dtypes}


def shapes(state: dict[str, list], limit: int = 64) -> dict[str, list[int]]:
    """Entry name → shape, for the results file (the first ``limit`` entries)."""
    return {k: list(v.shape) for k, v in list(zip(state["names"], state["arrays"]))[:limit]}
