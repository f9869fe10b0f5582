"""zchat.compiled's msgspec fast path against zchat.protocol's generic one: the same bytes out, the
same message or the same error in, for valid and malformed frames (faster but never different)."""
from __future__ import annotations

import json
from dataclasses import fields, is_dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_protocol import LIMITS, RICH, SAMPLES, TABLES, json_values
from zchat import compiled
from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.vocab import MessageKind, PresenceState

E = ErrorCode


# ---------------------------------------------------------------- decoding

def typed(v: Any) -> Any:
    """A value with every type spelled out, so 1, 1.0 and True (equal in Python) compare apart."""
    if is_dataclass(v):
        return type(v), tuple((f.name, typed(getattr(v, f.name))) for f in fields(v))
    if isinstance(v, list):
        return list, tuple(typed(x) for x in v)
    if isinstance(v, dict):
        return dict, tuple((typed(k), typed(x)) for k, x in v.items())
    return type(v), repr(v)


def outcome(decode: Any, data: bytes) -> Any:
    try:
        return "ok", typed(decode(data))
    except ProtocolError as exc:
        return "error", exc.code, exc.message, exc.request_id, exc.retry_after_ms


@pytest.fixture
def generic_only(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run a decoder with the fast path switched off: what the frame means by definition."""
    def run(decode: Any, data: bytes) -> Any:
        with monkeypatch.context() as m:
            m.setattr(p, "_fast_request", lambda data: None)
            m.setattr(p, "_FAST", {k: (lambda data: None) for k in p._FAST})
            return outcome(decode, data)
    return run


class Raw(str):
    """JSON text written as it is (a literal the json module would not write: NaN, -0, 1e400, ...)."""


class Pairs(list):  # type: ignore[type-arg]
    """A JSON object as (key, value) pairs, so a key may come twice."""


def dump(v: Any, ascii_only: bool) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, Pairs | dict):
        items = v if isinstance(v, Pairs) else list(v.items())
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=ascii_only)}:{dump(x, ascii_only)}" for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(dump(x, ascii_only) for x in v) + "]"
    return json.dumps(v, ensure_ascii=ascii_only)


LITERALS = ["-0", "-0.0", "0", "1.0", "1e2", "1E400", "-1e400", "1" * 30, "2" * 400, "9007199254740991",
            "9007199254740992", "-1", "NaN", "Infinity", "-Infinity", "true", "false", "null", '"\\ud800"',
            '"\\udc00\\ud800"', '"\\ud83d\\ude00"', '"\\u0000"', '"a\\u001bb"', "[" * 1200 + "]" * 1200, "{}", "[]",
            '"' + "x" * (p.MAX_TEXT_BYTES + 1) + '"', '"' + "x" * (p.MAX_ID_CHARS + 1) + '"']
values = json_values | st.sampled_from(LITERALS).map(Raw)
keys = st.sampled_from(sorted({f.name for s in SAMPLES.values() for f in fields(s)} | {"type", "x"}))


@st.composite
def mutated_frames(draw: Any) -> bytes:
    """A valid frame of one message type, then a few edits anywhere in it (its nested objects too):
    a value replaced (any JSON, or a literal above), a key removed, repeated or added, the keys
    reordered; written ASCII-only or not, with whitespace around or not."""
    sample = draw(st.sampled_from([*SAMPLES.values(), RICH]))
    objects: list[Pairs] = []

    def to_pairs(v: Any) -> Any:        # every object as Pairs, each also listed in ``objects``
        if isinstance(v, dict):
            objects.append(Pairs((k, to_pairs(x)) for k, x in v.items()))
            return objects[-1]
        return [to_pairs(x) for x in v] if isinstance(v, list) else v
    top = to_pairs(json.loads(p.encode(sample)))
    for _ in range(draw(st.integers(0, 3))):
        o = draw(st.sampled_from(objects))
        edit = draw(st.sampled_from(["set", "drop", "repeat", "add", "shuffle"]))
        if edit == "add" or not o:
            o.append((draw(keys), draw(values)))
        elif edit == "shuffle":
            o[:] = draw(st.permutations(o))
        else:
            i = draw(st.integers(0, len(o) - 1))
            if edit == "set":
                o[i] = (o[i][0], draw(values))
            elif edit == "drop":
                del o[i]
            else:
                o.insert(draw(st.integers(0, len(o))), (o[i][0], draw(values)))
    text = dump(top, draw(st.booleans()))
    space = draw(st.sampled_from(["", " ", "\n\t", "\r\n "]))
    return (space + text + space).encode("utf-8", "surrogatepass")


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=mutated_frames())
def test_every_decoder_decides_a_mutated_frame_exactly_as_the_generic_path(generic_only: Any, data: bytes) -> None:
    """The message (every field's type and value) or the error (code, words, request id, retry
    after) of each decoder is the generic path's, for valid frames and malformed ones alike."""
    for _, decode in TABLES:
        assert outcome(decode, data) == generic_only(decode, data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.sampled_from(LITERALS).map(lambda t: t.encode()))
def test_every_decoder_decides_arbitrary_bytes_exactly_as_the_generic_path(generic_only: Any, data: bytes) -> None:
    for _, decode in TABLES:
        assert outcome(decode, data) == generic_only(decode, data)


def frame(*pairs: tuple[str, str]) -> bytes:
    return ("{" + ",".join(f'"{k}":{v}' for k, v in pairs) + "}").encode()


SEND = (("type", '"send"'), ("id", '"r1"'), ("conv", '"all"'), ("text", '"hi"'), ("cmid", '"c1"'))


@pytest.mark.parametrize(("decode", "data", "expected"), [
    # the json module keeps the last of a repeated key, and so does msgspec
    pytest.param(p.decode_request, frame(*SEND, ("text", '"again"')), p.Send("r1", "all", "again", "c1"),
                 id="repeated-key"),
    pytest.param(p.decode_request, frame(("type", '"ping"'), *SEND), p.Send("r1", "all", "hi", "c1"),
                 id="repeated-type"),
    pytest.param(p.decode_request, frame(*SEND, ("reply_to", "-0")), p.Send("r1", "all", "hi", "c1", reply_to=0),
                 id="minus-zero-int"),
    pytest.param(p.decode_reply, frame(("type", '"pong"'), ("id", '"r"'), ("server_time", "7")), p.Pong("r", 7.0),
                 id="int-for-float"),
    pytest.param(p.decode_reply, frame(("type", '"pong"'), ("id", '"r"'), ("server_time", "1" * 30)),
                 p.Pong("r", 1e29 * 1.1111111111111112), id="long-int-for-float"),
    pytest.param(p.decode_request, frame(*SEND, ("x", "1" * 5000)), E.BAD_JSON,
                 id="unknown-field-int-over-4300-digits"),
    pytest.param(p.decode_request, frame(*SEND, ("x", "[" * 5000 + "]" * 5000)), E.BAD_JSON,
                 id="unknown-field-too-deep"),
    pytest.param(p.decode_request, frame(*SEND, ("x", "NaN")), E.BAD_JSON, id="unknown-field-nan"),
    pytest.param(p.decode_request, b'{"type":"ping","id":"r","x":"\xff"}', E.BAD_UTF8, id="unknown-field-bad-utf8"),
    pytest.param(p.decode_reply, frame(("type", '"pong"'), ("id", '"r"'), ("server_time", "1" * 400)), E.BAD_FIELD,
                 id="int-over-1e308-for-float"),      # was OverflowError, out of the decoder
    pytest.param(p.decode_reply, frame(("type", '"pong"'), ("id", '"r"'), ("server_time", "1e400")), E.BAD_FIELD,
                 id="float-over-1e308"),
])
def test_the_corners_where_json_and_msgspec_differ(generic_only: Any, decode: Any, data: bytes, expected: Any) -> None:
    got = outcome(decode, data)
    assert got == generic_only(decode, data)
    if isinstance(expected, ErrorCode):
        assert got[:2] == ("error", expected)
    else:
        assert got == ("ok", typed(expected))


@pytest.mark.parametrize("sample", [*SAMPLES.values(), RICH], ids=lambda s: type(s).__name__)
def test_msgspec_takes_every_plain_frame(sample: Any) -> None:
    """The fast path is not dead: each message type's own frame is decoded by msgspec alone."""
    table = next(t for t, _ in TABLES if t.get(type(sample).TYPE) is type(sample))
    data = p.encode(sample)
    assert typed(p._FAST[id(table)](data)) == typed(sample)
    with_space = b" \n" + data + b"\r\n"
    assert typed(p._FAST[id(table)](with_space)) == typed(sample)


def test_an_unknown_field_leaves_the_frame_to_the_generic_path() -> None:
    """msgspec would skip it unread (a 5000-digit int, bad UTF-8); the json module reads it."""
    data = frame(*SEND, ("future_field", '"x"'))
    assert p._fast_request(data) is None
    assert p.decode_request(data) == p.Send("r1", "all", "hi", "c1")


# ---------------------------------------------------------------- encoding

class Label(str):
    """A str subclass that is no enum: msgspec refuses it, the generic encoder writes its text."""


leaf_values = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=20),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-6, 1e18) | st.floats(-1e18, -1e-6),
    st.sampled_from([1e-4, 1e16, 1e-5, 9999999999999998.0, -0.0, 0.0, 2.0**53]),
    st.sampled_from(list(MessageKind) + list(PresenceState) + list(ErrorCode)), st.text(max_size=5).map(Label),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.lists(st.integers(), max_size=3),
    st.sampled_from([p.KeyInfo("all", 1, "ab"), p.Quote("bob", "hi", None), b"bytes", (1, 2), {"a": None}]))


