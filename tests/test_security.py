"""Access control, tried as an attacker would, over real sockets against a real broker process.

Each test names who attacks (a stranger with the connect string, another user, a former member)
and what must hold. docs/ARCHITECTURE.md's threat model points here.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
import zmq

from tests.conftest import BrokerProcess
from tests.oskit import Monitored, all_threads_stopped, broker_rx_queue, local_port, wait_until
from tests.rawclient import RawClient
from zchat import protocol as p
from zchat.seal import KeyChain


def presence_of(name: str, reason: str) -> Callable[[bytes, Any], bool]:
    return lambda t, m: isinstance(m, p.Presence) and any(
        c.name == name and c.reason == reason for c in m.changes)


def curve_socket(ctx: zmq.Context, kind: int, server_key: bytes, keypair: tuple[bytes, bytes] | None = None,
                 token: str | None = None) -> zmq.Socket:
    s = ctx.socket(kind)
    s.linger = 0
    s.curve_serverkey = server_key
    s.curve_publickey, s.curve_secretkey = keypair or zmq.curve_keypair()
    if token:
        s.setsockopt(zmq.METADATA, p.sub_metadata(token))
    return s


# ---------------------------------------------------------------- the request socket: identity is the key

def test_a_second_key_on_a_victims_routing_id_gets_nothing_of_hers(broker: BrokerProcess, client: Any,
                                                                   ctx: zmq.Context) -> None:
    """Another user (or a stranger) who learns or guesses alice's routing id and connects with it while
    her session is lost gets no key, no history, no token, and cannot send as her."""
    bob, carol, alice = client("bob"), client("carol"), client("alice")
    dm = p.dm_key("alice", "bob")
    assert isinstance(bob.say(dm, "for alice only"), p.Ok)
    assert isinstance(alice.call(p.CreateGroup, group="plans"), p.Ok)
    assert isinstance(carol.call(p.JoinGroup, group="plans"), p.Ok)
    rid, alice_keys, token = alice.routing_id, (alice.public, alice.secret), alice.welcome.sub_token
    alice.close()                                    # her link drops: the session is lost, in its grace
    bob.wait_published(presence_of("alice", "lost"))

    mallory = curve_socket(ctx, zmq.DEALER, alice.server_key)
    mallory.routing_id = rid
    watch = Monitored(mallory, zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        mallory.connect(alice.endpoint)
        watch.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        # carol leaves: the group's key changes and goes to its readers, alice among them
        assert isinstance(carol.call(p.LeaveGroup, group="plans"), p.Ok)
        assert isinstance(carol.call(p.Ping), p.Pong)      # the batch with the key notices has been sent
        assert not mallory.poll(500), "a notice meant for alice reached another key on her routing id"
        for req in (p.History(id="h", conv=dm), p.Send(id="s", conv="all", text="I am alice", cmid="x"),
                    p.Hello(id="w", version=p.PROTOCOL_VERSION, name="alice")):
            mallory.send(p.encode(req))
            assert mallory.poll(5000)
            [reply] = [p.decode_reply(part) for part in p.unbundle(mallory.recv())]
            assert isinstance(reply, p.Error) and reply.code in ("not_joined", "name_taken"), reply
    finally:
        watch.close()
        mallory.close(0)
    # nothing was said as alice, and alice herself, with her key, resumes and reads her DM
    page = bob.call(p.History, conv="all")
    assert all(m.sender != "alice" for m in page.messages)
    back = RawClient(ctx, broker.connect, keypair=alice_keys)
    try:
        welcome = back.hello("alice", subscribe=False, resume=token)
        assert isinstance(welcome, p.Welcome) and welcome.resumed
        assert [m.text for m in back.call(p.History, conv=dm).messages] == ["for alice only"]
        assert back.keys.has("g:plans")
    finally:
        back.close()


def test_a_routing_id_in_use_cannot_be_taken_by_another_connection(client: Any, ctx: zmq.Context) -> None:
    alice = client("alice")
    mallory = curve_socket(ctx, zmq.DEALER, alice.server_key)
    mallory.routing_id = alice.routing_id
    try:
        mallory.connect(alice.endpoint)
        mallory.send(p.encode(p.Ping(id="p")))
        assert not mallory.poll(1000), "libzmq gave a second connection a routing id in use"
        assert isinstance(alice.call(p.Ping), p.Pong)
    finally:
        mallory.close(0)


@pytest.mark.parametrize("rid", [b"", b"\x00" + b"a" * 15, b"short-id"], ids=["libzmq's", "zero-first", "short"])
def test_hello_wants_a_random_routing_id(broker: BrokerProcess, ctx: zmq.Context, rid: bytes) -> None:
    """libzmq's own ids are a counter a stranger can guess: hello refuses them, and says what to do."""
    c = RawClient(ctx, broker.connect, routing_id=rid)
    try:
        reply = c.call(p.Hello, version=p.PROTOCOL_VERSION, name="guessable")
        assert isinstance(reply, p.Error) and reply.code == "bad_routing_id" and "ZMQ_ROUTING_ID" in reply.message
    finally:
        c.close()


