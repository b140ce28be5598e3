"""Code a hand-in runs from strings, found by reading it (never by running it), for the similarity report.

``exec(r'''def f(x): ...''')`` or ``exec(base64.b64decode('ZGVm...'))`` defines the same functions as
writing them out, but a tokenizer sees one string. :func:`code_in_strings` finds every call of the
builtins ``exec``, ``eval`` and ``compile`` (also through ``builtins.exec``, ``getattr(builtins, 'exec')``
or a name bound to one of them) and works out, from the syntax tree alone, the source each one is given:

* string and bytes literals, f-strings without fields, ``+`` of such, ``''.join([...])``, ``s[::-1]``,
  ``.decode()`` / ``.encode()``, ``str(b, 'utf-8')``;
* decoded by the standard library on those literals: ``base64`` (``b64decode`` and its kin), ``binascii``
  (``unhexlify``, ``a2b_base64``), ``bytes.fromhex``, ``codecs.decode``/``encode`` with a known codec
  (hex, base64, rot13, zlib, bz2, text encodings), ``zlib``/``gzip``/``bz2``/``lzma`` decompression
  (always with a limit on the output: a compressed bomb costs nothing), nested to any depth the budget allows;
* a name bound to such a value (``src = '...'`` then ``exec(src)``, ``+=`` included), a function's parameter
  (its callers' arguments in the file), ``compile(...)``'s result passed to ``exec``;
* and the decoded code itself, searched again the same way (an ``exec`` inside an ``exec``), up to
  :data:`MAX_DEPTH` levels.

Each decoded source becomes a :class:`Piece` that the report compares as the hand-in's own code. A call
whose source cannot be worked out this way (read from a file, built in a loop, ``exec`` passed around as a
value, nested deeper than :data:`MAX_DEPTH`) is a :class:`Piece` without code: the report says that the
hand-in runs code built from strings that was not compared, instead of staying silent.

Everything produced counts against a budget (the report's per-file cap): decoded code beyond it raises
:class:`TooLarge`, and the total work (intermediate values included) is bounded by a multiple of it.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import codecs
import io
import lzma
import re
import tokenize
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

SINKS = ("exec", "eval", "compile")
# Text without any of these cannot reach a sink the analysis follows (``model.eval()`` is not one)
MENTIONS = re.compile(r"(?<![.\w])(?:exec|eval|compile)\b|builtins")
MAX_DEPTH = 6           # exec of code that execs code that ... (levels of decoded code searched)
MAX_NESTING = 40        # depth of one expression's resolution (a name's value's name's value ...)
MAX_CANDIDATES = 16     # values one expression may take (a name assigned in several places)
WORK_FACTOR = 8         # all values built while resolving, in all, at most this many times the budget


class TooLarge(Exception):
    """The decoded code (or the work to decode it) exceeds the budget."""


class _Unknown(Exception):
    """This expression's value cannot be told from the syntax alone."""


class _Compiled:
    """The value of ``compile(...)``: its source is already a piece of its own."""


COMPILED = _Compiled()


@dataclass
class Piece:
    line: int               # line of the call, in the code it was found in
    call: str               # 'exec', 'eval' or 'compile'
    how: str                # how the source was given: 'a string', 'base64', 'zlib of base64', ...
    depth: int              # 0: in the file's own code; 1: in code decoded from it; ...
    code: str | None        # the decoded source; None when it cannot be told

    def describe(self) -> str:
        """'exec of zlib of base64 at line 3'; 'exec(…) at line 3: code built at run time' (not decoded)."""
        where = f"line {self.line}" + (f" of code decoded from a string (level {self.depth})" if self.depth else "")
        if self.code is None:
            return f"{self.call}(…) at {where}: {self.how}"
        return f"{self.call} of {self.how} at {where}"


@dataclass
class _Budget:
    left: int               # bytes of decoded code still allowed
    work: int               # bytes of values (intermediate ones included) still allowed

    def spend_work(self, n: int) -> None:
        self.work -= n
        if self.work < 0:
            raise TooLarge("decoding its strings needs more work than the cap allows")


@dataclass
class _Value:
    """A value the resolver built: the text, and how it was decoded (for the report)."""
    data: str | bytes | _Compiled
    how: tuple[str, ...] = ()


def _size(data: str | bytes) -> int:
    return len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))


def source_text(data: str | bytes) -> str:
    """What ``exec`` would read from ``data``: bytes are decoded as Python decodes a source file (PEP 263)."""
    if isinstance(data, str):
        return data
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        raise _Unknown(f"not source text ({type(exc).__name__})") from None


