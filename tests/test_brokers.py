"""Two real broker processes on one real PostgreSQL (issue 16): what one broker's users do reaches
the other's, once and in order; presence and groups agree; who loses access on one is cut off on
both. Every wait is for the event that proves it, with a deadline."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from tests.conftest import BULK, BrokerProcess
from tests.rawclient import RawClient
from zchat import protocol as p

N = 60


@pytest.fixture
def store_kind() -> str:
    return "pg"


@pytest.fixture
def two(broker_factory: Callable[..., BrokerProcess]) -> tuple[BrokerProcess, BrokerProcess]:
    b1 = broker_factory(*BULK, name="b1")
    return b1, broker_factory(*BULK, name="b2", key_of=b1)


def until(check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Ask again until ``check`` answers truly (another broker has to hear of a change first)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not in {timeout} s: {what}"
        time.sleep(0.05)   # each round is a request to a broker: pacing, not synchronising


def join_when_known(c: RawClient, group: str) -> p.Ok:
    """Join a group created on the other broker, once this broker has heard of it."""
    reply = until(lambda: (r := c.call(p.JoinGroup, group=group)) and not (
        isinstance(r, p.Error) and r.code == "no_such_conversation") and r, what=f"{group} known")
    assert isinstance(reply, p.Ok), reply
    c.subscribe(p.topic(p.group_key(group)))
    return reply


def chat(c: RawClient, conv: str, count: int, also: str = "", also_count: int = 0) -> list[p.Message]:
    """The next ``count`` chat lines (kind msg) of ``conv`` on c's subscription (and ``also_count`` of
    ``also``, returned after them)."""
    out: dict[str, list[p.Message]] = {conv: [], also: []}
    deadline = time.monotonic() + 20
    while (len(out[conv]) < count or len(out[also]) < also_count) and time.monotonic() < deadline:
        got = c.recv_published(deadline - time.monotonic())
        if got and isinstance(got[1], p.Message) and got[1].conv in out and got[1].kind == "msg":
            out[got[1].conv].append(got[1])
    return out[conv] + out[also]


def test_a_dm_and_a_group_message_from_broker_1_reach_broker_2_once_and_in_order(two, make_client) -> None:
    b1, b2 = two
    alice = make_client(b1.connect, "alice")
    bob, carol = make_client(b2.connect, "bob"), make_client(b2.connect, "carol")
    assert alice.call(p.CreateGroup, group="team").seq == 1
    join_when_known(bob, "team")
    join_when_known(carol, "team")
    until(lambda: alice.call(p.Who, conv="g:team").users.__len__() == 3, what="b1 sees the joins")
    dm = p.dm_key("alice", "bob")
    until(lambda: isinstance(alice.call(p.Who, conv=dm), p.Users), what="b1 knows bob")
    for i in range(N):
        alice.send(p.Send(f"g{i}", "g:team", f"team {i}", f"cg{i}"))
        alice.send(p.Send(f"d{i}", dm, f"dm {i}", f"cd{i}"))
    acks = [alice.recv_reply() for _ in range(2 * N)]
    assert all(isinstance(a, p.Ok) and not a.duplicate for a in acks), acks
    for reader in (bob, carol):
        got = chat(reader, "g:team", N, *((dm, N) if reader is bob else ()))
        team = [m for m in got if m.conv == "g:team"]
        assert [m.text for m in team] == [f"team {i}" for i in range(N)]
        assert [m.seq for m in team] == sorted({m.seq for m in team})          # in order, none twice
        if reader is bob:
            dms = [(m.seq, m.text) for m in got if m.conv == dm]
    assert dms == [(i + 1, f"dm {i}") for i in range(N)]
    assert carol.silent(lambda t, m: isinstance(m, p.Message) and m.conv == dm, 0.5)
    # a retry through the other broker gets the original ok, and nothing is stored twice
    again = bob.call(p.Send, conv=dm, text="bob 1", cmid="bob-1")
    retry = make_client(b1.connect, keypair=(bob.public, bob.secret))
    retry.hello("bob", subscribe=False)
    same = retry.call(p.Send, conv=dm, text="bob 1", cmid="bob-1")
    assert (same.conv, same.seq, same.ts, same.duplicate) == (again.conv, again.seq, again.ts, True)
    page = bob.call(p.History, conv=dm, after=0, limit=200)
    assert [m.seq for m in page.messages] == list(range(1, N + 2))


def test_presence_and_group_membership_agree_across_brokers(two, make_client) -> None:
    b1, b2 = two
    alice, bob = make_client(b1.connect, "alice"), make_client(b2.connect, "bob")
    states = lambda c: {u.name: u.state for u in c.call(p.Who, conv="all").users}   # noqa: E731
    until(lambda: states(alice) == states(bob) == {"alice": "online", "bob": "online"}, what="both online")
    alice.call(p.CreateGroup, group="ops")
    join_when_known(bob, "ops")
    members = lambda c: sorted(u.name for u in c.call(p.Who, conv="g:ops").users)   # noqa: E731
    until(lambda: members(alice) == members(bob) == ["alice", "bob"], what="the same members")
    listed = lambda c: [(g.name, g.members) for g in c.call(p.ListGroups).groups]   # noqa: E731
    assert listed(alice) == listed(bob) == [("ops", 2)]
    assert alice.call(p.Bye)
    change = bob.wait_published(lambda t, m: isinstance(m, p.Presence) and any(
        c.name == "alice" and c.state == "offline" for c in m.changes))       # protocol 3: a bye is offline
    # a raw client pings only when the test asks something: silent for 3 heartbeats (0.75 s, a loaded
    # machine: bob's subscription sync waits for a heartbeat) alice was lost, her next request brought
    # her back, and b2 may publish that "back" in one batch with her bye
    alices = [(c.state, c.reason) for c in change.changes if c.name == "alice"]
    assert alices in ([("offline", "left")], [("online", "back"), ("offline", "left")]), alices
    assert states(bob)["alice"] == "offline"


def test_a_member_who_leaves_on_broker_1_reads_nothing_after_on_broker_2(two, make_client) -> None:
    b1, b2 = two
    alice = make_client(b1.connect, "alice")
    carol_here = make_client(b1.connect, "carol")
    code = carol_here.call(p.LinkDevice).code
    carol_there = make_client(b2.connect)
    assert isinstance(carol_there.hello("carol", link=code), p.Welcome)
    alice.call(p.CreateGroup, group="team")
    carol_here.call(p.JoinGroup, group="team")
    joined = until(lambda: next((m for m in carol_there.notices if isinstance(m, p.Membership) and m.key), None)
                   or carol_there.poll_notices(0.05), what="carol's other device follows her into the group")
    carol_there.keys.add("g:team", joined.key.epoch, bytes.fromhex(joined.key.key))
    carol_there.subscribe(b"g:team|")
    alice.say("g:team", "before")
    assert [m.text for m in chat(carol_there, "g:team", 1)] == ["before"]
    assert isinstance(carol_here.call(p.LeaveGroup, group="team"), p.Ok)
    until(lambda: any(isinstance(m, p.Membership) and m.conv == "g:team" and m.info is None
                      for m in carol_there.notices) or carol_there.poll_notices(0.05), what="b2 heard the leave")
    alice.say("g:team", "after")
    assert carol_there.silent(lambda t, m: isinstance(m, p.Message) and m.text == "after", 1.5)


def test_a_revoked_device_is_cut_off_on_the_other_broker(two, make_client) -> None:
    b1, b2 = two
    laptop, bob = make_client(b1.connect, "alice"), make_client(b1.connect, "bob")
    code = laptop.call(p.LinkDevice).code
    phone = make_client(b2.connect)
    welcome = phone.hello("alice", link=code, device="phone")
    assert isinstance(welcome, p.Welcome)
    dm = p.dm_key("alice", "bob")
    bob.say(dm, "before")
    assert [m.text for m in chat(phone, dm, 1)] == ["before"]
    assert isinstance(laptop.call(p.RevokeDevice, device="phone"), p.Ok)
    until(lambda: any(isinstance(m, p.Ended) for m in phone.notices) or phone.poll_notices(0.05),
          what="b2 ended the revoked device's session")
    bob.say(dm, "after")
    assert phone.silent(lambda t, m: isinstance(m, p.Message) and m.text == "after", 1.5)
    again = make_client(b2.connect, keypair=(phone.public, phone.secret))
    refused = again.hello("alice")
    assert isinstance(refused, p.Error) and refused.code == "name_taken"


def line_of(c: RawClient, conv: str, kind: str, match: Callable[[p.Message], bool] = lambda m: True) -> p.Message:
    """The next line of ``kind`` in ``conv`` published to ``c`` that matches (skipping others), with a deadline."""
    return c.wait_published(lambda t, m: isinstance(m, p.Message) and m.conv == conv and m.kind == kind and match(m),
                            timeout=10)


def test_a_reply_an_edit_reactions_and_a_delete_reach_the_other_broker_live_and_in_history(two, make_client) -> None:
    b1, b2 = two
    alice, bob = make_client(b1.connect, "alice"), make_client(b2.connect, "bob")
    until(lambda: "bob" in {u.name for u in alice.call(p.Who, conv="all").users}, what="b1 knows bob")
    first = alice.say("all", "ship friday")
    line_of(bob, "all", "msg", lambda m: m.seq == first.seq)
    assert isinstance(bob.call(p.Send, conv="all", text="ok @alice", cmid="r1", reply_to=first.seq), p.Ok)
    reply = line_of(alice, "all", "msg", lambda m: m.reply_to == first.seq)      # b1 publishes b2's line ...
    assert (reply.text, reply.quote, reply.mentions) == ("ok @alice", p.Quote("alice", "ship friday"), ["alice"])
    assert isinstance(alice.call(p.Edit, conv="all", seq=first.seq, text="ship thursday @bob"), p.Ok)
    edit = line_of(bob, "all", "edit")                                            # ... and b2 b1's, as they read
    assert (edit.ref, edit.text, edit.mentions, edit.sender) == (first.seq, "ship thursday @bob", ["bob"], "alice")
    assert isinstance(bob.call(p.React, conv="all", seq=first.seq, emoji="👍"), p.Ok)
    assert line_of(alice, "all", "react").reactions == [p.Reaction("👍", ["bob"])]
    assert isinstance(alice.call(p.React, conv="all", seq=first.seq, emoji="👍"), p.Ok)
    tally = line_of(bob, "all", "react", lambda m: m.sender == "alice")
    assert (tally.ref, tally.reactions) == (first.seq, [p.Reaction("👍", ["bob", "alice"])])
    assert isinstance(alice.call(p.Delete, conv="all", seq=first.seq), p.Ok)
    assert line_of(bob, "all", "delete").ref == first.seq
    page = bob.call(p.History, conv="all", after=0)                                # b2's history reads it now
    lines = {m.seq: m for m in page.messages}
    assert (lines[first.seq].text, lines[first.seq].deleted, lines[first.seq].reactions) == ("", True, None)
    assert lines[reply.seq].quote == p.Quote("alice", "", True)
    assert [(m.kind, m.text) for m in page.messages if m.kind == "edit"] == [("edit", "")]   # its text is gone too
    assert [m.seq for m in page.messages] == list(range(1, page.head_seq + 1))       # gap-free, the changes are lines
    assert [m.seq for m in alice.call(p.History, conv="all", after=0).messages] == [m.seq for m in page.messages]


def test_a_member_kicked_on_broker_1_reads_nothing_after_on_broker_2(two, make_client) -> None:
    b1, b2 = two
    alice = make_client(b1.connect, "alice")
    bob, carol = make_client(b2.connect, "bob"), make_client(b2.connect, "carol")
    alice.call(p.CreateGroup, group="team")
    join_when_known(bob, "team")
    join_when_known(carol, "team")
    until(lambda: len(alice.call(p.Who, conv="g:team").users) == 3, what="b1 sees the joins")
    alice.say("g:team", "before")
    assert [m.text for m in chat(carol, "g:team", 1)] == ["before"]
    assert isinstance(alice.call(p.Moderate, group="team", action="kick", name="carol"), p.Ok)
    line_of(carol, "g:team", "event", lambda m: m.text == "kicked carol")        # b2 publishes it while she can read
    until(lambda: any(isinstance(n, p.Membership) and n.reason == "kicked from team by alice" for n in carol.notices)
          or carol.poll_notices(0.05), what="carol, on b2, is told why she left")
    alice.say("g:team", "not for carol")
    line_of(bob, "g:team", "msg", lambda m: m.text == "not for carol")               # b2 publishes it ...
    assert carol.silent(lambda t, m: t == b"g:team|" and isinstance(m, p.Message), window=1.5)
    sealed = [reason for t, reason in ((t, e.reason) for t, e in carol.unopened) if t == b"g:team|"]
    assert sealed and all(r in ("unknown_key", "bad_tag") for r in sealed), sealed   # ... sealed with a key she lacks
    assert carol.call(p.History, conv="g:team").code == "not_member"
    assert carol.call(p.Search, query="before").results == []


def ops_group(b1: BrokerProcess, b2: BrokerProcess, make_client: Callable[..., RawClient]) -> list[RawClient]:
    """alice (on b1) owns group "ops", bob (on b2) is in it, carol (on b2) is not; b1 knows them all."""
    alice = make_client(b1.connect, "alice")
    bob, carol = make_client(b2.connect, "bob"), make_client(b2.connect, "carol")
    until(lambda: {"bob", "carol"} <= {u.name for u in alice.call(p.Who, conv="all").users}, what="b1 knows them")
    alice.call(p.CreateGroup, group="ops")
    join_when_known(bob, "ops")
    return [alice, bob, carol]


def answer(c: RawClient, cls: type, **fields: Any) -> Any:
    """The reply to a request, or None for a retryable error (a broker comparing with the store
    refuses meanwhile: `until` asks again); any other error fails the test, naming it."""
    reply = c.call(cls, **fields)
    if isinstance(reply, p.Error):
        assert reply.retryable, reply
        return None
    return reply


def topics(c: RawClient) -> dict[str, str] | None:
    reply = answer(c, p.ListGroups)
    return reply and {g.name: g.topic for g in reply.groups}


def roles(c: RawClient) -> dict[str, str] | None:
    reply = answer(c, p.Who, conv="g:ops")
    return reply and {u.name: u.role for u in reply.users}


def test_a_topic_roles_and_a_ban_set_on_broker_1_hold_on_broker_2(two, make_client) -> None:
    alice, bob, carol = ops_group(*two, make_client)
    assert isinstance(alice.call(p.SetTopic, group="ops", topic="deploy at five"), p.Ok)
    until(lambda: topics(bob) == {"ops": "deploy at five"}, what="b2 lists the topic")
    assert bob.call(p.SetTopic, group="ops", topic="bob's").code == "not_allowed"
    assert isinstance(alice.call(p.Moderate, group="ops", action="op", name="bob"), p.Ok)
    until(lambda: roles(bob) == {"alice": "owner", "bob": "admin"}, what="b2 knows bob is an admin")
    assert isinstance(bob.call(p.SetTopic, group="ops", topic="deploy at six"), p.Ok)   # and lets him moderate
    until(lambda: topics(alice) == {"ops": "deploy at six"}, what="b1 lists bob's topic")
    assert isinstance(alice.call(p.Moderate, group="ops", action="ban", name="carol"), p.Ok)
    line_of(bob, "g:ops", "event", lambda m: m.text == "banned carol")     # b2 has applied the ban: it comes first
    refused = carol.call(p.JoinGroup, group="ops")
    assert (refused.code, refused.message) == ("banned", "you are banned from 'ops'")


def test_away_with_a_status_on_broker_1_shows_on_broker_2_and_so_do_typing_and_read_receipts(two,
                                                                                            make_client) -> None:
    b1, b2 = two
    alice, bob = make_client(b1.connect, "alice"), make_client(b2.connect, "bob")
    shown = lambda c: {u.name: (u.state, u.status) for u in c.call(p.Who, conv="all").users}   # noqa: E731
    until(lambda: shown(bob) == shown(alice) == {"alice": ("online", ""), "bob": ("online", "")}, what="both online")
    assert isinstance(alice.call(p.SetStatus, state="away", text="lunch"), p.Ok)
    change = bob.wait_published(lambda t, m: isinstance(m, p.Presence) and any(
        c.name == "alice" and c.state == "away" for c in m.changes), timeout=10)
    assert [(c.reason, c.status) for c in change.changes if c.name == "alice"] == [("set", "lunch")]
    assert shown(bob)["alice"] == ("away", "lunch")
    dm = p.dm_key("alice", "bob")
    said = alice.say(dm, "are you there?")
    line_of(bob, dm, "msg")
    assert isinstance(alice.call(p.Typing, conv=dm), p.Ok)
    typing = bob.wait_published(lambda t, m: isinstance(m, p.TypingNotice), timeout=10)
    assert (typing.conv, typing.name) == (dm, "alice")
    assert isinstance(bob.call(p.MarkRead, conv=dm, seq=said.seq), p.Ok)
    seen = alice.wait_published(lambda t, m: isinstance(m, p.Seen), timeout=10)
    assert (seen.conv, seen.name, seen.seq) == (dm, "bob", said.seq)


def test_a_topic_role_and_ban_missed_while_the_bus_was_down_are_found_when_it_is_back(
        two, make_client, store_url: str) -> None:
    """No broker listens while the group changes (new connections refused, the listeners cut): the
    bundle is lost for sure, and the comparison with the store when the bus is back finds it all."""
    alice, bob, carol = ops_group(*two, make_client)
    state = lambda c: (topics(c), roles(c))          # noqa: E731
    until(lambda: state(bob) == ({"ops": ""}, {"alice": "owner", "bob": ""}), what="b2 knows the group")
    db = store_url.rsplit("/", 1)[1]
    with psycopg.connect(store_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")     # type: ignore[arg-type]
        try:
            cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                                " AND query = 'LISTEN zchat'", (db,)).fetchall()
            assert len(cut) == 2                                          # both brokers' listeners
            assert isinstance(alice.call(p.SetTopic, group="ops", topic="while nobody listened"), p.Ok)
            assert isinstance(alice.call(p.Moderate, group="ops", action="op", name="bob"), p.Ok)
            assert isinstance(alice.call(p.Moderate, group="ops", action="ban", name="carol"), p.Ok)
        finally:
            admin.execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")  # type: ignore[arg-type]
    until(lambda: state(bob) == ({"ops": "while nobody listened"}, {"alice": "owner", "bob": "admin"}),
          what="b2 compared with the store")
    assert carol.call(p.JoinGroup, group="ops").code == "banned"


def test_one_broker_on_sqlite_needs_no_psycopg() -> None:
    """psycopg is an extra ('zchat[pg]'): the broker, its loop and the client start without it."""
    code = ("import sys, zchat.broker, zchat.client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
