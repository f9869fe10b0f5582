"""The messages of the zchat wire protocol, as frozen dataclasses.

Pure data: each class's ``TYPE`` is its wire ``type`` and its field annotations drive
zchat.protocol's decoder, so adding a field here is the whole change. Requests go
client -> ROUTER, replies ROUTER -> client, published messages XPUB -> SUB.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from zchat import compiled
from zchat.messages_features import (  # protocol 3's chat features, part of this module's API
    Delete,
    Edit,
    Moderate,
    Quote,
    React,
    Reaction,
    ReadMarkInfo,
    ReadMarks,
    ReadMarksPage,
    Search,
    Seen,
    SetStatus,
    SetTopic,
    Typing,
    TypingNotice,
)
from zchat.vocab import (  # the vocabulary is part of the protocol's API: re-exported
    CONTROL_RE,
    EVERYONE,
    LINE_KINDS,
    ChosenState,
    ConvKind,
    GroupRole,
    MessageKind,
    ModAction,
    PresenceReason,
    PresenceState,
    RateKind,
    conv_kind,
    conv_title,
    dm_users,
    mentioned_names,
    strip_controls,
)

__all__ = [
    "Bye", "CONTROL_RE", "ChosenState", "ConvKind", "ConversationInfo", "ConversationsPage", "CreateGroup", "Delete",
    "DeviceInfo", "Devices", "EVERYONE", "Edit", "Ended", "Error", "GroupInfo", "GroupRole", "Groups", "Heartbeat",
    "Hello", "History", "HistoryPage", "Invite", "Invited", "JoinGroup", "KeyChange", "KeyInfo", "LINE_KINDS",
    "LeaveGroup", "Limits", "LinkCode", "LinkDevice", "ListConversations", "ListDevices", "ListGroups", "MarkRead",
    "Membership", "Message", "MessageKind", "ModAction", "Moderate", "Notice", "Ok", "Ping", "Pong", "Presence",
    "PresenceChange", "PresenceReason", "PresenceState", "Published", "Quote", "RateKind", "RateLimit", "React",
    "Reaction", "ReadMark", "ReadMarkInfo", "ReadMarks", "ReadMarksPage", "Reply", "Request", "Resubscribe",
    "RevokeDevice", "Search", "SearchPage", "Seen", "Send", "SetStatus", "SetTopic", "Typing", "TypingNotice",
    "UserInfo", "Users", "Welcome", "Who", "conv_kind", "conv_title", "dm_users", "mentioned_names", "strip_controls"
]


# ---------------------------------------------------------------- requests

@dataclass(frozen=True, slots=True)
class Hello:
    TYPE: ClassVar[str] = "hello"
    id: str
    version: int
    name: str
    resume: str | None = None    # the sub_token of this client's previous session: resume it
    link: str | None = None      # a link code: add this (new) key to the account as a device
    device: str | None = None    # what to call this device when it is added (default: device-N)


@dataclass(frozen=True, slots=True)
class Send:
    TYPE: ClassVar[str] = "send"
    id: str
    conv: str
    text: str
    cmid: str                    # client message id: a retry with the same one is stored once
    kind: str | None = None      # "me" for an action line (/me waves); None (left out): "msg"
    reply_to: int | None = None  # the seq (in conv) of the line this one answers


@dataclass(frozen=True, slots=True)
class CreateGroup:
    TYPE: ClassVar[str] = "create_group"
    id: str
    group: str
    private: bool = False


@dataclass(frozen=True, slots=True)
class JoinGroup:
    TYPE: ClassVar[str] = "join_group"
    id: str
    group: str


@dataclass(frozen=True, slots=True)
class LeaveGroup:
    TYPE: ClassVar[str] = "leave_group"
    id: str
    group: str


@dataclass(frozen=True, slots=True)
class Invite:
    TYPE: ClassVar[str] = "invite"
    id: str
    group: str
    name: str


@dataclass(frozen=True, slots=True)
class ListGroups:
    TYPE: ClassVar[str] = "groups"
    id: str
    after: str | None = None     # the last group name of the previous page


@dataclass(frozen=True, slots=True)
class ListConversations:
    """The welcome's conversations, continued: the next page after conversation key ``after``."""
    TYPE: ClassVar[str] = "conversations"
    id: str
    after: str


@dataclass(frozen=True, slots=True)
class Who:
    TYPE: ClassVar[str] = "who"
    id: str
    conv: str = EVERYONE


@dataclass(frozen=True, slots=True)
class History:
    TYPE: ClassVar[str] = "history"
    id: str
    conv: str
    after: int | None = None     # messages with seq > after, oldest first ...
    before: int | None = None    # ... or the newest ones with seq < before; neither: the newest page
    limit: int | None = None     # capped by Limits.history_page_max


@dataclass(frozen=True, slots=True)
class MarkRead:
    TYPE: ClassVar[str] = "mark_read"
    id: str
    conv: str
    seq: int


@dataclass(frozen=True, slots=True)
class LinkDevice:
    """Ask for a one-time code another device can present (hello.link) to join this account."""
    TYPE: ClassVar[str] = "link_device"
    id: str