# -- decoders: data in, data out; limits on every output ------------------------------------
def _bytes(data: str | bytes) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("ascii")
        except UnicodeEncodeError:
            raise _Unknown("not ASCII") from None
    return data


def _decompress(make: Callable[[], object], limit: int) -> Callable[[str | bytes], bytes]:
    def run(data: str | bytes) -> bytes:
        if not isinstance(data, bytes):
            raise _Unknown("decompressing a str")
        out = make().decompress(data, limit + 1)        # type: ignore[attr-defined]
        if len(out) > limit:
            raise TooLarge("a compressed string decompresses beyond the cap")
        return out
    return run


BASE64 = {"b64decode": base64.b64decode, "standard_b64decode": base64.standard_b64decode,
          "urlsafe_b64decode": base64.urlsafe_b64decode, "decodebytes": base64.decodebytes,
          "b32decode": base64.b32decode, "b16decode": base64.b16decode, "a85decode": base64.a85decode,
          "b85decode": base64.b85decode}
BINASCII = {"unhexlify": binascii.unhexlify, "a2b_hex": binascii.a2b_hex, "a2b_base64": binascii.a2b_base64}
TEXT_CODECS = {"utf_8", "utf8", "u8", "ascii", "latin_1", "latin1", "iso8859_1", "iso_8859_1", "cp1252", "utf_16",
               "utf_32", "unicode_escape", "raw_unicode_escape"}


def _codec(name: str, limit: int, decode: bool) -> tuple[str, Callable[[str | bytes], str | bytes]]:
    """(what to call it, the function) for ``codecs.decode(x, name)``; _Unknown for any other codec."""
    key = name.lower().replace("-", "_").replace(" ", "_")
    if key in ("hex", "hex_codec"):
        return "hex", (lambda d: binascii.unhexlify(_bytes(d))) if decode else (lambda d: binascii.hexlify(_bytes(d)))
    if key in ("base64", "base_64", "base64_codec"):
        return "base64", (lambda d: base64.b64decode(_bytes(d))) if decode else (lambda d: base64.b64encode(_bytes(d)))
    if key in ("rot13", "rot_13"):
        return "rot13", lambda d: codecs.decode(d if isinstance(d, str) else source_text(d), "rot13")
    if decode and key in ("zlib", "zip", "zlib_codec"):
        return "zlib", _decompress(zlib.decompressobj, limit)
    if decode and key in ("bz2", "bz2_codec"):
        return "bz2", _decompress(bz2.BZ2Decompressor, limit)
    if key in TEXT_CODECS:
        if decode:
            return "", lambda d: _bytes(d).decode(key) if isinstance(d, str) else d.decode(key)
        return "", lambda d: d.encode(key) if isinstance(d, str) else d
    raise _Unknown(f"codec {name!r}")


# -- the resolver -----------------------------------------------------------------------------
@dataclass
class _Binding:
    kind: str                       # 'assign', 'augadd', 'param', 'import', 'def', 'other'
    node: ast.AST | None = None     # the value (assign, augadd), the function (param)
    index: int = -1                 # the parameter's position
    name: str = ""                  # the imported dotted name (import), the parameter's name (param)


