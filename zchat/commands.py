"""The slash-command language: ``parse(line) -> Command``, and ``execute`` on a session.

Pure code shared by every frontend, so every frontend has the same commands. Bad input is a
:class:`CommandError` with a sentence for the user, never a traceback. One table,
``COMMANDS``, holds each command's name, aliases, usage, help line and argument parser:
``parse`` and ``HELP`` (what ``/help`` shows) both come from it, so a command cannot be
parsed without being documented, nor documented without being parsed.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zchat.command_types import (  # what a parsed line is: part of this module's API
    HISTORY_DEFAULT,
    HISTORY_MAX,
    Close,
    Command,
    CreateGroup,
    Delete,
    Edit,
    Help,
    Invite,
    JoinGroup,
    LeaveGroup,
    LinkDevice,
    ListDevices,
    ListGroups,
    Me,
    Moderate,
    Msg,
    Quit,
    React,
    Reply,
    RevokeDevice,
    Say,
    Search,
    ShowHistory,
    Status,
    Switch,
    Topic,
    Who,
)
from zchat.events import CommandFailed, Info

if TYPE_CHECKING:
    from zchat.session import ClientSession

EXIT_WORD = "[EXIT]"
__all__ = ["BY_NAME", "COMMANDS", "Close", "Command", "CommandError", "CreateGroup", "Delete", "EXIT_WORD", "Edit",
           "HELP", "HISTORY_DEFAULT", "HISTORY_MAX", "Help", "Invite", "JoinGroup", "LeaveGroup", "LinkDevice",
           "ListDevices", "ListGroups", "Me", "Moderate", "Msg", "Quit", "React", "Reply", "RevokeDevice", "Say",
           "Search", "ShowHistory", "Spec", "Status", "Switch", "Topic", "Who", "execute", "parse"]


class CommandError(ValueError):
    """The line is not a valid command; ``code`` is "unknown_command" or "usage"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Usage(Exception):
    """Raised by an argument parser: the line does not fit the command's usage."""


@dataclass(frozen=True)
class Spec:
    """One slash command: ``parse(args, rest)`` builds it from the words after its name (``rest``
    is the raw text after the name) or raises _Usage."""
    name: str
    usage: str
    what: str
    parse: Callable[[list[str], str], Command]
    aliases: tuple[str, ...] = ()
    usage_hint: str = ""          # said instead of "usage: USAGE" when the usage alone does not explain


def _arity(args: list[str], low: int, high: int) -> list[str]:
    if not low <= len(args) <= high:
        raise _Usage
    return args


def _group(word: str) -> str:
    return word.lstrip("#")


def _user(word: str) -> str:
    return word.lstrip("@")


def _msg(args: list[str], rest: str) -> Msg:
    target, _, body = rest.strip().partition(" ")
    if not target or not body.strip():
        raise _Usage
    return Msg(_user(target), body.strip())


def _create(args: list[str], rest: str) -> CreateGroup:
    names = [a for a in args if a != "--private"]
    if len(names) != 1 or names[0].startswith("-"):
        raise _Usage
    return CreateGroup(_group(names[0]), "--private" in args)


def _invite(args: list[str], rest: str) -> Invite:
    name, group = _arity(args, 2, 2)
    return Invite(_user(name), _group(group))


def _groups(args: list[str], rest: str) -> ListGroups:
    _arity(args, 0, 0)
    return ListGroups()


def _devices(args: list[str], rest: str) -> ListDevices:
    _arity(args, 0, 0)
    return ListDevices()


def _device(args: list[str], rest: str) -> LinkDevice | RevokeDevice:
    if args == ["link"]:
        return LinkDevice()
    if len(args) == 2 and args[0] == "revoke":
        return RevokeDevice(args[1])
    raise _Usage


def _history(args: list[str], rest: str) -> ShowHistory:
    _arity(args, 0, 1)
    if args and not (args[0].isdigit() and 0 < int(args[0]) <= HISTORY_MAX):
        raise _Usage
    return ShowHistory(int(args[0]) if args else HISTORY_DEFAULT)


def _seq(word: str) -> int:
    if not word.isdigit() or not 0 < int(word) <= 2**53 - 1:
        raise _Usage
    return int(word)


