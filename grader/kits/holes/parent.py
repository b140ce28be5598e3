"""Parent side of hole calls (see :mod:`grader.kits.holes`): encode inputs, read replies strictly,
and turn a hole into a function the course's own pipeline can call, autograd included.

* :meth:`Holes.call` — one call of a hole: its outputs (:class:`Value`), the inputs as they were
  after the call, and, with ``upstream``, the gradients with respect to the inputs that require
  grad, all in one round trip (the hidden unit tests use this).
* :meth:`Holes.map` — one hole over many argument sets in one round trip (200 bandit agents'
  steps); scalars packed in arrays.
* :meth:`Holes.function` — a proxy with the hole's signature: tensors in, tensors out, attached to
  the caller's autograd graph by a ``torch.autograd.Function`` whose backward asks the child for
  the vector–Jacobian product on the graph the student's code built (:meth:`Holes.vjp`).
* :func:`load_pipeline` — the course's template (its given code: network, loop, optimizer) as a
  fresh module in the parent, each hole in it replaced by a proxy: the threshold's training loop.

Every value comes back as data: a type is a name, a dtype the frame's, an array a copy; nothing the
child says about itself is believed (a reply that is malformed is the child's failure, said so).
"""

from __future__ import annotations

import ast
import itertools
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.core.suite import CheckFailed, GroupContext

DEFAULT_CALL_SECONDS = 30.0
NUMBER_KINDS = ("int", "float", "bool")
_MAP_KINDS = {0: "int", 1: "float", 2: "bool", 3: "none", 4: "other"}
Check = Callable[["Value", tuple, dict], None]     # (what came back, the call's args, kwargs): raises HoleError
_loads = itertools.count()


class HoleError(CheckFailed):
    """A hole's reply cannot be used as the contract says (wrong kind of value, unreadable reply):
    the check that called it fails with this message."""


# -- what the parent sends --------------------------------------------------------------------
@dataclass(frozen=True)
class AsList:
    """Send ``values`` as a Python list (the contract allows any sequence)."""
    values: Any


@dataclass(frozen=True)
class Rows:
    """:meth:`Holes.map`: row ``i`` of ``values`` (a fresh numpy array) for call ``i``."""
    values: np.ndarray


@dataclass(frozen=True)
class Each:
    """:meth:`Holes.map`: element ``i`` of ``values`` as a Python number for call ``i``."""
    values: np.ndarray


@dataclass(frozen=True)
class Rng:
    """Generator ``index`` of the set ``key`` made by :meth:`Holes.rngs` (``index`` None in a map:
    generator ``i`` for call ``i``)."""
    key: str
    index: int | None = None


def _torch():
    import torch

    return torch


def short_type(name: str) -> str:
    """A type name as a student reads it: ``float`` (not ``builtins.float``), ``numpy.int64``, ``torch.Tensor``,
    and a class of the student's own file by its name (``AlwaysEqual``)."""
    module, _, qualname = name.rpartition(".") if "." in name else ("", "", name)
    top = module.split(".", 1)[0]
    if top in ("numpy", "torch"):
        return name
    return qualname if module else name