@dataclass
class _Scope:
    """One parsed piece of code: who binds which name, and which functions are called where."""
    tree: ast.Module
    parent: _Scope | None = None
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    calls: list[ast.Call] = field(default_factory=list)
    sink_names: list[ast.Name] = field(default_factory=list)   # exec, eval, compile read as names

    def __post_init__(self) -> None:
        handled: set[int] = set()       # names bound with a known value by their statement (seen before them)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                self.calls.append(node)
            elif isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    if node.id in SINKS:
                        self.sink_names.append(node)
                elif id(node) not in handled:   # for/with/del/comprehension targets, tuples: value unknown
                    self._bind(node.id, _Binding("other"))
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        handled.add(id(target))
                        self._bind(target.id, _Binding("assign", node.value))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
                if isinstance(node.target, ast.Name):
                    add = isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add)
                    kind = "augadd" if add else "other" if isinstance(node, ast.AugAssign) or node.value is None \
                        else "assign"
                    handled.add(id(node.target))
                    self._bind(node.target.id, _Binding(kind, node.value))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                args = node.args
                positional = [*args.posonlyargs, *args.args]
                for i, arg in enumerate(positional):
                    self._bind(arg.arg, _Binding("param", node, i, arg.arg))
                for arg in [*args.kwonlyargs, *([args.vararg] if args.vararg else []),
                            *([args.kwarg] if args.kwarg else [])]:
                    self._bind(arg.arg, _Binding("param", node, -1, arg.arg))
                if not isinstance(node, ast.Lambda):
                    self._bind(node.name, _Binding("def", node))
            elif isinstance(node, ast.ClassDef):
                self._bind(node.name, _Binding("other"))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if isinstance(node, ast.Import):
                        local = alias.asname or alias.name.split(".")[0]
                        dotted = alias.name if alias.asname else local
                    else:
                        local = alias.asname or alias.name
                        dotted = f"{node.module or ''}.{alias.name}" if not node.level else f".{alias.name}"
                    self._bind(local, _Binding("import", name=dotted))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self._bind(node.name, _Binding("other"))
            elif type(node).__name__ in ("MatchAs", "MatchStar", "MatchMapping"):   # match captures: value unknown
                for captured in (getattr(node, "name", None), getattr(node, "rest", None)):
                    if captured:
                        self._bind(captured, _Binding("other"))

    def _bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def lookup(self, name: str) -> list[_Binding] | None:
        """The bindings of ``name`` here, else in the code that ran this code; None when bound nowhere."""
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.bindings:
                return scope.bindings[name]
            scope = scope.parent
        return None


