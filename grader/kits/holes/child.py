"""Child side of hole calls: call one of the student's functions on decoded inputs, describe what it
returned, and (when asked) the vector–Jacobian product of its outputs. Imported as ``holes_child``.

Runs in the sandbox, next to the submission, and decides nothing: it reports raw values (the
outputs as arrays with their real dtype, the inputs as they were after the call, gradients).
Everything it uses from numpy and torch is bound when this module is imported, before the
submission is, so a submission that replaces ``np.array_equal``, ``torch.randn`` or
``torch.Tensor.detach`` in its own process changes what its own code computes, never how the
reply is read: a type is ``type(value)`` (not ``value.__class__``), an ndarray subclass is read
through ``np.ndarray.view`` (not its ``dtype`` property or ``__array__``), a tensor subclass
with its ``__torch_function__`` switched off.

Inputs arrive encoded (see :func:`_decode`): ``{"$t": array, "g": bool}`` a tensor on
``GRADER_DEVICE`` (requiring grad when ``g``), ``{"$a": array}`` a numpy array, ``{"$l": array}``
a Python list, ``{"$rng": [key, i]}`` the ``i``-th generator made by :func:`hole_rngs`; anything
else as it came (numbers, strings, None, lists).
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict

import numpy as np

DEVICE = os.environ.get("GRADER_DEVICE", "cpu")
MAX_HANDLES = 16      # graphs kept for a later hole_vjp; older ones are dropped

# -- bound before the submission is imported ------------------------------------------------
_ndarray = np.ndarray
_generic = np.generic
_view = np.ndarray.view
_copy = np.ndarray.copy
_array = np.array
_empty = np.empty
_full = np.full
_zeros = np.zeros
_default_rng = np.random.default_rng
_float64, _int64, _int32, _uint8 = np.float64, np.int64, np.int32, np.uint8
_item = np.generic.item
_isinstance, _issubclass, _type, _len, _range = isinstance, issubclass, type, len, range
_int, _float, _bool, _str, _tuple, _list, _dict = int, float, bool, str, tuple, list, dict
_int_of, _float_of = int.__int__, float.__float__


def _bind_torch():
    """torch's functions as they are now (torch is preloaded before this module when the assignment
    uses it); None where torch is not loaded (bandits never imports it)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    base = getattr(torch._C, "TensorBase", None) or torch._C._TensorBase
    return {
        "Tensor": torch.Tensor,
        "as_subclass": base.as_subclass,
        "detach": base.detach,
        "to": base.to,
        "numpy": base.numpy,
        "requires_grad_": base.requires_grad_,
        "dtype": base.dtype.__get__,
        "device": base.device.__get__,
        "requires_grad": base.requires_grad.__get__,
        "grad_fn": base.grad_fn.__get__,
        "numel": base.numel,
        "shape": base.shape.__get__,
        "float": base.float,
        "from_numpy": torch.from_numpy,
        "grad": torch.autograd.grad,
        "manual_seed": torch.manual_seed,
        "no_tf": torch._C.DisableTorchFunctionSubclass,
        "float32": torch.float32,
        "numpy_dtypes": {torch.float16, torch.float32, torch.float64, torch.int8, torch.int16, torch.int32,
                         torch.int64, torch.uint8, torch.bool, torch.complex64, torch.complex128},
    }


_T = _bind_torch()


def _warm_up() -> None:
    """Run one tiny backward pass now, while the child waits to be used (started ahead of need, before
    the submission is imported): torch imports modules on its first ``autograd.grad`` with
    ``grad_outputs`` (torch.fx's symbolic shapes and sympy, ≈ 0.4 s), which would otherwise land on the
    first hole call of every grading."""
    if _T is None:
        return
    try:
        x = _T["requires_grad_"](_T["from_numpy"](_zeros(2, dtype=_float64)), True)
        y = (x * 2).sum()
        _T["grad"]([y], [x], grad_outputs=[_T["from_numpy"](_zeros((), dtype=_float64))])   # as _vjp asks
    except Exception:  # noqa: BLE001 - a warm-up only: the real call reports any real problem
        pass


_warm_up()


def _torch():
    global _T
    if _T is None:          # an assignment without torch whose student code imported it: bind now
        import torch  # noqa: F401
        _T = _bind_torch()
    return _T