@dataclass(frozen=True, slots=True)
class ListDevices:
    TYPE: ClassVar[str] = "devices"
    id: str


@dataclass(frozen=True, slots=True)
class RevokeDevice:
    TYPE: ClassVar[str] = "revoke_device"
    id: str
    device: str


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[str] = "ping"
    id: str


@dataclass(frozen=True, slots=True)
class Bye:
    TYPE: ClassVar[str] = "bye"
    id: str


Request = (Hello | Send | CreateGroup | JoinGroup | LeaveGroup | Invite | ListGroups | ListConversations | Who |
           History | MarkRead | LinkDevice | ListDevices | RevokeDevice | Ping | Bye | Edit | Delete | React |
           Typing | SetStatus | ReadMarks | Search | SetTopic | Moderate)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket per user: ``burst`` requests at once, refilled at ``per_sec``."""
    per_sec: float
    burst: int


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int
    max_text_bytes: int
    history_page_max: int
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    grace_ms: int
    name_max: int
    name_rule: str
    max_groups: int              # groups one user may be in
    rates: dict[str, RateLimit] = field(default_factory=dict)   # RateKind value -> its bucket
    max_topic_bytes: int = 512   # a group's topic, in UTF-8 bytes
    max_status_bytes: int = 128  # a status text (away: "lunch"), in UTF-8 bytes
    max_reactions: int = 20      # different reactions on one line
    typing_ttl_ms: int = 6000    # a typing notice counts this long unless renewed


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key of the sealed fan-out: ``scope`` ("all", "u:NAME" or "g:NAME"), its epoch, 32 bytes in hex."""
    scope: str
    epoch: int
    key: str


@dataclass(frozen=True, slots=True)
class ConversationInfo:
    conv: str
    kind: str                    # "everyone" | "dm" | "group"
    title: str                   # what to show: "everyone", the other user's name, the group's name
    head_seq: int
    last_read: int
    private: bool = False
    topic: str = ""              # a group's topic
    role: str = ""               # in a group: your GroupRole


@dataclass(frozen=True, slots=True)
class Welcome:
    TYPE: ClassVar[str] = "welcome"
    id: str
    name: str
    version: int
    pub_endpoint: str
    server_time: float
    resumed: bool                # True when this key's session was still alive (a reconnect)
    limits: Limits
    conversations: list[ConversationInfo]    # the first page: "all", then DMs and groups by key ...
    sub_token: str               # the session's SUB presents it in the handshake (SUB_TOKEN_PROPERTY)
    keys: list[KeyInfo]          # "all", the user's own scope, and every group in ``conversations``
    more: bool = False           # ... more pages follow: ask ``conversations`` after the last key
    device: str = ""             # this device's name in the account
    presence: str = "online"     # the account's chosen state (ChosenState), kept while any session lives ...
    status: str = ""             # ... and its text


@dataclass(frozen=True, slots=True)
class ConversationsPage:
    TYPE: ClassVar[str] = "conversations"
    id: str
    conversations: list[ConversationInfo]
    keys: list[KeyInfo]          # of the groups in this page
    complete: bool


@dataclass(frozen=True, slots=True)
class Ok:
    TYPE: ClassVar[str] = "ok"
    id: str
    conv: str | None = None
    seq: int | None = None       # for send: the stored message's seq ...
    ts: float | None = None      # ... and server timestamp (the same on a retry)
    duplicate: bool = False      # True when a retried send was already stored
    key: KeyInfo | None = None   # create_group, join_group: the group's current key ...
    info: ConversationInfo | None = None   # ... and the group as the user's conversation list shows it


@dataclass(frozen=True, slots=True)
class GroupInfo:
    name: str
    private: bool
    members: int
    joined: bool
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Groups:
    TYPE: ClassVar[str] = "groups"
    id: str
    groups: list[GroupInfo]      # sorted by name; cut to fit one frame ...
    complete: bool = True        # ... false: ask again with ``after`` = the last name


@dataclass(frozen=True, slots=True)
class UserInfo:
    name: str
    state: str                   # a PresenceState: "online", "away", "dnd", "lost" or "offline"
    status: str = ""             # the text of a chosen state (away: "lunch")
    role: str = ""               # in a group's list: "owner" or "admin" ("" for a plain member)


@dataclass(frozen=True, slots=True)
class Users:
    TYPE: ClassVar[str] = "users"
    id: str
    conv: str
    users: list[UserInfo]        # online and lost users first; cut to fit one frame ...
    total: int = 0               # ... out of this many