def _is_tensor(value: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def encode(value: Any) -> Any:
    """One argument as it travels (the child's ``_decode`` reverses it)."""
    if _is_tensor(value):
        array = value.detach().to("cpu").numpy().copy()
        return {"$t": array, "g": bool(value.requires_grad)}
    if isinstance(value, np.ndarray):
        return {"$a": np.array(value, copy=True)}
    if isinstance(value, AsList):
        return {"$l": np.asarray(value.values)}
    if isinstance(value, Rows):
        return {"$rows": np.ascontiguousarray(value.values)}
    if isinstance(value, Each):
        return {"$each": np.ascontiguousarray(value.values)}
    if isinstance(value, Rng):
        return {"$rng": [value.key, value.index]}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return value


# -- what the child replies -------------------------------------------------------------------
@dataclass(frozen=True)
class Value:
    """One returned value as the child described it: ``kind`` is ``tensor``, ``ndarray``, ``int``,
    ``float``, ``bool``, ``none``, ``tuple``, ``list`` or ``other``; ``type`` the exact type's name."""
    kind: str
    type: str
    array: np.ndarray | None = None
    value: Any = None
    dtype: str = ""
    device: str = ""
    requires_grad: bool = False
    grad_fn: bool = False
    items: tuple[Value, ...] = ()

    @classmethod
    def read(cls, data: Any, depth: int = 0) -> Value:
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or not isinstance(data.get("type"), str):
            raise HoleError("the child's reply could not be read")
        kind, name = data["kind"], data["type"][:200]
        if kind in ("tensor", "ndarray"):
            array = data.get("array")
            if not isinstance(array, np.ndarray):
                raise HoleError("the child's reply could not be read (no array)")
            dtype = str(data.get("dtype", "")) if kind == "tensor" else str(array.dtype)
            return cls(kind, name, array=array, dtype=dtype[:40], device=str(data.get("device", "cpu"))[:20],
                       requires_grad=data.get("requires_grad") is True, grad_fn=data.get("grad_fn") is True)
        if kind in NUMBER_KINDS:
            value = data.get("value")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if not (kind == "bool" and isinstance(value, bool)):
                    raise HoleError("the child's reply could not be read (no number)")
            return cls(kind, name, value=value)
        if kind in ("tuple", "list") and depth == 0 and isinstance(data.get("items"), list):
            return cls(kind, name, items=tuple(cls.read(v, depth + 1) for v in data["items"][:16]))
        return cls(kind if kind in ("none", "other") else "other", name)

    @property
    def leaves(self) -> tuple[Value, ...]:
        """The value itself, or the items of a tuple or list."""
        return self.items if self.kind in ("tuple", "list") else (self,)

    @property
    def tensors(self) -> list[Value]:
        return [v for v in self.leaves if v.kind == "tensor"]

    def describe(self) -> str:
        """How a student reads what came back ("a tensor of shape [3] (float32)", "a float")."""
        if self.kind == "tensor":
            return f"a tensor of shape {list(self.array.shape)} ({self.dtype})"
        if self.kind == "ndarray":
            return f"a numpy array of shape {list(self.array.shape)} ({self.array.dtype})"
        if self.kind in ("tuple", "list"):
            return f"a {self.kind} of {len(self.items)}: " + ", ".join(v.describe() for v in self.items)
        if self.kind in NUMBER_KINDS:
            return f"{'an' if self.kind == 'int' else 'a'} {self.kind} ({self.type})"
        if self.kind == "none":
            return "None"
        return f"an object of type {self.type}"


@dataclass
class Reply:
    """One call's outcome: ``out``; ``after`` (``after_kw``) each argument's values after the call
    (None for arguments that are not arrays); ``grads`` with respect to the inputs that required
    grad, in order (None where no gradient flowed); ``handle`` of the kept graph, if any; ``each``
    (asked with ``eager``, outputs that are all one-element tensors) per tensor output, its gradients
    with respect to those inputs (None for an output without a graph); ``chained`` (asked with
    ``chain``) per chained kept call, its vector–Jacobian product (None where it could not be taken)."""
    out: Value
    after: list[np.ndarray | None] = field(default_factory=list)
    after_kw: dict[str, np.ndarray | None] = field(default_factory=dict)
    grads: list[np.ndarray | None] | None = None
    handle: int | None = None
    each: list[list[np.ndarray | None] | None] | None = None
    chained: list[list[np.ndarray | None] | None] | None = None

    def changed(self, sent: Sequence[Any]) -> list[int]:
        """Positions of the arguments the call modified (compared with what was sent, in the parent)."""
        out = []
        for i, (before, after) in enumerate(zip(sent, self.after)):
            original = _plain(before)
            if original is None:
                continue
            if after is None or after.shape != original.shape or not np.array_equal(after, original, equal_nan=True):
                out.append(i)
        return out


def _plain(value: Any) -> np.ndarray | None:
    if _is_tensor(value):
        return value.detach().to("cpu").numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, AsList):
        return np.asarray(value.values, dtype=np.float64)
    return None


