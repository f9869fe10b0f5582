"""The hub's decisions: a real in-memory SQLite store, a fake clock, no sockets."""
from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from tests.hubkit import name_of, peer_of, record_keys
from zchat import protocol as p
from zchat.errors import ErrorCode
from zchat.hub import DEFAULT_RATES, Hub, HubConfig
from zchat.store import SQLiteStore
from zchat.store_pg import PgStore

E = ErrorCode
V = p.PROTOCOL_VERSION
RATES = {**DEFAULT_RATES, p.RateKind.EVERYONE: p.RateLimit(2.0, 3)}
CONFIG = HubConfig(pub_endpoint="tcp://127.0.0.1:5556", max_clients=100, history_page_max=5, heartbeat_interval=2.0,
                   heartbeat_timeout=6.0, grace=60.0, rates=RATES)


class Harness:
    """Drives the hub as the broker loop does: one transaction per batch, output taken after commit."""

    def __init__(self, config: HubConfig = CONFIG) -> None:
        self.now = [1000.0]
        self.store = SQLiteStore(":memory:")
        self.hub = Hub(self.store, config, clock=lambda: self.now[0])
        self.keys = record_keys(self.hub)
        self.pubs: list[tuple[bytes, Any]] = []      # what the last batch published
        self.notices: list[tuple[bytes, Any]] = []   # the notices (no id) among its replies

    def batch(self, *items: tuple[str, Any]) -> list[tuple[bytes, Any]]:
        """Requests (user, message or raw frame) in one transaction -> decoded (peer, reply) pairs."""
        with self.store.transaction():
            for user, msg in items:
                self.hub.handle(peer_of(user), "key-" + user, msg if isinstance(msg, bytes) else p.encode(msg))
        return self.output()

    def output(self) -> list[tuple[bytes, Any]]:
        replies, pubs = self.hub.take_output()
        self.frames = pubs                           # the sealed frames (several messages each, maybe)
        self.pubs = [(t, p.decode_published(m)) for t, d in pubs for m in p.unbundle(self.keys.open(t, d))]
        self.reply_frames = replies
        decoded = [(name_of(peer).encode(), p.decode_reply(m)) for peer, d in replies for m in p.unbundle(d)]
        self.notices = [(peer, r) for peer, r in decoded if isinstance(r, p.NOTICE_TYPES)]
        return [(peer, r) for peer, r in decoded if not isinstance(r, p.NOTICE_TYPES)]

    def ask(self, user: str, msg: Any) -> Any:
        replies = self.batch((user, msg))
        assert [peer for peer, _ in replies] == [user.encode()]
        return replies[0][1]

    def join(self, *names: str) -> None:
        for name in names:
            assert isinstance(self.ask(name, p.Hello("h", V, name)), p.Welcome)

    def fails(self, user: str, msg: Any, code: ErrorCode) -> p.Error:
        reply = self.ask(user, msg)
        assert isinstance(reply, p.Error) and reply.code == code, reply
        assert reply.id == msg.id and reply.retryable is (code in {E.RATE_LIMITED, E.SERVER_FULL, E.OVERLOADED})
        return reply

    def published(self, kind: type) -> list[tuple[bytes, Any]]:
        return [(t, m) for t, m in self.pubs if isinstance(m, kind)]

    def tick(self) -> list[tuple[bytes, Any]]:
        self.hub.tick()
        assert self.output() == []
        return self.pubs

    def changes(self) -> list[tuple[str, str]]:
        return [(c.name, c.reason) for t, m in self.published(p.Presence) for c in m.changes]

    def history(self, user: str, conv: str, **kw: Any) -> p.HistoryPage:
        return self.ask(user, p.History("h", conv, **kw))


@pytest.fixture
def h() -> Any:
    harness = Harness()
    yield harness
    harness.store.close()