@dataclass(frozen=True, slots=True)
class Message:
    """A stored line in a conversation (MessageKind): a chat message, an action (/me), an event (text
    such as "joined", "left", "created", "invited bob", "kicked Bob"), or a change to an earlier line
    (edit, delete, react, unreact: ``ref`` names it). Fields that are None are left out on the wire,
    so a plain chat line costs no more than in protocol 2."""
    TYPE: ClassVar[str] = "msg"
    conv: str
    seq: int
    ts: float
    sender: str
    text: str
    kind: str = "msg"
    cmid: str | None = None
    reply_to: int | None = None          # msg, me: the seq this line answers ...
    quote: Quote | None = None           # ... and how that line reads now
    ref: int | None = None               # edit, delete, react, unreact: the seq of the line changed
    edited: float | None = None          # msg, me (history, search): when it was last edited
    deleted: bool | None = None          # msg, me (history): withdrawn; text "" (a tombstone)
    mentions: list[str] | None = None    # the users (lowercased names) it names as @name
    reactions: list[Reaction] | None = None   # msg, me (history): its reactions; react, unreact: the line's after it


@dataclass(frozen=True, slots=True)
class HistoryPage:
    TYPE: ClassVar[str] = "history"
    id: str
    conv: str
    messages: list[Message]
    from_seq: int                # first seq in this page (0 when empty)
    to_seq: int                  # last seq in this page (0 when empty)
    head_seq: int                # the conversation's newest seq now
    complete: bool               # nothing further in the direction asked


@dataclass(frozen=True, slots=True)
class SearchPage:
    TYPE: ClassVar[str] = "search"
    id: str
    query: str
    results: list[Message]       # newest first, each as it reads now
    cursor: int | None = None    # more may follow: ask again with ``before`` = this
    partial: bool | None = None  # the index was still catching up: newer lines may be missing; ask again


@dataclass(frozen=True, slots=True)
class LinkCode:
    TYPE: ClassVar[str] = "link_code"
    id: str
    code: str                    # one use: hello.link on a new device adds it to this account
    expires: float               # server time after which it is no use


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    name: str
    created: float
    last_seen: float
    online: bool                 # a session of this device is live
    current: bool = False        # the device that asked


@dataclass(frozen=True, slots=True)
class Devices:
    TYPE: ClassVar[str] = "devices"
    id: str
    devices: list[DeviceInfo]


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[str] = "pong"
    id: str
    server_time: float


@dataclass(frozen=True, slots=True)
class Error:
    TYPE: ClassVar[str] = "error"
    id: str | None
    code: str
    message: str
    retryable: bool = False
    retry_after_ms: int | None = None


@dataclass(frozen=True, slots=True)
class KeyChange(KeyInfo):
    """A notice (no ``id``, not a reply to anything): a scope's key changed because a reader lost
    access; everything sealed for it from now on uses this epoch. Its fields are KeyInfo's."""
    TYPE: ClassVar[str] = "key"


@dataclass(frozen=True, slots=True)
class Resubscribe:
    """A notice: the broker could not tell which connection these subscriptions came from (another
    peer broke the XPUB's framing) and installed none of them; send them again."""
    TYPE: ClassVar[str] = "resubscribe"
    topics: list[str]


@dataclass(frozen=True, slots=True)
class ReadMark:
    """A notice to the other sessions of an account: one of them marked ``conv`` read up to ``seq``."""
    TYPE: ClassVar[str] = "read"
    conv: str
    seq: int


@dataclass(frozen=True, slots=True)
class Membership:
    """A notice to the account's other sessions: it joined (``info`` and ``key`` say what) or left
    (``info`` None) a group on one of its devices, so they subscribe or unsubscribe too."""
    TYPE: ClassVar[str] = "membership"
    conv: str
    info: ConversationInfo | None = None
    key: KeyInfo | None = None
    reason: str | None = None    # a leave the account did not ask for: "kicked by alice", "banned by alice"


@dataclass(frozen=True, slots=True)
class Ended:
    """A notice: the broker ended this session (its device was revoked, its account banned or reset);
    the connection is cut next. ``reason`` is a sentence for the user."""
    TYPE: ClassVar[str] = "ended"
    reason: str


Reply = (Welcome | ConversationsPage | Ok | Groups | Users | HistoryPage | LinkCode | Devices | Pong | Error |
         KeyChange | Resubscribe | ReadMark | Membership | Ended | ReadMarksPage | SearchPage)
Notice = KeyChange | Resubscribe | ReadMark | Membership | Ended


@dataclass(frozen=True, slots=True)
class PresenceChange:
    name: str
    state: str                   # a PresenceState
    reason: str                  # a PresenceReason
    status: str | None = None    # the text of a chosen state (away: "lunch")


@dataclass(frozen=True, slots=True)
class Presence:
    TYPE: ClassVar[str] = "presence"
    ts: float
    changes: list[PresenceChange] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    TYPE: ClassVar[str] = "hb"
    ts: float
    heads: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Invited:
    """On the invited user's own topic: they may now join a private group."""
    TYPE: ClassVar[str] = "invited"
    group: str
    by: str


Published = Message | Presence | Heartbeat | Invited | TypingNotice | Seen

# messages are built on the broker's hot path (each request decoded, each line and its ok): every
# class here and in zchat.messages_features gets compiled.make_init's faster __init__
compiled.speed_up_inits(v for v in list(globals().values())
                        if isinstance(v, type) and v.__module__ in (__name__, "zchat.messages_features"))
