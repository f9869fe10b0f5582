"""What a typed line is once parsed: one frozen dataclass per slash command (zchat.commands
parses them, from its one table, and carries them out on a session).

Pure data, kept apart from the parser so each module stays small.
"""
from __future__ import annotations

from dataclasses import dataclass

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
class Edit:
    text: str
    seq: int | None = None        # None: your last line in the current conversation


@dataclass(frozen=True, slots=True)
class Delete:
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class React:
    seq: int
    emoji: str


@dataclass(frozen=True, slots=True)
class Me:
    action: str


@dataclass(frozen=True, slots=True)
class Status:
    state: str                    # a ChosenState: /away, /back, /dnd
    text: str = ""


@dataclass(frozen=True, slots=True)
class Search:
    query: str                    # "": the next page of the last search


@dataclass(frozen=True, slots=True)
class Topic:
    topic: str | None             # None: show it; "": clear it


@dataclass(frozen=True, slots=True)
class Moderate:
    action: str                   # a ModAction
    name: str
    group: str | None = None      # None: the current group


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Quit:
    pass


Command = (Say | Msg | JoinGroup | LeaveGroup | CreateGroup | Invite | ListGroups | Who | ShowHistory | Switch
           | Close | ListDevices | LinkDevice | RevokeDevice | Help | Quit | Edit | Delete | Reply | React | Me | Status
           | Search | Topic | Moderate)