def _edit(args: list[str], rest: str) -> Edit:
    first, _, body = rest.strip().partition(" ")
    if first.isdigit() and body.strip():
        return Edit(body.strip(), _seq(first))
    if not rest.strip():
        raise _Usage
    return Edit(rest.strip())


def _seq_and_text(make: Callable[[int, str], Command]) -> Callable[[list[str], str], Command]:
    def parse(args: list[str], rest: str) -> Command:
        first, _, body = rest.strip().partition(" ")
        if not body.strip():
            raise _Usage
        return make(_seq(first), body.strip())
    return parse


def _text(make: Callable[[str], Command], required: bool = True) -> Callable[[list[str], str], Command]:
    def parse(args: list[str], rest: str) -> Command:
        if required and not rest.strip():
            raise _Usage
        return make(rest.strip())
    return parse


def _topic(args: list[str], rest: str) -> Topic:
    return Topic(None if not rest.strip() else "" if rest.strip() == "--clear" else rest.strip())


def _moderate(action: str) -> Callable[[list[str], str], Moderate]:
    def parse(args: list[str], rest: str) -> Moderate:
        name, *group = _arity(args, 1, 2)
        return Moderate(action, _user(name), _group(group[0]) if group else None)
    return parse


# name -> Spec; the order is the order /help lists them in
COMMANDS: dict[str, Spec] = {spec.name: spec for spec in (
    Spec("msg", "/msg NAME TEXT", "send a direct message to NAME", _msg),
    Spec("join", "/join GROUP", "join a group (a private one needs an invitation)",
         lambda a, r: JoinGroup(_group(_arity(a, 1, 1)[0]))),
    Spec("leave", "/leave GROUP", "leave a group",
         lambda a, r: LeaveGroup(_group(_arity(a, 1, 1)[0]))),
    Spec("create", "/create GROUP [--private]", "create a group; --private makes it invite-only", _create),
    Spec("invite", "/invite NAME GROUP", "invite NAME to a group you are in", _invite),
    Spec("groups", "/groups", "list the groups you can see", _groups),
    Spec("who", "/who [GROUP]", "list users: everyone, or a group's members",
         lambda a, r: Who(_group(a[0]) if _arity(a, 0, 1) else None)),
    Spec("history", "/history [N]", f"show the last N messages of the current conversation "
         f"(default {HISTORY_DEFAULT})", _history, usage_hint=f"usage: /history [N], N from 1 to {HISTORY_MAX}"),
    Spec("switch", "/switch CONVERSATION", "talk in: everyone, @NAME (a DM) or #GROUP",
         lambda a, r: Switch(_arity(a, 1, 1)[0])),
    Spec("close", "/close [CONVERSATION]", "close a DM, or a group you left (default: the current one)",
         lambda a, r: Close(a[0] if _arity(a, 0, 1) else None)),
    Spec("devices", "/devices", "list your devices (this one is marked)", _devices),
    Spec("device", "/device link | /device revoke NAME", "make a one-time code that adds a new device to "
         "your account (zchat --link CODE on it); or remove a device, which is signed out at once", _device,
         usage_hint="usage: /device link, or /device revoke NAME"),
    Spec("me", "/me ACTION", "say what you do: /me waves shows as * alice waves", _text(Me)),
    Spec("reply", "/reply SEQ TEXT", "answer line SEQ of the current conversation (it is quoted)",
         _seq_and_text(Reply)),
    Spec("edit", "/edit [SEQ] TEXT", "change your line SEQ (default: your last line here)", _edit),
    Spec("delete", "/delete [SEQ]", "delete your line SEQ (default: your last line here); a group's owner and "
         "admins may delete any line", lambda a, r: Delete(_seq(a[0]) if _arity(a, 0, 1) else None)),
    Spec("react", "/react SEQ EMOJI", "react to line SEQ; the same again takes it back",
         lambda a, r: React(_seq(_arity(a, 2, 2)[0]), a[1])),
    Spec("search", "/search WORDS", "find lines with all these words in everything you can read, newest "
         "first (WORD* finds words that begin so; /search alone: the next page)", _text(Search, required=False)),
    Spec("away", "/away [TEXT]", "show others you are away, with a reason", _text(lambda t: Status("away", t), False)),
    Spec("back", "/back", "you are back (online)", lambda a, r: _arity(a, 0, 0) and Help() or Status("online")),
    Spec("dnd", "/dnd [TEXT]", "do not disturb: no notifications until /back", _text(lambda t: Status("dnd", t),
                                                                                      False)),
    Spec("topic", "/topic [TEXT | --clear]", "show, set or clear the current group's topic (owner and admins set "
         "it)", _topic),
    Spec("kick", "/kick NAME [GROUP]", "remove NAME from the group (owner and admins)", _moderate("kick")),
    Spec("ban", "/ban NAME [GROUP]", "remove NAME and keep them out (owner and admins)", _moderate("ban")),
    Spec("unban", "/unban NAME [GROUP]", "let NAME into the group again", _moderate("unban")),
    Spec("op", "/op NAME [GROUP]", "make NAME an admin of the group (owner)", _moderate("op")),
    Spec("deop", "/deop NAME [GROUP]", "make an admin a plain member again (owner)", _moderate("deop")),
    Spec("owner", "/owner NAME [GROUP]", "hand the group over to NAME; you stay an admin (owner)",
         _moderate("owner")),
    Spec("help", "/help", "show this help", lambda a, r: Help()),
    Spec("quit", "/quit, /exit", f"leave the chat (same as {EXIT_WORD}); others see that you left",
         lambda a, r: Quit(), aliases=("exit",)),
)}
BY_NAME: dict[str, Spec] = {n: spec for spec in COMMANDS.values() for n in (spec.name, *spec.aliases)}
HELP = "\n".join(["Type a line to send it to the current conversation. Commands:"]
                 + [f"  {spec.usage:<28} {spec.what}" for spec in COMMANDS.values()]
                 + ["  SEQ is a line's number in its conversation (frontends show it)."]
                 + [f"  {EXIT_WORD:<28} leave the chat", f"  {'//TEXT':<28} send /TEXT as a line (one slash)"])


