"""Raw protocol clients against a real broker process over CURVE on tcp://127.0.0.1."""
from __future__ import annotations

import time

import pytest
import zmq

from tests.oskit import Monitored
from zchat import protocol as p


def test_join_is_confirmed_and_others_see_it(client):
    alice = client("alice")
    assert alice.welcome.name == "alice"
    assert alice.welcome.pub_endpoint.startswith("tcp://127.0.0.1:")
    assert [c.conv for c in alice.welcome.conversations] == ["all"]
    bob = client("bob")
    change = alice.wait_published(lambda t, m: isinstance(m, p.Presence) and m.changes[0].name == "bob")
    assert change.changes == [p.PresenceChange("bob", "online", "joined")]
    assert bob.welcome.limits.max_text_bytes == p.MAX_TEXT_BYTES


def test_duplicate_name_is_refused_case_insensitively(client):
    client("alice")
    intruder = client()
    reply = intruder.hello("ALICE")
    assert isinstance(reply, p.Error) and reply.code == "name_taken"


def test_message_to_everyone_reaches_everyone(client):
    alice, bob, carol = client("alice"), client("bob"), client("carol")
    ok = alice.say("all", "hello all")
    assert isinstance(ok, p.Ok) and ok.seq == 1
    for c in (alice, bob, carol):
        [m] = c.messages("all", 1)
        assert (m.sender, m.text, m.seq) == ("alice", "hello all", 1)


def test_direct_message_reaches_only_the_two(client):
    alice, bob, carol = client("alice"), client("bob"), client("carol")
    ok = alice.say(p.dm_key("alice", "bob"), "psst")
    assert isinstance(ok, p.Ok) and ok.conv == "dm:alice:bob"
    for c in (alice, bob):
        [m] = c.messages("dm:alice:bob", 1)
        assert (m.sender, m.text) == ("alice", "psst")
    alice.say("all", "after the dm")
    first = carol.wait_published(lambda t, m: isinstance(m, p.Message))
    assert first.conv == "all", f"carol saw {first}"


def test_group_create_join_and_talk(client):
    alice, bob = client("alice"), client("bob")
    assert isinstance(alice.call(p.CreateGroup, group="team"), p.Ok)
    alice.subscribe(b"g:team|")
    assert isinstance(bob.call(p.JoinGroup, group="team"), p.Ok)
    bob.subscribe(b"g:team|")
    alice.say("g:team", "standup in 5")
    [line] = bob.messages("g:team", 1)   # bob's own "joined" event came before his subscription
    assert (line.kind, line.sender, line.text, line.seq) == ("msg", "alice", "standup in 5", 3)
    page = bob.call(p.History, conv="g:team", after=0)
    assert [(m.kind, m.sender, m.text) for m in page.messages] == [
        ("event", "alice", "created"), ("event", "bob", "joined"), ("msg", "alice", "standup in 5")]
    listing = bob.call(p.ListGroups)
    assert listing.groups == [p.GroupInfo("team", False, 2, True)]
    who = bob.call(p.Who, conv="g:team")
    assert [(u.name, u.state) for u in who.users] == [("alice", "online"), ("bob", "online")]


def wait_refused(broker) -> None:
    """Until the broker logs a refused subscription (polling its log: no event to wait on)."""
    deadline = time.monotonic() + 10
    while "refused subscription" not in broker.output():
        assert time.monotonic() < deadline, "the broker did not refuse the subscription in time"
        time.sleep(0.02)


