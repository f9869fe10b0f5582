"""The client session against the broker's hub, wired in memory (h11's ConnectionPair idea).

No sockets: frames go straight from ClientSession to Hub and back, and publishes reach the
sessions whose subscriptions the hub allowed, so gap filling, resume, retries and unread
counts are tested exactly and fast. A "drop" hook loses chosen publishes on the way.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.hubkit import name_of, peer_of, record_keys
from zchat import events as ev
from zchat import protocol as p
from zchat.commands import execute
from zchat.hub import DEFAULT_RATES, Hub, HubConfig
from zchat.session import ClientSession
from zchat.store import SQLiteStore


class Net:
    def __init__(self) -> None:
        self.now = [1000.0]
        self.store = SQLiteStore(":memory:")
        rates = {**DEFAULT_RATES, p.RateKind.EVERYONE: p.RateLimit(1.0, 3)}
        self.hub = Hub(self.store, HubConfig(pub_endpoint="inproc://pub", rates=rates), clock=lambda: self.now[0])
        self.keys = record_keys(self.hub)
        self.sessions: dict[str, tuple[ClientSession, set[bytes], list[ev.Event]]] = {}
        self.drop: Callable[[bytes, bytes], bool] = lambda topic, payload: False

    def connect(self, name: str, session: ClientSession | None = None) -> ClientSession:
        s = session or ClientSession(name)
        self.sessions[name] = (s, set(), self.sessions.get(name, (None, None, []))[2])
        s.connected(self.now[0])
        self.pump()
        return s

    def disconnect(self, name: str) -> None:
        s, subs, _ = self.sessions[name]
        subs.clear()
        s.connection_lost()

    def pump(self) -> None:
        """Move frames until nothing is left to move."""
        moved = True
        while moved:
            moved = False
            for name, (s, subs, _) in list(self.sessions.items()):
                subs.update(t for t in s.subscribe if self.hub.may_subscribe(s.sub_token, t))
                subs.difference_update(s.unsubscribe)
                s.subscribe.clear()
                s.unsubscribe.clear()
                frames, s.frames = s.frames, []
                with self.store.transaction():
                    for f in frames:
                        self.hub.handle(peer_of(name), f"key-{name}", f)
                replies, pubs = self.hub.take_output()
                for peer, payload in replies:
                    self.sessions[name_of(peer)][0].receive_reply(payload, self.now[0])
                for topic, payload in pubs:
                    if self.drop(topic, self.keys.open(topic, payload)):
                        continue
                    for other, osubs, _ in self.sessions.values():
                        if topic in osubs:
                            other.receive_published(topic, payload, self.now[0])
                moved = moved or bool(frames or replies or pubs)
            for s, _, seen in self.sessions.values():
                seen += s.events
                s.events = []

    def do(self, name: str, line: str) -> None:
        execute(self.sessions[name][0], line)
        self.pump()

    def tick(self, seconds: float) -> None:
        self.now[0] += seconds
        for s, _, _ in self.sessions.values():
            s.tick(self.now[0])
        self.hub.tick()
        self.pump()

    def seen(self, name: str) -> list[ev.Event]:
        return self.sessions[name][2]

    def lines(self, name: str, conv: str = "all") -> list[ev.MessageReceived]:
        return [e for e in self.seen(name) if isinstance(e, ev.MessageReceived) and e.conv == conv and e.kind == "msg"]


@pytest.fixture
def net() -> Net:
    return Net()


def test_join_is_confirmed_and_subscribes_only_to_what_it_may_read(net):
    s = net.connect("alice")
    joined = [e for e in net.seen("alice") if isinstance(e, ev.Joined)]
    assert joined[0].name == "alice" and not joined[0].resumed
    assert net.sessions["alice"][1] == {b"p|", b"hb|", b"all|", b"u:alice|"}
    assert s.joined


def test_a_dropped_live_message_is_filled_in_order_without_the_user_noticing(net):
    net.connect("alice"), net.connect("bob")
    net.drop = lambda topic, payload: b'"text":"two"' in payload
    for text in ("one", "two", "three"):
        net.do("alice", text)
    got = net.lines("bob")
    assert [(e.seq, e.text, e.missed) for e in got] == [(1, "one", False), (2, "two", False), (3, "three", False)]


def test_a_bundle_of_lines_in_one_frame_is_shown_line_by_line_in_order(net):
    net.connect("alice"), net.connect("bob")
    frames: list[bytes] = []

    def keep_a_copy(topic: bytes, payload: bytes) -> bool:
        if topic == b"all|":
            frames.append(payload)
        return False
    net.drop = keep_a_copy
    alice = net.sessions["alice"][0]
    for text in ("one", "two", "three"):
        execute(alice, text)                     # no pump in between: one batch, so one frame (protocol 4)
    net.pump()
    assert len(frames) == 1 and frames[0].count(p.BUNDLE_SEP) == 2
    assert [(e.seq, e.text, e.missed) for e in net.lines("bob")] == [(1, "one", False), (2, "two", False),
                                                                     (3, "three", False)]


def test_a_lost_bundle_is_found_through_the_heartbeat_and_filled_in_order(net):
    net.connect("alice"), net.connect("bob")
    net.drop = lambda topic, payload: b'"text":"two"' in payload        # the whole frame, all three lines
    alice = net.sessions["alice"][0]
    for text in ("one", "two", "three"):
        execute(alice, text)
    net.pump()
    assert net.lines("bob") == []
    net.drop = lambda topic, payload: False
    net.tick(2.5)
    assert [(e.seq, e.text) for e in net.lines("bob")] == [(1, "one"), (2, "two"), (3, "three")]


def test_a_lost_last_message_is_found_through_the_heartbeat(net):
    net.connect("alice"), net.connect("bob")
    net.drop = lambda topic, payload: b'"text":"last"' in payload
    net.do("alice", "last")
    assert net.lines("bob") == []
    net.drop = lambda topic, payload: False
    net.tick(2.5)
    assert [e.text for e in net.lines("bob")] == ["last"]


def test_coming_back_shows_what_was_missed_once_in_order_marked_missed(net):
    net.connect("alice"), net.connect("bob")
    net.do("bob", "seen before")
    net.tick(1)                                      # bob's read mark goes out
    net.do("bob", "[EXIT]")
    assert any(isinstance(e, ev.Left) for e in net.seen("bob"))
    del net.sessions["bob"]
    net.do("alice", "/msg bob while you were out")
    for i in range(3):
        net.do("alice", f"missed {i}")
    net.connect("bob")
    everyone = net.lines("bob")
    assert [(e.text, e.missed) for e in everyone] == [("missed 0", True), ("missed 1", True), ("missed 2", True)]
    assert [(e.text, e.missed) for e in net.lines("bob", "dm:alice:bob")] == [("while you were out", True)]


def test_a_send_in_flight_when_the_link_dies_is_resent_once_with_the_same_id(net):
    net.connect("alice"), net.connect("bob")
    alice = net.sessions["alice"][0]
    alice.send("important")
    with net.store.transaction():                    # the broker stores it, but the ack is lost
        net.hub.handle(b"alice", "key-alice", alice.frames.pop())
    net.hub.take_output()
    net.disconnect("alice")
    assert len(alice.outbox) == 1
    net.connect("alice", alice)                      # welcome -> resend with the same cmid -> duplicate ok
    assert alice.outbox == {}
    assert [m.text for m in net.store.after("all", 0, 10)] == ["important"]


def test_unread_counts_follow_the_current_conversation(net):
    net.connect("alice"), net.connect("bob")
    net.do("alice", "/msg bob one")
    net.do("alice", "/msg bob two")
    lists = [e for e in net.seen("bob") if isinstance(e, ev.ConversationsChanged)]
    assert {c.conv: c.unread for c in lists[-1].conversations}["dm:alice:bob"] == 2
    net.do("bob", "/switch @alice")
    last = [e for e in net.seen("bob") if isinstance(e, ev.ConversationsChanged)][-1]
    assert last.current == "dm:alice:bob" and all(c.unread == 0 for c in last.conversations)


def test_rate_limited_sends_wait_and_go_in_order(net):
    net.connect("alice"), net.connect("bob")
    for i in range(6):                               # burst 3, then 1 per second
        net.do("alice", f"m{i}")
    assert [e.text for e in net.lines("bob")] == ["m0", "m1", "m2"]
    assert any(isinstance(e, ev.Info) and "slowly" in e.text for e in net.seen("alice"))
    for _ in range(8):
        net.tick(1.1)
    assert [e.text for e in net.lines("bob")] == [f"m{i}" for i in range(6)]


@pytest.mark.parametrize("line, code", [("/nope", "unknown_command"), ("/msg", "usage"), ("/join", "usage"),
                                        ("/history x", "usage"), ("/switch #nowhere", "usage"),
                                        ("/join nosuch", "no_such_conversation"),
                                        ("/msg nobody hi", "no_such_user")])
def test_bad_commands_become_error_events(net, line, code):
    net.connect("alice")
    net.do("alice", line)
    failed = [e for e in net.seen("alice") if isinstance(e, ev.CommandFailed)]
    assert [f.code for f in failed] == [code]


def test_history_command_shows_the_last_n_marked_as_history(net):
    net.connect("alice")
    for i in range(5):
        net.do("alice", f"h{i}")
    net.tick(5)
    net.do("alice", "/history 2")
    shown = [e for e in net.seen("alice") if isinstance(e, ev.MessageReceived) and e.history]
    assert [e.text for e in shown] == ["h3", "h4"]


def test_a_silent_broker_is_noticed(net):
    s = net.connect("alice")
    assert s.tick(net.now[0] + 1)
    assert not s.tick(net.now[0] + 60)              # past the heartbeat timeout with nothing heard


def test_send_status_follows_a_send_through_an_outage_and_a_refusal(net):
    net.connect("alice"), net.connect("bob")
    alice = net.sessions["alice"][0]
    net.disconnect("alice")
    net.do("alice", "while offline")                 # no link: it waits in the outbox
    def statuses() -> list[tuple[str, str, int, str]]:
        return [(e.state, e.text, e.seq, e.reason) for e in net.seen("alice") if isinstance(e, ev.SendStatus)]
    assert statuses() == [("sending", "while offline", 0, "")]
    net.connect("alice", alice)                      # welcome -> the outbox goes -> ok
    assert statuses()[1:] == [("sent", "while offline", 1, "")]
    sent = [e for e in net.seen("alice") if isinstance(e, ev.SendStatus)]
    assert sent[0].cmid == sent[1].cmid and sent[0].conv == "all"
    net.do("alice", "/msg nobody hi")                # refused for good: failed, with the broker's reason
    failed = [e for e in net.seen("alice") if isinstance(e, ev.SendStatus)][-1]
    assert (failed.state, failed.conv, failed.text) == ("failed", "dm:alice:nobody", "hi")
    assert "nobody" in failed.reason


def test_a_dm_whose_first_line_was_lost_is_found_by_its_heartbeat(net: Net) -> None:
    """bob writes to alice before her subscription is in: the line is lost, and she has no such
    conversation to catch up; the DM's heartbeat on her own topic names it, and she fetches it."""
    net.connect("alice")
    net.connect("bob")
    net.drop = lambda topic, payload: b'"text":"too early"' in payload
    net.do("bob", "/msg alice too early")
    assert "dm:alice:bob" not in net.sessions["alice"][0].convs
    net.drop = lambda topic, payload: False
    net.tick(2.0)
    net.tick(2.0)
    assert [e.text for e in net.lines("alice", "dm:alice:bob")] == ["too early"]


