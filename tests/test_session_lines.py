"""The sans-IO client session's protocol 3 state, against a real Hub in memory (tests/test_session's
Net: no sockets, a fake clock): lines changed in place, mentions counted apart from unread,
notifications (none while dnd, one summary for what came while away), typing that expires,
read receipts, the idle timer, and what /edit and /delete mean without a SEQ."""
from __future__ import annotations

from typing import Any

from tests.hubkit import peer_of
from tests.test_session import Net
from zchat import events as ev
from zchat import protocol as p


def roomy() -> Net:
    """A Net whose everyone rate does not get in the way of a scripted conversation."""
    net = Net()
    net.hub.config.rates[p.RateKind.EVERYONE] = p.RateLimit(100.0, 100)
    return net


def of(net: Net, name: str, kind: type) -> list[Any]:
    return [e for e in net.seen(name) if isinstance(e, kind)]


def convs(net: Net, name: str) -> dict[str, ev.Conversation]:
    return {c.conv: c for c in of(net, name, ev.ConversationsChanged)[-1].conversations}


def alice_starts_typing_to_bob() -> tuple[Net, Any]:
    """alice and bob in one room, alice's first key pressed (her notice not pumped yet): -> (net, alice's session)."""
    net = roomy()
    net.connect("alice")
    alice = net.sessions["alice"][0]
    net.connect("bob")
    alice.typing(net.now[0])
    return net, alice


def test_changes_are_applied_to_their_line_and_never_drawn_as_lines() -> None:
    net = roomy()
    net.connect("bob")
    net.connect("alice")
    net.do("alice", "first")
    net.do("alice", "second")
    net.do("alice", "/edit 1 first, fixed")
    net.do("bob", "/react 1 👍")
    net.do("alice", "/delete")                       # no SEQ: alice's last line (2)
    changes = [(c.seq, c.change, c.text, c.edited, c.deleted, c.reactions, c.by)
               for c in of(net, "bob", ev.MessageChanged)]
    assert changes == [(1, "edit", "first, fixed", True, False, (), "alice"),
                       (1, "react", "first, fixed", True, False, (("👍", ("bob",)),), "bob"),
                       (2, "delete", "", False, True, (), "alice")]
    assert [e.text for e in net.lines("bob")] == ["first", "second"]          # lines 3, 4, 5 are changes
    net.do("alice", "/delete")                       # the last line left is 1 now
    assert of(net, "alice", ev.MessageChanged)[-1].seq == 1
    net.do("alice", "/delete")
    assert of(net, "alice", ev.CommandFailed)[-1].message.startswith("no line of yours here to delete")


def test_edit_without_seq_means_the_line_just_acknowledged_and_says_so_while_one_is_in_flight() -> None:
    net = roomy()
    net.connect("bob")
    net.connect("alice")
    alice = net.sessions["alice"][0]
    net.do("alice", "first")
    alice.send("second")                             # in flight: its ok has not come back
    assert alice.edit("second, fixed") is None       # not line 1 by mistake
    net.pump()
    assert of(net, "alice", ev.CommandFailed)[-1].message.startswith("your last line here is still on its way")
    assert of(net, "bob", ev.MessageChanged) == []
    net.do("alice", "/edit second, fixed")
    [change] = of(net, "bob", ev.MessageChanged)
    assert (change.seq, change.text) == (2, "second, fixed")


def test_a_line_sent_ends_the_typing_pause_so_the_next_key_announces_typing_again() -> None:
    net, alice = alice_starts_typing_to_bob()
    net.pump()
    net.do("alice", "here it is")                    # bob's indicator goes with the line
    alice.typing(net.now[0] + 0.5)                   # within TYPING_EVERY of the first notice
    net.pump()
    assert [t.active for t in of(net, "bob", ev.Typing)] == [True, False, True]


def test_mentions_are_counted_apart_from_unread_and_a_dm_counts() -> None:
    net = roomy()
    net.connect("alice")
    net.connect("bob")
    net.do("bob", "/create team")                    # bob looks at #team; alice talks elsewhere
    net.do("alice", "hello all")
    net.do("alice", "@bob a word")
    net.do("alice", "/msg bob in private")
    seen = convs(net, "bob")
    assert (seen["all"].unread, seen["all"].mentions) == (2, 1)
    assert (seen["dm:alice:bob"].unread, seen["dm:alice:bob"].mentions) == (1, 1)
    notes = [(n.conv, n.reason, n.text) for n in of(net, "bob", ev.Notification)]
    assert notes == [("all", "mention", "@bob a word"), ("dm:alice:bob", "dm", "in private")]
    net.do("bob", "/switch everyone")
    assert (convs(net, "bob")["all"].unread, convs(net, "bob")["all"].mentions) == (0, 0)
    assert [e.mention for e in net.lines("bob")] == [False, True]


