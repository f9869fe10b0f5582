"""Protocol 3's lines over real sockets: real Clients (tests/conftest's ``user``) against a real
broker process. Edits and deletions seen live and by a user who comes back later; replies and
reactions aggregated with who; mentions that reach a user who was away (a DM counts as one);
/me and group topics."""
from __future__ import annotations

from collections.abc import Callable

from tests.probe import Probe, msg
from zchat import events as ev


def line(text: str, conv: str | None = None, **attrs: object) -> Callable[[ev.Event], bool]:
    return lambda e: (isinstance(e, ev.MessageReceived) and e.text == text and (conv is None or e.conv == conv)
                      and all(getattr(e, k) == v for k, v in attrs.items()))


def changed(change: str, seq: int, **attrs: object) -> Callable[[ev.Event], bool]:
    return lambda e: (isinstance(e, ev.MessageChanged) and e.change == change and e.seq == seq
                      and all(getattr(e, k) == v for k, v in attrs.items()))


def test_an_edit_and_a_delete_are_seen_live_and_by_a_user_who_comes_back(user: Callable[..., Probe]) -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    carol.client.leave()                                        # carol is away for what follows
    carol.wait(lambda e: isinstance(e, ev.Left))
    carol.client.close()
    alice.client.send("ship on friday")
    first = bob.wait(msg("ship on friday"))
    alice.client.send("the password is hunter2")
    second = bob.wait(msg("the password is hunter2"))
    alice.client.edit("ship on thursday", first.seq)
    e = bob.wait(changed("edit", first.seq))
    assert (e.text, e.edited, e.by, e.sender) == ("ship on thursday", True, "alice", "alice")
    alice.client.delete()                                      # no seq: alice's last line here
    d = bob.wait(changed("delete", second.seq))
    assert (d.deleted, d.text) == (True, "")
    alice.client.send("after the changes")
    bob.wait(msg("after the changes"))
    # the edit and delete lines are never drawn as lines of their own
    assert [x.text for x in bob.seen if isinstance(x, ev.MessageReceived) and x.conv == "all"] == [
        "ship on friday", "the password is hunter2", "after the changes"]

    back = user("carol")                                       # the same key: catch-up brings what changed
    got = back.wait(line("after the changes"))
    assert got.missed
    lines = [x for x in back.seen if isinstance(x, ev.MessageReceived) and x.conv == "all"]
    assert [(x.text, x.edited, x.deleted, x.missed) for x in lines] == [
        ("ship on thursday", True, False, True), ("", False, True, True), ("after the changes", False, False, True)]
    back.client.history(10)                                    # and /history shows them as they read now
    shown = back.wait(lambda e: isinstance(e, ev.MessageReceived) and e.history and e.seq == second.seq)
    assert (shown.text, shown.deleted) == ("", True)


def test_a_reply_quotes_what_it_answers_and_reactions_gather_who_made_them(user: Callable[..., Probe]) -> None:
    alice, bob, carol = user("alice"), user("bob"), user("carol")
    alice.client.create_group("team")
    alice.wait(lambda e: isinstance(e, ev.Info) and e.text == "created group team")
    for p in (bob, carol):
        p.client.join_group("team")
        p.wait(lambda e: isinstance(e, ev.Info) and e.text == "joined group team")
    alice.client.send("lunch at noon?", "g:team")
    asked = carol.wait(msg("lunch at noon?", "g:team"))
    bob.client.reply(asked.seq, "yes!", "g:team")
    reply = carol.wait(msg("yes!", "g:team"))
    assert (reply.reply_to, reply.reply_sender, reply.reply_text) == (asked.seq, "alice", "lunch at noon?")
    bob.client.react(asked.seq, "👍", "g:team")
    carol.wait(changed("react", asked.seq, reactions=(("👍", ("bob",)),)))
    carol.client.react(asked.seq, "👍", "g:team")
    carol.client.react(asked.seq, "🍕", "g:team")
    both = alice.wait(changed("react", asked.seq, reactions=(("👍", ("bob", "carol")), ("🍕", ("carol",)))))
    assert both.by == "carol"
    bob.client.react(asked.seq, "👍", "g:team")                # again: taken back
    alice.wait(changed("react", asked.seq, reactions=(("👍", ("carol",)), ("🍕", ("carol",)))))
    late = user("dave")                                         # history gives the aggregate as it is now
    late.client.join_group("team")
    late.wait(lambda e: isinstance(e, ev.Info) and e.text == "joined group team")
    late.client.history(20, "g:team")
    joined = late.wait(line("lunch at noon?", "g:team", history=True))
    assert joined.reactions == (("👍", ("carol",)), ("🍕", ("carol",)))
    r = late.wait(line("yes!", "g:team", history=True))
    assert (r.reply_to, r.reply_sender) == (asked.seq, "alice")