def _type_name(value) -> str:
    t = _type(value)
    return f"{getattr(t, '__module__', '?')}.{getattr(t, '__qualname__', '?')}"


# -- inputs -----------------------------------------------------------------------------------
def _decode(value, ctx):
    """One argument as the student's function receives it (see the module docstring)."""
    if _type(value) is _dict:
        if "$t" in value:
            T = _torch()
            tensor = T["to"](T["from_numpy"](_copy(value["$t"])), DEVICE)
            if value.get("g"):
                T["requires_grad_"](tensor, True)
            return tensor
        if "$a" in value:
            return _copy(value["$a"])
        if "$l" in value:
            return value["$l"].tolist()
        if "$rng" in value:
            key, index = value["$rng"]
            return ctx.state["rngs"][key][index]
    return value


def _after(value):
    """An argument's values after the call, for the parent to compare with what it sent."""
    t = _type(value)
    if t is _list:
        try:
            return _array(value, dtype=_float64)
        except (TypeError, ValueError):
            return None
    if _issubclass(t, _ndarray):
        return _copy(_view(value, _ndarray))
    if _T is not None and _issubclass(t, _T["Tensor"]):
        return _tensor_array(value)
    return None


# -- outputs ----------------------------------------------------------------------------------
def _tensor_plain(value):
    T = _torch()
    with T["no_tf"]():
        return T["as_subclass"](value, T["Tensor"])


def _tensor_array(value):
    T = _torch()
    plain = _tensor_plain(value)
    with T["no_tf"]():
        data = T["to"](T["detach"](plain), "cpu")
        if T["dtype"](data) not in T["numpy_dtypes"]:      # bfloat16 and friends: values as float32
            data = T["float"](data)
        return _copy(T["numpy"](data))


def describe(value, depth: int = 0) -> dict:
    """What the parent needs to know of one returned value: its kind and exact type name, and its
    numbers (arrays with their real dtype; a tensor's dtype, device and whether it carries a graph)."""
    t = _type(value)
    name = _type_name(value)
    if _T is not None and _issubclass(t, _T["Tensor"]):
        T = _T
        plain = _tensor_plain(value)
        return {"kind": "tensor", "type": name, "dtype": _str(T["dtype"](plain)).replace("torch.", ""),
                "device": T["device"](plain).type, "requires_grad": _bool(T["requires_grad"](plain)),
                "grad_fn": T["grad_fn"](plain) is not None, "array": _tensor_array(plain)}
    if _issubclass(t, _ndarray):
        return {"kind": "ndarray", "type": name, "array": _copy(_view(value, _ndarray))}
    if _issubclass(t, (_bool, np.bool_)):
        return {"kind": "bool", "type": name, "value": _bool(_item(value) if _issubclass(t, _generic) else _int_of(value))}
    if _issubclass(t, _int) or _issubclass(t, np.integer):
        return {"kind": "int", "type": name, "value": _int(_item(value) if _issubclass(t, _generic) else _int_of(value))}
    if _issubclass(t, _float) or _issubclass(t, np.floating):
        return {"kind": "float", "type": name,
                "value": _float(_item(value) if _issubclass(t, _generic) else _float_of(value))}
    if value is None:
        return {"kind": "none", "type": name}
    if (t is _tuple or t is _list) and depth == 0 and _len(value) <= 16:
        return {"kind": "tuple" if t is _tuple else "list", "type": name,
                "items": [describe(v, depth + 1) for v in value]}
    return {"kind": "other", "type": name}


def _tensor_outputs(value) -> list:
    """The tensors among the outputs, in order (the value itself, or the items of a tuple or list)."""
    T = _T
    if T is None:
        return []
    items = value if _type(value) in (_tuple, _list) else (value,)
    return [v for v in items if _issubclass(_type(v), T["Tensor"])]


def _vjp(outputs: list, inputs: list, upstream: list, retain: bool = False) -> list:
    """Gradients of ``sum_k <upstream_k, outputs_k>`` with respect to ``inputs`` (None where none
    flows), computed on the student's own graph (kept for another product with ``retain``)."""
    T = _torch()
    pairs = []
    for out, up in zip(outputs, upstream):
        if up is None or not T["requires_grad"](_tensor_plain(out)):
            continue
        plain = _tensor_plain(out)
        grad = T["to"](T["from_numpy"](_copy(up)), T["device"](plain), T["dtype"](plain))
        pairs.append((plain, grad))
    if not pairs or not inputs:
        return [None] * _len(inputs)
    grads = T["grad"]([p for p, _ in pairs], inputs, grad_outputs=[g for _, g in pairs], allow_unused=True,
                      retain_graph=retain)
    return [None if g is None else _tensor_array(g) for g in grads]