def test_dnd_gives_no_notification_and_a_returning_user_gets_one_summary_per_conversation() -> None:
    net = roomy()
    net.connect("alice")
    bob = net.connect("bob")
    net.do("bob", "/dnd focus")
    assert of(net, "bob", ev.StatusChanged)[-1].state == "dnd"
    net.do("alice", "@bob ping")
    assert of(net, "bob", ev.Notification) == []
    net.do("bob", "/back")
    net.do("bob", "/quit")
    for i in range(3):
        net.do("alice", f"@bob while you were out {i}")
    again = net.connect("bob", type(bob)("bob"))
    assert again.chosen == "online"
    [note] = of(net, "bob", ev.Notification)
    assert (note.missed, note.count, note.text) == (True, 3, "@bob while you were out 2")


def test_typing_shows_until_it_expires_or_the_line_comes() -> None:
    net, alice = alice_starts_typing_to_bob()
    alice.typing(net.now[0] + 1)                     # within 3 s: no second notice
    net.pump()
    assert [(t.name, t.active) for t in of(net, "bob", ev.Typing)] == [("alice", True)]
    assert [t for t in of(net, "alice", ev.Typing)] == []          # our own notice is not news
    for _ in range(4):
        net.tick(p.TYPING_TTL / 4 + 0.2)
    assert [(t.name, t.active) for t in of(net, "bob", ev.Typing)] == [("alice", True), ("alice", False)]
    alice.typing(net.now[0])
    net.pump()
    net.do("alice", "here it is")
    assert [t.active for t in of(net, "bob", ev.Typing)] == [True, False, True, False]


def test_read_receipts_follow_the_others_read_marks() -> None:
    net = roomy()
    net.connect("alice")
    net.connect("bob")
    net.do("alice", "/create team")
    net.do("bob", "/join team")
    net.do("alice", "standup?")
    net.tick(1.0)                                    # bob has #team on screen: his mark moves, alice hears it
    receipts = of(net, "alice", ev.ReadBy)
    assert (receipts[-1].conv, receipts[-1].names) == ("g:team", ("bob",))
    net.do("alice", "and after?")
    assert of(net, "alice", ev.ReadBy)[-1].names == ()           # a new last line: nobody yet
    net.tick(1.0)
    assert of(net, "alice", ev.ReadBy)[-1].names == ("bob",)


def test_the_idle_timer_goes_away_and_the_next_action_comes_back() -> None:
    net = roomy()
    net.connect("watcher")
    alice = net.connect("alice")
    alice.idle_after = 60.0
    for _ in range(31):                              # pings keep the session alive meanwhile
        net.tick(2.0)
    assert [(c.name, c.state, c.reason) for c in of(net, "watcher", ev.PresenceChanged)][-1] == ("alice", "away",
                                                                                                "idle")
    alice.user_active(net.now[0])
    net.pump()
    assert [(c.name, c.state, c.reason) for c in of(net, "watcher", ev.PresenceChanged)][-1] == ("alice", "online",
                                                                                                "idle")
    net.do("alice", "/away lunch")                   # a choice outlasts the timer
    for _ in range(31):
        net.tick(2.0)
    alice.user_active(net.now[0])
    net.pump()
    assert [(c.state, c.status) for c in of(net, "watcher", ev.PresenceChanged) if c.name == "alice"][-1] == (
        "away", "lunch")


def test_a_reply_shows_what_it_answers_and_search_results_name_their_place() -> None:
    net = roomy()
    net.connect("alice")
    net.connect("bob")
    net.do("alice", "the plan is ready")
    net.do("bob", "/reply 1 great plan")
    reply = net.lines("alice")[-1]
    assert (reply.reply_to, reply.reply_sender, reply.reply_text) == (1, "alice", "the plan is ready")
    net.do("bob", "/search plan")
    [found] = of(net, "bob", ev.SearchResults)
    assert [(h.conv, h.seq, h.text) for h in found.results] == [("all", 2, "great plan"),
                                                                ("all", 1, "the plan is ready")]
    assert found.cursor is None


def test_an_own_line_seen_on_the_fan_out_before_its_ok_is_settled_then_and_edit_means_it() -> None:
    """The broker publishes after the commit, and the fan-out may overtake the reply: a line the user
    sees with its number is stored, so /edit without SEQ takes it, and the late ok changes nothing."""
    net = roomy()
    net.connect("bob")
    net.connect("alice")
    alice = net.sessions["alice"][0]
    net.do("alice", "first")
    alice.send("second")
    [cmid] = alice.outbox
    frames, alice.frames = alice.frames, []
    with net.store.transaction():
        for f in frames:
            net.hub.handle(peer_of("alice"), "key-alice", f)
    replies, pubs = net.hub.take_output()
    for topic, payload in pubs:                      # the line first ...
        alice.receive_published(topic, payload, net.now[0])
    assert alice.outbox == {}
    def sent() -> list[ev.SendStatus]:
        return [e for e in alice.events if isinstance(e, ev.SendStatus) and e.state == ev.SendState.SENT]
    [status] = sent()
    assert (status.cmid, status.seq) == (cmid, 2)
    assert alice.edit("second, fixed") is not None  # line 2, not "still on its way"
    for _, payload in replies:                       # ... its ok after: no second status
        alice.receive_reply(payload, net.now[0])
    assert sent() == [status]
    net.pump()
    [change] = of(net, "bob", ev.MessageChanged)
    assert (change.seq, change.text) == (2, "second, fixed")
