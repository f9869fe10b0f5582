"""Abuse over real sockets: bad frames, bad requests, dead and half-open links, silent clients, floods.

Each test checks the exact reply (or the broker dropping the link when the protocol says so) and
then proves the broker is still healthy: its process runs, a fresh client joins, and its message
to everyone reaches a client that was connected before the abuse.

Most tests share one module-scoped broker (the abuse must not hurt the clients already there);
tests that need other command-line settings start their own with ``broker_factory``.
"""
from __future__ import annotations

import itertools
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from zchat import protocol as p

_serial = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test on the shared broker uses (names are bound to keys for good)."""
    return f"{prefix}{next(_serial)}"


def assert_healthy(broker: BrokerProcess, ctx: zmq.Context, watcher: RawClient) -> None:
    """The broker runs, a fresh client joins, and its message to everyone reaches ``watcher``."""
    assert broker.proc is not None and broker.proc.poll() is None, f"broker died: {broker.output()[-2000:]}"
    fresh = RawClient(ctx, broker.connect)
    try:
        name = unique("fresh")
        welcome = fresh.hello(name, subscribe=False)
        assert isinstance(welcome, p.Welcome), welcome
        text = f"still alive after {name}"
        ok = fresh.say(p.EVERYONE, text)
        assert isinstance(ok, p.Ok), ok
        got = watcher.wait_published(lambda t, m: isinstance(m, p.Message) and m.text == text)
        assert (got.sender, got.seq, got.conv) == (name, ok.seq, p.EVERYONE)
    finally:
        fresh.close()
    assert broker.proc.poll() is None, f"broker died: {broker.output()[-2000:]}"


def wait_presence(c: RawClient, name: str, reason: str, timeout: float = 5.0) -> p.PresenceChange:
    got = c.wait_published(lambda t, m: isinstance(m, p.Presence)
                           and any(ch.name == name and ch.reason == reason for ch in m.changes), timeout)
    return next(ch for ch in got.changes if ch.name == name and ch.reason == reason)


def tcp_address(broker: BrokerProcess) -> tuple[str, int]:
    endpoint, _ = p.parse_connect_string(broker.connect)
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return host, int(port)


def term_with_deadline(context: zmq.Context, seconds: float = 10) -> None:
    t = threading.Thread(target=context.term, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "zmq context could not terminate: a socket was left open"


# ---------------------------------------------------------------- fixtures

@dataclass
class Shared:
    broker: BrokerProcess
    ctx: zmq.Context
    watcher: RawClient         # joined before any abuse and subscribed to everyone

    def healthy(self) -> None:
        assert_healthy(self.broker, self.ctx, self.watcher)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    broker = BrokerProcess(tmp_path_factory.mktemp("shared") / "broker")
    broker.data_dir.mkdir()
    broker.start()
    context = zmq.Context()
    watcher = RawClient(context, broker.connect)
    try:
        assert isinstance(watcher.hello("watcher"), p.Welcome)
        yield Shared(broker, context, watcher)
    finally:
        watcher.close()
        term_with_deadline(context)
        if broker.stop() is None:
            broker.kill()


@pytest.fixture
def raw(shared: Shared) -> Iterator[Callable[..., RawClient]]:
    """make(name=None): a RawClient on the shared broker, closed after the test."""
    made: list[RawClient] = []

    def make(name: str | None = None, **kw: Any) -> RawClient:
        c = RawClient(shared.ctx, shared.broker.connect, **kw)
        made.append(c)
        if name:
            welcome = c.hello(name, subscribe=False)
            assert isinstance(welcome, p.Welcome), welcome
        return c

    yield make
    for c in made:
        c.close()


# ---------------------------------------------------------------- bad single frames

def j(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def frame_of_size(size: int) -> bytes:
    """A well-formed ping padded to exactly ``size`` bytes."""
    head = b'{"type":"ping","id":"big","pad":"'
    return head + b"x" * (size - len(head) - 2) + b'"}'


HELLO = {"type": "hello", "id": "h", "version": p.PROTOCOL_VERSION, "name": "okname"}
SEND = {"type": "send", "id": "s", "conv": "all", "text": "hi", "cmid": "c1"}

# (case id, frame, expected code, expected reply id)
BAD_FRAMES = [
    ("invalid-utf8", b'\xff\xfe{"type":"ping","id":"a"}', "bad_utf8", None),
    ("overlong-utf8", b'{"type":"ping","id":"\xc0\xaf"}', "bad_utf8", None),
    ("truncated-utf8", b'{"type":"ping","id":"\xe2\x82"}', "bad_utf8", None),
    ("not-json", b"hello broker", "bad_json", None),
    ("truncated-json", b'{"type":"ping","id":"a"', "bad_json", None),
    ("json-array", j(["ping", "a"]), "bad_json", None),
    ("json-string", j("ping"), "bad_json", None),
    ("json-number", b"42", "bad_json", None),
    ("json-null", b"null", "bad_json", None),
    ("nan-constant", b'{"type":"ping","id":"a","x":NaN}', "bad_json", None),
    ("deep-nesting", b"[" * 60000, "bad_json", None),
    ("empty-frame", b"", "bad_json", None),
    ("unknown-type", j({"type": "fly", "id": "u1"}), "unknown_type", "u1"),
    ("type-missing", j({"id": "u2"}), "unknown_type", "u2"),
    ("type-not-string", j({"type": 7, "id": "u3"}), "unknown_type", "u3"),
    ("reply-type-as-request", j({"type": "welcome", "id": "u4"}), "unknown_type", "u4"),
    ("type-is-list", j({"type": ["ping"], "id": "u5"}), "unknown_type", "u5"),
    ("type-is-object", j({"type": {"ping": 1}, "id": "u6"}), "unknown_type", "u6"),
    ("missing-id", j({"type": "ping"}), "missing_field", None),
    ("missing-version", j({k: v for k, v in HELLO.items() if k != "version"}), "missing_field", "h"),
    ("missing-name", j({k: v for k, v in HELLO.items() if k != "name"}), "missing_field", "h"),
    ("missing-cmid", j({k: v for k, v in SEND.items() if k != "cmid"}), "missing_field", "s"),
    ("version-is-string", j({**HELLO, "version": "1"}), "bad_field", "h"),
    ("version-is-bool", j({**HELLO, "version": True}), "bad_field", "h"),
    ("version-is-float", j({**HELLO, "version": 1.0}), "bad_field", "h"),
    ("version-negative", j({**HELLO, "version": -1}), "bad_field", "h"),
    ("version-over-2**53", j({**HELLO, "version": 2**53}), "bad_field", "h"),
    ("name-is-null", j({**HELLO, "name": None}), "bad_field", "h"),
    ("name-is-object", j({**HELLO, "name": {"a": 1}}), "bad_field", "h"),
    ("id-is-number", j({"type": "ping", "id": 5}), "bad_field", None),
    ("id-over-64-chars", j({"type": "ping", "id": "i" * (p.MAX_ID_CHARS + 1)}), "bad_field", None),
    ("cmid-over-64-chars", j({**SEND, "cmid": "c" * (p.MAX_ID_CHARS + 1)}), "bad_field", "s"),
    ("text-is-list", j({**SEND, "text": ["hi"]}), "bad_field", "s"),
    ("history-after-string", j({"type": "history", "id": "y", "conv": "all", "after": "5"}), "bad_field", "y"),
    ("private-not-bool", j({"type": "create_group", "id": "g", "group": "gg", "private": 1}), "bad_field", "g"),
    ("text-over-max-ascii", j({**SEND, "text": "x" * (p.MAX_TEXT_BYTES + 1)}), "too_large", "s"),
    ("text-over-max-multibyte", json.dumps({**SEND, "text": "\u00e9" * (p.MAX_TEXT_BYTES // 2 + 1)},
                                           ensure_ascii=False).encode(), "too_large", "s"),
    ("frame-over-max", frame_of_size(p.MAX_FRAME_BYTES + 1), "too_large", None),
    ("lone-surrogate-in-name", b'{"type":"hello","id":"h","version":1,"name":"\\ud800x"}', "bad_utf8", "h"),
    ("lone-surrogate-in-text", j({**SEND, "text": "a\ud83d"}), "bad_utf8", "s"),
    ("lone-surrogate-in-cmid", j({**SEND, "cmid": "\udc00"}), "bad_utf8", "s"),
]


def _ids(case: Any) -> str:
    return case.values[0] if hasattr(case, "values") else case[0]


def recv_json(c: RawClient, timeout: float = 5.0) -> dict[str, Any]:
    """The next reply as a plain JSON object, checked to decode with p.decode_reply as well."""
    data = c.recv_part(timeout)
    assert data is not None, "no reply from the broker in time"
    obj = json.loads(data)
    assert isinstance(obj, dict), obj
    p.decode_reply(data)
    return obj


def expect_error(c: RawClient, code: str, rid: str | None, timeout: float = 5.0) -> dict[str, Any]:
    reply = recv_json(c, timeout)
    assert (reply.get("type"), reply.get("code"), reply.get("id")) == ("error", code, rid), reply
    assert reply.get("retryable") is False and isinstance(reply.get("message"), str) and reply["message"]
    assert set(reply) <= {"type", "id", "code", "message", "retryable", "retry_after_ms"}, reply
    return reply


def assert_link_still_serves(c: RawClient, joined: bool) -> None:
    """The next reply on this DEALER answers the next request: the bad frame got exactly one reply
    and the broker kept the connection (and the session, when there was one)."""
    reply = c.call(p.Ping)
    if joined:
        assert isinstance(reply, p.Pong), reply
    else:
        assert isinstance(reply, p.Error) and reply.code == "not_joined", reply


@pytest.mark.parametrize("joined", [False, True], ids=["new-peer", "joined-peer"])
@pytest.mark.parametrize("case, frame, code, rid", BAD_FRAMES, ids=[_ids(c) for c in BAD_FRAMES])
def test_bad_single_frame_gets_exact_error(shared, raw, joined, case, frame, code, rid):
    assert len(frame) <= p.MAX_FRAME_BYTES + 1
    c = raw(unique("bad") if joined else None)
    c.send_raw(frame)
    expect_error(c, code, rid, timeout=3.0)
    assert_link_still_serves(c, joined)
    shared.healthy()


def test_error_reply_without_request_id_decodes(shared, raw):
    c = raw()
    c.send_raw(b"not json")
    reply = c.recv_reply()
    assert isinstance(reply, p.Error) and reply.code == "bad_json" and reply.id is None, reply


@pytest.mark.parametrize("joined", [False, True], ids=["new-peer", "joined-peer"])
@pytest.mark.parametrize("frames", [
    [j({"type": "ping", "id": "m1"}), j({"type": "ping", "id": "m2"})],
    [j({"type": "ping", "id": "m1"}), b"", j({"type": "ping", "id": "m3"})],
    [b"", b""],
], ids=["2-frames", "3-frames", "2-empty-frames"])
def test_multi_frame_request_is_bad_frames(shared, raw, joined, frames):
    c = raw(unique("multi") if joined else None)
    c.send_raw(*frames)
    err = expect_error(c, "bad_frames", None)
    assert str(len(frames)) in err["message"]
    assert_link_still_serves(c, joined)
    shared.healthy()


POISON_ID = b'{"type":"ping","id":"\\udfff"}'   # a request id that cannot be encoded back into a reply


def test_lone_surrogate_request_id_still_gets_one_reply(broker_factory, make_client):
    broker = broker_factory()     # its own broker: a failed batch must not take the shared one down
    watcher = make_client(broker.connect, "watcher")
    c = make_client(broker.connect)
    c.send_raw(POISON_ID)
    reply = recv_json(c, timeout=2.0)
    assert reply.get("type") == "error" and reply.get("code") == "bad_utf8", reply
    assert reply.get("id") is None, reply
    assert_link_still_serves(c, joined=False)
    assert_healthy(broker, watcher.ctx, watcher)


def test_poison_request_next_to_a_big_reply_does_not_kill_the_broker(broker_factory, make_client):
    broker = broker_factory()
    watcher = make_client(broker.connect, "watcher")
    c = make_client(broker.connect, "poisoner", subscribe=False)
    assert isinstance(c.call(p.CreateGroup, group="big"), p.Ok)
    for i in range(6):
        assert isinstance(c.say(p.group_key("big"), f"{i}" * p.MAX_TEXT_BYTES), p.Ok)
    c.send(p.History(id="page", conv=p.group_key("big"), after=0))
    c.send_raw(POISON_ID)                      # in the same batch as the history request
    c.send(p.Ping(id="after"))
    replies = []
    deadline = time.monotonic() + 3
    while len(replies) < 3 and time.monotonic() < deadline and broker.proc.poll() is None:
        if (part := c.recv_part(0.05)) is not None:
            replies.append(json.loads(part))
    assert broker.proc.poll() is None, f"the broker died: {broker.output()[-1500:]}"
    assert [r.get("id") for r in replies] == ["page", None, "after"], [str(r)[:200] for r in replies]
    assert_healthy(broker, watcher.ctx, watcher)


def test_history_page_of_big_messages_fits_in_a_frame(shared, raw):
    c = raw(unique("bulky"))
    group = unique("bulk")
    assert isinstance(c.call(p.CreateGroup, group=group), p.Ok)
    conv = p.group_key(group)
    texts = [f"{i}:" + "b" * (p.MAX_TEXT_BYTES - 8) for i in range(6)]
    for t in texts:
        assert isinstance(c.say(conv, t), p.Ok)
    got: list[str] = []
    after = 0
    for _ in range(len(texts) + 2):
        c.send(p.History(id="hp", conv=conv, after=after))
        assert c.dealer.poll(5000)
        data = c.dealer.recv()
        assert len(data) <= p.MAX_FRAME_BYTES, f"a history reply of {len(data)} bytes"
        [page] = [p.decode_reply(part) for part in p.unbundle(data)]
        got += [m.text for m in page.messages if m.kind == "msg"]
        after = page.to_seq
        if page.complete:
            break
    assert got == texts


def test_text_of_exactly_max_bytes_is_accepted(shared, raw):
    """The boundary the too_large cases stand on: MAX_TEXT_BYTES of UTF-8 is still a message."""
    c = raw(unique("edge"))
    text = "\u00e9" * (p.MAX_TEXT_BYTES // 2)
    assert len(text.encode()) == p.MAX_TEXT_BYTES
    ok = c.say(p.EVERYONE, text)
    assert isinstance(ok, p.Ok) and ok.seq, ok
    got = shared.watcher.wait_published(lambda t, m: isinstance(m, p.Message) and m.seq == ok.seq
                                        and m.conv == p.EVERYONE)
    assert got.text == text
    shared.healthy()


# ---------------------------------------------------------------- frames over ZMQ_MAXMSGSIZE

def wait_event(monitor: zmq.Socket, wanted: set[int], timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        if not monitor.poll(int(left * 1000) + 1):
            break
        event = recv_monitor_message(monitor)
        seen.append(event["event"])
        if event["event"] in wanted:
            return event
    raise AssertionError(f"no monitor event in {wanted} within {timeout}s (saw {seen})")


@pytest.mark.parametrize("size", [p.MAX_FRAME_BYTES + 2048, 1024 * 1024], ids=["maxmsgsize+1k", "1MiB"])
def test_frame_over_maxmsgsize_drops_only_that_link(shared, raw, size):
    c = raw()
    name = unique("huge")
    assert isinstance(c.hello(name, subscribe=False), p.Welcome)   # the link is up before the monitor starts
    monitor = c.dealer.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
    try:
        c.send_raw(frame_of_size(size))
        wait_event(monitor, {zmq.EVENT_DISCONNECTED})          # the broker cut this link ...
        wait_event(monitor, {zmq.EVENT_HANDSHAKE_SUCCEEDED})   # ... and the DEALER dialled again
        # the first reply on the new link answers the ping: nothing answered the huge frame, and the
        # closed link took the session's routing id with it, so the new connection must say hello
        assert_link_still_serves(c, joined=False)
        welcome = c.hello(name, subscribe=False)
        assert isinstance(welcome, p.Welcome) and welcome.resumed is True, welcome
    finally:
        c.dealer.disable_monitor()
        monitor.close(0)
    shared.healthy()


# ---------------------------------------------------------------- requests before hello, hello itself

NOT_JOINED = [
    (p.Send, {"conv": "all", "text": "before hello", "cmid": "bh"}),
    (p.CreateGroup, {"group": "prejoin"}),
    (p.JoinGroup, {"group": "prejoin"}),
    (p.LeaveGroup, {"group": "prejoin"}),
    (p.Invite, {"group": "prejoin", "name": "watcher"}),
    (p.ListGroups, {}),
    (p.Who, {}),
    (p.History, {"conv": "all"}),
    (p.MarkRead, {"conv": "all", "seq": 0}),
    (p.Ping, {}),
    (p.Bye, {}),
]


@pytest.mark.parametrize("cls, fields", NOT_JOINED, ids=[c.TYPE for c, _ in NOT_JOINED])
def test_request_before_hello_is_not_joined(shared, raw, cls, fields):
    c = raw()
    reply = c.call(cls, **fields)
    assert isinstance(reply, p.Error) and reply.code == "not_joined" and reply.retryable is False, reply
    # it had no effect: the same link can join, and nothing was created or stored
    assert isinstance(c.hello(unique("late"), subscribe=False), p.Welcome)
    groups = c.call(p.ListGroups)
    assert "prejoin" not in [g.name for g in groups.groups]
    page = c.call(p.History, conv="all")
    assert "before hello" not in [m.text for m in page.messages]
    shared.healthy()


@pytest.mark.parametrize("version", [0, p.PROTOCOL_VERSION + 1, p.MAX_INT])
def test_unknown_version_is_refused_and_binds_nothing(shared, raw, version):
    name = unique("ver")
    c = raw()
    reply = c.call(p.Hello, version=version, name=name)
    assert isinstance(reply, p.Error) and reply.code == "version_unsupported", reply
    assert f"{p.MIN_VERSION}" in reply.message and f"{p.PROTOCOL_VERSION}" in reply.message
    assert_link_still_serves(c, joined=False)
    other = raw()   # the refused hello did not bind the name to c's key
    assert isinstance(other.hello(name, subscribe=False), p.Welcome)
    shared.healthy()


@pytest.mark.parametrize("name", [
    "", "-dash", "_under", "a" * (p.NAME_MAX + 1), "two words", "dot.name", "b\u00f8b", "tab\t",
    "all", "ADMIN", "Server", "\u0430lice",
])
def test_invalid_name_is_name_invalid(shared, raw, name):
    c = raw()
    reply = c.call(p.Hello, version=p.PROTOCOL_VERSION, name=name)
    assert isinstance(reply, p.Error) and reply.code == "name_invalid" and reply.retryable is False, reply
    assert_link_still_serves(c, joined=False)
    good = unique("n")  # the same link can still join under a valid name
    assert isinstance(c.hello(good, subscribe=False), p.Welcome)
    shared.healthy()


def test_longest_valid_name_is_accepted(shared, raw):
    name = unique("z").ljust(p.NAME_MAX, "9")
    assert len(name) == p.NAME_MAX
    welcome = raw().hello(name, subscribe=False)
    assert isinstance(welcome, p.Welcome) and welcome.name == name


def test_name_and_key_stay_bound(shared, raw):
    name = unique("owner")
    owner = raw(name)
    reply = raw().call(p.Hello, version=p.PROTOCOL_VERSION, name=name.upper())
    assert isinstance(reply, p.Error) and reply.code == "name_taken", reply
    reply = owner.call(p.Hello, version=p.PROTOCOL_VERSION, name=unique("second"))
    assert isinstance(reply, p.Error) and reply.code == "key_in_use", reply
    shared.healthy()


# ---------------------------------------------------------------- dead and half-open links

ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"


def plain_connect(broker: BrokerProcess) -> socket.socket:
    """A plain TCP connection that the broker has accepted: it has sent us its ZMTP signature."""
    s = socket.create_connection(tcp_address(broker), timeout=5)
    s.settimeout(5)
    got = b""
    while len(got) < 10:
        chunk = s.recv(10 - len(got))
        assert chunk, "the broker closed a fresh connection before greeting"
        got += chunk
    assert got[0] == 0xFF and got[9] == 0x7F, got
    return s


def assert_broker_closes(s: socket.socket) -> None:
    """Read (bounded by the socket timeout) until the broker closes the connection."""
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError("the broker kept a connection open after garbage") from None


def rst_close(s: socket.socket) -> None:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def test_tcp_connect_then_fin(shared):
    s = plain_connect(shared.broker)
    s.close()
    shared.healthy()


def test_tcp_connect_then_rst(shared):
    s = plain_connect(shared.broker)
    rst_close(s)
    shared.healthy()


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: zchat\r\n\r\n",
    bytes(range(1, 256)) * 4,
    ZMTP_SIGNATURE + b"\x03\x00" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32,   # a NULL client
    ZMTP_SIGNATURE + b"\x03\x00" + b"BOGUS".ljust(20, b"\x00") + b"\x00" * 32,
    ZMTP_SIGNATURE + b"\x03\x00" + b"CURVE".ljust(20, b"\x00") + b"\x00" * 32 + b"\x55" * 300,
], ids=["http", "binary", "null-mechanism", "bogus-mechanism", "curve-then-garbage"])
def test_tcp_garbage_is_cut_off(shared, garbage):
    s = plain_connect(shared.broker)
    try:
        s.sendall(garbage)
        assert_broker_closes(s)
    finally:
        s.close()
    shared.healthy()


@pytest.mark.parametrize("sent", [b"\xff\x00\x00", ZMTP_SIGNATURE, ZMTP_SIGNATURE + b"\x03"],
                         ids=["3-bytes", "signature", "signature+major"])
@pytest.mark.parametrize("close", ["fin", "rst"])
def test_partial_greeting_then_close(shared, sent, close):
    s = plain_connect(shared.broker)
    s.sendall(sent)
    if close == "rst":
        rst_close(s)
    else:
        s.close()
    shared.healthy()


def test_curve_client_closes_before_hello(shared, raw):
    c = raw(monitor=zmq.EVENT_HANDSHAKE_SUCCEEDED)    # watched from before the connect: no event missed
    wait_event(c.monitor, {zmq.EVENT_HANDSHAKE_SUCCEEDED})   # CURVE and ZAP done: the broker knows the link
    c.close()
    shared.healthy()


def test_curve_client_closes_mid_handshake(shared, raw):
    c = raw()
    c.close()    # connect() is asynchronous: this closes while the handshake is at most under way
    shared.healthy()


def test_client_with_wrong_server_key_is_refused(shared):
    context = zmq.Context()
    try:
        dealer = context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.curve_serverkey = zmq.curve_keypair()[0]           # not the broker's key
        dealer.curve_publickey, dealer.curve_secretkey = zmq.curve_keypair()
        monitor = dealer.get_monitor_socket()
        endpoint, _ = p.parse_connect_string(shared.broker.connect)
        dealer.connect(endpoint)
        wait_event(monitor, {zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                             zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_DISCONNECTED})
        dealer.disable_monitor()
        monitor.close(0)
        dealer.close(0)
    finally:
        term_with_deadline(context)
    shared.healthy()


def test_client_dying_mid_send(shared, raw):
    """A client floods a group with big messages and dies (linger 0, context terminated) while they
    are still leaving: the broker stores an in-order prefix of them, no gap, and keeps serving."""
    context = zmq.Context()
    name, group = unique("dying"), unique("grave")
    sent = [f"{i:05d}:" + "z" * 15000 for i in range(40)]
    try:
        dying = RawClient(context, shared.broker.connect)
        assert isinstance(dying.hello(name, subscribe=False), p.Welcome)
        assert isinstance(dying.call(p.CreateGroup, group=group), p.Ok)
        for i, text in enumerate(sent):
            dying.send(p.Send(id=f"d{i}", conv=p.group_key(group), text=text, cmid=f"d{i}"))
        dying.close()
    finally:
        term_with_deadline(context)
    shared.healthy()
    reader = raw(unique("reader"))
    assert isinstance(reader.call(p.JoinGroup, group=group), p.Ok)
    rows: list[p.Message] = []
    for _ in range(len(sent) + 5):   # pages of 3 (~45 KB): see test_history_page_of_big_messages_fits_in_a_frame
        page = reader.call(p.History, conv=p.group_key(group), after=rows[-1].seq if rows else 0, limit=3)
        rows += page.messages
        if page.complete:
            break
    assert page.complete, page
    seqs = [m.seq for m in rows]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    stored = [m.text for m in rows if m.kind == "msg" and m.sender == name]
    assert stored == sent[:len(stored)]


# ---------------------------------------------------------------- silent clients, coming back, bye

def test_silent_client_is_lost_then_timed_out(broker_factory, make_client):
    broker = broker_factory("--grace", "1")
    bob = make_client(broker.connect, "bob")
    alice = make_client(broker.connect, "alice", subscribe=False)
    wait_presence(bob, "alice", "joined")
    # silent for 3 heartbeats (0.75 s): lost; then not back within the 1 s grace: timed out. The order
    # of the two changes proves the two stages; how long each took depends on the machine's load.
    changes: list[p.PresenceChange] = []

    def alice_changes(topic: bytes, m: Any) -> bool:
        if isinstance(m, p.Presence):
            changes.extend(ch for ch in m.changes if ch.name == "alice")
        return any(ch.reason == "timed_out" for ch in changes)
    bob.wait_published(alice_changes, timeout=30)
    assert [(ch.reason, ch.state) for ch in changes] == [("lost", "lost"), ("timed_out", "offline")], changes
    # the name still belongs to alice's key
    intruder = make_client(broker.connect)
    reply = intruder.call(p.Hello, version=p.PROTOCOL_VERSION, name="alice")
    assert isinstance(reply, p.Error) and reply.code == "name_taken", reply
    again = make_client(broker.connect, keypair=(alice.public, alice.secret))
    welcome = again.hello("alice", subscribe=False)
    assert isinstance(welcome, p.Welcome) and welcome.resumed is False, welcome
    wait_presence(bob, "alice", "joined")
    assert_healthy(broker, bob.ctx, bob)


def test_client_back_before_grace_resumes(broker_factory, make_client):
    broker = broker_factory("--grace", "30")
    bob = make_client(broker.connect, "bob")
    alice = make_client(broker.connect, "alice", subscribe=False)
    keypair, token = (alice.public, alice.secret), alice.welcome.sub_token
    wait_presence(bob, "alice", "joined")
    wait_presence(bob, "alice", "lost", timeout=5)
    alice.close()                                                 # the old link is dead
    back = make_client(broker.connect, keypair=keypair)           # a new DEALER, the same key ...
    welcome = back.hello("alice", subscribe=False, resume=token)  # ... resuming its session
    assert isinstance(welcome, p.Welcome) and welcome.resumed is True, welcome
    change = wait_presence(bob, "alice", "back")
    assert change.state == "online"
    ok = back.say(p.EVERYONE, "I am back")
    assert isinstance(ok, p.Ok), ok
    [m] = bob.messages(p.EVERYONE, 1)
    assert (m.sender, m.text) == ("alice", "I am back")
    assert_healthy(broker, bob.ctx, bob)


def test_bye_is_left_and_name_stays_with_key(broker_factory, make_client):
    broker = broker_factory()
    bob = make_client(broker.connect, "bob")
    alice = make_client(broker.connect, "alice", subscribe=False)
    wait_presence(bob, "alice", "joined")
    assert isinstance(alice.call(p.Bye), p.Ok)
    change = wait_presence(bob, "alice", "left")
    assert change.state == "offline"
    reply = alice.call(p.Ping)                                    # the session is over
    assert isinstance(reply, p.Error) and reply.code == "not_joined", reply
    intruder = make_client(broker.connect)
    reply = intruder.call(p.Hello, version=p.PROTOCOL_VERSION, name="alice")
    assert isinstance(reply, p.Error) and reply.code == "name_taken", reply
    welcome = alice.hello("alice", subscribe=False)
    assert isinstance(welcome, p.Welcome) and welcome.resumed is False, welcome
    wait_presence(bob, "alice", "joined")
    assert_healthy(broker, bob.ctx, bob)


# ---------------------------------------------------------------- rate limit

def test_everyone_has_its_own_rate_limit_apart_from_groups(broker_factory, make_client):
    broker = broker_factory("--rate", "1", "--rate-burst", "3")
    alice = make_client(broker.connect, "alice", subscribe=False)
    bob = make_client(broker.connect, "bob")
    # four sends back to back (pipelined), then their four replies, in order
    ids = [f"q{i}" for i in range(4)]
    for i, rid in enumerate(ids):
        alice.send(p.Send(id=rid, conv=p.EVERYONE, text=f"burst {i}", cmid=rid))
    replies = [alice.recv_reply() for _ in ids]
    assert [r.id for r in replies] == ids
    assert all(isinstance(r, p.Ok) for r in replies[:3]), replies
    limited = replies[3]
    assert isinstance(limited, p.Error) and limited.code == "rate_limited", limited
    assert limited.retryable is True and 0 < limited.retry_after_ms <= 1000, limited
    # groups draw on another bucket ("message", 20/s, burst 100): the empty everyone bucket does not stop them
    assert isinstance(alice.call(p.CreateGroup, group="team"), p.Ok)
    for i in range(10):
        ok = alice.say(p.group_key("team"), f"team {i}")
        assert isinstance(ok, p.Ok), ok
    # the refused message was neither stored nor published: bob's everyone stream is alice's three,
    # then his own, with no seq skipped
    assert isinstance(bob.say(p.EVERYONE, "bob here"), p.Ok)
    got = bob.messages(p.EVERYONE, 4)
    assert [(m.sender, m.text, m.seq) for m in got] == [
        ("alice", "burst 0", 1), ("alice", "burst 1", 2), ("alice", "burst 2", 3), ("bob", "bob here", 4)]
    assert_healthy(broker, bob.ctx, bob)


# ---------------------------------------------------------------- dead links give their file descriptors back

def open_fds(broker: BrokerProcess) -> int:
    assert broker.proc is not None
    return len(os.listdir(f"/proc/{broker.proc.pid}/fd"))


def wait_fds(broker: BrokerProcess, at_most: int, timeout: float = 30.0) -> int:
    """The broker's open file descriptors once they are ``at_most`` (or when ``timeout`` is up)."""
    deadline, pause = time.monotonic() + timeout, threading.Event()
    while (n := open_fds(broker)) > at_most and time.monotonic() < deadline:
        pause.wait(0.05)    # /proc offers nothing to wait on: read it again, within the deadline
    return n


