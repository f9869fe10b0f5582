"""The words of the zchat protocol that frontends, the core and the broker all use: the
vocabularies (StrEnums) and the conversation-key format ("all", "dm:a:b", "g:name").

Pure and dependency-free, so zchat.events can offer them to frontends without the protocol.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum

EVERYONE = "all"                 # the conversation every user is in

__all__ = ["CONTROL_RE", "ConvKind", "EVERYONE", "MessageKind", "PresenceReason", "PresenceState", "RateKind",
           "conv_kind", "conv_title", "dm_users", "strip_controls"]


# ---------------------------------------------------------------- the protocol's vocabularies
# One place for each set of words that crosses the wire. StrEnum members are str, so they
# encode as their value and compare equal to the plain strings a decoded frame holds.

class ConvKind(StrEnum):
    """What a conversation is: ``ConversationInfo.kind``."""
    EVERYONE = "everyone"
    DM = "dm"
    GROUP = "group"


class MessageKind(StrEnum):
    """``Message.kind``: a chat line, or a membership event whose text says what happened."""
    MSG = "msg"
    EVENT = "event"


class PresenceState(StrEnum):
    """A user's state in ``presence`` and ``users``."""
    ONLINE = "online"
    LOST = "lost"                # the link went silent; the name is kept through the grace period
    AWAY = "away"                # no session


class RateKind(StrEnum):
    """What a per-user rate limit counts (``Limits.rates``): each has its own token bucket."""
    EVERYONE = "everyone"            # send to "all"
    MESSAGE = "message"              # send to a DM or a group
    CREATE_GROUP = "create_group"
    INVITE = "invite"
    HISTORY = "history"
    LINK = "link"                    # link codes made, and presented to an account (guessing is slow)


class PresenceReason(StrEnum):
    """Why a ``PresenceChange`` happened."""
    JOINED = "joined"
    BACK = "back"
    LOST = "lost"
    LEFT = "left"
    TIMED_OUT = "timed_out"


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


def strip_controls(text: str) -> str:
    """``text`` without the control characters the protocol refuses (tab and newline stay)."""
    return CONTROL_RE.sub("", text)
