"""What the client session's parts (zchat.session_actions, zchat.session_delivery) may use of
the session: declared once, for the type checker; :class:`zchat.session.ClientSession` is built
from the parts and provides all of it. Also the per-conversation state they share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zchat import events as ev
from zchat import protocol as p

if TYPE_CHECKING:
    from zchat.seal import KeyChain


@dataclass
class ConvState:
    conv: str
    kind: str
    title: str
    private: bool = False
    seen: int = 0                 # last seq delivered to the frontend
    head: int = 0                 # newest seq known to exist
    fetching: bool = False        # a catch-up page is in flight
    missed_upto: int = 0          # seqs up to this, delivered by catch-up, were sent while we were away
    unread: int = 0
    read_sent: int = -1           # the read mark: sent in mark_read, or learnt from another device
    buffer: dict[int, p.Message] = field(default_factory=dict)
    mentions: int = 0             # unread lines that name this user (every unread line of a DM)
    missed_mentions: list[ev.MessageReceived] = field(default_factory=list)   # ... of them, come while away
    topic: str = ""
    role: str = ""                # this user's GroupRole in a group
    lines: dict[int, ev.MessageReceived] = field(default_factory=dict)   # seq -> the line as drawn (LINES_KEPT)
    my_last: int = 0              # this user's last msg/me line here (what /edit and /delete without SEQ mean)
    marks: dict[str, int] = field(default_factory=dict)    # other readers' read marks (read receipts) ...
    marks_asked: bool = False     # ... asked for with read_marks this session
    seen_by: tuple[int, tuple[str, ...]] = (0, ())    # the receipt last told the frontend: (my_last, names)
    typing: dict[str, float] = field(default_factory=dict)   # who is typing here -> until when

    def public(self) -> ev.Conversation:
        return ev.Conversation(conv=self.conv, kind=self.kind, title=self.title, unread=self.unread,
                               private=self.private, mentions=self.mentions, topic=self.topic, role=self.role)


class SessionPart:
    if TYPE_CHECKING:
        user: str
        joined: bool
        leaving: bool
        limits: p.Limits | None
        convs: dict[str, ConvState]
        current: str
        closed: set[str]
        left_convs: set[str]
        keys: KeyChain
        pending: dict[str, tuple[str, Any]]
        outbox: dict[str, p.Send]
        waiting: list[Any]
        paced: dict[str, float]
        last_heard: float
        chosen: str                  # this account's ChosenState (dnd: no notifications)
        search_query: str
        search_cursor: int | None
        last_published: float
        _live: bool
        _synced: bool

        chosen_text: str
        last_active: float
        idle_sent: bool
        idle_after: float
        typing_sent: dict[str, float]

        def _request(self, what: str, cls: type, ctx: Any = None, **fields: Any) -> str: ...

        def _event(self, event: ev.Event) -> None: ...
        def _fail(self, code: str, message: str, command: str = "") -> None: ...
        def _conv_list(self) -> None: ...
        def flush_read_marks(self) -> None: ...
        def send(self, text: str, conv: str | None = None, kind: str = "msg",
                 reply_to: int | None = None) -> str | None: ...
        def _deliver_one(self, conv: ConvState | None, m: p.Message, missed: bool = False,
                         history: bool = False) -> ev.MessageReceived | None: ...
        def _receipts(self, conv: ConvState) -> None: ...
        def _settle(self, cmid: str, seq: int) -> None: ...
        def _own_status(self, state: str, text: str, idle: bool = False) -> None: ...