def test_hello_welcomes_with_limits_and_the_everyone_conversation(h: Harness) -> None:
    w = h.ask("Alice", p.Hello("r1", V, "Alice"))
    assert (w.id, w.name, w.version, w.server_time, w.resumed) == ("r1", "Alice", V, 1000.0, False)
    assert w.pub_endpoint == CONFIG.pub_endpoint
    assert w.limits == CONFIG.limits() and w.limits.history_page_max == 5
    assert w.limits.rates["everyone"] == p.RateLimit(2.0, 3) and w.limits.max_groups == 500
    assert w.conversations == [p.ConversationInfo("all", "everyone", "everyone", 0, 0)] and not w.more
    assert [(k.scope, k.epoch, len(bytes.fromhex(k.key))) for k in w.keys] == [("all", 1, 32), ("u:alice", 1, 32)]
    assert h.changes() == [("Alice", "joined")]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 5, 99])
def test_hello_with_an_unsupported_version_names_the_supported_range(h: Harness, version: int) -> None:
    err = h.fails("alice", p.Hello("r1", version, "alice"), E.VERSION_UNSUPPORTED)
    assert f"{p.MIN_VERSION} to {p.PROTOCOL_VERSION}" in err.message and str(version) in err.message


@pytest.mark.parametrize("name", ["", "All", "everyone", "-bob", "a b", "élodie", "x" * 33])
def test_hello_with_an_invalid_or_reserved_name_is_refused(h: Harness, name: str) -> None:
    h.fails("peer", p.Hello("r1", V, name), E.NAME_INVALID)


def test_a_name_belongs_to_the_key_that_claimed_it(h: Harness) -> None:
    h.join("alice")
    h.fails("ALICE", p.Hello("r2", V, "ALICE"), E.NAME_TAKEN)    # another peer with another key: key-ALICE
    token = h.hub.presence.by_peer[peer_of("alice")].sub_token
    with h.store.transaction():                                  # the same key, resuming its session
        h.hub.handle(peer_of("new-peer"), "key-alice", p.encode(p.Hello("r3", V, "Alice", resume=token)))
    (peer, w), = h.output()
    assert (peer, w.name, w.resumed, w.sub_token) == (b"new-peer", "alice", True, token) and h.changes() == []
    h.fails("alice", p.Ping("r4"), E.NOT_JOINED)                 # the old connection no longer speaks for it
    with h.store.transaction():                                  # and the key cannot claim a second name
        h.hub.handle(peer_of("p2"), "key-alice", p.encode(p.Hello("r5", V, "alicia")))
    assert [(peer, r.code) for peer, r in h.output()] == [(b"p2", E.KEY_IN_USE)]


def test_the_same_key_twice_is_two_sessions_of_one_account(h: Harness) -> None:
    """The same config dir started twice: both clients work, each its own session; nobody sees alice
    come or go while either is online."""
    h.join("alice", "bob")
    with h.store.transaction():
        h.hub.handle(peer_of("alice-2"), "key-alice", p.encode(p.Hello("r", V, "alice")))
    (peer, w), = h.output()
    assert w.resumed is False and h.changes() == []
    first, second = (h.hub.presence.by_peer[peer_of(x)] for x in ("alice", "alice-2"))
    assert first is not second and first.sub_token != second.sub_token
    with h.store.transaction():
        h.hub.handle(peer_of("alice-2"), "key-alice", p.encode(p.Ping("p")))
        h.hub.handle(peer_of("alice"), "key-alice", p.encode(p.Ping("p")))
        h.hub.handle(peer_of("alice-2"), "key-alice", p.encode(p.Bye("b")))
    assert [(peer, type(r).__name__) for peer, r in h.output()] == [   # each connection's replies in order
        (b"alice-2", "Pong"), (b"alice-2", "Ok"), (b"alice", "Pong")]
    assert h.changes() == [] and h.hub.presence.state_of("alice") == "online"
    h.ask("alice", p.Bye("b"))
    assert h.changes() == [("alice", "left")]


