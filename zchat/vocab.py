"""The words of the zchat protocol that frontends, the core and the broker all use: the
vocabularies (StrEnums) and the conversation-key format ("all", "dm:a:b", "g:name").

Pure and dependency-free, so zchat.events can offer them to frontends without the protocol.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

EVERYONE = "all"                 # the conversation every user is in

__all__ = ["CONTROL_RE", "ChosenState", "ConvKind", "EVERYONE", "GroupRole", "LINE_KINDS", "MENTION_RE", "MessageKind",
           "ModAction", "PresenceReason", "PresenceState", "RateKind", "conv_kind", "conv_title", "dm_users",
           "mentioned_names", "strip_controls"]


# ---------------------------------------------------------------- the protocol's vocabularies
# One place for each set of words that crosses the wire. StrEnum members are str, so they
# encode as their value and compare equal to the plain strings a decoded frame holds.

class ConvKind(StrEnum):
    """What a conversation is: ``ConversationInfo.kind``."""
    EVERYONE = "everyone"
    DM = "dm"
    GROUP = "group"


class MessageKind(StrEnum):
    """``Message.kind``: what a stored line is. Lines a frontend draws: a chat line (msg), an action
    (/me), an event whose text says what happened (joined, kicked Bob, set the topic: ...). Lines that
    change an earlier one (``ref`` names its seq): an edit, a deletion, a reaction added or taken back."""
    MSG = "msg"
    ME = "me"
    EVENT = "event"
    EDIT = "edit"
    DELETE = "delete"
    REACT = "react"
    UNREACT = "unreact"


LINE_KINDS = frozenset({MessageKind.MSG, MessageKind.ME})     # what can be edited, deleted, reacted to, replied to


class PresenceState(StrEnum):
    """A user's state in ``presence`` and ``users``. Protocol 2 said "away" for no session at all;
    since protocol 3 that is "offline", and "away" is a state the user (or its idle timer) chose."""
    ONLINE = "online"
    AWAY = "away"                # chose away (/away), or every device of it is idle
    DND = "dnd"                  # do not disturb: online, wants no notifications
    LOST = "lost"                # the link went silent; the name is kept through the grace period
    OFFLINE = "offline"          # no session


class ChosenState(StrEnum):
    """What a user may set with ``status``: the states a live account shows (offline and lost are the
    broker's to say)."""
    ONLINE = "online"
    AWAY = "away"
    DND = "dnd"


class GroupRole(StrEnum):
    """A member's standing in a group: its creator owns it; the owner makes admins; owner and admins
    moderate (kick, ban, delete any message, set the topic)."""
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class ModAction(StrEnum):
    """``moderate.action``: what an owner or admin does to a user of a group."""
    KICK = "kick"                # remove a member (it may join again)
    BAN = "ban"                  # remove it (if a member) and keep it out: no join, no invitation
    UNBAN = "unban"
    OP = "op"                    # owner only: make a member an admin
    DEOP = "deop"                # owner only: make an admin a plain member
    OWNER = "owner"              # owner only: hand the group over (the old owner stays an admin)


class RateKind(StrEnum):
    """What a per-user rate limit counts (``Limits.rates``): each has its own token bucket."""
    EVERYONE = "everyone"            # send to "all"
    MESSAGE = "message"              # send to a DM or a group
    CREATE_GROUP = "create_group"
    INVITE = "invite"
    HISTORY = "history"              # history pages, and read_marks
    LINK = "link"                    # link codes made, and presented to an account (guessing is slow)
    TYPING = "typing"                # typing notices (never stored, but each one is a publish)
    REACT = "react"                  # reactions added or taken back
    SEARCH = "search"                # search pages (each may index what is new first)
    STATUS = "status"                # presence changes a user makes (each one is published to everyone)
    MODERATE = "moderate"            # topic changes, kicks, bans and role changes


class PresenceReason(StrEnum):
    """Why a ``PresenceChange`` happened."""
    JOINED = "joined"
    BACK = "back"
    LOST = "lost"
    LEFT = "left"
    TIMED_OUT = "timed_out"
    SET = "set"                      # the user chose it: /away, /back, /dnd
    IDLE = "idle"                    # the user's devices went idle (away), or one became active again (online)


# C0 controls but tab and newline, DEL, and the C1 controls (0x9b is a terminal's CSI): never in chat text
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------- conversation keys: "all", "dm:a:b", "g:name"

def conv_kind(key: str) -> ConvKind:
    """The kind of conversation a (valid) key names: ``dm:a:b``, ``g:name`` or ``all``."""
    if key.startswith("dm:"):
        return ConvKind.DM
    return ConvKind.GROUP if key.startswith("g:") else ConvKind.EVERYONE


def dm_users(key: str) -> tuple[str, str]:
    """The two user keys of a DM key ``dm:a:b``."""
    _, a, b = key.split(":")
    return a, b


def conv_title(key: str, me: str, display: Callable[[str], str] = str) -> str:
    """What a user ``me`` sees a conversation called: "everyone", the group's name, or for a DM
    the other user's name (``display`` maps a user key to its display spelling)."""
    kind = conv_kind(key)
    if kind is ConvKind.DM:
        a, b = dm_users(key)
        return display(b if a == me.lower() else a)
    return key.removeprefix("g:") if kind is ConvKind.GROUP else "everyone"


# "@name" where name follows the name rule and is not glued to a word before it (so an e-mail
# address mentions nobody) nor continues after it
MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_-]{0,31})(?![\w-])")


def mentioned_names(text: str) -> list[str]:
    """The lowercased names ``text`` mentions as ``@name``, each once, in order (whether they are
    users is the broker's to check)."""
    if "@" not in text:
        return []
    return list(dict.fromkeys(m.lower() for m in MENTION_RE.findall(text)))


def strip_controls(text: str) -> str:
    """``text`` without the control characters the protocol refuses (tab and newline stay)."""
    return CONTROL_RE.sub("", text)
