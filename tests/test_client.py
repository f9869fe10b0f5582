"""The client core against a real broker process: what every frontend and bot stands on."""
from __future__ import annotations

import signal

import pytest

from tests.oskit import cut_own_links_to
from tests.probe import Probe, msg
from zchat import events as ev
from zchat import protocol as p
from zchat.client import Client
from zchat.keys import ServerKeyChanged


def test_two_users_everyone_and_dm(user):
    alice, bob = user("alice"), user("bob")
    alice.wait(lambda e: isinstance(e, ev.PresenceChanged) and (e.name, e.reason) == ("bob", "joined"))
    alice.client.execute("hello everyone")
    got = bob.wait(msg("hello everyone"))
    assert (got.sender, got.conv, got.own, got.missed) == ("alice", "all", False, False)
    alice.client.execute("/msg bob just you")
    got = bob.wait(msg("just you"))
    assert (got.conv, got.title) == ("dm:alice:bob", "alice")
    assert alice.wait(msg("just you")).own


def test_three_users_in_a_group_and_unread_counts(user):
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    alice.client.execute("/create team --private")
    alice.wait(lambda e: isinstance(e, ev.Info) and "created group team" in e.text)
    carol.client.execute("/join team")
    assert carol.wait(lambda e: isinstance(e, ev.CommandFailed)).code == "not_invited"
    alice.client.execute("/invite carol team")
    carol.wait(lambda e: isinstance(e, ev.Invited) and e.group == "team")
    carol.client.execute("/join team")
    carol.wait(lambda e: isinstance(e, ev.Info) and "joined group team" in e.text)
    carol.client.execute("/switch everyone")
    alice.client.execute("/switch #team")
    alice.client.execute("team only")
    carol.wait(msg("team only", "g:team"))
    changed = carol.wait(lambda e: isinstance(e, ev.ConversationsChanged)
                         and any(c.conv == "g:team" and c.unread == 1 for c in e.conversations))
    assert changed.current == "all"
    bob.client.execute("sync")      # bob is not in the group: nothing of it reaches him
    bob.wait(msg("sync"))
    assert "team only" not in bob.texts()


def test_unknown_command_is_an_error_event_not_an_exception(user):
    alice = user("alice")
    alice.client.execute("/frobnicate now")
    failed = alice.wait(lambda e: isinstance(e, ev.CommandFailed))
    assert failed.code == "unknown_command" and "/help" in failed.message
    alice.client.execute("/msg")
    assert alice.wait(lambda e: isinstance(e, ev.CommandFailed) and e.code == "usage").message.startswith("usage:")


def test_exit_tells_the_others(user):
    alice, bob = user("alice"), user("bob")
    bob.client.execute("[EXIT]")
    assert bob.wait(lambda e: isinstance(e, ev.Left)).reason == "left"
    change = alice.wait(lambda e: isinstance(e, ev.PresenceChanged) and e.name == "bob" and e.reason == "left")
    assert change.state == "offline"


def test_away_for_50_messages_gets_exactly_those_50_once_in_order(user, broker, tmp_path):
    alice, bob = user("alice"), user("bob")
    alice.client.execute("before")
    bob.wait(msg("before"))
    bob.client.execute("[EXIT]")
    bob.wait(lambda e: isinstance(e, ev.Left))
    bob.client.close()
    for i in range(1, 51):
        alice.client.execute(f"missed {i}")
    alice.wait(msg("missed 50"))
    back = user("bob")
    back.wait(msg("missed 50"))
    back.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "live")
    back.drain()
    got = [e for e in back.seen if isinstance(e, ev.MessageReceived) and e.kind == "msg"]
    assert [e.text for e in got] == [f"missed {i}" for i in range(1, 51)]
    assert all(e.missed for e in got)


def test_broker_restart_under_a_connected_client_loses_and_doubles_nothing(user, broker):
    alice, bob = user("alice"), user("bob")
    for i in range(20):
        alice.client.execute(f"one {i}")
    bob.wait(msg("one 19"))
    assert broker.kill(signal.SIGKILL) == -signal.SIGKILL
    alice.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "reconnecting")
    for i in range(20):                        # typed while the broker is down: kept in the outbox
        alice.client.execute(f"two {i}")
    broker.restart_on_same_port()
    alice.wait(lambda e: isinstance(e, ev.Joined) and not e.resumed, timeout=20)
    bob.wait(msg("two 19"), timeout=20)
    for i in range(20):
        alice.client.execute(f"three {i}")
    bob.wait(msg("three 19"))
    expected = [f"{w} {i}" for w in ("one", "two", "three") for i in range(20)]
    assert bob.texts("all") == expected
    alice.wait(msg("three 19"))
    assert alice.texts("all") == expected