def test_server_full_is_retryable_and_lets_known_sessions_back() -> None:
    h = Harness(HubConfig(max_clients=2))
    h.join("a1", "a2")
    h.fails("a3", p.Hello("r", V, "a3"), E.SERVER_FULL)
    assert isinstance(h.ask("a1", p.Hello("r", V, "a1")), p.Welcome)


@pytest.mark.parametrize("msg", [p.Ping("r"), p.Send("r", "all", "hi", "c"), p.ListGroups("r"), p.Who("r"),
                                 p.History("r", "all"), p.Bye("r"), p.CreateGroup("r", "team")])
def test_any_request_before_hello_is_not_joined(h: Harness, msg: Any) -> None:
    h.fails("alice", msg, E.NOT_JOINED)


def test_the_sender_is_always_the_session_name(h: Harness) -> None:
    assert {f.name for f in fields(p.Send)} == {"id", "conv", "text", "cmid", "kind", "reply_to"}   # no sender
    h.join("Alice")
    forged = json.dumps({"type": "send", "id": "r", "conv": "all", "text": "hi", "cmid": "c", "sender": "bob",
                         "name": "bob", "from": "bob"}).encode()
    assert h.ask("Alice", forged).seq == 1
    assert [m.sender for _, m in h.published(p.Message)] == ["Alice"]
    assert [m.sender for m in h.history("Alice", "all").messages] == ["Alice"]


def test_a_retried_send_is_stored_and_published_once(h: Harness) -> None:
    h.join("alice")
    first = h.ask("alice", p.Send("r1", "all", "hi", "c1"))
    assert len(h.published(p.Message)) == 1
    h.now[0] += 5
    again = h.ask("alice", p.Send("r2", "all", "hi", "c1"))
    assert (again.seq, again.ts, again.duplicate, first.duplicate) == (first.seq, first.ts, True, False)
    assert h.published(p.Message) == [] and h.history("alice", "all").head_seq == 1


@pytest.mark.parametrize("store_kind", ["sqlite", "pg"])
def test_a_retried_send_gives_its_rate_token_back(store_kind: str, request: pytest.FixtureRequest) -> None:
    """A retry is no new message, so it costs no token: when the store settles the line as it is staged
    (SQLite) and when it settles it only at commit (PostgreSQL, several brokers: the refund waits)."""
    if store_kind == "pg":
        cluster = request.getfixturevalue("pg_cluster")
        db = cluster.fresh_db()
        request.addfinalizer(lambda: cluster.drop_db(db))
        store: Any = PgStore(cluster.url(db))
    else:
        store = SQLiteStore(":memory:")
    request.addfinalizer(store.close)
    hub = Hub(store, CONFIG, clock=lambda: 1000.0)        # "all": a burst of 3, and the clock stands still

    def ask(msg: Any) -> Any:
        """One request in a batch of its own, as the broker loop runs one (the lines settle at commit)."""
        store.begin_batch()
        hub.handle(peer_of("alice"), "key-alice", p.encode(msg))
        store.commit_batch(hub.lines)
        (_, reply), = hub.take_output()[0]
        return p.decode_reply(reply)

    assert isinstance(ask(p.Hello("h", V, "alice")), p.Welcome)
    assert (ask(p.Send("r", "all", "hi", "c1")).seq, ask(p.Send("r", "all", "hi", "c1")).duplicate) == (1, True)
    assert ask(p.Send("r", "all", "hi", "c1")).duplicate
    assert [ask(p.Send("r", "all", "x", c)).seq for c in ("c2", "c3")] == [2, 3]     # the burst's other two
    assert ask(p.Send("r", "all", "x", "c4")).code == E.RATE_LIMITED


