"""Bounded per-user cost, over real sockets: rate limits that follow the user, slots that follow the
link, groups per user, and replies that always fit one frame."""
from __future__ import annotations

import time
from typing import Any

import pytest
import zmq

from tests.conftest import BULK, BrokerProcess
from tests.rawclient import RawClient
from zchat import protocol as p


@pytest.mark.parametrize("broker_args", [("--rate", "1", "--rate-burst", "3")])
def test_bye_and_hello_do_not_refill_the_rate_limit(client: Any, ctx: zmq.Context, broker: BrokerProcess) -> None:
    alice = client("alice", subscribe=False)
    assert all(isinstance(alice.say("all", f"burst {i}"), p.Ok) for i in range(3))
    assert alice.say("all", "one too many").code == "rate_limited"
    for _ in range(3):                          # a new session, the same key: the same bucket
        assert isinstance(alice.call(p.Bye), p.Ok)
        assert isinstance(alice.hello("alice", subscribe=False), p.Welcome)
        refused = alice.say("all", "after a new hello")
        assert isinstance(refused, p.Error) and refused.code == "rate_limited", refused


@pytest.mark.parametrize("broker_args", [("--limit", "message=1/2", "--limit", "create_group=1/2",
                                          "--limit", "invite=1/2", "--limit", "history=1/2")])
def test_dms_groups_group_creation_invitations_and_history_are_rate_limited_per_user(client: Any) -> None:
    alice, bob = client("alice", subscribe=False), client("bob", subscribe=False)
    dm = p.dm_key("alice", "bob")
    kinds = {
        "message": lambda i: alice.say(dm, f"dm {i}"),
        "create_group": lambda i: alice.call(p.CreateGroup, group=f"g{i}"),
        "invite": lambda i: alice.call(p.Invite, group="g0", name=["bob", "carol", "dave"][i]),
        "history": lambda i: alice.call(p.History, conv="all"),
    }
    for name in ("carol", "dave"):
        client(name, subscribe=False)
    for kind, do in kinds.items():
        results = [do(i) for i in range(3)]
        assert [type(r).__name__ for r in results[:2]] != ["Error", "Error"], (kind, results)
        last = results[2]
        assert isinstance(last, p.Error) and last.code == "rate_limited" and last.retry_after_ms > 0, (kind, last)
    # bob's buckets are his own
    assert isinstance(bob.say(dm, "bob is not limited by alice"), p.Ok)


@pytest.mark.parametrize("broker_args", [("--max-clients", "5", "--heartbeat", "0.25")])
def test_vanished_sessions_free_their_slots_and_their_owners_still_come_back(client: Any, ctx: zmq.Context,
                                                                            broker: BrokerProcess) -> None:
    """Five keys say hello and vanish (their links close): newcomers are let in at once, while the
    vanished sessions are still in their grace, and their owners can come back too."""
    watcher = client("watcher")
    vanished = []
    for i in range(4):
        c = RawClient(ctx, broker.connect)
        assert isinstance(c.hello(f"ghost{i}", subscribe=False), p.Welcome)
        vanished.append((c.public, c.secret, c.welcome.sub_token))
        c.close()
    lost: set[str] = set()

    def all_lost(t: bytes, m: Any) -> bool:
        if isinstance(m, p.Presence):
            lost.update(c.name for c in m.changes if c.reason == "lost")
        return lost >= {f"ghost{i}" for i in range(4)}
    watcher.wait_published(all_lost)            # each closed link made its session lost at once
    newcomers = [client(f"new{i}", subscribe=False) for i in range(4)]         # 1 + 4 online: full
    extra = RawClient(ctx, broker.connect)
    try:
        assert extra.hello("one-more", subscribe=False).code == "server_full"
        back = RawClient(ctx, broker.connect, keypair=vanished[0][:2])  # the grace keeps ghost0's session ...
        try:
            welcome = back.hello("ghost0", subscribe=False, resume=vanished[0][2])
            assert isinstance(welcome, p.Welcome) and welcome.resumed  # ... and lets its owner back in
        finally:
            back.close()
    finally:
        extra.close()
    assert len(newcomers) == 4