def _upstream(value: Any) -> np.ndarray:
    """An upstream gradient as it travels: a C-ordered copy of its shape (a scalar loss's is 0-d;
    ``np.ascontiguousarray`` would make it shape [1], which autograd refuses)."""
    return np.array(_plain(value) if _is_tensor(value) else value, copy=True, order="C")


def _array_or_none(value: Any, what: str) -> np.ndarray | None:
    if value is None or isinstance(value, np.ndarray):
        return value
    raise HoleError(f"the child's reply could not be read ({what})")


@dataclass
class MapReply:
    """:meth:`Holes.map`'s outcome: per call the kind (``int``, ``float``, ``bool``, ``none``,
    ``other``), the exact type name, the number (ints exact), and the ``Rows`` arguments after."""
    kinds: np.ndarray          # uint8 codes (see _MAP_KINDS)
    ints: np.ndarray
    floats: np.ndarray
    type_names: list[str]
    after: dict[int, np.ndarray]

    def kind(self, i: int) -> str:
        return _MAP_KINDS.get(int(self.kinds[i]), "other")

    def type_name(self, i: int) -> str:
        """Call ``i``'s result type as a student reads it: ``float``, ``list``, ``numpy.int64``, ``mymodule.Thing``."""
        return short_type(self.type_names[i])

    def first_not(self, *kinds: str) -> int | None:
        """The first call whose result is none of ``kinds``, or None."""
        codes = [k for k, v in _MAP_KINDS.items() if v in kinds]
        bad = np.flatnonzero(~np.isin(self.kinds, codes))
        return int(bad[0]) if bad.size else None