def test_a_dm_is_published_on_both_users_topics_only(h: Harness) -> None:
    h.join("alice", "bob", "carol")
    ok = h.ask("alice", p.Send("r", p.dm_key("alice", "bob"), "psst", "c"))
    assert (ok.conv, ok.seq) == ("dm:alice:bob", 1)
    assert sorted(t for t, _ in h.published(p.Message)) == [b"u:alice|", b"u:bob|"]
    assert [m.text for m in h.history("bob", "dm:alice:bob").messages] == ["psst"]
    assert h.history("bob", "dm:bob:carol").head_seq == 0                # reading an unwritten DM stores nothing
    assert [c.key for c in h.store.load_conversations() if c.kind == "dm"] == ["dm:alice:bob"]
    for msg in (p.History("r", "dm:alice:bob"), p.Send("r", "dm:alice:bob", "x", "c2"), p.Who("r", "dm:alice:bob"),
                p.MarkRead("r", "dm:alice:bob", 1)):
        h.fails("carol", msg, E.NOT_MEMBER)                      # a third party cannot read or write it


@pytest.mark.parametrize(("msg", "code"), [
    (p.Send("r", "dm:alice:nobody", "x", "c"), E.NO_SUCH_USER), (p.Send("r", "dm:bob:carol", "x", "c"), E.NOT_MEMBER),
    (p.Send("r", "dm:Alice:bob", "x", "c"), E.NO_SUCH_CONVERSATION),
    (p.Send("r", "dm:alice", "x", "c"), E.NO_SUCH_CONVERSATION),
    (p.Send("r", "dm:alice:alice", "x", "c"), E.NO_SUCH_CONVERSATION),   # a DM with yourself
    (p.Send("r", "dm:bob:alice", "x", "c"), E.NO_SUCH_CONVERSATION),     # not the canonical (sorted) key
    (p.Send("r", "g:none", "x", "c"), E.NO_SUCH_CONVERSATION), (p.MarkRead("r", "g:none", 1), E.NO_SUCH_CONVERSATION),
    (p.History("r", "dm:bob:carol"), E.NOT_MEMBER), (p.History("r", "all", after=1, before=5), E.BAD_FIELD),
    (p.JoinGroup("r", "none"), E.NO_SUCH_CONVERSATION), (p.Invite("r", "team", "nobody"), E.NO_SUCH_USER),
    (p.CreateGroup("r", "all"), E.NAME_INVALID), (p.CreateGroup("r", "a b"), E.NAME_INVALID)])
def test_requests_that_are_refused_with_a_code(h: Harness, msg: Any, code: ErrorCode) -> None:
    h.join("alice", "bob", "carol")
    h.ask("alice", p.CreateGroup("r", "team"))
    h.fails("alice", msg, code)


def test_group_life_is_stored_as_events_in_its_history(h: Harness) -> None:
    h.join("alice", "bob", "carol")
    assert h.ask("alice", p.CreateGroup("r", "Team", private=True)).conv == "g:team"
    h.fails("bob", p.CreateGroup("r", "TEAM"), E.GROUP_EXISTS)
    h.fails("bob", p.JoinGroup("r", "team"), E.NOT_INVITED)
    h.fails("carol", p.Invite("r", "team", "bob"), E.NOT_MEMBER)
    h.ask("alice", p.Invite("r", "team", "bob"))
    assert [(t, m) for t, m in h.published(p.Invited)] == [(b"u:bob|", p.Invited("team", "alice"))]
    assert h.ask("bob", p.JoinGroup("r", "Team")).seq == 3
    assert h.ask("bob", p.LeaveGroup("r", "team")).seq == 4
    h.fails("bob", p.LeaveGroup("r", "team"), E.NOT_MEMBER)
    page = h.history("alice", "g:team")
    assert [(m.seq, m.sender, m.kind, m.text) for m in page.messages] == [
        (1, "alice", "event", "created"), (2, "alice", "event", "invited bob"), (3, "bob", "event", "joined"),
        (4, "bob", "event", "left")]
    h.ask("alice", p.CreateGroup("r", "open"))
    assert h.ask("carol", p.JoinGroup("r", "OPEN")).seq == 2


