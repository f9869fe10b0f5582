"""The hub's protocol 3 line requests, in memory (tests/test_hub's Harness: a real SQLite store, a
fake clock, no sockets): edits, deletions, replies, reactions, mentions, /me, and history giving
every line as it reads now."""
from __future__ import annotations

from typing import Any

import pytest

from tests.test_hub import Harness
from zchat import protocol as p
from zchat.errors import ErrorCode

E = ErrorCode
DM = p.dm_key("alice", "bob")


@pytest.fixture
def h() -> Any:
    harness = Harness()
    harness.join("alice", "bob", "carol")
    harness.ask("alice", p.CreateGroup("r", "team"))
    harness.ask("bob", p.JoinGroup("r", "team"))
    yield harness
    harness.store.close()


def lines(h: Harness) -> list[p.Message]:
    return [m for _, m in h.published(p.Message)]


def test_an_edit_is_a_line_of_its_own_and_the_line_reads_the_new_text(h: Harness) -> None:
    ok = h.ask("alice", p.Send("r", "g:team", "ship friday", "c1"))
    edit = h.ask("alice", p.Edit("r", "g:team", ok.seq, "ship thursday @bob"))
    assert (edit.conv, edit.seq) == ("g:team", ok.seq + 1)
    [pub] = lines(h)
    assert (pub.kind, pub.ref, pub.text, pub.mentions, pub.sender) == ("edit", ok.seq, "ship thursday @bob", ["bob"],
                                                                       "alice")
    assert {t for t, _ in h.published(p.Message)} == {b"g:team|"}
    page = h.history("bob", "g:team", after=0)
    line, change = page.messages[-2:]
    assert (line.seq, line.text, line.edited, line.mentions) == (ok.seq, "ship thursday @bob", edit.ts, ["bob"])
    assert (change.kind, change.ref, change.seq) == ("edit", ok.seq, edit.seq)
    assert [m.seq for m in page.messages] == list(range(1, page.head_seq + 1))     # gap-free


def test_a_delete_leaves_a_tombstone_and_erases_the_text_its_edits_and_reactions(h: Harness) -> None:
    ok = h.ask("alice", p.Send("r", "g:team", "oops secret", "c1"))
    h.ask("alice", p.Edit("r", "g:team", ok.seq, "oops, still secret"))
    h.ask("bob", p.React("r", "g:team", ok.seq, "👀"))
    gone = h.ask("alice", p.Delete("r", "g:team", ok.seq))
    [pub] = lines(h)
    assert (pub.kind, pub.ref, pub.text) == ("delete", ok.seq, "")
    page = h.history("bob", "g:team", after=ok.seq - 1)
    tomb, edit, react, delete = page.messages
    assert (tomb.text, tomb.deleted, tomb.reactions, tomb.mentions) == ("", True, None, None)
    assert (edit.kind, edit.text) == ("edit", "")             # the edit's text is erased too
    assert (react.kind, react.reactions) == ("react", None)
    assert (delete.kind, delete.seq) == ("delete", gone.seq)
    raw = h.store._conn.execute("SELECT group_concat(text, '|') FROM messages WHERE conv = 'g:team'").fetchone()[0]
    assert "secret" not in raw
    h.fails("alice", p.Delete("r", "g:team", ok.seq), E.NO_SUCH_MESSAGE)
    h.fails("alice", p.Edit("r", "g:team", ok.seq, "back"), E.NO_SUCH_MESSAGE)


@pytest.mark.parametrize(("user", "msg", "code"), [
    ("bob", p.Edit("r", "g:team", 3, "mine now"), E.NOT_ALLOWED),
    ("bob", p.Delete("r", "g:team", 3), E.NOT_ALLOWED),
    ("alice", p.Edit("r", "g:team", 1, "created?"), E.NO_SUCH_MESSAGE),          # an event
    ("alice", p.Edit("r", "g:team", 99, "future"), E.NO_SUCH_MESSAGE),
    ("alice", p.Edit("r", "g:team", 0, "zero"), E.NO_SUCH_MESSAGE),
    ("carol", p.Edit("r", "g:team", 3, "x"), E.NOT_MEMBER),
    ("carol", p.React("r", "g:team", 3, "x"), E.NOT_MEMBER),
    ("alice", p.React("r", "g:team", 2, "👍"), E.NO_SUCH_MESSAGE),
    ("alice", p.Send("r", "g:team", "re", "c9", reply_to=2), E.NO_SUCH_MESSAGE),
    ("alice", p.Send("r", "g:team", "re", "c9", reply_to=77), E.NO_SUCH_MESSAGE),
    ("carol", p.Edit("r", DM, 1, "x"), E.NOT_MEMBER),
])
def test_what_may_not_be_edited_deleted_or_reacted_to_is_refused_clearly(h: Harness, user: str, msg: Any,
                                                                          code: ErrorCode) -> None:
    assert h.ask("alice", p.Send("r", "g:team", "alice's line", "c1")).seq == 3
    h.fails(user, msg, code)


