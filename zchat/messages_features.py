"""The messages protocol 3 added for the chat features people expect: editing, deleting and
reacting to lines, typing notices, chosen presence, read receipts, search, and group topics and
moderation (docs/PROTOCOL.md).

Pure data, like zchat.messages (which re-exports all of it and holds the unions the decoders
use); kept apart so each module stays small.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["Delete", "Edit", "Moderate", "Quote", "React", "Reaction", "ReadMarkInfo", "ReadMarks", "ReadMarksPage",
           "Search", "Seen", "SetStatus", "SetTopic", "Typing", "TypingNotice"]


# ---------------------------------------------------------------- requests

@dataclass(frozen=True, slots=True)
class Edit:
    """Replace the text of one of your own lines (msg or me); stored as a line of kind "edit"."""
    TYPE: ClassVar[str] = "edit"
    id: str
    conv: str
    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class Delete:
    """Withdraw a line: your own, or (an owner or admin) anyone's in the group; stored as kind "delete"."""
    TYPE: ClassVar[str] = "delete"
    id: str
    conv: str
    seq: int


@dataclass(frozen=True, slots=True)
class React:
    """Add a reaction to a line, or take yours back when you had already made it (a toggle)."""
    TYPE: ClassVar[str] = "react"
    id: str
    conv: str
    seq: int
    emoji: str


@dataclass(frozen=True, slots=True)
class Typing:
    """"I am typing in conv": published to its readers at once, never stored."""
    TYPE: ClassVar[str] = "typing"
    id: str
    conv: str


@dataclass(frozen=True, slots=True)
class SetStatus:
    """The account's chosen presence: online, away or dnd, with a text. ``auto``: this device's idle
    timer speaks (away: idle, online: active again), not the user; it never overrides a choice."""
    TYPE: ClassVar[str] = "status"
    id: str
    state: str                   # a ChosenState value
    text: str = ""
    auto: bool = False


@dataclass(frozen=True, slots=True)
class ReadMarks:
    """Where the other readers of a DM or group have read up to (read receipts)."""
    TYPE: ClassVar[str] = "read_marks"
    id: str
    conv: str


@dataclass(frozen=True, slots=True)
class Search:
    """Words to find in every conversation the user may read now, newest first, a page at a time."""
    TYPE: ClassVar[str] = "search"
    id: str
    query: str
    before: int | None = None    # the previous page's cursor: this page continues after it
    limit: int | None = None     # capped by Limits.history_page_max


@dataclass(frozen=True, slots=True)
class SetTopic:
    TYPE: ClassVar[str] = "set_topic"
    id: str
    group: str
    topic: str                   # "" clears it


@dataclass(frozen=True, slots=True)
class Moderate:
    """An owner's or admin's action on a user of a group (ModAction)."""
    TYPE: ClassVar[str] = "moderate"
    id: str
    group: str
    action: str
    name: str


# ---------------------------------------------------------------- parts of a Message

@dataclass(frozen=True, slots=True)
class Quote:
    """What a reply answers, as it reads now: its sender and the start of its text."""
    sender: str
    text: str                    # at most QUOTE_CHARS characters ("" when deleted)
    deleted: bool | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    """One reaction on a line and who made it, in the order they did."""
    emoji: str
    users: list[str]             # display names


# ---------------------------------------------------------------- replies and published messages

@dataclass(frozen=True, slots=True)
class ReadMarkInfo:
    name: str                    # display name of a reader
    seq: int                     # it has read up to here


@dataclass(frozen=True, slots=True)
class ReadMarksPage:
    TYPE: ClassVar[str] = "read_marks"
    id: str
    conv: str
    marks: list[ReadMarkInfo]    # the conversation's other readers who have a read mark


@dataclass(frozen=True, slots=True)
class TypingNotice:
    """On the conversation's topic(s): ``name`` is typing in ``conv``; never stored."""
    TYPE: ClassVar[str] = "typing"
    conv: str
    name: str


@dataclass(frozen=True, slots=True)
class Seen:
    """On a DM's or group's topic(s): ``name`` has read ``conv`` up to ``seq`` (read receipts)."""
    TYPE: ClassVar[str] = "seen"
    conv: str
    name: str
    seq: int