def test_group_listing_hides_private_groups_from_outsiders(h: Harness) -> None:
    h.join("alice", "bob", "carol")
    h.batch(("alice", p.CreateGroup("r", "open")), ("alice", p.CreateGroup("r", "secret", private=True)),
            ("alice", p.Invite("r", "secret", "bob")))
    names = {u: [(g.name, g.joined) for g in h.ask(u, p.ListGroups("r")).groups] for u in ("alice", "bob", "carol")}
    assert names == {"alice": [("open", True), ("secret", True)], "bob": [("open", False), ("secret", False)],
                     "carol": [("open", False)]}


@pytest.mark.parametrize(("who", "topic", "allowed"), [
    ("alice", b"p|", True), ("alice", b"hb|", True), ("alice", b"all|", True),
    ("alice", b"u:alice|", True), ("alice", b"g:team|", True), ("alice", b"", False),
    ("alice", b"u:bob|", False), ("alice", b"u:", False), ("alice", b"g:", False),
    ("alice", b"g:secret|", False), ("alice", b"g:gone|", False), ("alice", b"g:\xff|", False),
    ("bob", b"g:secret|", True), ("nobody", b"p|", False), ("nobody", b"all|", False),
    ("carol-left", b"all|", False), ("carol-left", b"u:carol|", False)])
def test_may_subscribe_only_to_what_the_token_holder_may_read(h: Harness, who: str, topic: bytes,
                                                             allowed: bool) -> None:
    tokens = {u: h.ask(u, p.Hello("r", V, u)).sub_token for u in ("alice", "bob", "carol")}
    h.batch(("alice", p.CreateGroup("r", "team")), ("bob", p.CreateGroup("r", "secret", private=True)),
            ("alice", p.CreateGroup("r", "gone")), ("alice", p.LeaveGroup("r", "gone")),
            ("carol", p.Bye("r")))
    tokens["nobody"], tokens["carol-left"] = "0" * 32, tokens["carol"]
    assert len(set(tokens.values()) - {"0" * 32}) == 3
    assert h.hub.may_subscribe(tokens[who], topic) is allowed


def test_a_resumed_session_keeps_its_sub_token_and_a_new_one_gets_a_new_token(h: Harness) -> None:
    first = h.ask("alice", p.Hello("r", V, "alice")).sub_token
    assert h.ask("alice", p.Hello("r", V, "alice")).sub_token == first     # the same session, resumed
    h.ask("alice", p.Bye("r"))
    again = h.ask("alice", p.Hello("r", V, "alice"))
    assert not again.resumed and again.sub_token != first
    assert not h.hub.may_subscribe(first, b"all|") and h.hub.may_subscribe(again.sub_token, b"all|")


@pytest.mark.parametrize(("kw", "seqs", "complete"), [
    ({}, [8, 9, 10, 11, 12], False), ({"limit": 2}, [11, 12], False), ({"limit": 99}, [8, 9, 10, 11, 12], False),
    ({"after": 0}, [1, 2, 3, 4, 5], False), ({"after": 5, "limit": 3}, [6, 7, 8], False),
    ({"after": 9}, [10, 11, 12], True), ({"after": 12}, [], True), ({"before": 8}, [3, 4, 5, 6, 7], False),
    ({"before": 3}, [1, 2], True), ({"before": 1}, [], True), ({"before": 99, "limit": 1}, [12], False)])
def test_history_pages_in_both_directions(h: Harness, kw: dict[str, int], seqs: list[int], complete: bool) -> None:
    h.join("alice")
    for i in range(1, 13):
        h.now[0] += 1.0                                          # stay under the everyone rate limit
        assert h.ask("alice", p.Send("r", "all", f"m{i}", f"c{i}")).seq == i
    page = h.history("alice", "all", **kw)
    assert [m.seq for m in page.messages] == seqs and [m.text for m in page.messages] == [f"m{i}" for i in seqs]
    assert (page.from_seq, page.to_seq, page.head_seq, page.complete) == (
        seqs[0] if seqs else 0, seqs[-1] if seqs else 0, 12, complete)


