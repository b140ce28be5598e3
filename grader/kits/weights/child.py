"""Child side of the ``weights`` kit: a module's ``state_dict`` out as arrays, and back in.

Copied next to ``probes.py`` in the sandboxed child (imported as ``weights_child``). Only
tensors cross: names, numpy arrays (on the CPU) and torch dtype names, never pickles. The
parent checks what it receives (``grader.kits.weights.parent.check_state``) before it sends
the same arrays to a fresh child, which loads them into a module it built itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _dtype_name(tensor: Any) -> str:
    return str(tensor.dtype).replace("torch.", "")


def export_state(model: Any) -> dict[str, Any]:
    """``model.state_dict()`` as ``{"names", "arrays", "dtypes"}``, or ``{"error": ...}`` saying why not.

    An entry that is not a tensor (``get_extra_state``) is refused, since it could be any
    object; so are sparse and quantized tensors. bfloat16 (which numpy lacks) travels as
    float32, exactly, and is cast back on load.
    """
    import torch

    state = model.state_dict()
    names, arrays, dtypes = [], [], []
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            return {"error": f"state_dict entry {name!r} is {_type_name(value)}, not a tensor: the grader rebuilds "
                             "the model from its parameters and buffers (tensors) only"}
        if value.is_sparse or value.is_quantized:
            return {"error": f"state_dict entry {name!r} is a sparse or quantized tensor; use dense tensors"}
        data = value.detach().to("cpu")
        if data.dtype == torch.bfloat16:
            data = data.float()
        names.append(str(name))
        arrays.append(data.numpy())
        dtypes.append(_dtype_name(value))
    return {"names": names, "arrays": arrays, "dtypes": dtypes}


def load_state(model: Any, state: dict[str, Any], built_by: str) -> str:
    """Load the exported ``state`` into ``model`` (built afresh by ``built_by``, e.g. "with args.epochs = 0,
    train"), ``strict=True``. Returns "" on success, else what differs, naming the entries."""
    import torch

    names, arrays, dtypes = state["names"], state["arrays"], state["dtypes"]
    own = model.state_dict()
    sent = set(names)
    missing = [n for n in own if n not in sent]
    unexpected = [n for n in names if n not in own]
    if missing or unexpected:
        return (f"{built_by} built a different architecture: its state_dict "
                + " and ".join(part for part in (
                    f"lacks {unexpected[:5]} of the trained model" if unexpected else "",
                    f"has {missing[:5]}, which the trained model lacks" if missing else "") if part))
    loaded = {}
    for name, array, dtype in zip(names, arrays, dtypes):
        target = own[name]
        if not isinstance(target, torch.Tensor):
            return f"state_dict entry {name!r} of the rebuilt model is {_type_name(target)}, not a tensor"
        if tuple(target.shape) != tuple(array.shape) or _dtype_name(target) != dtype:
            return (f"{built_by} built a different architecture: {name!r} is {tuple(target.shape)} "
                    f"{_dtype_name(target)} there, {tuple(array.shape)} {dtype} in the trained model")
        loaded[name] = torch.from_numpy(np.ascontiguousarray(array)).to(target.dtype)
    try:
        model.load_state_dict(loaded, strict=True)
    except RuntimeError as exc:
        return f"load_state_dict(strict=True) refused the trained state: {str(exc)[:400]}"
    return ""
