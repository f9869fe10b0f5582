"""Every slash command, in every valid form and with each usage error, through ``parse`` and
``execute`` against a real ClientSession (welcomed by a real Hub in memory, tests/test_session's
Net): the frames it queues for the broker and the events it gives the frontend.

``HELP`` and the parser come from one table (commands.COMMANDS); the last tests check that
every command of it, alias included, is exercised here and listed by /help.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.test_session import Net
from zchat import commands
from zchat import events as ev
from zchat import protocol as p


@dataclass(frozen=True)
class Gives:
    """A request class: the line queues exactly that one request, with these fields. An event class:
    the line queues nothing and gives such an event with these attributes. Either way, no error."""
    cls: type
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fails:
    """The line queues nothing and gives one CommandFailed with ``code`` and ``fragment`` in its message."""
    code: str
    fragment: str = ""


@dataclass(frozen=True)
class Case:
    line: str
    expect: Gives | Fails
    setup: tuple[str, ...] = ()        # lines done (and answered by the hub) before ``line``


DM = p.dm_key("alice", "bob")
CASES = [
    Case("hello there", Gives(p.Send, {"conv": "all", "text": "hello there"})),
    Case("  padded  ", Gives(p.Send, {"conv": "all", "text": "padded"})),
    Case("//not a command", Gives(p.Send, {"conv": "all", "text": "/not a command"})),
    Case("/msg bob hi there", Gives(p.Send, {"conv": DM, "text": "hi there"})),
    Case("/msg @bob hi", Gives(p.Send, {"conv": DM, "text": "hi"})),
    Case("/MSG bob case-blind", Gives(p.Send, {"conv": DM, "text": "case-blind"})),
    Case("/msg", Fails("usage", "usage: /msg NAME TEXT")),
    Case("/msg bob", Fails("usage", "usage: /msg NAME TEXT")),
    Case("/msg bob    ", Fails("usage", "usage: /msg NAME TEXT")),
    Case("/msg bad! hi", Fails("name_invalid", "invalid name 'bad!'")),
    Case("/join team", Gives(p.JoinGroup, {"group": "team"})),
    Case("/join #team", Gives(p.JoinGroup, {"group": "team"})),
    Case("/join", Fails("usage", "usage: /join GROUP")),
    Case("/join a b", Fails("usage", "usage: /join GROUP")),
    Case("/leave team", Gives(p.LeaveGroup, {"group": "team"})),
    Case("/leave #team", Gives(p.LeaveGroup, {"group": "team"})),
    Case("/leave", Fails("usage", "usage: /leave GROUP")),
    Case("/leave a b", Fails("usage", "usage: /leave GROUP")),
    Case("/create team", Gives(p.CreateGroup, {"group": "team", "private": False})),
    Case("/create #team --private", Gives(p.CreateGroup, {"group": "team", "private": True})),
    Case("/create --private team", Gives(p.CreateGroup, {"group": "team", "private": True})),
    Case("/create", Fails("usage", "usage: /create GROUP [--private]")),
    Case("/create --private", Fails("usage", "usage: /create GROUP [--private]")),
    Case("/create a b", Fails("usage", "usage: /create GROUP [--private]")),
    Case("/create -x", Fails("usage", "usage: /create GROUP [--private]")),
    Case("/invite bob team", Gives(p.Invite, {"name": "bob", "group": "team"})),
    Case("/invite @bob #team", Gives(p.Invite, {"name": "bob", "group": "team"})),
    Case("/invite bob", Fails("usage", "usage: /invite NAME GROUP")),
    Case("/invite a b c", Fails("usage", "usage: /invite NAME GROUP")),
    Case("/groups", Gives(p.ListGroups)),
    Case("/groups extra", Fails("usage", "usage: /groups")),
    Case("/who", Gives(p.Who, {"conv": "all"})),
    Case("/who team", Gives(p.Who, {"conv": "g:team"})),
    Case("/who #team", Gives(p.Who, {"conv": "g:team"})),
    Case("/who a b", Fails("usage", "usage: /who [GROUP]")),
    Case("/history", Gives(p.History, {"conv": "all", "limit": commands.HISTORY_DEFAULT})),
    Case("/history 5", Gives(p.History, {"conv": "all", "limit": 5})),
    Case("/history 1000", Gives(p.History, {"conv": "all", "limit": 1000})),
    Case("/history 0", Fails("usage", "N from 1 to 1000")),
    Case("/history 1001", Fails("usage", "N from 1 to 1000")),
    Case("/history x", Fails("usage", "N from 1 to 1000")),
    Case("/history -3", Fails("usage", "N from 1 to 1000")),
    Case("/history 1 2", Fails("usage", "N from 1 to 1000")),
    Case("/switch @bob", Gives(ev.ConversationsChanged, {"current": DM})),
    Case("/switch bob", Gives(ev.ConversationsChanged, {"current": DM})),
    Case("/switch #team", Gives(ev.ConversationsChanged, {"current": "g:team"}), setup=("/create team", "/switch all")),
    Case("/switch everyone", Gives(ev.ConversationsChanged, {"current": "all"}), setup=("/switch @bob",)),
    Case("/switch #nowhere", Fails("usage", "no conversation '#nowhere'")),
    Case("/switch", Fails("usage", "usage: /switch CONVERSATION")),
    Case("/switch a b", Fails("usage", "usage: /switch CONVERSATION")),
    Case("/close @bob", Gives(ev.ConversationsChanged, {"current": "all"}), setup=("/msg bob hi",)),
    Case("/close", Gives(ev.ConversationsChanged, {"current": "all"}), setup=("/switch @bob",)),
    Case("/close everyone", Fails("usage", "everyone cannot be closed")),
    Case("/close", Fails("usage", "everyone cannot be closed")),
    Case("/close #team", Fails("usage", "you are in #team: /leave team first"), setup=("/create team",)),
    Case("/close @bob", Fails("usage", "no open conversation '@bob'")),
    Case("/close @bob", Fails("usage", "no open conversation '@bob'"), setup=("/switch @bob", "/close")),
    Case("/close a b", Fails("usage", "usage: /close [CONVERSATION]")),
    Case("/devices", Gives(p.ListDevices)),
    Case("/devices all", Fails("usage", "usage: /devices")),
    Case("/device link", Gives(p.LinkDevice)),
    Case("/device revoke old-phone", Gives(p.RevokeDevice, {"device": "old-phone"})),
    Case("/device", Fails("usage", "usage: /device link, or /device revoke NAME")),
    Case("/device revoke", Fails("usage", "usage: /device link, or /device revoke NAME")),
    Case("/device forget x", Fails("usage", "usage: /device link, or /device revoke NAME")),
    Case("/help", Gives(ev.Info, {"text": commands.HELP})),
    Case("/HELP me", Gives(ev.Info, {"text": commands.HELP})),
    Case("/quit", Gives(p.Bye)),
    Case("/quit see you", Gives(p.Bye)),
    Case("/exit", Gives(p.Bye)),
    Case(commands.EXIT_WORD, Gives(p.Bye)),
    # protocol 3: lines, presence, search, topics, moderation
    Case("/me waves", Gives(p.Send, {"conv": "all", "text": "waves", "kind": "me"})),
    Case("/me", Fails("usage", "usage: /me ACTION")),
    Case("/reply 1 sure", Gives(p.Send, {"conv": "all", "text": "sure", "reply_to": 1, "kind": None})),
    Case("/reply 1", Fails("usage", "usage: /reply SEQ TEXT")),
    Case("/reply x hi", Fails("usage", "usage: /reply SEQ TEXT")),
    Case("/edit 4 fixed text", Gives(p.Edit, {"conv": "all", "seq": 4, "text": "fixed text"})),
    Case("/edit fixed", Gives(p.Edit, {"conv": "all", "seq": 1, "text": "fixed"}), setup=("first",)),
    Case("/edit 12", Gives(p.Edit, {"conv": "all", "seq": 1, "text": "12"}), setup=("first",)),
    Case("/edit fixed", Fails("usage", "no line of yours here to edit")),
    Case("/edit", Fails("usage", "usage: /edit [SEQ] TEXT")),
    Case("/delete 3", Gives(p.Delete, {"conv": "all", "seq": 3})),
    Case("/delete", Gives(p.Delete, {"conv": "all", "seq": 1}), setup=("oops",)),
    Case("/delete", Fails("usage", "no line of yours here to delete")),
    Case("/delete x", Fails("usage", "usage: /delete [SEQ]")),
    Case("/delete 1 2", Fails("usage", "usage: /delete [SEQ]")),
    Case("/react 2 👍", Gives(p.React, {"conv": "all", "seq": 2, "emoji": "👍"})),
    Case("/react 2", Fails("usage", "usage: /react SEQ EMOJI")),
    Case("/react 👍 2", Fails("usage", "usage: /react SEQ EMOJI")),
    Case("/search release notes", Gives(p.Search, {"query": "release notes", "before": None})),
    Case("/search", Fails("usage", "/search WORDS starts a search")),
    Case("/away", Gives(p.SetStatus, {"state": "away", "text": "", "auto": False})),
    Case("/away at lunch", Gives(p.SetStatus, {"state": "away", "text": "at lunch"})),
    Case("/dnd writing", Gives(p.SetStatus, {"state": "dnd", "text": "writing"})),
    Case("/back", Gives(p.SetStatus, {"state": "online", "text": ""})),
    Case("/back now", Fails("usage", "usage: /back")),
    Case("/topic ship it", Gives(p.SetTopic, {"group": "team", "topic": "ship it"}), setup=("/create team",)),
    Case("/topic --clear", Gives(p.SetTopic, {"group": "team", "topic": ""}), setup=("/create team",)),
    Case("/topic", Gives(ev.Info, {"text": "#team has no topic"}), setup=("/create team",)),
    Case("/topic hi", Fails("usage", "/topic works in a group")),
    Case("/kick bob", Gives(p.Moderate, {"group": "team", "action": "kick", "name": "bob"}), setup=("/create team",)),
    Case("/kick @bob #ops", Gives(p.Moderate, {"group": "ops", "action": "kick", "name": "bob"})),
    Case("/kick bob", Fails("usage", "/kick works in a group")),
    Case("/kick", Fails("usage", "usage: /kick NAME [GROUP]")),
    Case("/ban bob team", Gives(p.Moderate, {"group": "team", "action": "ban", "name": "bob"})),
    Case("/ban", Fails("usage", "usage: /ban NAME [GROUP]")),
    Case("/unban bob team", Gives(p.Moderate, {"group": "team", "action": "unban", "name": "bob"})),
    Case("/unban a b c", Fails("usage", "usage: /unban NAME [GROUP]")),
    Case("/op bob team", Gives(p.Moderate, {"group": "team", "action": "op", "name": "bob"})),
    Case("/op", Fails("usage", "usage: /op NAME [GROUP]")),
    Case("/deop bob team", Gives(p.Moderate, {"group": "team", "action": "deop", "name": "bob"})),
    Case("/deop", Fails("usage", "usage: /deop NAME [GROUP]")),
    Case("/owner bob team", Gives(p.Moderate, {"group": "team", "action": "owner", "name": "bob"})),
    Case("/owner", Fails("usage", "usage: /owner NAME [GROUP]")),
    Case("/nope", Fails("unknown_command", "unknown command /nope; /help lists")),
    Case("/", Fails("unknown_command", "unknown command /;")),
]


def run(case: Case) -> tuple[list[Any], list[ev.Event], Net]:
    net = Net()
    net.connect("bob")
    alice = net.connect("alice")
    for line in case.setup:
        net.do("alice", line)
    assert not [e for e in net.seen("alice") if isinstance(e, ev.CommandFailed)], "a setup line failed"
    commands.execute(alice, case.line)
    frames = [p.decode_request(f) for f in alice.frames]
    events, alice.events = alice.events, []
    return frames, events, net


@pytest.mark.parametrize("case", CASES, ids=[f"{c.line!r}{'+' if c.setup else ''}" for c in CASES])
def test_every_command_form(case: Case) -> None:
    frames, events, net = run(case)
    failed = [e for e in events if isinstance(e, ev.CommandFailed)]
    match case.expect:
        case Gives(cls, fields) if cls in p.REQUEST_TYPES.values():
            assert not failed, failed
            assert [type(f) for f in frames] == [cls], frames
            assert {k: getattr(frames[0], k) for k in fields} == fields
        case Gives(cls, fields):
            assert not failed and frames == [], (failed, frames)
            given = [e for e in events if isinstance(e, cls)]
            assert given and {k: getattr(given[-1], k) for k in fields} == fields, events
        case Fails(code, fragment):
            assert frames == [], frames
            assert [(f.code, fragment in f.message) for f in failed] == [(code, True)], failed


def test_close_takes_the_dm_off_the_list_and_a_new_line_brings_it_back_once() -> None:
    net = Net()
    net.connect("bob")
    net.connect("alice")
    net.do("alice", "/msg bob one")
    net.do("alice", "/close @bob")
    listed = [e for e in net.seen("alice") if isinstance(e, ev.ConversationsChanged)][-1]
    assert DM not in [c.conv for c in listed.conversations] and listed.current == "all"
    net.do("bob", "/msg alice two")                 # a new line opens it again, with its history intact
    listed = [e for e in net.seen("alice") if isinstance(e, ev.ConversationsChanged)][-1]
    assert DM in [c.conv for c in listed.conversations]
    assert [e.text for e in net.lines("alice", DM)] == ["one", "two"]     # "one" was not delivered again


def test_a_dm_to_a_user_that_does_not_exist_is_dropped() -> None:
    net = Net()
    net.connect("alice")
    net.do("alice", "/msg nobody hello?")
    failed = [e for e in net.seen("alice") if isinstance(e, ev.CommandFailed)]
    assert [f.code for f in failed] == ["no_such_user"]
    listed = [e for e in net.seen("alice") if isinstance(e, ev.ConversationsChanged)]
    assert any(p.dm_key("alice", "nobody") in [c.conv for c in e.conversations] for e in listed)   # opened ...
    assert [c.conv for c in listed[-1].conversations] == ["all"] and listed[-1].current == "all"   # ... then gone


def test_a_dm_switched_to_and_refused_is_dropped_too() -> None:
    net = Net()
    net.connect("alice")
    net.do("alice", "/switch @nobody")
    net.do("alice", "hello?")
    listed = [e for e in net.seen("alice") if isinstance(e, ev.ConversationsChanged)][-1]
    assert [c.conv for c in listed.conversations] == ["all"] and listed.current == "all"


# ---------------------------------------------------------------- the table covers what it should

def test_every_command_and_alias_is_run_by_this_table() -> None:
    used = {c.line.split()[0][1:].lower() for c in CASES if c.line.startswith("/") and not c.line.startswith("//")}
    assert set(commands.BY_NAME) <= used, set(commands.BY_NAME) - used


LENIENT = {"help", "quit", "away", "dnd"}   # they take any words after them: no usage error exists


def test_every_command_with_a_usage_has_its_usage_errors_here() -> None:
    usage = {c.line.split()[0][1:].lower() for c in CASES
             if isinstance(c.expect, Fails) and c.expect.code == "usage" and c.line.startswith("/")}
    assert usage == set(commands.COMMANDS) - LENIENT, set(commands.COMMANDS) - LENIENT ^ usage


def test_help_lists_every_command_and_alias() -> None:
    for spec in commands.COMMANDS.values():
        assert f"  {spec.usage}" in commands.HELP, spec.usage
        for name in (spec.name, *spec.aliases):
            assert f"/{name}" in commands.HELP, name
    assert commands.EXIT_WORD in commands.HELP
