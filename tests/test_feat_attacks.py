"""Protocol 3's requests tried as an attacker would, with raw frames from a bare pyzmq client
(tests/rawclient.py) against a real broker process: wrong types, huge and hostile texts, someone
else's line, a line of a conversation one cannot read, floods of reactions. Every one gets a
clear error (never ``internal``), changes nothing it may not, and the broker stays quick."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.rawclient import RawClient
from zchat import protocol as p

BIG = "x" * (p.MAX_TEXT_BYTES + 1)


def raw(c: RawClient, **obj: Any) -> Any:
    c.send_raw(json.dumps({"id": "a", **obj}).encode())
    return c.recv_reply()


HOSTILE = [
    ("edit-seq-string", {"type": "edit", "conv": "all", "seq": "1", "text": "x"}, "bad_field"),
    ("edit-seq-negative", {"type": "edit", "conv": "all", "seq": -1, "text": "x"}, "bad_field"),
    ("edit-seq-huge", {"type": "edit", "conv": "all", "seq": 2**53, "text": "x"}, "bad_field"),
    ("edit-seq-float", {"type": "edit", "conv": "all", "seq": 1.0, "text": "x"}, "bad_field"),
    ("edit-text-huge", {"type": "edit", "conv": "all", "seq": 1, "text": BIG}, "too_large"),
    ("edit-text-escape", {"type": "edit", "conv": "all", "seq": 1, "text": "\x1b[2J"}, "bad_field"),
    ("edit-text-missing", {"type": "edit", "conv": "all", "seq": 1}, "missing_field"),
    ("delete-seq-null", {"type": "delete", "conv": "all", "seq": None}, "bad_field"),
    ("react-emoji-huge", {"type": "react", "conv": "all", "seq": 1, "emoji": "😀" * 9}, "too_large"),
    ("react-emoji-newline", {"type": "react", "conv": "all", "seq": 1, "emoji": "a\nb"}, "bad_field"),
    ("react-emoji-space", {"type": "react", "conv": "all", "seq": 1, "emoji": "a b"}, "bad_field"),
    ("react-emoji-empty", {"type": "react", "conv": "all", "seq": 1, "emoji": " "}, "bad_field"),
    ("react-emoji-list", {"type": "react", "conv": "all", "seq": 1, "emoji": ["👍"]}, "bad_field"),
    ("status-offline", {"type": "status", "state": "offline"}, "bad_field"),
    ("status-escape", {"type": "status", "state": "away", "text": "\x9b31m"}, "bad_field"),
    ("status-huge", {"type": "status", "state": "away", "text": "x" * 129}, "too_large"),
    ("status-auto-string", {"type": "status", "state": "away", "auto": "yes"}, "bad_field"),
    ("topic-huge", {"type": "set_topic", "group": "den", "topic": "x" * 513}, "too_large"),
    ("topic-newline", {"type": "set_topic", "group": "den", "topic": "a\nb"}, "bad_field"),
    ("search-list", {"type": "search", "query": ["a"]}, "bad_field"),
    ("search-huge", {"type": "search", "query": "x" * 257}, "too_large"),
    ("search-before-negative", {"type": "search", "query": "x", "before": -5}, "bad_field"),
    ("moderate-action-number", {"type": "moderate", "group": "den", "action": 7, "name": "bob"}, "bad_field"),
    ("moderate-action-unknown", {"type": "moderate", "group": "den", "action": "nuke", "name": "bob"}, "bad_field"),
    ("send-kind-event", {"type": "send", "conv": "all", "text": "x", "cmid": "k1", "kind": "event"}, "bad_field"),
    ("send-kind-edit", {"type": "send", "conv": "all", "text": "x", "cmid": "k2", "kind": "edit"}, "bad_field"),
    ("send-reply-to-string", {"type": "send", "conv": "all", "text": "x", "cmid": "k3", "reply_to": "1"}, "bad_field"),
    ("typing-conv-bad", {"type": "typing", "conv": "G:DEN"}, "no_such_conversation"),
    ("read-marks-foreign-dm", {"type": "read_marks", "conv": "dm:bob:carol"}, "not_member"),
]


@pytest.mark.parametrize("obj, code", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_requests_get_a_clear_error_and_change_nothing(client: Callable[..., RawClient], obj: Any,
                                                               code: str) -> None:
    mallory, bob = client("mallory"), client("bob")
    client("carol")
    assert isinstance(bob.call(p.CreateGroup, group="den"), p.Ok)
    line = bob.say("all", "bob's line")
    reply = raw(mallory, **obj)
    assert isinstance(reply, p.Error) and reply.code == code and reply.id == "a", reply
    page = bob.call(p.History, conv="all")
    assert [(m.seq, m.text, m.kind) for m in page.messages] == [(line.seq, "bob's line", "msg")]


def test_someone_elses_line_cannot_be_edited_deleted_or_reached_from_outside(client: Callable[..., RawClient]) -> None:
    alice, bob, mallory = client("alice"), client("bob"), client("mallory")
    public = bob.say("all", "bob says")
    private = bob.say(p.dm_key("alice", "bob"), "for alice")
    for msg, code in [(p.Edit(id="e", conv="all", seq=public.seq, text="mallory was here"), "not_allowed"),
                      (p.Delete(id="d", conv="all", seq=public.seq), "not_allowed"),
                      (p.Edit(id="e", conv=private.conv, seq=private.seq, text="x"), "not_member"),
                      (p.Delete(id="d", conv=private.conv, seq=private.seq), "not_member"),
                      (p.React(id="r", conv=private.conv, seq=private.seq, emoji="👀"), "not_member"),
                      (p.Send(id="s", conv="all", text="re", cmid="m1", reply_to=private.seq + 50), "no_such_message"),
                      (p.ReadMarks(id="m", conv=private.conv), "not_member")]:
        mallory.send(msg)
        reply = mallory.recv_reply()
        assert isinstance(reply, p.Error) and reply.code == code, (msg, reply)
    # unknown fields name nobody: the sender of an edit is the key's owner
    bob.send_raw(json.dumps({"type": "edit", "id": "x", "conv": "all", "seq": public.seq, "text": "bob again",
                             "sender": "alice"}).encode())
    assert isinstance(bob.recv_reply(), p.Ok)
    page = alice.call(p.History, conv="all")
    assert [(m.sender, m.kind, m.text) for m in page.messages] == [("bob", "msg", "bob again"),
                                                                   ("bob", "edit", "bob again")]
    assert [m.text for m in alice.call(p.History, conv=private.conv).messages] == ["for alice"]


def test_a_reaction_flood_is_paced_bounded_per_line_and_the_broker_stays_quick(
        client: Callable[..., RawClient]) -> None:
    bob, flooder, calm = client("bob"), client("flooder"), client("calm")
    assert isinstance(bob.call(p.CreateGroup, group="den"), p.Ok)
    assert isinstance(flooder.call(p.JoinGroup, group="den"), p.Ok)
    target = bob.say("g:den", "react to me")
    for i in range(300):
        flooder.send(p.React(id=f"f{i}", conv="g:den", seq=target.seq, emoji=f"e{i}"))
    start = time.monotonic()
    assert isinstance(calm.call(p.Ping), p.Pong)
    assert time.monotonic() - start < 1.0
    codes = [getattr(flooder.recv_reply(), "code", "ok") for _ in range(300)]
    assert set(codes) <= {"ok", "rate_limited", "limit_reached"}
    assert codes.count("ok") == p.MAX_REACTIONS                    # the burst (30) is more than a line takes
    assert codes.count("limit_reached") >= 1 and codes.count("rate_limited") >= 200
    [line] = [m for m in bob.call(p.History, conv="g:den").messages if m.seq == target.seq]
    assert len(line.reactions or []) == p.MAX_REACTIONS