# -- the calls ----------------------------------------------------------------------------------
class Holes:
    """The holes of one submission, called through the group's child ``endpoint``.

    ``call_seconds`` bounds one round trip (a hole that never answers costs the check, with the
    child stopped); ``device`` is where the tensors the proxies return live in the parent."""

    def __init__(self, ctx: GroupContext, endpoint: str = "main", call_seconds: float = DEFAULT_CALL_SECONDS,
                 device: str | None = None) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.call_seconds = float(call_seconds)
        self.device = device or ("cuda" if ctx.device == "cuda" else "cpu")
        self.calls = 0

    def _call(self, op: str, doing: str = "", **args: Any) -> Any:
        """Probe ``op``; ``doing`` is what a failure says the child was doing (the student's function)."""
        self.calls += 1
        return self.ctx.call(op, endpoint=self.endpoint, timeout=self.call_seconds, doing=doing, **args)

    def call(self, name: str, *args: Any, seed: int | None = None, upstream: Sequence[Any] | None = None,
             keep: bool = False, eager: bool = False, chain: Sequence[tuple[int, int]] | None = None,
             **kwargs: Any) -> Reply:
        """``name(*args, **kwargs)`` in the child. Tensors that require grad are sent as such; with
        ``upstream`` (one array or None per tensor output, in order) the reply carries the gradients
        with respect to them; ``seed`` seeds torch's global generator in the child first. With
        ``eager`` (a hole that returns losses) the reply carries each one-element output's gradients
        (``Reply.each``) when every tensor output has one element; otherwise, with ``keep``, a handle
        for :meth:`vjp`. ``chain`` (with ``eager``, one output): pairs ``(handle, i)`` of kept calls
        whose output is this call's ``i``-th input that requires grad; the reply then carries each
        kept call's vector–Jacobian product for the upstream this output's gradient with respect to
        that input gives (``Reply.chained``), and the kept graphs stay for another product."""
        request: dict[str, Any] = {"name": name, "args": [encode(a) for a in args],
                                   "kwargs": {k: encode(v) for k, v in kwargs.items()}}
        if seed is not None:
            request["seed"] = int(seed)
        if upstream is not None:
            request["upstream"] = [None if u is None else _upstream(u) for u in upstream]
        if keep:
            request["keep"] = True
        if eager:
            request["eager"] = True
        if chain:
            request["chain"] = [[int(h), int(i)] for h, i in chain]
        raw = self._call("hole", doing=f"running {name}", **request)
        if not isinstance(raw, dict):
            raise HoleError(f"{name}: the child's reply could not be read")
        after = raw.get("after") if isinstance(raw.get("after"), list) else []
        after_kw = raw.get("after_kw") if isinstance(raw.get("after_kw"), dict) else {}
        grads = raw.get("grads")
        if grads is not None and not isinstance(grads, list):
            raise HoleError(f"{name}: the child's reply could not be read (gradients)")
        handle = raw.get("handle")
        each, chained = raw.get("each"), raw.get("chained")
        for nested in (each, chained):
            if nested is not None and not (isinstance(nested, list)
                                           and all(e is None or isinstance(e, list) for e in nested)):
                raise HoleError(f"{name}: the child's reply could not be read (gradients)")
        return Reply(out=Value.read(raw.get("out")),
                     after=[_array_or_none(a, "inputs") for a in after][: len(args)],
                     after_kw={str(k): _array_or_none(v, "inputs") for k, v in after_kw.items()},
                     grads=None if grads is None else [_array_or_none(g, "gradients") for g in grads],
                     handle=handle if isinstance(handle, int) and not isinstance(handle, bool) else None,
                     each=None if each is None else [None if e is None else [_array_or_none(g, "gradients") for g in e]
                                                     for e in each],
                     chained=None if chained is None else [None if e is None else [_array_or_none(g, "gradients")
                                                                                   for g in e] for e in chained])

    def vjp(self, handle: int, upstream: Sequence[Any], name: str = "a hole") -> list[np.ndarray | None]:
        """Gradients with respect to the differentiable inputs of the kept call ``handle`` (of ``name``)."""
        raw = self._call("hole_vjp", doing=f"taking the gradient of {name}", handle=int(handle),
                         upstream=[None if u is None else _upstream(u) for u in upstream])
        grads = raw.get("grads") if isinstance(raw, dict) else None
        if not isinstance(grads, list):
            raise HoleError("the child's reply could not be read (gradients)")
        return [_array_or_none(g, "gradients") for g in grads]

    def rngs(self, key: str, seeds: Sequence[int]) -> None:
        """Make one numpy generator per seed in the child, for ``Rng(key, i)`` arguments."""
        self._call("hole_rngs", key=key, seeds=[int(s) for s in seeds])

    def map(self, name: str, n: int, *args: Any) -> MapReply:
        """``name`` called ``n`` times in one round trip (see :class:`Rows`, :class:`Each`, :class:`Rng`)."""
        raw = self._call("hole_map", doing=f"running {name}", name=name, n=int(n), args=[encode(a) for a in args])
        try:
            kinds, ints, floats, index = (np.asarray(raw[k]) for k in ("kind", "ints", "floats", "type"))
            names = [str(t)[:200] for t in raw["types"]]
            after = {int(k): v for k, v in raw["after"].items() if isinstance(v, np.ndarray)}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise HoleError(f"{name}: the child's reply could not be read") from None
        if any(a.shape != (n,) for a in (kinds, ints, floats, index)) or kinds.dtype.kind != "u":
            raise HoleError(f"{name}: the child's reply could not be read")
        index = np.clip(index.astype(np.int64), 0, max(len(names) - 1, 0))
        return MapReply(kinds=kinds, ints=ints.astype(np.int64), floats=floats.astype(np.float64),
                        type_names=[names[i] if names else "?" for i in index], after=after)

    def many(self, name: str, calls: Sequence[tuple[Sequence[Any], Mapping[str, Any]]]) -> list[Reply]:
        """``name`` called once per ``(args, kwargs)`` of ``calls``, in order, in one round trip (a batch
        of episodes for the course's loop): each call's outputs as :meth:`call` reads them, without the
        inputs after the call or gradients. A call that raises ends the batch."""
        raw = self._call("hole_many", doing=f"running {name}", name=name, calls=[{"args": [encode(a) for a in args],
                                                         "kwargs": {k: encode(v) for k, v in kwargs.items()}}
                                                        for args, kwargs in calls])
        outs = raw.get("outs") if isinstance(raw, dict) else None
        if not isinstance(outs, list) or len(outs) != len(calls):
            raise HoleError(f"{name}: the child's reply could not be read")
        return [Reply(out=Value.read(out)) for out in outs]

    # -- proxies for the course's pipeline ------------------------------------------------------
    def function(self, name: str, check: Check | None = None, eager: bool = False) -> Any:
        """A stand-in for the hole ``name`` in the course's code: called like the student's function,
        it returns what the student's function returned (tensors on the caller's device, arrays,
        numbers), attached to the caller's autograd graph when a tensor input requires grad.

        ``check(value, args, kwargs)`` sees what came back (a :class:`Value`) before the course's code
        does and raises :class:`HoleError` to refuse it ("returned a tensor of shape [3]; a scalar is
        expected"). ``eager``: for a hole that returns losses (one-element tensors), the gradients come
        back with the forward call and the backward pass needs no second round trip (a vector–Jacobian
        product of one-element outputs is a weighted sum of their gradients)."""
        holes = self

        def proxy(*args: Any, **kwargs: Any) -> Any:
            return holes._through(name, args, kwargs, check, eager)

        proxy.__name__ = proxy.__qualname__ = name
        proxy.__doc__ = f"The submission's {name}, called in its sandboxed child."
        return proxy

    def _through(self, name: str, args: tuple, kwargs: dict, check: Check | None = None,
                 eager: bool = False) -> Any:
        inputs = [*args, *kwargs.values()]
        tensors = [v for v in inputs if _is_tensor(v)]
        device = tensors[0].device if tensors else self.device
        if not any(t.requires_grad for t in tensors) or not _torch().is_grad_enabled():
            reply = self.call(name, *args, **kwargs)
            if check is not None:
                check(reply.out, args, kwargs)
            return _rebuild(reply.out, name, device)
        return _Through.run(self, name, args, kwargs, device, check, eager)


