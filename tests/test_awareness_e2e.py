"""Presence, typing and read receipts over real sockets against a real broker process: online,
away (with its text), dnd and offline told apart on the wire; typing notices sealed, never stored
and bounded in rate (a raw flooder is refused and the broker stays quick for others); read
receipts from the read marks; and the notification hook a plugin sees."""
from __future__ import annotations

import argparse
import contextlib
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

import zchat
from tests.probe import Probe, msg
from tests.rawclient import RawClient
from zchat import events as ev
from zchat import protocol as p
from zchat.plugins import Launch, load_plugins


def presence(name: str, state: str) -> Callable[[bytes, Any], bool]:
    return lambda t, m: isinstance(m, p.Presence) and any(c.name == name and c.state == state for c in m.changes)


def test_online_away_dnd_and_offline_are_four_things_on_the_wire(client: Callable[..., RawClient]) -> None:
    watcher, alice = client("watcher"), client("alice")
    assert alice.call(p.SetStatus, state="away", text="lunch").id
    change = watcher.wait_published(presence("alice", "away"))
    assert [(c.state, c.reason, c.status) for c in change.changes if c.name == "alice"] == [("away", "set", "lunch")]
    who = {u.name: (u.state, u.status) for u in watcher.call(p.Who).users}
    assert who["alice"] == ("away", "lunch")
    alice.call(p.SetStatus, state="dnd", text="")
    watcher.wait_published(presence("alice", "dnd"))
    alice.call(p.SetStatus, state="online")
    watcher.wait_published(presence("alice", "online"))
    alice.call(p.SetStatus, state="away", auto=True)              # this (only) session went idle
    idle = watcher.wait_published(presence("alice", "away"))
    assert [(c.reason, c.status) for c in idle.changes if c.name == "alice"] == [("idle", None)]
    assert isinstance(alice.call(p.Bye), p.Ok)
    gone = watcher.wait_published(presence("alice", "offline"))
    assert [c.reason for c in gone.changes if c.name == "alice"] == ["left"]
    assert {u.name: u.state for u in watcher.call(p.Who).users}["alice"] == "offline"
    refused = watcher.call(p.SetStatus, state="offline")
    assert (refused.code, "online, away, dnd" in refused.message) == ("bad_field", True)


def test_a_chosen_state_is_the_accounts_and_a_new_session_learns_it(user: Callable[..., Probe]) -> None:
    alice, bob = user("alice"), user("bob")
    alice.client.dnd("focus time")
    assert alice.wait(lambda e: isinstance(e, ev.StatusChanged)).state == "dnd"
    seen = bob.wait(lambda e: isinstance(e, ev.PresenceChanged) and e.name == "alice" and e.state == "dnd")
    assert (seen.status, seen.reason) == ("focus time", "set")
    second = user("alice", cfg="cfg-alice")                      # another session of the account
    assert second.wait(lambda e: isinstance(e, ev.StatusChanged)).state == "dnd"
    bob.client.send("@alice are you there?")                      # dnd: counted, no notification
    alice.wait(msg("@alice are you there?"))
    alice.client.back()
    alice.wait(lambda e: isinstance(e, ev.StatusChanged) and e.state == "online")
    bob.client.send("@alice now?")
    note = alice.wait(lambda e: isinstance(e, ev.Notification))
    assert note.text == "@alice now?"                              # the first one: none came while dnd