# ---------------------------------------------------------------- the fan-out: sealed, and the second line

def test_the_xpub_desync_installs_nothing_for_the_attacker_and_the_victim_still_gets_her_messages(
        broker: BrokerProcess, client: Any, ctx: zmq.Context) -> None:
    """libzmq 4.3.5: a frame that is not a subscription shifts XPUB_MANUAL's pipe queue by one, so a
    victim's subscription read after it would be installed on the next subscriber's pipe. The broker
    is stopped (every thread: kill returns before they are, and a running I/O thread would read the
    first frame away, which made this fail now and then) while the three frames arrive in the order
    that exploits it, then let go."""
    bob, alice = client("bob"), client("alice", subscribe=False)
    endpoint = alice.welcome.pub_endpoint
    port = int(endpoint.rsplit(":", 1)[1])
    socks: list[tuple[zmq.Socket, Monitored, int]] = []

    def connect(kind: int, keypair: tuple[bytes, bytes] | None = None, token: str | None = None) -> int:
        s = curve_socket(ctx, kind, alice.server_key, keypair, token)
        watch = Monitored(s, zmq.EVENT_CONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        s.connect(endpoint)
        fd = watch.wait(zmq.EVENT_CONNECTED)["value"]
        watch.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        socks.append((s, watch, local_port(fd)))
        return len(socks) - 1

    try:
        first, victim, second = (connect(zmq.XSUB), connect(zmq.SUB, (alice.public, alice.secret),
                                                              alice.welcome.sub_token), connect(zmq.XSUB))
        alice.sub = socks[victim][0]
        pid = broker.proc.pid
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: all_threads_stopped(pid), 10, "every thread of the broker to stop")
        try:
            for i, send in ((first, lambda s: s.send(b"\x02x")),
                            (victim, lambda s: s.subscribe(p.user_topic("alice"))),
                            (second, lambda s: s.send(b"\x01all|"))):
                send(socks[i][0])
                client_port = socks[i][2]
                wait_until(lambda cp=client_port: broker_rx_queue(port, cp) > 0, 30,
                           f"frame {i} (port {client_port}) in the stopped broker's receive queue")
        finally:
            os.kill(pid, signal.SIGCONT)
        socks[first][1].wait(zmq.EVENT_DISCONNECTED)         # the peer that broke the framing is cut off
        wait_until(lambda: "not a subscription" in broker.output(), 10, "the broker to log the cut")
        # if the desync held back the victim's subscription, she is asked (in the same loop turn) to send
        # it again; she does, and proves her subscriptions are in with a heartbeat
        alice.poll_notices(timeout=2.0)
        for notice in alice.notices:
            if isinstance(notice, p.Resubscribe):
                for t in notice.topics:
                    alice.sub.unsubscribe(t.encode())
                    alice.sub.subscribe(t.encode())
        alice.sync_subscriptions()
        for i in range(5):
            assert isinstance(bob.say(p.dm_key("alice", "bob"), f"secret {i}"), p.Ok)
        assert [m.text for m in alice.messages(p.dm_key("alice", "bob"), 5)] == [f"secret {i}" for i in range(5)]
        attacker = socks[second][0]
        got = []
        while attacker.poll(500):
            got.append(attacker.recv_multipart())
        assert got == [], f"the attacker's XSUB got {len(got)} frames"
    finally:
        for s, watch, _ in socks:
            watch.close()
            s.close(0)
        alice.sub = None