def _rebuild(value: Value, name: str, device: Any, tensors: Sequence[Any] | None = None) -> Any:
    """The Python object the course's code gets for ``value`` (``tensors``: the autograd-attached
    tensor leaves to use instead of fresh ones)."""
    if value.kind in ("tuple", "list"):
        queue = list(tensors) if tensors is not None else None
        items = []
        for item in value.items:
            if item.kind == "tensor" and queue is not None:
                items.append(queue.pop(0))
            else:
                items.append(_rebuild(item, name, device))
        return tuple(items) if value.kind == "tuple" else items
    if value.kind == "tensor":
        if tensors:
            return tensors[0]
        return _torch().from_numpy(np.array(value.array, copy=True)).to(device)
    if value.kind == "ndarray":
        return np.array(value.array, copy=True)
    if value.kind in NUMBER_KINDS:
        return value.value
    if value.kind == "none":
        return None
    raise HoleError(f"{name} returned {value.describe()}, which the course's code cannot use")


class _Through:
    """A hole inside the caller's autograd graph: forward in the child (graph kept there), backward
    as the vector–Jacobian product the child computes on it."""

    _function = None

    @classmethod
    def _fn(cls):
        if cls._function is None:
            torch = _torch()

            class HoleFunction(torch.autograd.Function):
                @staticmethod
                def forward(fctx, state, *tensor_inputs):
                    fctx.set_materialize_grads(False)
                    fctx.state = state
                    return tuple(state["outputs"])

                @staticmethod
                def backward(fctx, *grads):
                    state = fctx.state
                    if state["each"] is not None:
                        return (None, *_Through.combine(state, grads))
                    upstream = [None if g is None else g.detach().to("cpu").numpy() for g in grads]
                    if state["handle"] is None or all(u is None for u in upstream):
                        return (None, *[None] * len(state["inputs"]))
                    got = _Through.prefetched(state, upstream)
                    if got is None:
                        got = state["holes"].vjp(state["handle"], upstream, state["name"])
                    grads_in = []
                    wanted = iter(got)
                    for t in state["inputs"]:
                        if not t.requires_grad:
                            grads_in.append(None)
                            continue
                        g = next(wanted, None)
                        if g is None:
                            grads_in.append(None)
                        elif tuple(g.shape) != tuple(t.shape):
                            raise HoleError(f"{state['name']}: the gradient of an input has shape {list(g.shape)}, "
                                            f"the input {list(t.shape)}")
                        else:
                            grads_in.append(torch.from_numpy(np.array(g, copy=True)).to(t.device, t.dtype))
                    return (None, *grads_in)

            cls._function = HoleFunction
        return cls._function

    @staticmethod
    def combine(state: dict, grads: Sequence[Any]) -> list[Any]:
        """The vector–Jacobian product from the gradients of each one-element output (``state["each"]``):
        ``sum_k grads[k] * each[k]``, per input (None where nothing flows)."""
        torch = _torch()
        total: list[Any] = [None] * len(state["inputs"])
        for g, each in zip(grads, state["each"]):
            if g is None or each is None:
                continue
            wanted = iter(each)
            for i, t in enumerate(state["inputs"]):
                if not t.requires_grad:
                    continue
                got = next(wanted, None)
                if got is None:
                    continue
                if tuple(got.shape) != tuple(t.shape):
                    raise HoleError(f"{state['name']}: the gradient of an input has shape {list(got.shape)}, "
                                    f"the input {list(t.shape)}")
                term = torch.from_numpy(np.array(got, copy=True)).to(t.device, t.dtype) * g.reshape(()).to(t.dtype)
                total[i] = term if total[i] is None else total[i] + term
        return total

    @staticmethod
    def prefetched(state: dict, upstream: Sequence[Any]) -> list[np.ndarray | None] | None:
        """The product a later eager call already brought for this kept call (``chain``), if the upstream
        the backward pass gives is the one it was taken for (else None: ask the child)."""
        ready = state.pop("prefetched", None)
        if ready is None or len(upstream) != 1 or upstream[0] is None:
            return None
        expected, grads = ready
        got = upstream[0]
        if got.shape != expected.shape or not np.array_equal(got, expected.astype(got.dtype, copy=False)):
            return None
        return grads

    @staticmethod
    def _chain(holes: Holes, inputs: Sequence[Any]) -> list[tuple[dict, int]]:
        """(producer's state, position among the inputs that require grad) of each input that is the one
        output of a kept call of the same holes: an eager call can bring that call's product along."""
        found = []
        for i, t in enumerate([t for t in inputs if t.requires_grad]):
            producer = getattr(t, "_grader_hole_state", None)
            if (producer is not None and producer["holes"] is holes and producer["handle"] is not None
                    and producer["each"] is None and len(producer["outputs"]) == 1):
                found.append((producer, i))
        return found

    @classmethod
    def run(cls, holes: Holes, name: str, args: tuple, kwargs: dict, device: Any, check: Check | None = None,
            eager: bool = False) -> Any:
        inputs = [v for v in (*args, *kwargs.values()) if _is_tensor(v)]
        chain = cls._chain(holes, inputs) if eager else []
        reply = holes.call(name, *args, keep=True, eager=eager, chain=[(p["handle"], i) for p, i in chain] or None,
                           **kwargs)     # (each, or else a kept graph)
        if check is not None:
            check(reply.out, args, kwargs)
        outputs = [_rebuild(v, name, device) for v in reply.out.tensors]
        if not outputs:
            return _rebuild(reply.out, name, device)
        if reply.each is not None and len(reply.each) != len(outputs):
            raise HoleError(f"{name}: the child's reply could not be read (gradients)")
        if reply.each is not None and len(reply.each) == 1 and reply.each[0] is not None and reply.chained:
            for (producer, i), grads in zip(chain, reply.chained):
                upstream = reply.each[0][i] if i < len(reply.each[0]) else None
                if grads is not None and upstream is not None:
                    producer["prefetched"] = (np.asarray(upstream), grads)
        state = {"holes": holes, "name": name, "handle": reply.handle, "outputs": outputs, "inputs": inputs,
                 "each": reply.each}
        floating = [o.is_floating_point() for o in outputs]
        if not all(floating):      # integer outputs cannot carry a gradient: no graph for them
            return _rebuild(reply.out, name, device)
        attached = cls._fn().apply(state, *inputs)
        if reply.handle is not None and len(attached) == 1:
            attached[0]._grader_hole_state = state       # a later eager call may chain this call's product
        return _rebuild(reply.out, name, device, tensors=list(attached))