def test_a_mention_and_a_dm_reach_a_user_who_was_away(user: Callable[..., Probe]) -> None:
    alice, bob = user("alice"), user("bob")
    bob.client.leave()
    bob.wait(lambda e: isinstance(e, ev.Left))
    bob.client.close()
    alice.client.send("@bob can you look at this?")
    alice.client.send("nothing for bob here")
    alice.client.dm("bob", "psst, a direct word")
    alice.wait(msg("psst, a direct word"))
    back = user("bob")
    named = back.wait(line("@bob can you look at this?", mention=True, missed=True))
    assert named.mentions == ("bob",)
    assert not back.wait(line("nothing for bob here")).mention
    assert back.wait(line("psst, a direct word")).mention                 # a DM counts as a mention
    notes = [back.wait(lambda e, c=c: isinstance(e, ev.Notification) and e.conv == c) for c in ("all", "dm:alice:bob")]
    assert [(n.reason, n.missed, n.count) for n in notes] == [("mention", True, 1), ("dm", True, 1)]
    convs = back.wait(lambda e: isinstance(e, ev.ConversationsChanged) and any(
        c.conv == "dm:alice:bob" and c.mentions == 1 for c in e.conversations))
    everyone = next(c for c in convs.conversations if c.conv == "all")
    assert (everyone.unread, everyone.mentions) == (0, 0)      # "all" is on screen: nothing unread there
    alice.client.send("@bob and now live")                      # live: a notification at once
    live = back.wait(lambda e: isinstance(e, ev.Notification) and e.text == "@bob and now live")
    assert (live.reason, live.missed, live.sender) == ("mention", False, "alice")


def test_me_is_an_action_line_and_a_topic_is_set_by_the_owner_and_shown(user: Callable[..., Probe]) -> None:
    alice, bob = user("alice"), user("bob")
    alice.client.create_group("team")
    alice.wait(lambda e: isinstance(e, ev.Info) and e.text == "created group team")
    bob.client.join_group("team")
    bob.wait(lambda e: isinstance(e, ev.Info) and e.text == "joined group team")
    alice.client.me("waves", "g:team")
    assert bob.wait(line("waves", "g:team")).kind == "me"
    alice.client.set_topic("release on friday", "team")
    topic = bob.wait(line("set the topic: release on friday", "g:team"))
    assert (topic.kind, topic.sender) == ("event", "alice")
    bob.wait(lambda e: isinstance(e, ev.ConversationsChanged) and any(
        c.conv == "g:team" and c.topic == "release on friday" and c.role == "member" for c in e.conversations))
    bob.client.set_topic("mine now", "team")
    refused = bob.wait(lambda e: isinstance(e, ev.CommandFailed) and e.code == "not_allowed")
    assert "owner and admins" in refused.message
    bob.client.list_groups()
    listed = bob.wait(lambda e: isinstance(e, ev.GroupsListed))
    assert ("team", "release on friday") in listed.topics
    late = user("carol")                                        # a new session learns it in its welcome
    late.client.join_group("team")
    late.wait(lambda e: isinstance(e, ev.ConversationsChanged) and any(
        c.conv == "g:team" and c.topic == "release on friday" for c in e.conversations))
