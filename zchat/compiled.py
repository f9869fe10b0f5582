"""Per-class encoders and decoders generated from the message dataclasses, for speed only.

zchat.protocol defines what a frame means with a generic encoder (dataclass -> dict ->
json) and a generic checked builder (dict -> dataclass, field by field). Both are
correct for every message, but on the broker's hot path (two frames encoded and one
decoded per chat line) they were half of its Python time (py-spy, bench P1). Here each
class gets straight-line code, generated once, as ``dataclasses`` generates ``__init__``.

The rule that keeps this safe: generated code handles only the plain case and hands
anything unusual back to the generic path (a value of an unexpected type, a non-finite
float, a non-ASCII string that needs its UTF-8 checked, a nested field). So it can be
faster but never different; tests/test_protocol.py checks that with hypothesis.
"""
from __future__ import annotations

import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

json_str = json.encoder.encode_basestring   # the escaper json.dumps(ensure_ascii=False) uses (C)

# The JSON text of a field value by its annotation, else the generic encoder (``_g``).
_TO_JSON = {
    str: "_s({v}) if isinstance({v}, str) else _g({v})",      # a StrEnum member is its value
    int: "int.__repr__({v}) if type({v}) is int else _g({v})",
    float: "float.__repr__({v}) if type({v}) is float and _finite({v}) else _g({v})",
    bool: "('true' if {v} else 'false') if type({v}) is bool else _g({v})",
}

# The plain case of each annotation (a value the generic encoder writes with the call beside it),
# for the one-test path of a generated encoder.
_PLAIN_OUT = {
    str: ("isinstance({v}, str)", "_s({v})"),
    int: ("type({v}) is int", "int.__repr__({v})"),
    float: ("type({v}) is float and _finite({v})", "float.__repr__({v})"),
    bool: ("type({v}) is bool", "_bool[{v}]"),
}

# When a decoded JSON value can be taken as it is for a field of this annotation.
_PLAIN = {
    str: "type({v}) is str and ({v}.isascii() or _utf8({v}))",
    int: "type({v}) is int and 0 <= {v} <= _max_int",
    float: "type({v}) is float and _finite({v})",
    bool: "type({v}) is bool",
}


def without_none(hint: Any) -> tuple[Any, bool]:
    """(the annotation without ``| None``, whether None was allowed); protocol.py uses it too."""
    args = typing.get_args(hint)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


def _compile(name: str, lines: list[str], namespace: dict[str, Any]) -> Callable[..., Any]:
    exec("\n".join(lines), namespace)   # the source is built only from field names and the tables above
    made: Callable[..., Any] = namespace[name]
    return made


def make_encoder(cls: type, generic: Callable[[Any], str]) -> Callable[[Any], bytes]:
    """``m -> bytes``, exactly ``generic(m).encode()``: fields in order, None fields left out, then
    ``"type"`` last when the class has a TYPE.

    Two shortcuts for the usual message: when every field before the optional tail (see
    _optional_tail) holds a plain value of its annotated type and the tail is all None, one test
    and one f-string write it; when only the tail is all None, its pieces are skipped."""
    hints = typing.get_type_hints(cls)
    lines = [f"def encode_{cls.__name__}(m):"]
    all_fields = fields(cls)
    tail = _optional_tail(cls, hints)
    pieces, tests, parts = [], [], []
    for i, f in enumerate(all_fields):
        hint = without_none(hints[f.name])[0]
        value = _TO_JSON.get(hint, "_g({v})").format(v=f"v{i}")
        lines.append(f"    v{i} = m.{f.name}")
        pieces.append(f"({',' + json_str(f.name) + ':'!r} + ({value}) if v{i} is not None else '')")
        if i >= tail:
            tests.append(f"v{i} is None")
        elif hint in _PLAIN_OUT:
            test, out = _PLAIN_OUT[hint]
            tests.append(test.format(v=f"v{i}"))
            parts.append(json_str(f.name) + ":{" + out.format(v=f"v{i}") + "}")
        else:
            tests.append("False")                   # a nested value: no one-test path
    type_name: str | None = getattr(cls, "TYPE", None)
    end = [repr(',"type":' + json_str(type_name))] if type_name is not None else []
    literals = [f.name for f in all_fields] + ([type_name] if type_name is not None else [])
    if tests and "False" not in tests and all(n.isidentifier() for n in literals):   # nothing to escape
        body = ",".join(parts + ([f'"type":{json_str(type_name)}'] if type_name is not None else []))
        lines += [f"    if {' and '.join(tests)}:", f"        return f'{{{{{body}}}}}'.encode()"]

    def joined(parts: list[str]) -> str:    # every piece starts with a comma: drop the first one
        return f"('{{' + ''.join(({', '.join(parts)},))[1:] + '}}').encode()"
    if 0 < tail < len(all_fields):
        absent = " and ".join(f"v{i} is None" for i in range(tail, len(all_fields)))
        lines += [f"    if {absent}:", f"        return {joined(pieces[:tail] + end)}"]
    lines.append(f"    return {joined(pieces + end)}")
    return _compile(f"encode_{cls.__name__}", lines,
                    {"_s": json_str, "_g": generic, "_finite": math.isfinite, "_bool": {True: "true", False: "false"}})