def _const_str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Resolver:
    def __init__(self, scope: _Scope, budget: _Budget):
        self.scope = scope
        self.budget = budget
        self.active: set[int] = set()           # nodes being resolved (a name defined by itself is unknown)
        self.memo: dict[int, list[_Value]] = {}

    # -- what a callee is ----------------------------------------------------------------
    def dotted(self, node: ast.AST, depth: int = 0) -> str | None:
        """``base64.b64decode`` for ``b64.b64decode`` after ``import base64 as b64``; builtins as ``builtins.X``."""
        if depth > MAX_NESTING:
            return None
        if isinstance(node, ast.Name):
            bindings = self.scope.lookup(node.id)
            if bindings is None:
                return "builtins." + node.id if node.id != "__builtins__" else "builtins"
            names = set()
            for b in bindings:
                if b.kind == "import":
                    names.add(b.name)
                elif b.kind == "assign" and b.node is not None and id(b.node) not in self.active:
                    self.active.add(id(b.node))
                    try:
                        names.add(self.dotted(b.node, depth + 1))
                    finally:
                        self.active.discard(id(b.node))
                else:
                    return None
            return names.pop() if len(names) == 1 else None
        if isinstance(node, ast.Attribute):
            base = self.dotted(node.value, depth + 1)
            if base == "builtins.__dict__":
                return None
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call) and not node.keywords:
            func = self.dotted(node.func, depth + 1)
            if func in ("builtins.__import__", "importlib.import_module") and node.args:
                return _const_str(node.args[0])
            if func == "builtins.getattr" and len(node.args) >= 2:
                base = self.dotted(node.args[0], depth + 1)
                attr = _const_str(node.args[1])
                return f"{base}.{attr}" if base and attr else None
        if isinstance(node, ast.Subscript):
            base = self.dotted(node.value, depth + 1)
            key = _const_str(node.slice)
            if base in ("builtins", "builtins.__dict__", "sys.modules") and key:
                return key if base == "sys.modules" else f"builtins.{key}"
        return None

    def sink(self, call: ast.Call) -> str | None:
        """'exec', 'eval' or 'compile' when ``call`` calls that builtin; '?' when it calls a builtin
        looked up by a name the syntax does not give (``getattr(builtins, name)``)."""
        name = self.dotted(call.func)
        if name and name.startswith("builtins.") and name[len("builtins."):] in SINKS:
            return name[len("builtins."):]
        func = call.func
        if isinstance(func, ast.Name):      # run = exec, and run also a loop variable elsewhere: still exec here
            for b in self.scope.lookup(func.id) or ():
                alias = self.dotted(b.node) if b.kind == "assign" and b.node is not None else None
                if alias and alias.startswith("builtins.") and alias[len("builtins."):] in SINKS:
                    return alias[len("builtins."):]
        if isinstance(func, ast.Call) and self.dotted(func.func) == "builtins.getattr" and func.args \
                and self.dotted(func.args[0]) == "builtins" and (len(func.args) < 2 or _const_str(func.args[1]) is None):
            return "?"
        return None

    # -- what a value is --------------------------------------------------------------------
    def values(self, node: ast.AST, depth: int = 0) -> list[_Value]:
        if depth > MAX_NESTING:
            raise _Unknown("nested too deep")
        key = id(node)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            raise _Unknown("defined by itself")
        self.active.add(key)
        try:
            found = self._values(node, depth)
        finally:
            self.active.discard(key)
        if len(found) > MAX_CANDIDATES:
            raise _Unknown("too many possible values")
        for v in found:
            if not isinstance(v.data, _Compiled):
                self.budget.spend_work(_size(v.data))
        self.memo[key] = found
        return found

    def value(self, node: ast.AST, depth: int) -> _Value:
        found = self.values(node, depth)
        if len(found) != 1:
            raise _Unknown("several possible values")
        return found[0]

    def _values(self, node: ast.AST, depth: int) -> list[_Value]:
        d = depth + 1
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return [_Value(node.value)]
        if isinstance(node, ast.JoinedStr):
            parts = [self.value(v, d) for v in node.values]
            if all(isinstance(p.data, str) for p in parts):
                return [_Value("".join(p.data for p in parts), _merge(parts))]   # type: ignore[misc]
            raise _Unknown("an f-string")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            out = []
            for left in self.values(node.left, d):
                for right in self.values(node.right, d):
                    if type(left.data) is not type(right.data) or isinstance(left.data, _Compiled):
                        raise _Unknown("adding different types")
                    self.budget.spend_work(_size(left.data) + _size(right.data))     # type: ignore[arg-type]
                    out.append(_Value(left.data + right.data, _merge([left, right])))  # type: ignore[operator]
            return out
        if isinstance(node, ast.Name):
            return self._name(node, d)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
            s = node.slice
            bounds = [None if b is None else _int(b) for b in (s.lower, s.upper, s.step)]
            return [_Value(_data(v)[slice(*bounds)], v.how) for v in self.values(node.value, d)]
        if isinstance(node, ast.Call):
            return self._call(node, d)
        raise _Unknown(type(node).__name__)

    def _name(self, node: ast.Name, depth: int) -> list[_Value]:
        bindings = self.scope.lookup(node.id)
        if not bindings:
            raise _Unknown(f"{node.id} is bound nowhere in the file")
        out: list[_Value] = []
        current: list[_Value] | None = None
        for b in bindings:
            if b.kind == "assign":
                if current is not None:
                    out += current
                current = self.values(b.node, depth) if b.node is not None else _unknown("no value")
            elif b.kind == "augadd" and current is not None and b.node is not None:
                added = self.values(b.node, depth)
                current = [_Value(_plus(c, a, self.budget), _merge([c, a])) for c in current for a in added]
            elif b.kind == "param":
                if current is not None:
                    out += current
                current = self._arguments(b, depth)
            else:
                raise _Unknown(f"{node.id} is bound by {b.kind}")
            if current is not None and len(current) > MAX_CANDIDATES:
                raise _Unknown("too many possible values")
        return out + (current or [])

    def _arguments(self, binding: _Binding, depth: int) -> list[_Value]:
        """The values a function's parameter takes: its callers' arguments (by position or keyword) and
        its default; unknown if the function is never called by name in the file."""
        func = binding.node
        assert isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if isinstance(func, ast.Lambda) or binding.index < 0:
            raise _Unknown("a lambda's or keyword-only parameter")
        positional = [*func.args.posonlyargs, *func.args.args]
        defaults = dict(zip([a.arg for a in positional][len(positional) - len(func.args.defaults):], func.args.defaults))
        method = bool(positional) and positional[0].arg in ("self", "cls")
        out: list[_Value] = []
        called = False
        for call in self._all_calls():
            direct = isinstance(call.func, ast.Name) and call.func.id == func.name
            via_attr = isinstance(call.func, ast.Attribute) and call.func.attr == func.name
            if not (direct or via_attr):
                continue
            called = True
            index = binding.index - (1 if via_attr and method else 0)
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                raise _Unknown("called with *args or **kwargs")
            given = [k.value for k in call.keywords if k.arg == binding.name]
            if 0 <= index < len(call.args):
                given.append(call.args[index])
            if given:
                out += self.values(given[0], depth)
            elif binding.name in defaults:
                out += self.values(defaults[binding.name], depth)
            else:
                raise _Unknown("a parameter without an argument")
            if len(out) > MAX_CANDIDATES:
                raise _Unknown("too many possible values")
        if not called:
            raise _Unknown(f"{func.name}() is never called by name")
        return out

    def _all_calls(self) -> Iterator[ast.Call]:
        scope: _Scope | None = self.scope
        while scope is not None:
            yield from scope.calls
            scope = scope.parent

    def _call(self, node: ast.Call, depth: int) -> list[_Value]:
        name = self.dotted(node.func) or ""
        module, _, func = name.rpartition(".")
        if self.sink(node) == "compile":
            return [_Value(COMPILED)]
        args = node.args
        kwargs = {k.arg: k.value for k in node.keywords if k.arg}
        if any(isinstance(a, ast.Starred) for a in args) or len(kwargs) != len(node.keywords):
            raise _Unknown("*args or **kwargs")
        limit = self.budget.left

        def each(arg: ast.AST, how: str, fn: Callable[[str | bytes], str | bytes]) -> list[_Value]:
            out = []
            for v in self.values(arg, depth):
                try:
                    data = fn(_data(v))
                except (ValueError, TypeError, binascii.Error, zlib.error, OSError, EOFError, LookupError,
                        lzma.LZMAError) as exc:
                    raise _Unknown(f"{how}: {type(exc).__name__}") from None
                if _size(data) > 2 * max(limit, 0):
                    raise TooLarge("a decoded string exceeds the cap")
                out.append(_Value(data, (*v.how, how) if how else v.how))
            return out

        # module functions (whatever the module was imported as)
        if module == "base64" and func in BASE64 and args:
            return each(args[0], "base64" if "64" in func else func.replace("decode", ""), BASE64[func])
        if module == "binascii" and func in BINASCII and args:
            return each(args[0], "hex" if "hex" in func else "base64", BINASCII[func])
        if module in ("builtins.bytes", "builtins.bytearray") and func == "fromhex" and args:
            return each(args[0], "hex", lambda d: bytes.fromhex(d if isinstance(d, str) else d.decode("ascii")))
        if module == "codecs" and func in ("decode", "encode") and args:
            codec = args[1] if len(args) > 1 else kwargs.get("encoding")
            codec_name = "utf-8" if codec is None else _const_str(codec)
            if codec_name is None:
                raise _Unknown("a computed codec")
            how, fn = _codec(codec_name, limit, func == "decode")
            return each(args[0], how, fn)
        if name in ("zlib.decompress", "gzip.decompress", "bz2.decompress", "lzma.decompress") and args:
            wbits = zlib.MAX_WBITS if module == "zlib" else 31
            extra = args[1] if len(args) > 1 else kwargs.get("wbits")
            if module == "zlib" and extra is not None:
                if not (isinstance(extra, ast.Constant) and isinstance(extra.value, int)):
                    raise _Unknown("computed wbits")
                wbits = extra.value
            make = {"zlib": lambda: zlib.decompressobj(wbits), "gzip": lambda: zlib.decompressobj(31),
                    "bz2": bz2.BZ2Decompressor, "lzma": lzma.LZMADecompressor}[module]
            return each(args[0], module, _decompress(make, limit))
        if name in ("builtins.str", "builtins.bytes", "builtins.bytearray") and len(args) >= 1:
            encoding = _const_str(args[1]) if len(args) > 1 else _const_str(kwargs.get("encoding"))
            if len(args) == 1 and not kwargs:
                found = self.values(args[0], depth)
                if name != "builtins.str" or not all(isinstance(v.data, str) for v in found):
                    raise _Unknown(f"{name}() of a value")
                return found
            if encoding is None:
                raise _Unknown("a computed encoding")
            _, fn = _codec(encoding, limit, name == "builtins.str")
            return each(args[0], "", fn)
        # methods of a value the syntax gives
        if isinstance(node.func, ast.Attribute):
            method, owner = node.func.attr, node.func.value
            if method in ("decode", "encode"):
                enc = _const_str(args[0]) if args else _const_str(kwargs.get("encoding", ast.Constant("utf-8")))
                if enc is None:
                    raise _Unknown("a computed encoding")
                how, fn = _codec(enc, limit, method == "decode")
                return each(owner, how, fn)
            if method in ("strip", "lstrip", "rstrip") and not args:
                return each(owner, "", lambda d: getattr(d, method)())
            if method == "join" and len(args) == 1 and isinstance(args[0], (ast.List, ast.Tuple)):
                seps = self.values(owner, depth)
                items = [self.value(e, depth) for e in args[0].elts]
                if len(seps) != 1 or any(type(i.data) is not type(seps[0].data) for i in items):
                    raise _Unknown("join of mixed values")
                total = sum(_size(_data(i)) for i in items)
                self.budget.spend_work(total)
                return [_Value(_data(seps[0]).join(_data(i) for i in items), _merge(items))]  # type: ignore[arg-type]
        raise _Unknown(f"a call of {name or 'something'}")


