"""zchat.protocol without sockets: malformed frames, decoder robustness, round trips, names, connect strings."""
from __future__ import annotations

import inspect
import json
from dataclasses import MISSING, FrozenInstanceError, fields, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError

E = ErrorCode
LIMIT = p.MAX_TEXT_BYTES


def frame(ensure_ascii: bool = True, **obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=ensure_ascii).encode()


def send(**over: Any) -> bytes:
    return frame(**{"type": "send", "id": "r1", "conv": "all", "text": "hi", "cmid": "c1", **over})


def decode_error(data: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        p.decode_request(data)
    return info.value


MALFORMED = [
    # (frame, code, request_id expected on the error)
    pytest.param(b"\x80", E.BAD_UTF8, None, id="lone-continuation-byte"),
    pytest.param(b'{"type":"ping","id":"\xe2\x82"}', E.BAD_UTF8, None, id="truncated-multibyte"),
    pytest.param(b'{"type":"ping","id":"\xc0\xaf"}', E.BAD_UTF8, None, id="overlong-slash"),
    pytest.param("{}".encode("utf-16"), E.BAD_UTF8, None, id="utf16-bom"),
    pytest.param(b'{"type":"ping","id":"\xed\xa0\x80"}', E.BAD_UTF8, None, id="cesu-surrogate-bytes"),
    pytest.param(send(text="\ud800"), E.BAD_UTF8, "r1", id="lone-surrogate-escape-in-text"),
    pytest.param(send(cmid="a\udfffb"), E.BAD_UTF8, "r1", id="lone-low-surrogate-escape-in-cmid"),
    pytest.param(frame(type="ping", id="\ud800"), E.BAD_UTF8, None, id="lone-surrogate-escape-in-id"),
    pytest.param(b"", E.BAD_JSON, None, id="empty"),
    pytest.param(b"hello", E.BAD_JSON, None, id="not-json"),
    pytest.param(b'{"type":"ping","id":"r1"', E.BAD_JSON, None, id="truncated-json"),
    pytest.param(b"[]", E.BAD_JSON, None, id="array"),
    pytest.param(b"42", E.BAD_JSON, None, id="number"),
    pytest.param(b'"ping"', E.BAD_JSON, None, id="string"),
    pytest.param(b"null", E.BAD_JSON, None, id="null"),
    pytest.param(b'{"type":"history","id":"r1","conv":"all","after":NaN}', E.BAD_JSON, None, id="nan"),
    pytest.param(b'{"type":"history","id":"r1","conv":"all","after":-Infinity}', E.BAD_JSON, None, id="infinity"),
    pytest.param(b"[" * 50000, E.BAD_JSON, None, id="deep-array"),
    pytest.param(b'{"a":' * 12000, E.BAD_JSON, None, id="deep-object"),
    pytest.param(b"1" * 60000, E.BAD_JSON, None, id="huge-integer-literal"),
    pytest.param(b" " * (p.MAX_FRAME_BYTES + 1), E.TOO_LARGE, None, id="frame-over-max"),
    pytest.param(frame(id="r1"), E.UNKNOWN_TYPE, "r1", id="type-missing"),
    pytest.param(frame(type="dance", id="r1"), E.UNKNOWN_TYPE, "r1", id="type-unknown"),
    pytest.param(frame(type="welcome", id="r1"), E.UNKNOWN_TYPE, "r1", id="type-is-a-reply"),
    pytest.param(frame(type=7, id="r1"), E.UNKNOWN_TYPE, "r1", id="type-number"),
    pytest.param(frame(type=None, id="r1"), E.UNKNOWN_TYPE, "r1", id="type-null"),
    pytest.param(frame(type=["ping"], id="r1"), E.UNKNOWN_TYPE, "r1", id="type-list"),
    pytest.param(frame(type={}, id="r1"), E.UNKNOWN_TYPE, "r1", id="type-object"),
    pytest.param(frame(type="ping"), E.MISSING_FIELD, None, id="id-missing"),
    pytest.param(frame(type="hello", id="r1", version=1), E.MISSING_FIELD, "r1", id="hello-name-missing"),
    pytest.param(frame(type="send", id="r1", conv="all", text="x"), E.MISSING_FIELD, "r1", id="send-cmid-missing"),
    pytest.param(frame(type="ping", id=5), E.BAD_FIELD, None, id="id-number"),
    pytest.param(frame(type="hello", id="r1", version="1", name="a"), E.BAD_FIELD, "r1", id="int-as-string"),
    pytest.param(frame(type="hello", id="r1", version=True, name="a"), E.BAD_FIELD, "r1", id="bool-as-int"),
    pytest.param(frame(type="hello", id="r1", version=-1, name="a"), E.BAD_FIELD, "r1", id="negative-int"),
    pytest.param(frame(type="hello", id="r1", version=2**53, name="a"), E.BAD_FIELD, "r1", id="int-over-2**53-1"),
    pytest.param(frame(type="hello", id="r1", version=1.0, name="a"), E.BAD_FIELD, "r1", id="float-as-int"),
    pytest.param(b'{"type":"history","id":"r1","conv":"all","after":1e400}', E.BAD_FIELD, "r1", id="overflowing-float"),
    pytest.param(frame(type="create_group", id="r1", group="g", private="yes"), E.BAD_FIELD, "r1", id="str-as-bool"),
    pytest.param(frame(type="create_group", id="r1", group="g", private=1), E.BAD_FIELD, "r1", id="int-as-bool"),
    pytest.param(frame(type="send", id="r1", conv="all", text=None, cmid="c"), E.BAD_FIELD, "r1", id="null-text"),
    pytest.param(frame(type="ping", id="x" * (p.MAX_ID_CHARS + 1)), E.BAD_FIELD, None, id="id-too-long"),
    pytest.param(send(cmid="c" * (p.MAX_ID_CHARS + 1)), E.BAD_FIELD, "r1", id="cmid-too-long"),
    pytest.param(send(text="\x1b[2J"), E.BAD_FIELD, "r1", id="terminal-escape-in-text"),
    pytest.param(send(text="a\x00b"), E.BAD_FIELD, "r1", id="nul-in-text"),
    pytest.param(send(text="x" * (LIMIT + 1)), E.TOO_LARGE, "r1", id="ascii-text-over-limit"),
    pytest.param(send(text="é" * (LIMIT // 2) + "x"), E.TOO_LARGE, "r1", id="utf8-text-over-limit-under-in-chars"),
    pytest.param(send(text="😀" * (LIMIT // 4 + 1)), E.TOO_LARGE, "r1", id="4-byte-text-over-limit"),
]


@pytest.mark.parametrize(("data", "code", "rid"), MALFORMED)
def test_malformed_request_frames_give_the_exact_error_code(data: bytes, code: ErrorCode, rid: str | None) -> None:
    err = decode_error(data)
    assert (err.code, err.request_id) == (code, rid)


@pytest.mark.parametrize("text", ["x" * LIMIT, "é" * (LIMIT // 2), "€" * (LIMIT // 3) + "x", "😀" * (LIMIT // 4), "",
                                  "tab\tand\nnewline"])
@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_text_exactly_at_the_byte_limit_is_accepted(text: str, ensure_ascii: bool) -> None:
    assert len(text.encode()) <= LIMIT
    req = p.decode_request(frame(ensure_ascii, type="send", id="r1", conv="all", text=text, cmid="c1"))
    assert req == p.Send("r1", "all", text, "c1")


def test_ids_at_max_length_are_accepted() -> None:
    long_id = "x" * p.MAX_ID_CHARS
    assert p.decode_request(send(id=long_id, cmid=long_id)) == p.Send(long_id, "all", "hi", long_id)


# ---------------------------------------------------------------- samples of every message type

LIMITS = p.Limits(p.MAX_FRAME_BYTES, LIMIT, 200, 2000, 6000, 60000, p.NAME_MAX, p.NAME_RULE, 500,
                  {"everyone": p.RateLimit(5.0, 20), "history": p.RateLimit(50.0, 100)})
KEY = p.KeyInfo("g:team", 3, "ab" * 32)
MESSAGE = p.Message("g:team", 7, 1700000000.25, "Alice", "héllo 😀", "msg", "c-1")
SAMPLES: dict[type, Any] = {
    p.Hello: p.Hello("r1", p.PROTOCOL_VERSION, "Alice", resume="ab" * 16, link="7Q2M-9KXD-4TRA", device="laptop"),
    p.Send: p.Send("r2", "dm:alice:bob", "hi \"there\"\n", "cmid-9"),
    p.CreateGroup: p.CreateGroup("r3", "team", True),
    p.JoinGroup: p.JoinGroup("r4", "team"),
    p.LeaveGroup: p.LeaveGroup("r5", "team"),
    p.Invite: p.Invite("r6", "team", "bob"),
    p.ListGroups: p.ListGroups("r7", after="ops"),
    p.ListConversations: p.ListConversations("r13", after="dm:alice:bob"),
    p.Who: p.Who("r8", "g:team"),
    p.History: p.History("r9", "all", before=40, limit=10),
    p.MarkRead: p.MarkRead("r10", "all", 12),
    p.LinkDevice: p.LinkDevice("r14"),
    p.ListDevices: p.ListDevices("r15"),
    p.RevokeDevice: p.RevokeDevice("r16", "old-phone"),
    p.Ping: p.Ping("r11"),
    p.Bye: p.Bye("r12"),
    p.Welcome: p.Welcome("r1", "Alice", p.PROTOCOL_VERSION, "tcp://127.0.0.1:5556", 1700000000.5, True, LIMITS, [
        p.ConversationInfo("all", "everyone", "everyone", 10, 4),
        p.ConversationInfo("g:team", "group", "team", 3, 3, True)], "5f2b8c0e9d1a4f6b7c3e2d1a0b9c8d7e",
        [p.KeyInfo("all", 1, "cd" * 32), KEY], True),
    p.ConversationsPage: p.ConversationsPage("r13", [p.ConversationInfo("g:zoo", "group", "zoo", 0, 0)],
                                             [replace(KEY, scope="g:zoo")], True),
    p.Ok: p.Ok("r2", "g:team", 11, 1700000001.0, False, KEY),
    p.Groups: p.Groups("r7", [p.GroupInfo("team", False, 3, True), p.GroupInfo("ops", True, 1, False)], False),
    p.KeyChange: p.KeyChange("g:team", 4, "ef" * 32),
    p.LinkCode: p.LinkCode("r14", "7Q2M-9KXD-4TRA", 1700000600.0),
    p.Devices: p.Devices("r15", [p.DeviceInfo("device-1", 1.0, 2.0, True, True),
                                 p.DeviceInfo("phone", 3.0, 4.0, False)]),
    p.ReadMark: p.ReadMark("all", 12),
    p.Membership: p.Membership("g:team", p.ConversationInfo("g:team", "group", "team", 3, 1), KEY),
    p.Ended: p.Ended("this device (phone) was revoked"),
    p.Resubscribe: p.Resubscribe(["g:team|", "u:alice|"]),
    p.Users: p.Users("r8", "all", [p.UserInfo("Alice", "online"), p.UserInfo("bob", "lost")], 3),
    p.HistoryPage: p.HistoryPage("r9", "g:team", [MESSAGE, replace(MESSAGE, seq=8, kind="event", text="joined",
                                                                   cmid=None)], 7, 8, 8, False),
    p.Pong: p.Pong("r11", 1700000002.0),
    p.Error: p.error("r2", ErrorCode.RATE_LIMITED, "slow down", 250),
    p.Message: MESSAGE,
    p.Presence: p.Presence(1700000003.0, [p.PresenceChange("Alice", "online", "joined"),
                                          p.PresenceChange("bob", "offline", "timed_out"),
                                          p.PresenceChange("carol", "away", "set", "lunch")]),
    p.Heartbeat: p.Heartbeat(1700000004.0, {"all": 10, "g:team": 3}),
    p.Invited: p.Invited("team", "Alice"),
    # protocol 3
    p.Edit: p.Edit("r20", "g:team", 7, "héllo again"),
    p.Delete: p.Delete("r21", "g:team", 7),
    p.React: p.React("r22", "g:team", 7, "👍🏽"),
    p.Typing: p.Typing("r23", "dm:alice:bob"),
    p.SetStatus: p.SetStatus("r24", "away", "lunch", True),
    p.ReadMarks: p.ReadMarks("r25", "g:team"),
    p.Search: p.Search("r26", "release notes", before=99, limit=20),
    p.SetTopic: p.SetTopic("r27", "team", "ship it friday"),
    p.Moderate: p.Moderate("r28", "team", "ban", "mallory"),
    p.ReadMarksPage: p.ReadMarksPage("r25", "g:team", [p.ReadMarkInfo("bob", 7), p.ReadMarkInfo("Carol", 5)]),
    p.SearchPage: p.SearchPage("r26", "release notes", [replace(MESSAGE, edited=1700000009.5, mentions=["bob"])],
                               cursor=41, partial=True),
    p.TypingNotice: p.TypingNotice("dm:alice:bob", "Alice"),
    p.Seen: p.Seen("g:team", "bob", 7),
}
# the protocol 3 fields of a line, all at once (the samples above keep the protocol 2 shapes too)
RICH = replace(MESSAGE, seq=9, reply_to=7, quote=p.Quote("bob", "héllo", True), edited=1700000005.0, deleted=False,
               mentions=["bob", "carol"], reactions=[p.Reaction("👍", ["bob", "Carol"]), p.Reaction("+1", ["Alice"])])
TABLES = [(p.REQUEST_TYPES, p.decode_request), (p.REPLY_TYPES, p.decode_reply), (p.PUBLISHED_TYPES, p.decode_published)]


def test_every_message_type_has_a_round_trip_sample() -> None:
    every = {cls for table, _ in TABLES for cls in table.values()}
    assert set(SAMPLES) == every


def test_a_line_with_every_protocol_3_field_round_trips_and_a_plain_one_stays_as_short_as_in_protocol_2() -> None:
    assert p.decode_published(p.encode(RICH)) == RICH
    assert p.decode_reply(p.encode(replace(SAMPLES[p.HistoryPage], messages=[RICH]))).messages == [RICH]
    assert p.encode(MESSAGE) == ('{"conv":"g:team","seq":7,"ts":1700000000.25,"sender":"Alice","text":"héllo 😀",'
                                 '"kind":"msg","cmid":"c-1","type":"msg"}').encode()
    assert p._FAST[id(p.PUBLISHED_TYPES)](p.encode(MESSAGE)) == MESSAGE    # msgspec takes it: no generic path


@pytest.mark.parametrize(("table", "decode"), TABLES, ids=["request", "reply", "published"])
def test_decode_of_encode_is_identity_for_every_type(table: dict[str, type], decode: Any) -> None:
    for type_name, cls in table.items():
        sample = SAMPLES[cls]
        assert type(sample) is cls and json.loads(p.encode(sample))["type"] == type_name
        assert decode(p.encode(sample)) == sample


leaf_values = st.one_of(st.none(), st.booleans(), st.integers(-2**60, 2**60), st.text(max_size=20),
                        st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=3))


@given(sample=st.sampled_from([*SAMPLES.values(), RICH, LIMITS]), data=st.data())
def test_the_generated_init_builds_what_the_dataclass_one_does(sample: Any, data: Any) -> None:
    """compiled.make_init's __init__ (messages.py installs it): the same parameters, positional or
    by keyword, the same defaults, every field set, and the class still frozen."""
    cls = type(sample)
    all_fields = fields(cls)
    values = {f.name: getattr(sample, f.name) for f in all_fields}
    values.update({n: data.draw(leaf_values) for n in data.draw(st.sets(st.sampled_from(list(values)), max_size=3))})
    by_name, in_order = cls(**values), cls(*values.values())
    for made in (by_name, in_order):
        assert [getattr(made, f.name) for f in all_fields] == list(values.values())
    assert by_name == in_order
    required = [values[f.name] for f in all_fields if f.default is MISSING and f.default_factory is MISSING]
    bare = cls(*required)
    for f in all_fields:
        if f.default is not MISSING:
            assert getattr(bare, f.name) == f.default
        elif f.default_factory is not MISSING:
            assert getattr(bare, f.name) == f.default_factory()
    with pytest.raises(FrozenInstanceError):
        setattr(bare, all_fields[0].name, "changed")
    params = inspect.signature(cls).parameters
    assert list(params) == [f.name for f in all_fields]
    for f in all_fields:
        if f.default_factory is MISSING:
            assert params[f.name].default == (inspect.Parameter.empty if f.default is MISSING else f.default)


def test_every_message_class_without_a_default_factory_gets_the_generated_init() -> None:
    for cls in {type(s) for s in SAMPLES.values()} | {p.Quote, p.Reaction, p.KeyInfo, p.PresenceChange}:
        code = cls.__init__.__code__
        generated = code.co_filename == "<string>" and "_set_" in " ".join(code.co_names)
        has_factory = any(f.default_factory is not MISSING for f in fields(cls))
        assert generated is not has_factory, cls


def test_a_field_that_may_be_null_but_has_no_default_counts_only_when_present() -> None:
    """An error without an id (``id: str | None``, no default) still carries its retry_after_ms: the
    generated builder counted the absent id as present and took the optional tail for all None."""
    frame = b'{"code":"rate_limited","message":"slow down","retryable":true,"retry_after_ms":250,"type":"error"}'
    assert p.decode_reply(frame) == p.Error(None, E.RATE_LIMITED, "slow down", True, 250)


def test_an_error_without_request_id_round_trips() -> None:
    """The broker sends these for frames whose id was unreadable (bad_utf8, bad_json, too_large)."""
    err = p.error(None, ErrorCode.BAD_JSON, "frame is not JSON")
    assert p.decode_reply(p.encode(err)) == err


@pytest.mark.parametrize("code", list(ErrorCode))
def test_error_builder_derives_retryable_from_the_code(code: ErrorCode) -> None:
    expected = code in {E.RATE_LIMITED, E.SERVER_FULL, E.OVERLOADED, E.INTERNAL}
    assert p.decode_reply(p.encode(p.error("r", code, "m"))).retryable is expected


# ---------------------------------------------------------------- decoders never raise anything else

DECODERS = [p.decode_request, p.decode_reply, p.decode_published]
TYPE_NAMES = sorted({name for table, _ in TABLES for name in table})
FIELD_NAMES = sorted({f.name for s in SAMPLES.values() for f in fields(s)} | {f.name for f in fields(LIMITS)}
                     | {"conversations", "changes", "heads", "groups", "users", "messages"})
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**60, max_value=2**60) | st.floats()
           | st.text(max_size=10) | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), kids, max_size=5),
                           max_leaves=25)
type_values = st.sampled_from(TYPE_NAMES) | json_values
objects = st.builds(lambda t, body, has_type: {**body, "type": t} if has_type else body,
                    type_values, st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=5), json_values,
                                                 max_size=8), st.booleans())


def to_bytes(obj: Any, ensure_ascii: bool) -> bytes:
    return json.dumps(obj, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")


def check_decoder(decode: Any, data: bytes) -> None:
    try:
        msg = decode(data)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode)
        p.encode(p.error(None, exc.code, exc.message))  # the message can go on the wire (no lone surrogates)
        return
    assert decode(p.encode(msg)) == msg  # whatever decodes re-encodes to the same message


@given(data=st.binary(max_size=300))
def test_decoders_raise_only_protocol_error_on_arbitrary_bytes(data: bytes) -> None:
    for decode in DECODERS:
        check_decoder(decode, data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(obj=objects, ensure_ascii=st.booleans())
def test_decoders_raise_only_protocol_error_on_json_objects(obj: dict[str, Any], ensure_ascii: bool) -> None:
    for decode in DECODERS:
        check_decoder(decode, to_bytes(obj, ensure_ascii))


@given(sample=st.sampled_from(list(SAMPLES.values())), key=st.sampled_from(FIELD_NAMES),
       value=json_values, delete=st.booleans())
def test_decoders_raise_only_protocol_error_on_mutated_valid_messages(sample: Any, key: str, value: Any,
                                                                      delete: bool) -> None:
    obj = json.loads(p.encode(sample))
    if delete:
        obj.pop(key, None)
    else:
        obj[key] = value
    for decode in DECODERS:
        check_decoder(decode, to_bytes(obj, True))


# ---------------------------------------------------------------- names and topics

@pytest.mark.parametrize(("name", "ok"), [
    ("a", True), ("Alice", True), ("bob_2", True), ("x-y", True), ("9lives", True), ("a" * 32, True),
    ("", False), ("a" * 33, False), ("-alice", False), ("_alice", False), ("al ice", False), ("alice\n", False),
    ("élodie", False), ("Ωmega", False), ("名前", False), ("a.b", False), ("a|b", False), ("a:b", False),
    ("All", False), ("EVERYONE", False), ("server", False), ("Admin", False),
])
def test_check_name_accepts_only_the_name_rule(name: str, ok: bool) -> None:
    if ok:
        assert p.check_name(name) == name
    else:
        with pytest.raises(ProtocolError) as info:
            p.check_name(name)
        assert info.value.code is E.NAME_INVALID


@pytest.mark.parametrize(("a", "b"), [("Alice", "alice"), ("BOB", "bOb"), ("x-Y_1", "X-y_1")])
def test_names_are_unique_without_regard_to_case(a: str, b: str) -> None:
    assert p.canonical(a) == p.canonical(b) and p.user_topic(a) == p.user_topic(b) and p.group_key(a) == p.group_key(b)


@pytest.mark.parametrize(("a", "b", "key"), [("alice", "bob", "dm:alice:bob"), ("Zed", "amy", "dm:amy:zed"),
                                             ("b", "B2", "dm:b:b2")])
def test_dm_key_is_symmetric_and_canonical(a: str, b: str, key: str) -> None:
    assert p.dm_key(a, b) == p.dm_key(b, a) == key
    assert p.is_conversation_key(key)


@pytest.mark.parametrize(("short", "long"), [
    (p.topic("g:ab"), p.topic("g:abc")), (p.user_topic("ab"), p.user_topic("abc")), (p.topic("all"), p.topic("allx"))])
def test_no_topic_is_a_prefix_of_another(short: bytes, long: bytes) -> None:
    assert short.endswith(b"|") and long.endswith(b"|")
    assert not long.startswith(short)


# ---------------------------------------------------------------- connect strings

KEY = bytes(range(32))


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:5555", "tcp://chat.example.org:1", "ipc:///tmp/zchat.sock"])
@pytest.mark.parametrize("prefix", ["", p.CONNECT_PREFIX, "  " + p.CONNECT_PREFIX])
def test_connect_string_round_trips(endpoint: str, prefix: str) -> None:
    text = p.format_connect_string(endpoint, KEY)
    assert p.parse_connect_string(prefix + text + "\n") == (endpoint, KEY)


@pytest.mark.parametrize(("text", "says"), [
    ("tcp://127.0.0.1:5555", "not a zchat connect string"),
    ("tcp://127.0.0.1:5555#" + KEY.hex(), "not a zchat connect string"),
    ("tcp://127.0.0.1:5555#key=" + KEY.hex()[:-2], "64 hexadecimal digits"),
    ("tcp://127.0.0.1:5555#key=" + "zz" * 32, "64 hexadecimal digits"),
    ("tcp://127.0.0.1:5555#key=", "64 hexadecimal digits"),
    ("udp://127.0.0.1:5555#key=" + KEY.hex(), "bad endpoint"),
    ("127.0.0.1:5555#key=" + KEY.hex(), "bad endpoint"),
    ("tcp://127.0.0.1#key=" + KEY.hex(), "bad endpoint"),
])
def test_bad_connect_strings_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        p.parse_connect_string(text)


def test_format_connect_string_refuses_a_key_that_is_not_32_bytes() -> None:
    with pytest.raises(ValueError):
        p.format_connect_string("tcp://127.0.0.1:5555", KEY[:31])


def test_no_printable_character_is_a_control_character() -> None:
    """decode_request skips CONTROL_RE for a text that str.isprintable() passes: that is only right
    while no printable code point matches it."""
    printable_controls = [c for c in range(0x110000) if chr(c).isprintable() and p.CONTROL_RE.match(chr(c))]
    assert printable_controls == []


def test_c1_controls_are_refused_in_text_like_c0_ones() -> None:
    """U+009B is a CSI to many terminals: the broker refuses it as it refuses ESC."""
    for ch in ("\x1b", "\x7f", "\x9b", "\x85"):
        frame = p.encode(p.Send(id="1", conv="all", text=f"a{ch}[2J", cmid="c"))
        with pytest.raises(p.ProtocolError) as info:
            p.decode_request(frame)
        assert info.value.code == p.ErrorCode.BAD_FIELD
    assert p.strip_controls("a\x1b[2J\tb\nc\x9bd") == "a[2J\tb\ncd"