def test_outsider_reads_no_private_group_no_foreign_dm_and_nothing_via_empty_prefix(client, broker, ctx):
    alice, bob, mallory = client("alice"), client("bob"), client("mallory")
    alice.call(p.CreateGroup, group="secret", private=True)
    alice.subscribe(b"g:secret|")
    alice.call(p.Invite, group="secret", name="bob")
    bob.call(p.JoinGroup, group="secret")
    bob.subscribe(b"g:secret|")
    # mallory asks, with her own session's token, for everything she should not have: the first
    # subscription is refused and the connection that asked is cut, with whatever else it sent
    # (libzmq keeps every topic asked for); if the SUB redials and asks again, so again
    spy = ctx.socket(zmq.SUB)
    spy.linger = 0
    spy.curve_serverkey, spy.curve_publickey, spy.curve_secretkey = mallory.server_key, mallory.public, mallory.secret
    spy.setsockopt(zmq.METADATA, p.sub_metadata(mallory.welcome.sub_token))
    try:
        spy.connect(mallory.welcome.pub_endpoint)
        for t in (b"", b"u:", b"u:alice|", b"u:bob|", b"g:", b"g:secret|", b"dm:alice:bob|"):
            spy.subscribe(t)
        wait_refused(broker)
        assert isinstance(mallory.call(p.JoinGroup, group="secret"), p.Error)
        assert mallory.call(p.History, conv="g:secret").code == "not_member"
        assert mallory.call(p.History, conv="dm:alice:bob").code == "not_member"
        assert mallory.say("dm:alice:bob", "hi from mallory").code == "not_member"

        alice.say("dm:alice:bob", "the dm")
        alice.say("g:secret", "the secret")
        alice.say("all", "public line")
        # mallory's own SUB preserves order: had anything leaked, it would come before the public line
        first = mallory.wait_published(lambda t, m: isinstance(m, p.Message))
        assert (first.conv, first.text) == ("all", "public line")
        assert [m.text for m in bob.messages("dm:alice:bob", 1)] == ["the dm"]
        assert [m.text for m in bob.messages("g:secret", 1)] == ["the secret"]
        assert not spy.poll(500), "the spy's SUB got a frame"
        assert mallory.unopened == []
    finally:
        spy.close(0)


@pytest.mark.parametrize("token", ["", "0" * 32, "stale"])
def test_a_sub_without_a_live_session_token_gets_nothing(client, broker, token):
    """A SUB proves whose it is with its session's welcome token (handshake metadata): none, a made-up
    one, or the token of a session that has ended, and every subscription is refused, public ones too."""
    alice = client("alice")
    if token == "stale":
        gone = client("gone")
        token = gone.welcome.sub_token
        assert isinstance(gone.call(p.Bye), p.Ok)
    spy = client()                                   # a CURVE key of its own, no session
    spy.welcome, spy.sub_token = alice.welcome, token
    topics = [p.TOPIC_PRESENCE, p.TOPIC_HEARTBEAT, b"all|", b"u:alice|", b""]
    spy.subscribe(*topics, sync=False)
    wait_refused(broker)
    alice.say("all", "public line")
    alice.wait_published(lambda t, m: isinstance(m, p.Message) and m.text == "public line")
    assert spy.silent(lambda t, m: True, window=1.0)


def test_one_refused_subscription_takes_what_its_connection_asked_next_with_it(client, broker, ctx):
    """A connection that asked for a foreign topic is cut, and the allowed topics it asked for in
    the same breath are not granted: the broker drops what a cut connection sent, unread.

    The SUB is fresh (a SUB that already had topics may hold what was published to it before the
    cut: a heartbeat, alice's presence) and does not redial (a redialled SUB replays its topics in
    trie order, all| and hb| before u:alice|, so a second connection would be granted them until
    its own cut): one connection, whose first frame is the foreign topic."""
    alice, mallory = client("alice"), client("mallory", subscribe=False)
    assert mallory.welcome is not None
    spy = ctx.socket(zmq.SUB)
    spy.linger, spy.reconnect_ivl = 0, -1
    spy.curve_serverkey, spy.curve_publickey, spy.curve_secretkey = mallory.server_key, mallory.public, mallory.secret
    spy.setsockopt(zmq.METADATA, p.sub_metadata(mallory.welcome.sub_token))
    watch = Monitored(spy, zmq.EVENT_DISCONNECTED)
    try:
        spy.connect(mallory.welcome.pub_endpoint)
        for t in (b"u:alice|", b"all|", p.TOPIC_HEARTBEAT):    # in this order on the wire
            spy.subscribe(t)
        watch.wait(zmq.EVENT_DISCONNECTED)                    # the cut
        wait_refused(broker)                                  # ... and it was for the refusal
        alice.say("all", "public line")
        alice.wait_published(lambda t, m: isinstance(m, p.Message) and m.text == "public line")
        assert not spy.poll(1000), "the cut SUB got a frame: all| or hb| was granted"
    finally:
        watch.close()
        spy.close(0)