def _optional_tail(cls: type, hints: dict[str, Any]) -> int:
    """Where the run of ``X | None = None`` fields that ends ``cls`` begins (len(fields): none), or
    the class's ``RARE_FROM``: the first of the fields that are usually absent (a line's cmid is
    optional but nearly always there; its protocol 3 fields nearly never)."""
    all_fields = fields(cls)
    tail = len(all_fields)
    while tail and without_none(hints[all_fields[tail - 1].name])[1] and all_fields[tail - 1].default is None:
        tail -= 1
    rare = getattr(cls, "RARE_FROM", None)
    if rare is not None:
        index = [f.name for f in all_fields].index(rare)
        if index < tail:
            raise TypeError(f"{cls.__name__}.RARE_FROM: {rare} and every field after it must be X | None = None")
        return index
    return tail


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def make_builder(cls: type, max_int: int) -> Callable[[dict[str, Any]], Any] | None:
    """``obj -> message``, or None when ``obj`` is not the plain case (the generic builder then
    decides, and raises the precise error). None for a class with a required nested or collection
    field; an optional one (``X | None``) keeps the fast path for frames that leave it out.

    The optional fields at the end of a class (protocol 3's additions to a line, say) are absent
    from most frames: when ``obj`` holds no key but the ones already read (and ``type``), they are
    all None without a lookup each, which keeps a plain line as cheap to decode as before them."""
    hints = typing.get_type_hints(cls)
    lines = [f"def build_{cls.__name__}(obj):"]
    namespace: dict[str, Any] = {"_cls": cls, "_utf8": _utf8, "_max_int": max_int,
                                 "_finite": math.isfinite, "_missing": MISSING}
    all_fields = fields(cls)
    tail = _optional_tail(cls, hints)
    if tail == len(all_fields):
        tail = -1                         # no optional tail: nothing to skip
    names: list[str] = []
    present: list[str] = []
    for i, f in enumerate(all_fields):
        if i == tail:                     # every key of obj read already: the tail is all None
            count = " + ".join(present) or "0"
            lines += [f"    if len(obj) == {count} + ('type' in obj):",
                      f"        return _cls({', '.join(names + ['None'] * (len(all_fields) - tail))})"]
        hint, optional = without_none(hints[f.name])
        v = f"v{i}"
        required = f.default is MISSING and f.default_factory is MISSING
        present.append("1" if required and not optional else f"({f.name!r} in obj)")   # absent: None
        if optional and hint not in _PLAIN:    # a nested or collection field: fast only while absent
            lines += [f"    {v} = obj.get({f.name!r})", f"    if {v} is not None:", "        return None"]
            names.append(v)
            continue
        if hint not in _PLAIN or f.default_factory is not MISSING:
            return None
        if optional:        # absent or null: None
            lines.append(f"    {v} = obj.get({f.name!r})")
            test = f"{v} is None or ({_PLAIN[hint].format(v=v)})"
        else:               # absent: the default, or _missing (which fails the test: generic path)
            namespace[f"_d{i}"] = f.default
            lines.append(f"    {v} = obj.get({f.name!r}, _d{i})")
            test = _PLAIN[hint].format(v=v)
        lines += [f"    if not ({test}):", "        return None"]
        names.append(v)
    lines.append(f"    return _cls({', '.join(names)})")
    return _compile(f"build_{cls.__name__}", lines, namespace)


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