def test_mark_read_clamps_to_the_head_never_moves_back_and_welcome_reports_it(h: Harness) -> None:
    h.join("alice")
    h.ask("alice", p.Send("r", "all", "hi", "c"))
    assert h.ask("alice", p.MarkRead("r", "all", 99)).seq == 1
    assert h.ask("alice", p.MarkRead("r", "all", 0)).seq == 1
    w = h.ask("alice", p.Hello("r", V, "alice"))
    assert [(c.conv, c.head_seq, c.last_read) for c in w.conversations] == [("all", 1, 1)]


def test_silence_makes_a_session_lost_then_back_then_timed_out(h: Harness) -> None:
    h.join("alice", "bob")
    h.tick()
    h.now[0] += 5.75
    h.ask("bob", p.Ping("r"))
    h.now[0] += 0.5
    assert h.changes() == [] and h.tick() and h.changes() == [("alice", "lost")]
    h.ask("alice", p.Ping("r"))
    assert h.changes() == [("alice", "back")]
    h.now[0] += 6.25
    h.tick()
    assert h.changes() == [("alice", "lost"), ("bob", "lost")]
    h.ask("bob", p.Ping("r"))
    h.now[0] += 60.5
    h.tick()
    assert h.changes() == [("alice", "timed_out"), ("bob", "lost")]
    assert {u.name: u.state for u in h.ask("bob", p.Who("r")).users} == {"alice": "offline", "bob": "online"}
    h.fails("alice", p.Ping("r"), E.NOT_JOINED)


def test_bye_ends_the_session_as_left(h: Harness) -> None:
    h.join("alice", "bob")
    assert h.ask("alice", p.Bye("r")) == p.Ok("r")
    assert h.changes() == [("alice", "left")]
    h.fails("alice", p.Ping("r"), E.NOT_JOINED)
    assert {u.name: u.state for u in h.ask("bob", p.Who("r")).users} == {"alice": "offline", "bob": "online"}


def test_presence_changes_of_one_batch_are_one_publish(h: Harness) -> None:
    replies = h.batch(*[(f"user{i}", p.Hello("r", V, f"user{i}")) for i in range(50)])
    assert len(replies) == 50 and all(isinstance(r, p.Welcome) for _, r in replies)
    (topic, presence), = h.published(p.Presence)
    assert topic == p.TOPIC_PRESENCE and [c.name for c in presence.changes] == [f"user{i}" for i in range(50)]


def test_only_messages_to_everyone_are_rate_limited_and_the_bucket_refills(h: Harness) -> None:
    h.join("alice", "bob")
    h.ask("alice", p.CreateGroup("r", "team"))
    assert [h.ask("alice", p.Send("r", "all", "x", f"c{i}")).seq for i in range(3)] == [1, 2, 3]
    err = h.fails("alice", p.Send("r", "all", "x", "c3"), E.RATE_LIMITED)
    assert err.retryable and 0 < err.retry_after_ms <= 500
    h.now[0] += err.retry_after_ms / 1000
    assert h.ask("alice", p.Send("r", "all", "x", "c3")).seq == 4
    h.fails("alice", p.Send("r", "all", "x", "c4"), E.RATE_LIMITED)
    retry = h.ask("alice", p.Send("r", "all", "x", "c0"))            # a retry of a stored send is no new message
    assert (retry.seq, retry.duplicate, h.published(p.Message)) == (1, True, [])
    for conv in ("g:team", "dm:alice:bob"):                      # while the everyone bucket is empty
        replies = h.batch(*[("alice", p.Send("r", conv, "x", f"{conv}{i}")) for i in range(10)])
        assert all(isinstance(r, p.Ok) for _, r in replies)


