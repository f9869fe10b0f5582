"""Two real broker processes on one real PostgreSQL (issue 16): what one broker's users do reaches
the other's, once and in order; presence and groups agree; who loses access on one is cut off on
both. Every wait is for the event that proves it, with a deadline."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

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
    assert [c.reason for c in change.changes if c.name == "alice"] == ["left"]
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


def test_one_broker_on_sqlite_needs_no_psycopg() -> None:
    """psycopg is an extra ('zchat[pg]'): the broker, its loop and the client start without it."""
    code = ("import sys, zchat.broker, zchat.client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