def test_a_member_who_leaves_reads_nothing_after_even_on_the_subscription_it_kept(client: Any) -> None:
    """A former member keeps its SUB subscribed to the group (libzmq cannot take it back): what the
    group says afterwards reaches its socket sealed with a key it never gets."""
    alice, bob, carol = client("alice"), client("bob"), client("carol")
    alice.call(p.CreateGroup, group="team", private=True)
    for name, member in (("bob", bob), ("carol", carol)):
        alice.call(p.Invite, group="team", name=name)
        assert isinstance(member.call(p.JoinGroup, group="team"), p.Ok)
        member.subscribe(b"g:team|")
    assert isinstance(bob.call(p.LeaveGroup, group="team"), p.Ok)     # and does NOT unsubscribe
    for i in range(3):
        alice.say("g:team", f"after bob left {i}")
    assert [m.text for m in carol.messages("g:team", 4)][1:] == [f"after bob left {i}" for i in range(3)]
    # bob opens his own "left" line (sealed before the rotation), and nothing after it
    assert bob.silent(lambda t, m: t == b"g:team|" and getattr(m, "text", "").startswith("after"), window=1.0)
    sealed = [exc for t, exc in bob.unopened if t == b"g:team|"]
    assert len(sealed) >= 3 and all(exc.reason == "unknown_key" and exc.epoch == 2 for exc in sealed), sealed
    assert carol.keys.newest("g:team") == 2 and bob.keys.newest("g:team") == 1


def test_a_session_that_ended_reads_no_later_dm_on_its_old_subscription(client: Any) -> None:
    """bye ends the session; a client that keeps its SUB (or a stolen subscription) gets alice's later
    DMs to bob sealed with a user key bob's next session gets, not this one."""
    alice, bob = client("alice"), client("bob")
    dm = p.dm_key("alice", "bob")
    alice.say(dm, "before")
    assert [m.text for m in bob.messages(dm, 1)] == ["before"]
    assert isinstance(bob.call(p.Bye), p.Ok)                         # SUB left subscribed to u:bob|
    alice.say(dm, "after bob left")
    assert bob.silent(lambda t, m: t == b"u:bob|", window=1.0)
    assert any(t == b"u:bob|" and exc.reason == "unknown_key" for t, exc in bob.unopened)


def test_a_stranger_with_the_connect_string_reads_nothing(client: Any, ctx: zmq.Context) -> None:
    """No account, no token: its subscriptions are refused, and it holds no key anyway."""
    alice = client("alice")
    stranger = curve_socket(ctx, zmq.SUB, alice.server_key)
    try:
        stranger.connect(alice.welcome.pub_endpoint)
        for t in (b"", b"all|", b"p|", b"hb|", b"u:alice|"):
            stranger.subscribe(t)
        alice.say("all", "hello everyone")
        assert not stranger.poll(1000)
    finally:
        stranger.close(0)


def test_keys_are_only_in_the_replies_of_the_key_that_may_read(client: Any) -> None:
    alice, bob = client("alice"), client("bob")
    ok = alice.call(p.CreateGroup, group="secret", private=True)
    assert isinstance(ok, p.Ok) and ok.key is not None and ok.key.scope == "g:secret"
    assert bob.call(p.JoinGroup, group="secret").code == "not_invited"
    assert not bob.keys.has("g:secret") and not any(k.scope == "u:alice" for k in bob.welcome.keys)
    assert {k.scope for k in alice.welcome.keys} == {"all", "u:alice"}
    chain = KeyChain()
    chain.add(ok.key.scope, ok.key.epoch, bytes.fromhex(ok.key.key))
    assert chain.has("g:secret")