def encoded(encode: Any, msg: Any) -> Any:
    try:
        return encode(msg)
    except Exception as exc:                # the same failure: a lone surrogate is no UTF-8
        return type(exc)


@given(sample=st.sampled_from([*SAMPLES.values(), RICH, LIMITS]), data=st.data())
def test_the_msgspec_encoder_writes_exactly_what_the_generic_one_does(sample: Any, data: Any) -> None:
    """encode() runs a per-class msgspec encoder; any field values, of the annotated type or not
    (None, a bool in an int field, a float repr() writes with an exponent, an enum member, a nested
    message, ...), give the generic encoder's bytes, or its error."""
    names = [f.name for f in fields(sample)]
    changed = {n: data.draw(leaf_values) for n in data.draw(st.sets(st.sampled_from(names), max_size=4))}
    msg = replace(sample, **changed)
    assert encoded(p.encode, msg) == encoded(lambda m: p._generic(m).encode(), msg)
    assert p.encode(sample) == p._generic(sample).encode()


def refuse(value: Any) -> str:
    raise AssertionError("the generic path was taken")


@pytest.mark.parametrize("msg", [
    p.Message("g:bench", 12345, 1764494400.123456, "u1", "x" * 100, MessageKind.MSG, "m12345"),
    p.Ok("r12345", "g:bench", 12345, 1764494400.123456, False),
    p.Ok("r1"), p.Send("r1", "all", "héllo 😀 \"q\"\n", "c1"), p.error("r1", E.RATE_LIMITED, "slow down", 250),
    p.Pong("r1", 0.0), p.Invited("team", "Alice")], ids=lambda m: type(m).__name__)
def test_the_broker_s_usual_frames_take_the_msgspec_path(msg: Any) -> None:
    """A line, its ok, an error: msgspec writes them whole (an enum member as its value)."""
    fast = compiled.make_encoder(type(msg), refuse, p._LEAF_TYPES)
    assert fast(msg) == p._generic(msg).encode() == p.encode(msg)


def test_a_float_repr_writes_with_an_exponent_takes_the_generic_path() -> None:
    """msgspec writes 1e16 and 1e-05 as 1e16 and 0.00001: the frame keeps repr()'s 1e+16 and 1e-05."""
    assert p.encode(p.Pong("r", 1e16)) == b'{"id":"r","server_time":1e+16,"type":"pong"}'
    assert p.encode(p.Pong("r", 1e-5)) == b'{"id":"r","server_time":1e-05,"type":"pong"}'
