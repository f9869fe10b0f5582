"""The fast path of the codec: msgspec (C) does the plain case, for speed only.

zchat.protocol defines what a frame means with a generic encoder (dataclass -> dict ->
json) and a generic checked builder (dict -> dataclass, field by field). Both are correct
for every message, but on the broker's hot path (two frames encoded and one decoded per
chat line) they were most of its Python time (bench/hub_cost.py). Here each message class
gets a msgspec Struct mirror, made once from its annotations: msgspec parses, checks the
UTF-8, the types and the integer range in C, and writes JSON in C.

The rule that keeps this safe: the fast path takes only the plain case and hands anything
else back to the generic path, which then decides (and names the error). Decoding: every
frame msgspec refuses goes back, and the mirrors make it refuse every unusual one (an
unknown field, a lone surrogate, a value of another type, an int out of range, a repeated
``type``). Encoding: a message goes back unless every field holds a str, an int, a bool,
None, a str or int enum member, or a float msgspec writes as repr() does. So it is faster
but never different; tests/test_protocol_fast.py checks that with hypothesis.
"""
from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import MISSING, fields, is_dataclass
from typing import Annotated, Any

import msgspec

Convert = Callable[[Any], Any]


def without_none(hint: Any) -> tuple[Any, bool]:
    """(the annotation without ``| None``, whether None was allowed); protocol.py uses it too."""
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _compile(name: str, lines: list[str], namespace: dict[str, Any]) -> Callable[..., Any]:
    exec("\n".join(lines), namespace)   # the source is built only from field names and the tables here
    made: Callable[..., Any] = namespace[name]
    return made


# ---------------------------------------------------------------- encoding

# msgspec writes a float as repr() does (shortest round trip) but for the exponent form, which
# repr() uses below 1e-4 and from 1e16 (1e+16, msgspec 1e16): those go to the generic path
_PLAIN_FLOAT = "(1e-4 <= {v} < 1e16 or -1e16 < {v} <= -1e-4 or {v} == 0.0)"