LINKS = 12
FD_CASES = [("fin", b""), ("rst", b""), ("fin", b"\xff\x00\x00"), ("rst", ZMTP_SIGNATURE),
            ("fin", ZMTP_SIGNATURE + b"\x03"), ("rst", ZMTP_SIGNATURE + b"\x03")]


@pytest.mark.parametrize("close, sent", FD_CASES, ids=["fin", "rst", "3-bytes-fin", "signature-rst",
                                                       "signature+major-fin", "signature+major-rst"])
def test_dead_links_give_the_broker_its_file_descriptors_back(broker_factory, make_client, close, sent):
    """TCP links that die (FIN, RST) before or in the middle of the ZMTP greeting: the broker closes
    its end of each, so a broker that ran for months has as many descriptors open as on day one."""
    broker = broker_factory()
    watcher = make_client(broker.connect, "watcher")      # joined and subscribed: the broker is steady
    before = open_fds(broker)
    links = [plain_connect(broker) for _ in range(LINKS)]  # each one greeted: the broker holds it open
    assert open_fds(broker) >= before + LINKS, "the broker's descriptors did not show the new links"
    for s in links:
        if sent:
            s.sendall(sent)
        if close == "rst":
            rst_close(s)
        else:
            s.close()
    after = wait_fds(broker, before)
    assert after <= before, f"{after - before} of {LINKS} dead links still hold a descriptor in the broker"
    assert_healthy(broker, watcher.ctx, watcher)
    assert wait_fds(broker, before) <= before, "the fresh client's link was not given back"
