"""What the client core tells a frontend: facts that happened, as frozen dataclasses.

A frontend never sees a socket, a JSON object or a protocol frame: it calls the methods of
:class:`zchat.client.Client` and draws these events, which it pulls on its own thread
(``poll_events``, ``events``). Dispatch on the type, e.g. with ``match``.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# The vocabularies a frontend matches on, so that no frontend needs zchat.protocol.
from zchat.vocab import (
    CONTROL_RE,
    ChosenState,
    ConvKind,
    GroupRole,
    MessageKind,
    PresenceReason,
    PresenceState,
    conv_kind,
    strip_controls,
)

Reactions = tuple[tuple[str, tuple[str, ...]], ...]
"""A line's reactions: (emoji, (who reacted, in order)) for each emoji, in the order first made."""


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
    mentions: int = 0    # of the unread ones, those that name you (and every unread line of a DM)
    topic: str = ""      # a group's topic
    role: str = ""       # in a group: yours, a GroupRole ("owner", "admin", "member")


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
    """A line in a conversation, delivered once and in seq order, as it reads now.

    ``missed``: sent while this user was away, shown on return. ``history``: asked for with
    /history (already seen before). ``kind`` is "msg", "me" (an action: draw "* sender text") or
    "event" (text like "joined", "kicked Bob", "set the topic: ..."). Later changes to the line
    (edits, deletion, reactions) come as :class:`MessageChanged` with the same ``conv`` and ``seq``.
    ``reply_to``: the seq this line answers (0: none), with the start of that line in
    ``reply_sender`` and ``reply_text``. ``mention``: the line names this user (``@name``) or is a DM
    from the other user: highlight it. ``deleted``: a tombstone ("message deleted")."""
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
    reply_to: int = 0
    reply_sender: str = ""
    reply_text: str = ""
    edited: bool = False
    deleted: bool = False
    reactions: Reactions = ()
    mentions: tuple[str, ...] = ()       # the users it names (lowercased)
    mention: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageChanged:
    """A line delivered before (same ``conv`` and ``seq``) changed: redraw that one line with these
    values. ``change`` is "edit", "delete" or "react"; ``by`` who changed it (an owner or admin
    may delete others' lines)."""
    conv: str
    title: str
    seq: int
    sender: str
    text: str
    kind: str
    change: str
    by: str
    edited: bool = False
    deleted: bool = False
    reactions: Reactions = ()
    mentions: tuple[str, ...] = ()
    mention: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """Something for this user's attention: a line that names it (``reason`` "mention") or a DM
    ("dm"). Not given while this user's presence is "dnd". ``missed``: one per conversation once
    catch-up brought the ``count`` such lines that came while it was away (``text`` the last one).
    Plugins see each one in the ``zchat_notification`` hook too."""
    conv: str
    title: str
    seq: int
    sender: str
    text: str
    reason: str
    missed: bool = False
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Typing:
    """``name`` is typing in ``conv`` (``active``), or stopped: no notice for a few seconds, or its
    line arrived. Draw "bob is typing…" while active."""
    conv: str
    name: str
    active: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadBy:
    """Read receipts: who of the conversation's other readers has read up to this user's last line
    ``seq`` in ``conv`` ("seen by carol, dave"); ``names`` empty when nobody has yet."""
    conv: str
    seq: int
    names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchHit:
    conv: str
    title: str
    seq: int
    ts: float
    sender: str
    text: str
    kind: str = "msg"
    edited: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchResults:
    """The answer to /search: newest first. ``cursor``: more may follow (``Client.search(query,
    before=cursor)``); ``partial``: the broker's index was catching up, search again for newer lines.
    ``Client.context(conv, seq)`` shows a hit among the lines around it."""
    query: str
    results: tuple[SearchHit, ...]
    cursor: int | None = None
    partial: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged:
    """This account's chosen presence (a ChosenState: "online", "away", "dnd") and its text, set here,
    on another device, or by the idle timer (``idle``)."""
    state: str
    text: str = ""
    idle: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceChanged:
    """A user's state (PresenceState): "online", "away" (chosen, or idle), "dnd", "lost" or "offline";
    reason (PresenceReason): joined, back, lost, left, timed_out, set (the user chose it), idle.
    ``status``: the text of a chosen state ("lunch")."""
    name: str
    state: str
    reason: str
    status: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationsChanged:
    """The conversation list, its unread counts or the current conversation changed."""
    conversations: tuple[Conversation, ...]
    current: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupsListed:
    """The answer to /groups: (name, private, members, joined) for each group you can see, and
    (name, topic) for those that have a topic."""
    groups: tuple[tuple[str, bool, int, bool], ...]
    topics: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class UsersListed:
    """The answer to /who: (name, state) for the users of ``conv``; ``details`` has (name, state,
    status, role) for the same users (role "owner"/"admin" in a group, else "")."""
    conv: str
    title: str
    users: tuple[tuple[str, str], ...]
    total: int
    details: tuple[tuple[str, str, str, str], ...] = ()


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
         | Left | MessageChanged | Notification | Typing | ReadBy | SearchResults | StatusChanged)

__all__ = ["CONTROL_RE", "ChosenState", "CommandFailed", "ConnState", "ConnectionChanged", "ConvKind", "Conversation",
           "ConversationsChanged", "Device", "DevicesListed", "Event", "GroupRole", "GroupsListed", "Info", "Invited",
           "JoinFailed", "Joined", "Left", "LinkCodeMade", "MessageChanged", "MessageKind", "MessageReceived",
           "Notification", "PresenceChanged", "PresenceReason", "PresenceState", "Reactions", "ReadBy",
           "SearchHit", "SearchResults", "SendState", "SendStatus", "StatusChanged", "Typing", "UsersListed",
           "conv_kind", "strip_controls"]