def test_the_owner_deletes_anyones_line_in_the_group_but_not_elsewhere(h: Harness) -> None:
    ok = h.ask("bob", p.Send("r", "g:team", "spam", "b1"))
    assert h.ask("alice", p.Delete("r", "g:team", ok.seq)).seq == ok.seq + 1
    assert lines(h)[0].sender == "alice"
    other = h.ask("bob", p.Send("r", "all", "in everyone", "b2"))
    h.fails("alice", p.Delete("r", "all", other.seq), E.NOT_ALLOWED)


def test_reactions_toggle_and_are_aggregated_with_who_in_the_order_made(h: Harness) -> None:
    ok = h.ask("alice", p.Send("r", "g:team", "lunch?", "c1"))
    h.ask("bob", p.React("r", "g:team", ok.seq, "👍"))
    assert lines(h)[0].reactions == [p.Reaction("👍", ["bob"])]
    h.now[0] += 1
    h.ask("alice", p.React("r", "g:team", ok.seq, "🍕"))
    h.now[0] += 1
    h.ask("alice", p.React("r", "g:team", ok.seq, "👍"))
    assert lines(h)[0].reactions == [p.Reaction("👍", ["bob", "alice"]), p.Reaction("🍕", ["alice"])]
    again = h.ask("bob", p.React("r", "g:team", ok.seq, "👍"))           # again: taken back
    [pub] = lines(h)
    now = [p.Reaction("🍕", ["alice"]), p.Reaction("👍", ["alice"])]     # by the oldest reaction still made
    assert (pub.kind, pub.seq, pub.reactions) == ("unreact", again.seq, now)
    page = h.history("bob", "g:team", after=ok.seq - 1)
    assert page.messages[0].reactions == now
    assert [m.kind for m in page.messages[1:]] == ["react", "react", "react", "unreact"]


def test_a_line_takes_at_most_max_reactions_different_ones(h: Harness) -> None:
    ok = h.ask("alice", p.Send("r", "g:team", "react to me", "c1"))
    h.hub.presence.buckets.clear()
    for i in range(p.MAX_REACTIONS):
        assert isinstance(h.ask("alice", p.React("r", "g:team", ok.seq, f"e{i}")), p.Ok)
    h.fails("bob", p.React("r", "g:team", ok.seq, "one-more"), E.LIMIT_REACHED)
    assert isinstance(h.ask("bob", p.React("r", "g:team", ok.seq, "e0")), p.Ok)    # an existing one: fine


def test_a_reply_carries_a_quote_of_what_it_answers_live_and_in_history(h: Harness) -> None:
    first = h.ask("bob", p.Send("r", "g:team", "x" * 300, "b1"))
    reply = h.ask("alice", p.Send("r", "g:team", "yes", "a1", reply_to=first.seq))
    [pub] = lines(h)
    assert (pub.reply_to, pub.quote, pub.ref) == (first.seq, p.Quote("bob", "x" * p.QUOTE_CHARS), None)
    h.ask("bob", p.Delete("r", "g:team", first.seq))
    [shown] = [m for m in h.history("alice", "g:team").messages if m.seq == reply.seq]
    assert (shown.reply_to, shown.quote) == (first.seq, p.Quote("bob", "", True))


def test_mentions_name_only_users_that_exist_and_me_is_an_action_line(h: Harness) -> None:
    h.ask("alice", p.Send("r", "all", "@Bob @nobody mail@carol.org @carol!", "c1"))
    assert lines(h)[0].mentions == ["bob", "carol"]
    h.ask("alice", p.Send("r", "all", "waves at @bob", "c2", kind="me"))
    assert (lines(h)[0].kind, lines(h)[0].mentions) == ("me", ["bob"])
    assert [(m.kind, m.mentions) for m in h.history("bob", "all").messages] == [("msg", ["bob", "carol"]),
                                                                               ("me", ["bob"])]
    h.ask("alice", p.Send("r", "all", "plain", "c3"))
    assert lines(h)[0].mentions is None
    h.fails("alice", p.Send("r", "all", "x", "c4", kind="event"), E.BAD_FIELD)