def test_tick_beats_changed_conversations_once_they_go_quiet(h: Harness) -> None:
    h.join("alice")
    h.ask("alice", p.CreateGroup("r", "team"))
    h.ask("alice", p.Send("r", "all", "x", "c"))
    assert [(t, m.heads) for t, m in h.tick()] == [(b"hb|", {"all": 1})]   # busy since the last tick: no beat
    h.now[0] += 1.0
    assert h.tick() == []                                         # not due yet
    h.ask("alice", p.Send("r", "g:team", "y", "c2"))              # the group stays busy ...
    h.now[0] += 1.0
    beats = {t: m.heads for t, m in h.tick() if isinstance(m, p.Heartbeat)}
    assert beats == {b"hb|": {"all": 1}, b"all|": {"all": 1}}     # ... "all" went quiet: its last seq is beaten
    h.now[0] += 2.0
    beats = {t: m.heads for t, m in h.tick() if isinstance(m, p.Heartbeat)}
    assert beats == {b"hb|": {"all": 1}, b"g:team|": {"g:team": 2}}
    h.now[0] += 2.0
    assert [(t, m.heads) for t, m in h.tick()] == [(b"hb|", {"all": 1})]   # each quiet change is beaten once


def test_a_failed_batch_is_answered_with_internal_errors_and_leaves_no_trace(h: Harness) -> None:
    h.join("alice")
    with pytest.raises(RuntimeError), h.store.transaction():
        h.hub.handle(peer_of("alice"), "key-alice", p.encode(p.Send("r", "all", "lost", "c1")))
        assert h.hub.convs["all"].head == 1
        raise RuntimeError("the disk is full")
    h.hub.discard_output()
    assert {k: c.head for k, c in h.hub.convs.items()} == {c.key: c.head_seq for c in h.store.load_conversations()}
    assert [(peer, r.id, r.code, r.retryable) for peer, r in h.output()] == [(b"alice", "r", E.INTERNAL, True)]
    assert h.pubs == []
    assert h.ask("alice", p.Send("r", "all", "kept", "c2")).seq == 1
    assert [m.text for m in h.history("alice", "all").messages] == ["kept"]


def test_heartbeats_after_a_failed_batch_cover_only_what_was_committed(h: Harness) -> None:
    h.join("alice")
    h.ask("alice", p.CreateGroup("r", "kept"))                  # committed, not yet announced by a heartbeat
    with pytest.raises(RuntimeError), h.store.transaction():
        h.hub.handle(peer_of("alice"), "key-alice", p.encode(p.CreateGroup("r", "doomed")))
        raise RuntimeError("the disk is full")
    h.hub.discard_output()
    assert [r.code for _, r in h.output()] == [E.INTERNAL]
    assert [(t, m.heads) for t, m in h.tick()] == [(b"hb|", {"all": 0})]
    h.now[0] += 2.0
    assert [(t, m.heads) for t, m in h.tick()] == [(b"hb|", {"all": 0}), (b"g:kept|", {"g:kept": 1})]


@pytest.mark.parametrize("frame", [b'{"type":"ping","id":"\\ud800"}', b'{"type":"ping","id":"\xff"}', b"[" * 50000,
                                   b'{"type":"send","id":"r","conv":"all","text":"\\udc00","cmid":"c"}'])
def test_an_unreadable_request_costs_one_error_reply_not_the_batch(h: Harness, frame: bytes) -> None:
    h.join("alice")
    replies = h.batch(("alice", frame), ("alice", p.Ping("after")))
    assert [(peer, type(r)) for peer, r in replies] == [(b"alice", p.Error), (b"alice", p.Pong)]
    assert replies[0][1].code in {E.BAD_UTF8, E.BAD_JSON} and replies[0][1].id in {None, "r"}


def test_a_hello_in_a_failed_batch_leaves_no_presence_behind(h: Harness) -> None:
    h.join("alice")
    with pytest.raises(RuntimeError), h.store.transaction():
        h.hub.handle(peer_of("bob"), "key-bob", p.encode(p.Hello("r1", V, "bob")))
        raise RuntimeError("the disk is full")
    h.hub.discard_output()
    assert [r.code for _, r in h.output()] == [E.INTERNAL] and h.changes() == []
    w = h.ask("bob", p.Hello("r2", V, "bob"))
    assert (w.resumed, h.changes()) == (False, [("bob", "joined")])