def _each_gradient(outputs: list, inputs: list) -> list | None:
    """For outputs that are all one-element tensors (losses): per output, the gradients of that output
    with respect to ``inputs`` (None for an output that carries no graph), so that the parent can form
    any vector–Jacobian product itself (``sum_k u_k * each[k]``). None when an output has more elements."""
    T = _torch()
    plains = [_tensor_plain(out) for out in outputs]
    if not plains or any(T["numel"](p) != 1 for p in plains):
        return None
    each = []
    for k, plain in enumerate(plains):
        if not T["requires_grad"](plain):
            each.append(None)
            continue
        one = _full(_tuple(T["shape"](plain)), 1.0, dtype=_float64)
        each.append(_vjp([plain], inputs, [one], retain=k < _len(plains) - 1))
    return each


# -- probes -----------------------------------------------------------------------------------
def _function(sub, name):
    fn = getattr(sub, _str(name), None)
    if fn is None or not callable(fn):      # Python's own words: the feedback tells a missing function by them
        raise AttributeError(f"module '{getattr(sub, '__name__', 'submission')}' has no attribute '{name}'")
    return fn


def hole(sub, ctx, name, args=(), kwargs=None, seed=None, upstream=None, keep=False, eager=False, chain=None):
    """Call ``name(*args, **kwargs)`` once; reply its outputs, the inputs after the call and, with
    ``upstream`` (one array or None per tensor output), the gradients with respect to the inputs that
    require grad; with ``keep``, a handle for a later :func:`hole_vjp` on the same graph. With
    ``eager`` and outputs that are all one-element tensors, ``each`` instead of the handle: every
    output's gradients with respect to those inputs, in the same reply (see :func:`_each_gradient`).
    ``chain`` (with ``eager`` and one output): pairs ``[handle, i]`` of kept calls whose output the
    ``i``-th differentiable input is; ``chained`` then holds each one's gradients for the upstream
    ``each[0][i]`` (None where it cannot be taken), its graph kept for a later :func:`hole_vjp`."""
    fn = _function(sub, name)
    values = [_decode(a, ctx) for a in args]
    named = {_str(k): _decode(v, ctx) for k, v in (kwargs or {}).items()}
    if seed is not None:
        _torch()["manual_seed"](_int(seed))
    result = fn(*values, **named)
    reply = {"out": describe(result), "after": [_after(v) for v in values],
             "after_kw": {k: _after(v) for k, v in named.items()}}
    T = _T
    differentiable = [] if T is None else [v for v in (*values, *named.values())
                                           if _issubclass(_type(v), T["Tensor"]) and T["requires_grad"](v)]
    if upstream is not None:
        reply["grads"] = _vjp(_tensor_outputs(result), differentiable, upstream)
    elif eager and differentiable and (each := _each_gradient(_tensor_outputs(result), differentiable)) is not None:
        reply["each"] = each
        if chain:
            reply["chained"] = [_chained(ctx, each, link) for link in chain]
    elif keep and differentiable:
        handles = ctx.state.setdefault("hole_handles", OrderedDict())
        ctx.state["hole_next"] = handle = ctx.state.get("hole_next", 0) + 1
        handles[handle] = (_tensor_outputs(result), differentiable)
        while _len(handles) > MAX_HANDLES:
            handles.popitem(last=False)
        reply["handle"] = handle
    return reply


def _chained(ctx, each, link):
    """The product of the kept call ``link[0]`` for the upstream ``each[0][link[1]]``, or None."""
    handles = ctx.state.get("hole_handles", {})
    try:
        handle, i = _int(link[0]), _int(link[1])
        upstream = each[0][i] if _len(each) == 1 and each[0] is not None and 0 <= i < _len(each[0]) else None
        if upstream is None or handle not in handles:
            return None
        outputs, inputs = handles[handle]
        return _vjp(outputs, inputs, [upstream], retain=True)
    except Exception:       # noqa: BLE001 - the student's backward raised: the parent asks again and hears it
        return None


