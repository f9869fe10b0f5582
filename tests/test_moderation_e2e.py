"""Group moderation and search over real sockets against a real broker process, with raw protocol
clients (tests/rawclient.py) so each reply, notice and sealed frame is seen as it is.

Moderation: owner, admins, kick, ban, unban, delete-any, hand-over, the refusals non-admins get,
and a kicked member that reads nothing the group says next even on the subscription it kept (the
frames arrive, sealed with a key it was never given). Search: never a line of a conversation the
searcher cannot read now (a private group, others' DMs, a group it was kicked from), lines as
they read now, pages newest first, and FTS5 syntax in a query that is just text."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.rawclient import RawClient
from zchat import protocol as p

A = p.ModAction


def ok(reply: Any) -> Any:
    assert isinstance(reply, p.Ok), reply
    return reply


def refused(reply: Any, code: str, fragment: str = "") -> None:
    assert isinstance(reply, p.Error) and reply.code == code and fragment in reply.message, reply


def team(client: Callable[..., RawClient], *names: str) -> list[RawClient]:
    """alice owns group "team"; the others join it; everyone is subscribed to it."""
    owner = client("alice")
    ok(owner.call(p.CreateGroup, group="team"))
    owner.subscribe(b"g:team|")
    out = [owner]
    for name in names:
        c = client(name)
        ok(c.call(p.JoinGroup, group="team"))
        c.subscribe(b"g:team|")
        out.append(c)
    return out


def event(text: str) -> Callable[[bytes, Any], bool]:
    return lambda t, m: isinstance(m, p.Message) and m.kind == "event" and m.text == text


def test_owner_admins_kick_ban_unban_and_the_refusals_non_admins_get(client: Callable[..., RawClient]) -> None:
    alice, bob, carol = team(client, "bob", "carol")
    refused(bob.call(p.Moderate, group="team", action=A.KICK, name="carol"), "not_allowed", "owner and admins")
    refused(bob.call(p.SetTopic, group="team", topic="bob's now"), "not_allowed")
    refused(bob.call(p.Moderate, group="team", action=A.OP, name="bob"), "not_allowed")
    refused(alice.call(p.Moderate, group="team", action="promote", name="bob"), "bad_field", "kick, ban")
    refused(alice.call(p.Moderate, group="team", action=A.KICK, name="nobody"), "no_such_user")
    ok(alice.call(p.Moderate, group="team", action=A.OP, name="bob"))
    carol.wait_published(event("made bob an admin"))
    refused(bob.call(p.Moderate, group="team", action=A.KICK, name="alice"), "not_allowed", "owner")
    refused(bob.call(p.Moderate, group="team", action=A.OP, name="carol"), "not_allowed", "its owner")
    line = ok(carol.say("g:team", "carol's spam"))
    ok(bob.call(p.Delete, conv="g:team", seq=line.seq))            # an admin deletes anyone's line
    gone = alice.wait_published(lambda t, m: isinstance(m, p.Message) and m.kind == "delete")
    assert (gone.ref, gone.sender) == (line.seq, "bob")
    ok(bob.call(p.Moderate, group="team", action=A.BAN, name="carol"))
    carol.wait_published(event("banned carol"))                   # she sees it before her key is gone
    carol.poll_notices(1.0)
    [notice] = [n for n in carol.notices if isinstance(n, p.Membership)]
    assert (notice.conv, notice.reason) == ("g:team", "banned from team by bob")
    refused(carol.call(p.JoinGroup, group="team"), "banned", "you are banned from 'team'")
    refused(bob.call(p.Invite, group="team", name="carol"), "banned", "'carol' is banned")
    refused(carol.call(p.History, conv="g:team"), "not_member")
    assert ok(bob.call(p.Moderate, group="team", action=A.BAN, name="carol")).ts is None    # nothing new
    ok(bob.call(p.Moderate, group="team", action=A.UNBAN, name="carol"))
    ok(carol.call(p.JoinGroup, group="team"))
    page = alice.call(p.History, conv="g:team")
    assert [(m.sender, m.text) for m in page.messages if m.kind == "event"][-4:] == [
        ("alice", "made bob an admin"), ("bob", "banned carol"), ("bob", "unbanned carol"), ("carol", "joined")]


def test_a_kicked_member_reads_nothing_after_even_on_its_old_subscription(client: Callable[..., RawClient]) -> None:
    alice, bob, carol = team(client, "bob", "carol")
    ok(alice.call(p.Moderate, group="team", action=A.KICK, name="carol"))
    carol.wait_published(event("kicked carol"))
    ok(alice.say("g:team", "not for carol"))
    bob.wait_published(lambda t, m: isinstance(m, p.Message) and m.text == "not for carol")
    assert carol.silent(lambda t, m: t == b"g:team|" and isinstance(m, p.Message), window=1.5)
    sealed = [(t, e.reason) for t, e in carol.unopened if t == b"g:team|"]
    assert sealed, "carol's old subscription got no frame: the proof needs one that arrives and does not open"
    assert all(reason in ("unknown_key", "bad_tag") for _, reason in sealed), sealed
    assert not carol.keys.has("g:team") or carol.keys.newest("g:team") < bob.keys.newest("g:team")
    carol.poll_notices(1.0)
    assert any(isinstance(n, p.Membership) and n.reason == "kicked from team by alice" for n in carol.notices)


def test_ownership_is_handed_over_and_passes_on_when_the_owner_leaves(client: Callable[..., RawClient]) -> None:
    alice, bob, carol = team(client, "bob", "carol")
    ok(alice.call(p.Moderate, group="team", action=A.OWNER, name="bob"))
    carol.wait_published(event("made bob the owner"))
    roles = {u.name: u.role for u in carol.call(p.Who, conv="g:team").users}
    assert roles == {"alice": "admin", "bob": "owner", "carol": ""}
    ok(bob.call(p.Moderate, group="team", action=A.DEOP, name="alice"))
    ok(bob.call(p.LeaveGroup, group="team"))                       # the owner leaves: carol (the longest member)
    carol.wait_published(event("made alice the owner"))
    info = {c.conv: c for c in carol.call(p.ListConversations, after="all").conversations}
    assert info["g:team"].role == "member"
    roles = {u.name: u.role for u in carol.call(p.Who, conv="g:team").users}
    assert roles == {"alice": "owner", "carol": ""}


# ---------------------------------------------------------------- search

def test_search_never_returns_a_line_the_searcher_cannot_read_now(client: Callable[..., RawClient]) -> None:
    alice, bob, carol, mallory = client("alice"), client("bob"), client("carol"), client("mallory")
    ok(alice.call(p.CreateGroup, group="secret", private=True))
    ok(alice.say("g:secret", "needle in the private group"))
    ok(alice.say(p.dm_key("alice", "bob"), "needle in a dm"))
    ok(alice.call(p.CreateGroup, group="club"))
    ok(carol.call(p.JoinGroup, group="club"))
    ok(alice.say("g:club", "needle in the club"))
    ok(alice.say("all", "needle in public"))
    assert {m.text for m in carol.call(p.Search, query="needle").results} == {"needle in the club", "needle in public"}
    ok(alice.call(p.Moderate, group="club", action=A.KICK, name="carol"))
    ok(alice.say("g:club", "needle after the kick"))

    def found(c: RawClient) -> set[str]:
        return {(m.conv, m.text) for m in c.call(p.Search, query="NEEDLE").results}
    assert found(mallory) == {("all", "needle in public")}
    assert found(carol) == {("all", "needle in public")}         # nothing of the club, not even from before
    assert found(bob) == {("all", "needle in public"), ("dm:alice:bob", "needle in a dm")}
    assert found(alice) == {("all", "needle in public"), ("dm:alice:bob", "needle in a dm"),
                            ("g:secret", "needle in the private group"), ("g:club", "needle in the club"),
                            ("g:club", "needle after the kick")}


def test_search_finds_lines_as_they_read_now_newest_first_a_page_at_a_time(client: Callable[..., RawClient]) -> None:
    alice, bob = client("alice"), client("bob")
    ok(alice.call(p.CreateGroup, group="log"))
    ok(bob.call(p.JoinGroup, group="log"))
    seqs = [ok(alice.say("g:log", f"report number {i}")).seq for i in range(25)]
    first = bob.call(p.Search, query="report", limit=10)
    assert [m.text for m in first.results] == [f"report number {i}" for i in range(24, 14, -1)]
    second = bob.call(p.Search, query="report", limit=10, before=first.cursor)
    third = bob.call(p.Search, query="report", limit=10, before=second.cursor)
    assert [m.seq for m in first.results + second.results + third.results] == seqs[::-1]
    assert third.cursor is None and not third.partial
    ok(alice.call(p.Edit, conv="g:log", seq=seqs[3], text="summary instead"))
    ok(alice.call(p.Delete, conv="g:log", seq=seqs[4]))
    texts = {m.text for m in bob.call(p.Search, query="report").results}
    assert "report number 3" not in texts and "report number 4" not in texts and len(texts) == 23
    [edited] = bob.call(p.Search, query="summary").results
    assert (edited.seq, edited.edited is not None) == (seqs[3], True)
    assert [m.seq for m in bob.call(p.Search, query="rep*").results][:2] == [seqs[24], seqs[23]]   # a prefix


@pytest.mark.parametrize("query", ['"', 'needle"', 'NEAR(needle', "*", "needle OR haystack", "AND", "-needle",
                                   "text:needle", "^needle", ")", "needle NOT x", '""needle""', "'; DROP TABLE x",
                                   "ñéèdle", "\\", "{needle}"])
def test_fts5_syntax_in_a_query_is_only_text(client: Callable[..., RawClient], query: str) -> None:
    alice = client("alice")
    ok(alice.say("all", "a needle in a haystack"))
    reply = alice.call(p.Search, query=query)
    assert isinstance(reply, p.SearchPage), reply                 # never an error, never "internal"
    assert all(m.text == "a needle in a haystack" for m in reply.results)
