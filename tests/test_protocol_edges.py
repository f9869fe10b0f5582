"""The corners of the protocol where docs/PROTOCOL.md and the broker once disagreed, each checked
against what the document now says (a client written from the document alone meets these)."""
from __future__ import annotations

from typing import Any

import pytest
import zmq

from tests.test_hub import Harness
from zchat import protocol as p
from zchat.errors import ErrorCode

E = ErrorCode


@pytest.fixture
def h() -> Any:
    harness = Harness()
    harness.join("alice", "bob")
    yield harness
    harness.store.close()


SURROGATE = "\\ud800"


@pytest.mark.parametrize("frame, code", [
    (f'{{"type":"send","id":"r","conv":"all","text":"a{SURROGATE}b","cmid":"c"}}', E.BAD_UTF8),
    (f'{{"type":"send","id":"r","conv":"all","text":"t","cmid":"c{SURROGATE}"}}', E.BAD_UTF8),
    (f'{{"type":"send","id":"r","conv":"al{SURROGATE}","text":"t","cmid":"c"}}', E.BAD_UTF8),
    (f'{{"type":"ping","id":"r{SURROGATE}"}}', E.BAD_UTF8),
    (f'{{"type":"pi{SURROGATE}ng","id":"r"}}', E.UNKNOWN_TYPE),
], ids=["text", "cmid", "conv", "id", "type"])
def test_a_lone_surrogate_in_a_field_the_broker_reads(h: Harness, frame: str, code: ErrorCode) -> None:
    (_, reply), = h.batch(("alice", frame.encode()))
    assert isinstance(reply, p.Error) and reply.code == code, reply


@pytest.mark.parametrize("frame", [
    f'{{"type":"ping","id":"r","extra":"{SURROGATE}"}}',
    f'{{"type":"ping","id":"r","{SURROGATE}":1}}',
], ids=["unknown-field", "unknown-key"])
def test_a_lone_surrogate_in_what_the_broker_ignores_is_ignored(h: Harness, frame: str) -> None:
    (_, reply), = h.batch(("alice", frame.encode()))
    assert isinstance(reply, p.Pong), reply


def test_a_dm_nobody_wrote_to_can_be_read_listed_and_marked(h: Harness) -> None:
    dm = p.dm_key("alice", "bob")
    page = h.history("alice", dm)
    assert page.messages == [] and page.complete
    users = h.ask("alice", p.Who("w", dm))
    assert sorted(u.name for u in users.users) == ["alice", "bob"]
    ok = h.ask("alice", p.MarkRead("m", dm, 5))
    assert isinstance(ok, p.Ok) and (ok.conv, ok.seq) == (dm, 0)          # was: internal, retryable
    assert dm not in {c.key for c in h.store.load_conversations()}        # and nothing was stored


@pytest.mark.parametrize("req", [p.Who("w", "dm:alice:nosuchuser"), p.MarkRead("m", "dm:alice:nosuchuser", 1),
                                 p.History("h", "dm:alice:nosuchuser"),
                                 p.Send("s", "dm:alice:nosuchuser", "hi", "c")], ids=lambda r: r.TYPE)
def test_a_dm_with_an_unknown_user_is_no_such_user(h: Harness, req: Any) -> None:
    h.fails("alice", req, E.NO_SUCH_USER)


@pytest.mark.parametrize("conv", ["ALL", "All", "G:dev", "dm:bob:alice", "dm:Alice:bob", "g:Dev"])
def test_conversation_keys_are_never_normalised(h: Harness, conv: str) -> None:
    h.ask("alice", p.CreateGroup("c", "dev"))
    err = h.fails("alice", p.Send("s", conv, "hi", f"c-{conv}"), E.NO_SUCH_CONVERSATION)
    if conv.startswith("dm:"):
        assert "'dm:alice:bob'" in err.message                          # the message gives the right spelling


def test_a_dm_to_oneself_is_refused_in_words_a_person_reads(h: Harness) -> None:
    err = h.fails("alice", p.Send("s", "dm:alice:alice", "hi me", "c"), E.NO_SUCH_CONVERSATION)
    assert err.message == "you cannot send a direct message to yourself"


def test_a_reused_cmid_gets_the_original_ok_whatever_the_conversation_or_text(h: Harness) -> None:
    first = h.ask("alice", p.Send("s1", "all", "the original", "same-cmid"))
    h.ask("alice", p.CreateGroup("c", "dev"))
    for conv, text in (("all", "another text"), ("g:dev", "another conversation")):
        again = h.ask("alice", p.Send("s2", conv, text, "same-cmid"))
        assert (again.conv, again.seq, again.ts, again.duplicate) == (first.conv, first.seq, first.ts, True)
    assert [m.text for m in h.history("alice", "all").messages] == ["the original"]
    assert [m.text for m in h.history("alice", "g:dev").messages] == ["created"]


CURVE_FRAME_OVERHEAD = 33    # libzmq applies ZMQ_MAXMSGSIZE to the encrypted frame: MESSAGE command + nonce + MAC


@pytest.mark.parametrize("size, dropped", [
    (p.MAX_FRAME_BYTES + 1024 - CURVE_FRAME_OVERHEAD, False),        # 66,527: the longest that gets a reply
    (p.MAX_FRAME_BYTES + 1024 - CURVE_FRAME_OVERHEAD + 1, True),     # 66,528: the link is dropped
], ids=["66527", "66528"])
def test_the_frame_size_slack_under_curve_is_as_documented(client: Any, size: int, dropped: bool) -> None:
    from tests.oskit import Monitored
    from tests.test_broker_robustness import frame_of_size
    c = client("sizer", subscribe=False)
    watch = Monitored(c.dealer, zmq.EVENT_DISCONNECTED)
    try:
        c.send_raw(frame_of_size(size))
        if dropped:
            watch.wait(zmq.EVENT_DISCONNECTED)
        else:
            reply = c.recv_reply()
            assert isinstance(reply, p.Error) and reply.code == "too_large" and reply.id is None, reply
            assert isinstance(c.call(p.Ping), p.Pong)         # the same link goes on
    finally:
        watch.close()