def test_typing_is_published_sealed_never_stored_and_expires(user: Callable[..., Probe], broker: Any,
                                                             store_url: str | None) -> None:
    alice, bob = user("alice"), user("bob")
    bob.client.dm("alice", "hi")                                  # a DM both have open
    alice.wait(msg("hi"))
    for _ in range(20):                                           # keystrokes: one notice goes, not twenty
        bob.client.typing("dm:alice:bob")
    started = alice.wait(lambda e: isinstance(e, ev.Typing) and e.active)
    assert (started.conv, started.name) == ("dm:alice:bob", "bob")
    stopped = alice.wait_after(started, lambda e: isinstance(e, ev.Typing) and not e.active, timeout=15)
    assert stopped.name == "bob"
    bob.client.typing("dm:alice:bob")
    alice.wait_after(stopped, lambda e: isinstance(e, ev.Typing) and e.active)
    bob.client.send("done now", "dm:alice:bob")                # a line ends it at once
    line = alice.wait(msg("done now"))
    before = alice.seen[alice.seen.index(line) - 1]
    assert isinstance(before, ev.Typing) and (before.name, before.active) == ("bob", False)
    if store_url is None:
        db: Any = sqlite3.connect(broker.data_dir / "zchat.db")
        tables = "SELECT name FROM sqlite_master WHERE name LIKE '%typing%'"
    else:                                                       # the broker's PostgreSQL database
        db = psycopg.connect(store_url, autocommit=True)
        tables = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%typing%'"
    with contextlib.closing(db):
        rows = list(db.execute("SELECT conv, kind, text FROM messages WHERE conv = 'dm:alice:bob' ORDER BY seq"))
        assert rows == [("dm:alice:bob", "msg", "hi"), ("dm:alice:bob", "msg", "done now")]   # 22 notices, 0 rows
        assert list(db.execute(tables)) == []


def test_a_typing_flood_is_refused_and_the_broker_stays_quick_for_others(client: Callable[..., RawClient]) -> None:
    flooder, victim, calm = client("flooder"), client("victim"), client("calm")
    for i in range(400):                                          # as fast as the socket goes
        flooder.send(p.Typing(id=f"t{i}", conv="all"))
    start = time.monotonic()                                      # someone else, in the middle of it
    assert isinstance(calm.call(p.Ping), p.Pong)
    assert time.monotonic() - start < 1.0
    codes = [getattr(flooder.recv_reply(), "code", "ok") for _ in range(400)]
    assert codes.count("rate_limited") >= 400 - 5 - 3, codes.count("ok")   # the burst (5) and a refill or two
    published, deadline = 0, time.monotonic() + 3
    while time.monotonic() < deadline and (got := victim.recv_published(0.5)) is not None:
        published += isinstance(got[1], p.TypingNotice) and got[1].name == "flooder"
    assert 1 <= published <= codes.count("ok")                   # only the accepted ones were published


def test_read_receipts_tell_who_has_read_your_last_line(user: Callable[..., Probe]) -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    alice.client.create_group("team")
    alice.wait(lambda e: isinstance(e, ev.Info) and e.text == "created group team")
    for x in (bob, carol):
        x.client.join_group("team")
        x.wait(lambda e: isinstance(e, ev.Info) and e.text == "joined group team")
    alice.client.send("ship it?", "g:team")
    mine = alice.wait(msg("ship it?", "g:team"))
    for x in (bob, carol):                                        # the group is on their screens: they read it
        x.wait(msg("ship it?", "g:team"))
    receipt = alice.wait(lambda e: isinstance(e, ev.ReadBy) and e.seq == mine.seq and e.names == ("bob", "carol"),
                         timeout=15)
    assert receipt.conv == "g:team"
    late = user("alice", cfg="cfg-alice")                         # a new session asks for the marks itself
    late.client.switch("#team")
    late.client.history(5, "g:team")
    late.wait(lambda e: isinstance(e, ev.ReadBy) and e.names == ("bob", "carol"), timeout=15)


def test_the_notification_hook_sees_every_notification(broker: Any, user: Callable[..., Probe],
                                                       tmp_path: Path) -> None:
    class Forwarder:
        def __init__(self) -> None:
            self.got: list[ev.Notification] = []

        @zchat.hookimpl
        def zchat_notification(self, notification: ev.Notification) -> None:
            self.got.append(notification)

    plugins = load_plugins(load_entrypoints=False)
    forwarder = Forwarder()
    assert plugins.register(forwarder, "forwarder")
    options = argparse.Namespace(name=None, server=broker.connect, config_dir=tmp_path / "cfg-watch")
    alice = user("alice")
    with Launch(options=options, observers=plugins.observers).client() as client:
        client.join("watch")
        probe = Probe(client)
        probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "live")
        alice.client.send("@watch look")
        alice.client.dm("watch", "and a word in private")
        probe.wait(lambda e: isinstance(e, ev.Notification) and e.reason == "dm")
    assert [(n.reason, n.text) for n in forwarder.got] == [("mention", "@watch look"), ("dm", "and a word in private")]