def parse(line: str) -> Command | None:
    """One typed line -> a command; None for a blank line. Raises CommandError for bad input."""
    text = line.strip()
    if not text:
        return None
    if text == EXIT_WORD:
        return Quit()
    if not text.startswith("/") or text.startswith("//"):
        return Say(text[1:] if text.startswith("//") else text)  # "//x" sends "/x"
    name, _, rest = text[1:].partition(" ")
    spec = BY_NAME.get(name.lower())
    if spec is None:
        raise CommandError("unknown_command", f"unknown command /{name}; /help lists the commands")
    try:
        return spec.parse(rest.split(), rest)
    except _Usage:
        raise CommandError("usage", spec.usage_hint or f"usage: {spec.usage.split(',')[0]}") from None


def execute(session: ClientSession, line: str) -> None:
    """Parse one typed line and do it; every outcome, errors included, becomes an event."""
    try:
        cmd = parse(line)
    except CommandError as exc:
        session.events.append(CommandFailed(code=exc.code, message=exc.message, command=line.strip()[:40]))
        return
    match cmd:
        case None:
            pass
        case Say(text):
            session.send(text)
        case Msg(name, text):
            session.dm(name, text)
        case JoinGroup(group):
            session.join_group(group)
        case LeaveGroup(group):
            session.leave_group(group)
        case CreateGroup(group, private):
            session.create_group(group, private)
        case Invite(name, group):
            session.invite(name, group)
        case ListGroups():
            session.list_groups()
        case Who(group):
            session.who(group)
        case ShowHistory(count):
            session.show_history(count)
        case Switch(target):
            session.switch(target)
        case Close(target):
            session.close_conversation(target)
        case ListDevices():
            session.list_devices()
        case LinkDevice():
            session.link_device()
        case RevokeDevice(device):
            session.revoke_device(device)
        case Me(action):
            session.me(action)
        case Reply(seq, text):
            session.reply(seq, text)
        case Edit(text, seq):
            session.edit(text, seq)
        case Delete(seq):
            session.delete(seq)
        case React(seq, emoji):
            session.react(seq, emoji)
        case Search(query):
            session.search(query)
        case Status(state, text):
            session.set_status(state, text)
        case Topic(None):
            session.show_topic()
        case Topic(topic):
            session.set_topic(topic or "")
        case Moderate(action, name, group):
            session.moderate(action, name, group)
        case Help():
            session.events.append(Info(text=HELP))
        case Quit():
            session.leave()
