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

    def public(self) -> ev.Conversation:
        return ev.Conversation(conv=self.conv, kind=self.kind, title=self.title, unread=self.unread,
                               private=self.private)


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
        last_published: float
        _live: bool
        _synced: bool

        def _request(self, what: str, cls: type, ctx: Any = None, **fields: Any) -> str: ...
        def _event(self, event: ev.Event) -> None: ...
        def _fail(self, code: str, message: str, command: str = "") -> None: ...
        def _conv_list(self) -> None: ...
        def flush_read_marks(self) -> None: ...