def _int(node: ast.AST) -> int:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return -_int(node.operand) if isinstance(node.op, ast.USub) else _int(node.operand)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    raise _Unknown("a computed number")


def _unknown(why: str):
    raise _Unknown(why)


def _data(v: _Value) -> str | bytes:
    if isinstance(v.data, _Compiled):
        raise _Unknown("a code object")
    return v.data


def _plus(a: _Value, b: _Value, budget: _Budget) -> str | bytes:
    x, y = _data(a), _data(b)
    if type(x) is not type(y):
        raise _Unknown("adding different types")
    budget.spend_work(_size(x) + _size(y))
    return x + y        # type: ignore[operator]


def _merge(values: list[_Value]) -> tuple[str, ...]:
    how: tuple[str, ...] = ()
    for v in values:
        how = how or v.how
    return how


def _describe(how: tuple[str, ...]) -> str:
    steps = [h for h in how if h]
    if not steps:
        return "a string"
    return " of ".join(reversed(steps))      # applied first = innermost: 'zlib of base64'


# -- the entry point -----------------------------------------------------------------------------
def code_in_strings(code: str, budget: int) -> list[Piece]:
    """Every ``exec``/``eval``/``compile`` of ``code`` (and of the code it decodes), with the source each
    runs when the syntax tells it. ``budget``: bytes of decoded code allowed in all (TooLarge beyond).
    Code that does not parse has no pieces (Python would not run it either)."""
    if not MENTIONS.search(code):
        return []       # every way the analysis follows names exec, eval, compile or builtins in the text
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
        return []
    state = _Budget(budget, WORK_FACTOR * max(budget, 1))
    pieces: list[Piece] = []
    seen: set[str] = set()
    _search(_Scope(tree), 0, state, pieces, seen)
    return pieces