def test_a_subscription_that_goes_deaf_is_noticed_while_replies_still_come(net: Net) -> None:
    """Pings are answered but heartbeats stop (the SUB lost its subscriptions): the session asks
    for a new SUB, says so, and is live again once a heartbeat proves the subscriptions are in."""
    alice = net.connect("alice")
    net.tick(2.0)                                      # the first heartbeat: subscriptions proven
    assert alice.tick(net.now[0]) and not alice.sub_stale
    net.sessions["alice"][1].clear()                   # the SUB hears nothing from here on
    for _ in range(4):
        net.tick(2.0)                                  # pings answered: the broker is not silent
    assert alice.joined and alice.sub_stale
    mark = len(net.seen("alice"))
    net.sessions["alice"][1].update({b"p|", b"hb|", b"all|", b"u:alice|"})   # what a new SUB asks for
    alice.sub_relinked(net.now[0])
    assert not alice.sub_stale
    net.tick(2.0)
    states = [e.state for e in net.seen("alice")[mark:] if isinstance(e, ev.ConnectionChanged)]
    assert states == [ev.ConnState.CATCHING_UP, ev.ConnState.LIVE]


def test_an_unreadable_reply_in_a_frame_is_said_and_the_replies_after_it_still_count(net):
    """A frame on the DEALER holds a batch's replies (protocol 4): one part this client cannot read costs
    that part only, not the ok that follows it in the same frame."""
    alice = net.connect("alice")
    alice.send("hello")
    frames, alice.frames = alice.frames, []
    with net.store.transaction():
        for f in frames:
            net.hub.handle(peer_of("alice"), "key-alice", f)
    replies, _ = net.hub.take_output()
    [(_, ok)] = replies
    alice.receive_reply(p.BUNDLE_SEP.join([b'{"type":"no-such-reply"}', ok]), net.now[0])
    failed = [e for e in alice.events if isinstance(e, ev.CommandFailed)]
    assert [f.message for f in failed] == ["the broker sent something this client cannot read (unknown_type)"]
    assert alice.outbox == {}
    assert [e.state for e in alice.events if isinstance(e, ev.SendStatus)][-1] == ev.SendState.SENT
