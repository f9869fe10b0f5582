"""The hub's reading requests: which conversation a session may read (and write), the paged
list of a user's conversations, who is in one, its history, and read marks.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. Every request that names a conversation goes through
:meth:`ReadRequests._readable` first: membership is checked against the key the frame came with,
never against a claim in the request.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from zchat import paging
from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.presence import Session

K = p.ConvKind
RK = p.RateKind


class ReadRequests(HubPart):
    def _on_conversations(self, s: Session, req: p.ListConversations) -> p.ConversationsPage:
        convs, keys, complete = self._conversations_page(s.user, req.after, paging.FRAME_BUDGET)
        return p.ConversationsPage(req.id, convs, keys, complete)

    def _conversations_page(self, user: str, after: str | None,
                            budget: int) -> tuple[list[p.ConversationInfo], list[p.KeyInfo], bool]:
        """The user's conversations ("all" first, then by key) after ``after``, with the key of each
        group among them, as many as fit ``budget``."""
        read = self.store.load_read(user)
        keys = sorted({p.EVERYONE, *self.user_convs.get(user, ())})    # "all" sorts before "dm:" and "g:"
        pairs = []
        for key in keys if after is None else [k for k in keys if k > after]:
            conv = self.convs[key]
            info = self._conv_info(conv, user, read.get(key, 0))
            pairs.append((info, self.access.info(key) if conv.kind == K.GROUP else None))
        chosen, complete = paging.page(pairs, key=lambda pair: pair[0].conv, after=None, budget=budget,
                                       cost=lambda pair: sum(paging.size_of(x) for x in pair if x is not None))
        return [i for i, _ in chosen], [k for _, k in chosen if k is not None], complete

    def _conv_info(self, conv: Conversation, user: str, last_read: int) -> p.ConversationInfo:
        """What a user's client is told of a conversation (welcome, conversations, membership)."""
        group = conv.kind == K.GROUP
        return p.ConversationInfo(conv.key, conv.kind, self._title(conv, user), conv.head, last_read, conv.private,
                                  conv.topic, conv.roles.get(user, p.GroupRole.MEMBER) if group else "")

    def _readable(self, s: Session, key: str, create_dm: bool = False) -> Conversation:
        """The conversation ``key`` if ``s`` may read and write it; a first DM creates it."""
        conv = self.convs.get(key)
        if conv is None and key.startswith("dm:") and key.count(":") == 2 and all(
                p.is_valid_name(n) for n in key.split(":")[1:]):
            a, b = p.dm_users(key)
            if a.lower() == b.lower():
                raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, "you cannot send a direct message to yourself")
            if key != p.dm_key(a, b):
                raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"{key!r} is not a DM key: the two names, "
                                    f"lowercased, in sorted order ({p.dm_key(a, b)!r})")
            if s.user not in (a, b):
                raise ProtocolError(ErrorCode.NOT_MEMBER, "a direct message must be between you and one other user")
            other = b if a == s.user else a
            if other not in self.names:
                raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {other!r}")
            if not create_dm:   # reading a DM nobody has written to yet: empty, and nothing stored
                return Conversation(key, K.DM, True, 0, stored=False)
            self.store.add_conversation(key, K.DM, True, s.user, self.clock())
            conv = self._new_conversation(key, K.DM, True)
            for u in (a, b):
                self.user_convs.setdefault(u, set()).add(key)
        if conv is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"no conversation {key!r}")
        if key not in self.user_convs.get(s.user, ()) and conv.kind != K.EVERYONE:   # members first: cheaper
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"you are not in {self._title(conv, s.user)!r}")
        return conv

    def _on_who(self, s: Session, req: p.Who) -> p.Users:
        conv = self._readable(s, req.conv)
        if conv.kind == K.EVERYONE:
            users: Iterable[str] = self.names
        elif conv.kind == K.DM:
            users = p.dm_users(conv.key)
        else:
            users = conv.members
        roles = conv.roles
        infos = sorted((p.UserInfo(self.names[u], *self.presence.shown(u), roles.get(u, "")) for u in users),
                       key=lambda i: (i.state == p.PresenceState.OFFLINE, i.name.lower()))
        return p.Users(req.id, conv.key, paging.fit(infos, keep_first=True), len(infos))

    def _on_history(self, s: Session, req: p.History) -> p.HistoryPage:
        conv = self._readable(s, req.conv)
        if req.after is not None and req.before is not None:
            raise ProtocolError(ErrorCode.BAD_FIELD, "give 'after' or 'before', not both", req.id)
        self._limit(s, RK.HISTORY, req.id, "history requests")
        limit = min(req.limit or self.config.history_page_max, self.config.history_page_max)
        if req.after is not None:
            rows = self.store.after(conv.key, req.after, limit)
            complete = not rows or rows[-1].seq >= conv.head
        else:
            before = conv.head + 1 if req.before is None else req.before
            rows = self.store.before(conv.key, before, limit)
            complete = not rows or rows[0].seq <= 1
        messages = self._render(conv.key, rows)
        fitting = paging.fit(messages, keep_first=req.after is not None)
        if len(fitting) < len(messages):
            complete = False
            rows = rows[:len(fitting)] if req.after is not None else rows[-len(fitting):]
            messages = fitting
        return p.HistoryPage(req.id, conv.key, messages, rows[0].seq if rows else 0,
                             rows[-1].seq if rows else 0, conv.head, complete)

    def _on_mark_read(self, s: Session, req: p.MarkRead) -> p.Ok:
        conv = self._readable(s, req.conv)
        if not conv.stored:       # a DM nobody has written to: nothing to mark, and nothing stored
            return p.Ok(req.id, conv.key, 0)
        before = self.store.load_read(s.user).get(conv.key, 0)
        self.store.set_read(s.user, conv.key, min(req.seq, conv.head))
        mark = max(before, min(req.seq, conv.head))
        self._tell_seen(s, conv, before, mark)        # read receipts, for the conversation's readers
        # read state follows the person: the account's other devices clear their unread count too
        self._notify(s.user, p.encode(p.ReadMark(conv.key, mark)), but=s)
        return p.Ok(req.id, conv.key, mark)