def _search(scope: _Scope, depth: int, budget: _Budget, pieces: list[Piece], seen: set[str]) -> None:
    resolver = _Resolver(scope, budget)
    used_as_callee = {id(c.func) for c in scope.calls}
    for node in scope.sink_names:
        # exec/eval/compile handed around as a value (map(exec, ...), f = [exec][0]): not followed
        if id(node) not in used_as_callee and scope.lookup(node.id) is None and not _aliased(scope, node):
            pieces.append(Piece(getattr(node, "lineno", 0), node.id, "code passed around as a value", depth, None))
    for call in scope.calls:
        sink = resolver.sink(call)
        if sink is None:
            continue
        line = getattr(call, "lineno", 0)
        source = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "source"), None)
        if source is None or sink == "?":
            pieces.append(Piece(line, sink if sink != "?" else "getattr(builtins, …)", "a builtin named at run time"
                                if sink == "?" else "no source given", depth, None))
            continue
        try:
            found = resolver.values(source)
        except _Unknown:
            pieces.append(Piece(line, sink, "code built at run time", depth, None))
            continue
        for value in found:
            if isinstance(value.data, _Compiled):
                continue        # exec(compile(...)): the compile call is a piece of its own
            try:
                text = source_text(value.data)
            except _Unknown:
                pieces.append(Piece(line, sink, f"{_describe(value.how)} that is not source text", depth, None))
                continue
            if text in seen:
                continue
            seen.add(text)
            budget.left -= _size(text)
            if budget.left < 0:
                raise TooLarge("the code decoded from its strings exceeds the cap")
            pieces.append(Piece(line, sink, _describe(value.how), depth, text))
            if depth + 1 >= MAX_DEPTH:
                if any(s in text for s in SINKS):
                    pieces.append(Piece(line, sink, "code nested deeper than the analysis follows", depth + 1, None))
                continue
            try:
                inner = ast.parse(text)
            except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError):
                continue
            _search(_Scope(inner, scope), depth + 1, budget, pieces, seen)


def _aliased(scope: _Scope, node: ast.Name) -> bool:
    """``run = exec`` (then ``run(...)`` is followed as exec): the name is the whole value of an assignment."""
    for bindings in scope.bindings.values():
        if any(b.kind == "assign" and b.node is node for b in bindings):
            return True
    return False