def test_a_changed_server_key_fails_closed(broker, tmp_path):
    endpoint, _ = p.parse_connect_string(broker.connect)
    Client(broker.connect, config_dir=tmp_path / "cfg").close()      # pins the real key
    forged = p.format_connect_string(endpoint, bytes(32))
    with pytest.raises(ServerKeyChanged, match="pinned"):
        Client(forged, config_dir=tmp_path / "cfg")


def listed(probe: Probe) -> ev.ConversationsChanged:
    return [e for e in probe.seen if isinstance(e, ev.ConversationsChanged)][-1]


def test_close_conversation_and_a_dm_to_nobody(user):
    alice, bob = user("alice"), user("bob")
    alice.client.dm("nobody", "are you there?")
    assert alice.wait(lambda e: isinstance(e, ev.CommandFailed)).code == "no_such_user"
    alice.wait(lambda e: isinstance(e, ev.ConversationsChanged) and "dm:alice:nobody" not in
               [c.conv for c in e.conversations])                       # the DM that never existed is gone
    alice.client.dm("bob", "one")
    bob.wait(msg("one"))
    alice.client.close_conversation("dm:alice:bob")
    alice.wait(lambda e: isinstance(e, ev.ConversationsChanged) and "dm:alice:bob" not in
               [c.conv for c in e.conversations])
    alice.client.close_conversation("everyone")
    assert "everyone cannot be closed" in alice.wait(lambda e: isinstance(e, ev.CommandFailed)
                                                     and e.command == "close").message
    bob.client.dm("alice", "two")                                       # a new line opens it again
    alice.wait(msg("two"))
    assert "dm:alice:bob" in [c.conv for c in listed(alice).conversations]
    assert alice.texts("dm:alice:bob") == ["one", "two"]               # and "one" is not shown twice


def ops_group(user) -> tuple[Probe, Probe]:
    """alice makes group ops and carol joins it."""
    alice, carol = user("alice"), user("carol")
    alice.client.create_group("ops")
    alice.wait(lambda e: isinstance(e, ev.Info) and "created group ops" in e.text)
    carol.client.join_group("ops")
    carol.wait(lambda e: isinstance(e, ev.Info) and "joined group ops" in e.text)
    return alice, carol


def test_a_group_member_keeps_receiving_it_live_after_the_broker_is_killed_and_restarted(user, broker):
    """The group's subscription is made again on the new broker: a line said in the group after the
    restart reaches carol through her SUB (a group has no other way to reach a member live)."""
    alice, carol = ops_group(user)
    alice.client.send("before", "g:ops")
    carol.wait(msg("before", "g:ops"))
    assert broker.kill(signal.SIGKILL) == -signal.SIGKILL
    carol.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.RECONNECTING)
    broker.restart_on_same_port()
    for probe in (alice, carol):
        lost = probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.RECONNECTING)
        joined = probe.wait_after(lost, lambda e: isinstance(e, ev.Joined) and not e.resumed, timeout=30)
        probe.wait_after(joined, lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE,
                         timeout=30)
    assert "g:ops" in [c.conv for c in listed(carol).conversations]
    alice.client.send("after the restart", "g:ops")
    got = carol.wait(msg("after the restart", "g:ops"), timeout=15)
    assert (got.sender, got.missed, got.history) == ("alice", False, False)
    assert carol.texts("g:ops") == ["before", "after the restart"]


def test_a_subscription_link_that_breaks_is_subscribed_again_and_nothing_said_meanwhile_is_lost(user):
    """libzmq 4.3.5 often redials a broken SUB link without resending its subscriptions (with ZMTP
    heartbeats on), leaving a SUB that is connected and deaf. The client makes a new SUB when its
    link comes back, waits for the heartbeat that proves the subscriptions are in, and fetches what
    was said while it was away."""
    alice, carol = ops_group(user)
    alice.client.send("before", "g:ops")
    before = carol.wait(msg("before", "g:ops"))
    pub_port = int(carol.client._session.pub_endpoint.rsplit(":", 1)[1])
    assert cut_own_links_to(pub_port) >= 2          # both clients live in this process
    alice.client.send("while cut", "g:ops")
    carol.wait(msg("while cut", "g:ops"), timeout=30)
    # the relinked SUB gets live lines again: the group's next line reaches carol from her SUB
    relinked = carol.wait_after(before, lambda e: isinstance(e, ev.ConnectionChanged)
                                and e.state == ev.ConnState.CATCHING_UP and "subscribing again" in e.detail, timeout=30)
    carol.wait_after(relinked, lambda e: isinstance(e, ev.ConnectionChanged) and e.state == ev.ConnState.LIVE,
                     timeout=30)
    alice.client.send("after", "g:ops")
    later = carol.wait(msg("after", "g:ops"), timeout=15)
    assert (later.history, later.missed) == (False, False)
    assert carol.texts("g:ops") == ["before", "while cut", "after"]