@pytest.mark.parametrize("broker_args", [(*BULK, "--max-groups", "800")])
def test_welcome_and_groups_are_paged_so_every_reply_fits_one_frame(client: Any, broker: BrokerProcess) -> None:
    """A user in 700 groups: the welcome holds the first page of conversations (with each group's key)
    and says more follow; paging with `conversations` and `groups` yields every one, once."""
    alice = client("alice", subscribe=False)
    n = 700
    for i in range(n):
        alice.send(p.CreateGroup(id=f"c{i}", group=f"room-with-a-long-name-{i:04d}"))
    for _ in range(n):
        assert isinstance(alice.recv_reply(), p.Ok)
    sizes: list[int] = []
    raw_recv = alice.dealer.recv

    def measured_recv(*a: Any, **kw: Any) -> bytes:
        data = raw_recv(*a, **kw)
        sizes.append(len(data))
        return data
    alice.dealer.recv = measured_recv           # type: ignore[method-assign]
    welcome = alice.hello("alice", subscribe=False)
    assert isinstance(welcome, p.Welcome) and welcome.more
    convs, keys = list(welcome.conversations), {k.scope for k in welcome.keys}
    while True:
        page = alice.call(p.ListConversations, after=convs[-1].conv)
        convs += page.conversations
        keys |= {k.scope for k in page.keys}
        if page.complete:
            break
    groups = [c.conv for c in convs if c.kind == "group"]
    assert len(groups) == n == len(set(groups)) and set(groups) <= keys and convs[0].conv == "all"
    names: list[str] = []
    after = None
    while True:
        page = alice.call(p.ListGroups, after=after)
        names += [g.name for g in page.groups]
        if page.complete:
            break
        after = page.groups[-1].name
    assert len(names) == n == len(set(names)) and names == sorted(names)
    assert max(sizes) <= p.MAX_FRAME_BYTES and len(sizes) >= 3, sizes


@pytest.mark.parametrize("broker_args", [(*BULK, "--max-groups", "3")])
def test_a_user_may_be_in_only_so_many_groups(client: Any) -> None:
    alice, bob = client("alice", subscribe=False), client("bob", subscribe=False)
    for i in range(3):
        assert isinstance(alice.call(p.CreateGroup, group=f"g{i}"), p.Ok)
    refused = alice.call(p.CreateGroup, group="g3")
    assert refused.code == "limit_reached" and "leave one" in refused.message
    assert isinstance(bob.call(p.CreateGroup, group="g3"), p.Ok)
    assert alice.call(p.JoinGroup, group="g3").code == "limit_reached"
    assert isinstance(alice.call(p.LeaveGroup, group="g0"), p.Ok)
    assert isinstance(alice.call(p.JoinGroup, group="g3"), p.Ok)


def test_the_everyone_rate_limit_keeps_pipelined_sends_in_order(broker_factory: Any, make_client: Any) -> None:
    """A refused send holds the ones after it until it is retried, so a client that retries in order
    stores its messages in the order it sent them, whenever the bucket refills."""
    broker = broker_factory("--rate", "20", "--rate-burst", "5")
    alice = make_client(broker.connect, "alice", subscribe=False)
    pending = [f"m{i}" for i in range(30)]
    stored: list[tuple[int, str]] = []
    rounds = 0
    while pending:
        rounds += 1
        assert rounds < 200, "the rate limit never let the rest through"
        for cmid in pending:
            alice.send(p.Send(id=cmid, conv="all", text=cmid, cmid=cmid))
        replies = {r.id: r for r in (alice.recv_reply() for _ in pending)}
        wait = 0
        for cmid in list(pending):
            r = replies[cmid]
            if isinstance(r, p.Ok):
                stored.append((r.seq, cmid))
                pending.remove(cmid)
            else:
                assert r.code == "rate_limited", r
                wait = max(wait, r.retry_after_ms)
        if pending:
            time.sleep(wait / 1000)            # the protocol's retry_after_ms: pacing, as a client must
    assert [cmid for _, cmid in sorted(stored)] == [f"m{i}" for i in range(30)]