def make_encoder(cls: type, generic: Callable[[Any], str], leaves: frozenset[type]) -> Callable[[Any], bytes]:
    """``m -> bytes``, exactly ``generic(m).encode()``: fields in order, None fields left out, then
    ``"type"`` last when the class has a TYPE. ``leaves``: the types msgspec and the generic encoder
    write alike (str, int, bool, None and their enums); any other value takes the generic path."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    type_name: str | None = getattr(cls, "TYPE", None)
    if type_name is not None and "type" in names:
        raise TypeError(f"{cls.__name__}: a field named 'type' would clash with the wire type")
    # every field None by default and left out when None: the generic encoder's rule; "type" last
    keys = names + ["type"] * (type_name is not None)
    out = msgspec.defstruct(f"{cls.__name__}Out", [(n, object, None) for n in keys], omit_defaults=True)
    lines = [f"def encode_{cls.__name__}(m):"]
    tests, args = [], []
    for i, name in enumerate(names):
        v = f"v{i}"
        lines.append(f"    {v} = m.{name}")
        hint, optional = without_none(hints[name])
        test = f"_t({v}) in _leaves"
        if hint is float:
            test = f"(_t({v}) is float and {_PLAIN_FLOAT.format(v=v)} or {test})"
        tests.append(f"({v} is None or {test})" if optional else test)     # None: one comparison
        args.append(v)
    if type_name is not None:
        args.append(repr(type_name))
    lines += [f"    if {' and '.join(tests) or 'True'}:",
              "        try:",
              f"            return _enc(_out({', '.join(args)}))",
              "        except Exception:",          # (a lone surrogate) the generic path raises its own error
              "            pass",
              "    return _g(m).encode()"]
    return _compile(f"encode_{cls.__name__}", lines, {"_t": type, "_leaves": leaves, "_out": out,
                                                      "_enc": msgspec.json.Encoder().encode, "_g": generic})


# ---------------------------------------------------------------- decoding

class _Mirrors:
    """The msgspec Struct of each message class (tagged with its TYPE at the top of a frame, bare
    when nested) and the function that turns a decoded Struct into the message dataclass."""

    def __init__(self, max_int: int) -> None:
        self.int_type = Annotated[int, msgspec.Meta(ge=0, le=max_int)]
        self.structs: dict[tuple[type, bool], type] = {}
        self.back: dict[type, Convert] = {}

    def struct(self, cls: type, tagged: bool) -> type:
        made = self.structs.get((cls, tagged))
        if made is not None:
            return made
        hints = typing.get_type_hints(cls)
        spec: list[tuple[str, Any, Any]] = []
        for f in fields(cls):
            hint, optional = without_none(hints[f.name])
            kind = self.type_of(hint)
            if optional:                 # absent or null: None (the checked builder's rule)
                spec.append((f.name, kind | None, None))
            elif f.default_factory is not MISSING:
                spec.append((f.name, kind, msgspec.field(default_factory=f.default_factory)))
            elif f.default is not MISSING:
                spec.append((f.name, kind, f.default))
            else:
                spec.append((f.name, kind, msgspec.NODEFAULT))
        extra = {"tag_field": "type", "tag": cls.TYPE} if tagged else {}  # type: ignore[attr-defined]
        made = msgspec.defstruct(f"{cls.__name__}In", spec, kw_only=True, forbid_unknown_fields=True, **extra)
        self.structs[(cls, tagged)] = made
        self.back[made] = self.converter(cls, made)
        return made

    def type_of(self, hint: Any) -> Any:
        """The msgspec type that accepts exactly what protocol._checker accepts for ``hint``."""
        if hint in (str, float, bool):   # a float field takes an int as a float, as the checked builder does
            return hint
        if hint is int:
            return self.int_type
        bare, optional = without_none(hint)
        if optional:
            return self.type_of(bare) | None
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is list:
            return list[self.type_of(args[0])]  # type: ignore[misc]
        if origin is dict:
            return dict[self.type_of(args[0]), self.type_of(args[1])]  # type: ignore[misc]
        if isinstance(hint, type) and is_dataclass(hint):
            return self.struct(hint, tagged=False)
        raise TypeError(f"no decoder for {hint!r}")

    def convert(self, hint: Any) -> Convert | None:
        """Struct value -> message value for ``hint``; None when it is the value itself."""
        bare, optional = without_none(hint)
        if optional:
            inner = self.convert(bare)
            return None if inner is None else (lambda v: None if v is None else inner(v))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is list:
            item = self.convert(args[0])
            return None if item is None else (lambda v: [item(x) for x in v])
        if origin is dict:
            val = self.convert(args[1])
            return None if val is None else (lambda v: {k: val(x) for k, x in v.items()})
        if isinstance(hint, type) and is_dataclass(hint):
            return self.back[self.struct(hint, tagged=False)]
        return None

    def converter(self, cls: type, struct: type) -> Convert:
        hints = typing.get_type_hints(cls)
        namespace: dict[str, Any] = {"_cls": cls}
        args = []
        for i, f in enumerate(fields(cls)):
            conv = self.convert(hints[f.name])
            if conv is None:
                args.append(f"s.{f.name}")
            else:
                namespace[f"_c{i}"] = conv
                args.append(f"_c{i}(s.{f.name})")
        return _compile(f"from_{struct.__name__}", [f"def from_{struct.__name__}(s):",
                                                    f"    return _cls({', '.join(args)})"], namespace)


def make_decoder(classes: Iterable[type], max_int: int) -> Callable[[bytes], Any]:
    """``data -> message`` of one of ``classes`` (told apart by ``type``), or None when msgspec
    refuses the frame: then the generic path decides, and raises the precise error."""
    mirrors = _Mirrors(max_int)
    tagged = tuple(mirrors.struct(cls, tagged=True) for cls in classes)
    decode = msgspec.json.Decoder(typing.Union[tagged]).decode  # noqa: UP007  (a Union of a tuple of types)
    back = mirrors.back

    def decode_fast(data: bytes) -> Any:
        try:
            s = decode(data)
        except (msgspec.DecodeError, RecursionError):     # a ValidationError is a DecodeError
            return None
        return back[type(s)](s)
    return decode_fast


# ---------------------------------------------------------------- building messages

def make_init(cls: type) -> Callable[..., None] | None:
    """A faster ``__init__`` for a frozen, slotted dataclass: the same parameters and defaults
    (positional or keyword), each field set through its slot's own setter instead of
    ``object.__setattr__`` (which a frozen class's generated ``__init__`` calls by name, per
    field). A line (Message: 14 fields since protocol 3) is built in half the time. None when
    the class is not that simple (a default factory, a ``__post_init__``, keyword-only or
    non-init fields): it keeps the one dataclasses made."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        return None
    all_fields = fields(cls)
    if any(f.default_factory is not MISSING or not f.init or f.kw_only for f in all_fields):
        return None
    namespace: dict[str, Any] = {}
    args, body = ["self"], []
    for f in all_fields:
        slot = getattr(cls, f.name, None)          # the slot's member descriptor (its own or a base's)
        if type(slot) is not types.MemberDescriptorType:
            return None
        namespace[f"_set_{f.name}"] = slot.__set__
        if f.default is MISSING:
            args.append(f.name)
        else:
            namespace[f"_d_{f.name}"] = f.default
            args.append(f"{f.name}=_d_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    init = _compile("__init__", [f"def __init__({', '.join(args)}):", *(body or ["    pass"])], namespace)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def speed_up_inits(classes: typing.Iterable[type]) -> None:
    """Give each frozen, slotted dataclass of ``classes`` the ``__init__`` of :func:`make_init`."""
    for cls in classes:
        init = make_init(cls)
        if init is not None:
            cls.__init__ = init  # type: ignore[misc]