def hole_vjp(sub, ctx, handle, upstream):
    """The gradients with respect to the differentiable inputs of the call ``handle`` (see
    :func:`hole`), for the upstream gradients of its tensor outputs; the graph is freed."""
    handles = ctx.state.get("hole_handles", {})
    if handle not in handles:
        raise LookupError(f"no graph kept for call {handle} (more than {MAX_HANDLES} calls since)")
    outputs, inputs = handles.pop(handle)
    return {"grads": _vjp(outputs, inputs, upstream)}


def hole_rngs(sub, ctx, key, seeds):
    """numpy generators, one per seed, kept under ``key`` for later calls (``{"$rng": [key, i]}``)."""
    ctx.state.setdefault("rngs", {})[_str(key)] = [_default_rng(_int(s)) for s in seeds]
    return {"count": _len(seeds)}


_KINDS = {"int": 0, "float": 1, "bool": 2, "none": 3}


def hole_map(sub, ctx, name, n, args):
    """``name`` called ``n`` times, the ``i``-th time with column ``i`` of each argument:
    ``{"$rows": A}`` row ``A[i]`` (a fresh array), ``{"$each": a}`` element ``a[i]`` as a Python
    number, ``{"$rng": [key, None]}`` generator ``i`` of ``key``, anything else (``{"$rng": [key, j]}``
    too) the same every time.
    Scalar results are packed: ``kind`` (0 int, 1 float, 2 bool, 3 None, 4 other), ``ints``,
    ``floats``, ``type`` (an index into ``types``); ``after`` holds each ``$rows`` argument's rows as
    they were after their call. A call that raises stops the map."""
    fn = _function(sub, name)
    n = _int(n)
    columns, rows_after = [], {}
    for j, spec in enumerate(args):
        if _type(spec) is _dict and "$rows" in spec:
            rows_after[j] = _copy(spec["$rows"])
            columns.append(("rows", spec["$rows"]))
        elif _type(spec) is _dict and "$each" in spec:
            columns.append(("each", spec["$each"].tolist()))
        elif _type(spec) is _dict and "$rng" in spec and spec["$rng"][1] is None:
            columns.append(("rng", ctx.state["rngs"][_str(spec["$rng"][0])]))
        else:
            columns.append(("same", _decode(spec, ctx)))
    kind = _full(n, 4, dtype=_uint8)
    ints = _zeros(n, dtype=_int64)
    floats = _full(n, np.nan, dtype=_float64)
    type_index = _zeros(n, dtype=_int32)
    types: dict[str, int] = {}
    for i in _range(n):
        call = []
        for how, data in columns:
            call.append(_copy(data[i]) if how == "rows" else data[i] if how in ("each", "rng") else data)
        got = describe(fn(*call), depth=1)
        k = _KINDS.get(got["kind"], 4)
        kind[i] = k
        if k in (0, 2):
            ints[i] = _int(got["value"])
            floats[i] = _float(got["value"])
        elif k == 1:
            floats[i] = got["value"]
        type_index[i] = types.setdefault(got["type"], _len(types))
        for j in rows_after:
            value = call[j]
            plain = _view(value, _ndarray) if _issubclass(_type(value), _ndarray) else None
            if plain is not None and plain.shape == rows_after[j][i].shape:
                rows_after[j][i] = plain
            elif rows_after[j].dtype.kind == "f":
                rows_after[j][i] = np.nan     # replaced by something else: "changed"
            else:
                rows_after[j][i] = -1
    return {"kind": kind, "ints": ints, "floats": floats, "type": type_index, "types": _list(types),
            "after": {_str(j): a for j, a in rows_after.items()}}


def hole_many(sub, ctx, name, calls):
    """``name`` called once per entry of ``calls`` (``{"args": [...], "kwargs": {...}}``, each argument
    encoded as for :func:`hole`), in order: ``outs``, each call's output described (no inputs after
    the call, no gradients: a batch of episodes for the course's loop). A call that raises ends it."""
    fn = _function(sub, name)
    outs = []
    for call in calls:
        values = [_decode(a, ctx) for a in call.get("args", ())]
        named = {_str(k): _decode(v, ctx) for k, v in (call.get("kwargs") or {}).items()}
        outs.append(describe(fn(*values, **named)))
    return {"outs": outs}