# -- the course's pipeline ----------------------------------------------------------------------
def pipeline_holes(source: str) -> list[str]:
    """The top-level functions of a template that are holes: their body raises NotImplementedError."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Raise) and inner.exc is not None:
                    exc = inner.exc.func if isinstance(inner.exc, ast.Call) else inner.exc
                    if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                        found.append(node.name)
                        break
    return found


def load_pipeline(path: Path, holes: Holes | None, names: Sequence[str] | None = None,
                  replace: Mapping[str, Any] | None = None) -> types.ModuleType:
    """The course's template at ``path`` as a fresh module of the parent, each of its holes (or
    ``names``) replaced by ``holes.function(name)``; ``replace`` sets other names (a test's own
    functions). Executed anew for every run: no state is shared between runs or gradings."""
    source = Path(path).read_text(encoding="utf-8")
    module = types.ModuleType(f"_grader_pipeline_{Path(path).stem}_{next(_loads)}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module       # dataclasses and typing look the module up while it runs
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # the course's own template
    finally:
        sys.modules.pop(module.__name__, None)
    if holes is not None:
        for name in (names if names is not None else pipeline_holes(source)):
            setattr(module, name, holes.function(name))
    for name, value in (replace or {}).items():
        setattr(module, name, value)
    return module


class LocalHoles:
    """The same calls as :class:`Holes` on functions of this process (``module``: the reference
    solution), for benches that calibrate a threshold over hundreds of runs without a sandbox.
    Never used for grading: nothing here is isolated."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self._rngs: dict[str, list[np.random.Generator]] = {}

    def rngs(self, key: str, seeds: Sequence[int]) -> None:
        self._rngs[key] = [np.random.default_rng(int(s)) for s in seeds]

    def _value(self, arg: Any, i: int | None) -> Any:
        if isinstance(arg, Rows):
            return np.array(arg.values[i], copy=True)
        if isinstance(arg, Each):
            return arg.values[i].item()
        if isinstance(arg, Rng):
            return self._rngs[arg.key][i if arg.index is None else arg.index]
        if isinstance(arg, AsList):
            return list(np.asarray(arg.values).tolist())
        return arg

    def map(self, name: str, n: int, *args: Any) -> MapReply:
        fn = getattr(self.module, name)
        kinds = np.full(n, 4, dtype=np.uint8)
        ints, floats = np.zeros(n, dtype=np.int64), np.full(n, np.nan)
        names: list[str] = []
        codes = {"int": 0, "float": 1, "bool": 2, "none": 3}
        for i in range(n):
            value = fn(*(self._value(a, i) for a in args))
            t = type(value)
            kind = ("bool" if issubclass(t, (bool, np.bool_)) else "int" if issubclass(t, (int, np.integer))
                    else "float" if issubclass(t, (float, np.floating)) else "none" if value is None else "other")
            kinds[i] = codes.get(kind, 4)
            if kind in ("int", "bool", "float"):
                floats[i] = float(value)
                if kind != "float":
                    ints[i] = int(value)
            names.append(f"{t.__module__}.{t.__qualname__}")
        after = {j: np.asarray(a.values) for j, a in enumerate(args) if isinstance(a, Rows)}
        return MapReply(kinds=kinds, ints=ints, floats=floats, type_names=names, after=after)

    def function(self, name: str) -> Any:
        return getattr(self.module, name)
