"""What the client core tells a frontend: facts that happened, as frozen dataclasses.

A frontend never sees a socket, a JSON object or a protocol frame: it calls the methods of
:class:`zchat.client.Client` and draws these events, which it pulls on its own thread
(``poll_events``, ``events``). Dispatch on the type, e.g. with ``match``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The vocabularies a frontend matches on, so that no frontend needs zchat.protocol.
from zchat.vocab import CONTROL_RE, ConvKind, MessageKind, PresenceReason, PresenceState, conv_kind, strip_controls


class ConnState(StrEnum):
    """``ConnectionChanged.state``: the link to the broker, in the order a session usually goes."""
    CONNECTING = "connecting"
    CONNECTED = "connected"          # the encrypted handshake succeeded; the hello is on its way
    RECONNECTING = "reconnecting"    # retry_in says when
    CATCHING_UP = "catching_up"      # behind says how many messages are still to fetch
    LIVE = "live"
    FAILED = "failed"                # no retry: see detail


@dataclass(frozen=True, slots=True, kw_only=True)
class Conversation:
    """One conversation as the frontend lists it."""
    conv: str            # key: "all", "dm:alice:bob", "g:team"
    kind: str            # "everyone" | "dm" | "group"
    title: str           # "everyone", the other user's name, or the group's name
    unread: int = 0      # messages shown while it was not the current conversation
    private: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionChanged:
    """The link to the broker: "connecting", "connected", "reconnecting" (retry_in seconds),
    "catching_up" (behind messages still to fetch), "live", or "failed" (see detail; no retry):
    a :class:`ConnState`."""
    state: ConnState
    detail: str = ""
    retry_in: float | None = None
    behind: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    """The broker confirmed the name. ``resumed``: the session was still alive (a reconnect);
    ``device``: this device's name in the account."""
    name: str
    resumed: bool
    conversations: tuple[Conversation, ...]
    device: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinFailed:
    """The name was refused (taken, invalid, server full...); ``code`` is the protocol error code."""
    name: str
    code: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived:
    """A line in a conversation, delivered once and in seq order.

    ``missed``: sent while this user was away, shown on return. ``history``: asked for with
    /history (already seen before). ``kind`` is "msg" or "event" (text like "joined")."""
    conv: str
    title: str
    seq: int
    ts: float
    sender: str
    text: str
    kind: str = "msg"
    own: bool = False
    missed: bool = False
    history: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceChanged:
    """A user's state (PresenceState): "online", "away" (chosen, or idle), "dnd", "lost" or "offline";
    reason (PresenceReason): joined, back, lost, left, timed_out, set (the user chose it), idle."""
    name: str
    state: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationsChanged:
    """The conversation list, its unread counts or the current conversation changed."""
    conversations: tuple[Conversation, ...]
    current: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupsListed:
    """The answer to /groups: (name, private, members, joined) for each group you can see."""
    groups: tuple[tuple[str, bool, int, bool], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersListed:
    """The answer to /who: (name, state) for the users of ``conv``."""
    conv: str
    title: str
    users: tuple[tuple[str, str], ...]
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Invited:
    """Someone invited this user to a private group; ``/join GROUP`` accepts."""
    group: str
    by: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkCodeMade:
    """The answer to /device link: a one-time code a new device presents (``--link CODE``) to join
    this account, good until ``expires`` (seconds since the epoch). Show it; it is a secret."""
    code: str
    expires: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """One device of the account: ``current`` is this one; ``last_seen`` is now when ``online``."""
    name: str
    created: float
    last_seen: float
    online: bool
    current: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class DevicesListed:
    """The answer to /devices, oldest first."""
    devices: tuple[Device, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Info:
    """A line for the user that is not a chat message: help text, a command's outcome."""
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandFailed:
    """A command could not be done: bad input (code "usage", "unknown_command") or a broker error code."""
    code: str
    message: str
    command: str = ""


class SendState(StrEnum):
    """``SendStatus.state``: where one of this user's own messages is."""
    SENDING = "sending"     # kept in the outbox; it goes (again) whenever the link is up
    SENT = "sent"           # the broker stored it (seq); the line itself arrives as MessageReceived
    FAILED = "failed"       # refused for good (reason); sending the text again is a new message


@dataclass(frozen=True, slots=True, kw_only=True)
class SendStatus:
    """The fate of one message this client sent, so a frontend can mark its own line at once
    (also while offline). ``cmid`` names the message across its states; ``text`` is what was sent."""
    cmid: str
    conv: str
    text: str
    state: SendState
    reason: str = ""
    seq: int = 0           # set once sent


@dataclass(frozen=True, slots=True, kw_only=True)
class Left:
    """The session is over ([EXIT], /quit or close()); the frontend should exit."""
    reason: str = "left"


Event = (ConnectionChanged | Joined | JoinFailed | MessageReceived | PresenceChanged | ConversationsChanged
         | GroupsListed | UsersListed | DevicesListed | LinkCodeMade | Invited | Info | CommandFailed | SendStatus
         | Left)

__all__ = ["CONTROL_RE", "CommandFailed", "ConnState", "ConnectionChanged", "ConvKind", "Conversation",
           "ConversationsChanged", "Device", "DevicesListed", "Event", "GroupsListed", "Info", "Invited",
           "JoinFailed", "Joined", "Left", "LinkCodeMade", "MessageKind", "MessageReceived", "PresenceChanged",
           "PresenceReason", "PresenceState", "SendState", "SendStatus", "UsersListed", "conv_kind",
           "strip_controls"]
