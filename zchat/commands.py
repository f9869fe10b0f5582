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

from zchat.events import CommandFailed, Info

if TYPE_CHECKING:
    from zchat.session import ClientSession

EXIT_WORD = "[EXIT]"
HISTORY_DEFAULT, HISTORY_MAX = 20, 1000     # /history [N] and Client.history(count)


@dataclass(frozen=True, slots=True)
class Say:
    text: str                     # to the current conversation


@dataclass(frozen=True, slots=True)
class Msg:
    name: str
    text: str


@dataclass(frozen=True, slots=True)
class JoinGroup:
    group: str


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    group: str


@dataclass(frozen=True, slots=True)
class CreateGroup:
    group: str
    private: bool = False


@dataclass(frozen=True, slots=True)
class Invite:
    name: str
    group: str


@dataclass(frozen=True, slots=True)
class ListGroups:
    pass


@dataclass(frozen=True, slots=True)
class Who:
    group: str | None = None


@dataclass(frozen=True, slots=True)
class ShowHistory:
    count: int = HISTORY_DEFAULT


@dataclass(frozen=True, slots=True)
class Switch:
    target: str                   # "everyone", "@name" or a user name, "#group" or a group name


@dataclass(frozen=True, slots=True)
class Close:
    target: str | None = None     # like Switch's; None: the current conversation


@dataclass(frozen=True, slots=True)
class ListDevices:
    pass


@dataclass(frozen=True, slots=True)
class LinkDevice:
    pass


@dataclass(frozen=True, slots=True)
class RevokeDevice:
    device: str


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = (Say | Msg | JoinGroup | LeaveGroup | CreateGroup | Invite | ListGroups | Who | ShowHistory | Switch
           | Close | ListDevices | LinkDevice | RevokeDevice | Help | Quit)


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
    Spec("help", "/help", "show this help", lambda a, r: Help()),
    Spec("quit", "/quit, /exit", f"leave the chat (same as {EXIT_WORD}); others see that you left",
         lambda a, r: Quit(), aliases=("exit",)),
)}
BY_NAME: dict[str, Spec] = {n: spec for spec in COMMANDS.values() for n in (spec.name, *spec.aliases)}
HELP = "\n".join(["Type a line to send it to the current conversation. Commands:"]
                 + [f"  {spec.usage:<28} {spec.what}" for spec in COMMANDS.values()]
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
        case Help():
            session.events.append(Info(text=HELP))
        case Quit():
            session.leave()
