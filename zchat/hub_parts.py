"""What the hub's parts (zchat.groups, zchat.accounts, zchat.reading) may use of the hub: declared
once, for the type checker. The hub (zchat.hub.Hub) is built from these parts and provides all
of it. Also the one piece of hub state the parts make themselves: :class:`Conversation`."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zchat import protocol as p

if TYPE_CHECKING:
    from zchat.access import Access
    from zchat.hub import HubConfig
    from zchat.presence import Roster, Session
    from zchat.store import DeviceRow, MessageRow
    from zchat.store_base import Store


class Conversation:
    __slots__ = ("key", "kind", "private", "head", "members", "invites", "topics", "stored", "topic", "roles", "bans")

    def __init__(self, key: str, kind: str, private: bool, head: int, stored: bool = True) -> None:
        self.key, self.kind, self.private, self.head, self.stored = key, kind, private, head, stored
        self.members: set[str] = set()
        self.invites: set[str] = set()
        self.topic = ""                        # a group's topic
        self.roles: dict[str, str] = {}        # a group's owner and admins: user -> GroupRole
        self.bans: set[str] = set()            # users banned from the group
        # where its messages are published: a DM on both users' own topics, the rest on their own
        self.topics = [p.user_topic(u) for u in p.dm_users(key)] if kind == p.ConvKind.DM else [p.topic(key)]


class HubPart:
    if TYPE_CHECKING:
        store: Store
        config: HubConfig
        clock: Callable[[], float]
        names: dict[str, str]                  # user key -> display name
        convs: dict[str, Conversation]
        user_convs: dict[str, set[str]]
        access: Access
        presence: Roster
        devices: dict[str, DeviceRow]          # by CURVE key
        banned: set[str]
        to_cut: list[tuple[float, bytes | None, str | None]]

        def _append(self, conv: Conversation, s: Session, kind: str, text: str, cmid: str | None = None, *,
                    ref: int | None = None, mentions: list[str] | None = None, quote: p.Quote | None = None,
                    reactions: list[p.Reaction] | None = None,
                    refund: p.RateKind | None = None) -> tuple[Any, Any, Any, Any]: ...
        def _readable(self, s: Session, key: str, create_dm: bool = False) -> Conversation: ...
        def _render(self, key: str, rows: list[MessageRow]) -> list[p.Message]: ...
        def _limit(self, s: Session, kind: p.RateKind, req_id: str, what: str, cmid: str | None = None) -> None: ...
        def _title(self, conv: Conversation, user: str) -> str: ...
        def _conv_info(self, conv: Conversation, user: str, last_read: int) -> p.ConversationInfo: ...
        def _hand_over(self, s: Session, conv: Conversation) -> None: ...
        def _tell_seen(self, s: Session, conv: Conversation, before: int, mark: int) -> None: ...
        def _may_enter(self, conv: Conversation, user: str, req_id: str, invited_by: str | None = None) -> None: ...
        def _publish(self, topic: bytes, payload: bytes) -> None: ...
        def _publish_everywhere(self, topic: bytes, payload: bytes) -> None: ...
        def _notify_everywhere(self, user: str, notice: bytes) -> None: ...
        def _mark_removal(self, conv: Conversation) -> None: ...
        def _end_sessions(self, user: str, reason: str, keys: set[str] | None = None) -> None: ...
        def _membership_notice(self, user: str, conv: Conversation, joined: bool) -> bytes: ...
        def _new_conversation(self, key: str, kind: str, private: bool) -> Conversation: ...
        def _notify(self, user: str, notice: bytes, but: Session | None = None) -> None: ...
        def _notice(self, s: Session | None, notice: bytes) -> None: ...