def test_sender_is_the_key_owner_whatever_the_request_claims(client):
    alice, bob = client("alice"), client("bob")
    alice.dealer.send(b'{"type":"send","id":"x","conv":"all","text":"hi","cmid":"c","sender":"bob","from":"bob"}')
    assert isinstance(alice.recv_reply(), p.Ok)
    [m] = bob.messages("all", 1)
    assert m.sender == "alice"


def test_retried_send_is_acknowledged_alike_and_stored_once(client):
    alice = client("alice")
    first = alice.say("all", "once", cmid="fixed-id")
    again = alice.say("all", "once", cmid="fixed-id")
    assert (again.seq, again.ts, again.duplicate) == (first.seq, first.ts, True)
    page = alice.call(p.History, conv="all")
    assert [m.text for m in page.messages] == ["once"]


def test_history_pages_state_their_bounds(client):
    alice = client("alice")
    alice.call(p.CreateGroup, group="log")
    for i in range(7):
        alice.say("g:log", f"line {i}")
    page = alice.call(p.History, conv="g:log", after=0, limit=3)
    assert (page.from_seq, page.to_seq, page.head_seq, page.complete) == (1, 3, 8, False)
    page = alice.call(p.History, conv="g:log", after=6, limit=3)
    assert (page.from_seq, page.to_seq, page.complete) == (7, 8, True)
    page = alice.call(p.History, conv="g:log", before=4, limit=10)
    assert (page.from_seq, page.to_seq, page.complete) == (1, 3, True)


def test_returning_user_learns_what_it_missed(client, ctx):
    alice, bob = client("alice"), client("bob")
    bob.call(p.MarkRead, conv="all", seq=0)
    assert isinstance(bob.call(p.Bye), p.Ok)
    for i in range(5):
        alice.say("all", f"while away {i}")
    back = client(keypair=(bob.public, bob.secret))
    welcome = back.hello("bob")
    everyone = next(c for c in welcome.conversations if c.conv == "all")
    assert (everyone.head_seq, everyone.last_read) == (5, 0)
    page = back.call(p.History, conv="all", after=everyone.last_read)
    assert [m.text for m in page.messages] == [f"while away {i}" for i in range(5)] and page.complete


def test_heartbeats_carry_head_seqs_so_a_lost_last_message_shows(client):
    alice, bob = client("alice"), client("bob")
    alice.call(p.CreateGroup, group="quiet")
    alice.subscribe(b"g:quiet|")
    ok = alice.say("g:quiet", "the last word")
    # the group's creation may have had its own beat (head 1) while alice subscribed: skip that one
    beat = alice.wait_published(lambda t, m: t == b"g:quiet|" and isinstance(m, p.Heartbeat)
                                and m.heads.get("g:quiet", 0) >= ok.seq)
    assert beat.heads == {"g:quiet": ok.seq}
    alice.say("all", "to all")
    beat = bob.wait_published(lambda t, m: t == p.TOPIC_HEARTBEAT and m.heads.get("all") == 1)
    assert beat.ts > 0
    assert isinstance(bob.call(p.Ping), p.Pong)


def test_clients_past_max_clients_are_refused_clearly(broker_factory, ctx):
    from tests.rawclient import RawClient
    broker = broker_factory("--max-clients", "2")
    clients = [RawClient(ctx, broker.connect) for _ in range(3)]
    try:
        assert isinstance(clients[0].hello("one", subscribe=False), p.Welcome)
        assert isinstance(clients[1].hello("two", subscribe=False), p.Welcome)
        refused = clients[2].hello("three", subscribe=False)
        assert (refused.code, refused.retryable) == ("server_full", True)
        assert "2 sessions" in refused.message
        assert isinstance(clients[1].call(p.Bye), p.Ok)              # a place frees up ...
        assert isinstance(clients[2].hello("three", subscribe=False), p.Welcome)   # ... and is taken
    finally:
        for c in clients:
            c.close()
