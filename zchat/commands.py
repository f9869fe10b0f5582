"""The slash-command language: ``parse(line) -> Command``, and ``execute`` on a session.

Pure code shared by every frontend, so every frontend has the same commands. Bad input is a
:class:`CommandError` with a sentence for the user, never a traceback. ``HELP`` is the
text ``/help`` shows, generated from the same table the parser uses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zchat.events import CommandFailed, Info

if TYPE_CHECKING:
    from zchat.session import ClientSession

EXIT_WORD = "[EXIT]"


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
    count: int = 20


@dataclass(frozen=True, slots=True)
class Switch:
    target: str                   # "everyone", "@name" or a user name, "#group" or a group name


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = Say | Msg | JoinGroup | LeaveGroup | CreateGroup | Invite | ListGroups | Who | ShowHistory | Switch | Help | Quit


class CommandError(ValueError):
    """The line is not a valid command; ``code`` is "unknown_command" or "usage"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# name -> (usage, what it does); the order is the order /help lists them in
COMMANDS: dict[str, tuple[str, str]] = {
    "msg": ("/msg NAME TEXT", "send a direct message to NAME"),
    "join": ("/join GROUP", "join a group (a private one needs an invitation)"),
    "leave": ("/leave GROUP", "leave a group"),
    "create": ("/create GROUP [--private]", "create a group; --private makes it invite-only"),
    "invite": ("/invite NAME GROUP", "invite NAME to a group you are in"),
    "groups": ("/groups", "list the groups you can see"),
    "who": ("/who [GROUP]", "list users: everyone, or a group's members"),
    "history": ("/history [N]", "show the last N messages of the current conversation (default 20)"),
    "switch": ("/switch CONVERSATION", "talk in: everyone, @NAME (a DM) or #GROUP"),
    "help": ("/help", "show this help"),
    "quit": ("/quit", "leave the chat (same as [EXIT]); others see that you left"),
}
HELP = "\n".join(["Type a line to send it to the current conversation. Commands:"]
                 + [f"  {usage:<28} {what}" for usage, what in COMMANDS.values()]
                 + [f"  {EXIT_WORD:<28} leave the chat"])


def _usage(name: str) -> CommandError:
    return CommandError("usage", f"usage: {COMMANDS[name][0]}")


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
    args = rest.split()
    name = name.lower()
    if name == "msg":
        target, _, body = rest.strip().partition(" ")
        if not target or not body.strip():
            raise _usage(name)
        return Msg(target.lstrip("@"), body.strip())
    if name in ("join", "leave"):
        if len(args) != 1:
            raise _usage(name)
        group = args[0].lstrip("#")
        return JoinGroup(group) if name == "join" else LeaveGroup(group)
    if name == "create":
        private = "--private" in args
        rest_args = [a for a in args if a != "--private"]
        if len(rest_args) != 1 or rest_args[0].startswith("-"):
            raise _usage(name)
        return CreateGroup(rest_args[0].lstrip("#"), private)
    if name == "invite":
        if len(args) != 2:
            raise _usage(name)
        return Invite(args[0].lstrip("@"), args[1].lstrip("#"))
    if name == "groups" and not args:
        return ListGroups()
    if name == "who" and len(args) <= 1:
        return Who(args[0].lstrip("#") if args else None)
    if name == "history" and len(args) <= 1:
        if args and not (args[0].isdigit() and 0 < int(args[0]) <= 1000):
            raise CommandError("usage", "usage: /history [N], N from 1 to 1000")
        return ShowHistory(int(args[0]) if args else 20)
    if name == "switch":
        if len(args) != 1:
            raise _usage(name)
        return Switch(args[0])
    if name == "help":
        return Help()
    if name in ("quit", "exit"):
        return Quit()
    if name in COMMANDS:
        raise _usage(name)
    raise CommandError("unknown_command", f"unknown command /{name}; /help lists the commands")


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
        case Help():
            session.events.append(Info(text=HELP))
        case Quit():
            session.leave()
