"""The hub's awareness requests: who is typing, the presence a user chooses (away, dnd, idle),
and how far the other readers of a conversation have read (read receipts).

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. None of it is stored: a typing notice is a sealed publish on
the conversation's topic(s) and nothing else (docs/PROTOCOL.md §9.2), a chosen presence lives in
the roster, and read receipts are the read marks the store keeps anyway, published as ``seen``
to the conversation's readers only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zchat import paging
from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.presence import Session

K, RK = p.ConvKind, p.RateKind


class AwarenessRequests(HubPart):
    def _on_typing(self, s: Session, req: p.Typing) -> p.Ok:
        conv = self._readable(s, req.conv)
        self._limit(s, RK.TYPING, req.id, "typing notices")
        payload = p.encode(p.TypingNotice(conv.key, s.name))
        for t in conv.topics:
            self._publish_everywhere(t, payload)     # the readers on other brokers too (zchat.peers)
        return p.Ok(req.id, conv.key)

    def _on_status(self, s: Session, req: p.SetStatus) -> p.Ok:
        try:
            state = p.ChosenState(req.state)
        except ValueError:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"field 'state': one of {', '.join(p.ChosenState)}",
                                req.id) from None
        self._limit(s, RK.STATUS, req.id, "presence changes")
        if req.auto:
            self.presence.set_idle(s, state == p.ChosenState.AWAY)
        else:
            self.presence.choose(s, state, req.text.strip())
        return p.Ok(req.id)

    def _on_read_marks(self, s: Session, req: p.ReadMarks) -> p.ReadMarksPage:
        conv = self._readable(s, req.conv)
        self._limit(s, RK.HISTORY, req.id, "history requests")
        readers = self._other_readers(conv, s.user)
        marks = [p.ReadMarkInfo(self.names[u], seq) for u, seq in self.store.read_marks_of(conv.key).items()
                 if u in readers and seq > 0] if conv.stored else []
        marks.sort(key=lambda m: (-m.seq, m.name.lower()))
        return p.ReadMarksPage(req.id, conv.key, paging.fit(marks, keep_first=True) if marks else [])

    def _other_readers(self, conv: Conversation, user: str) -> set[str]:
        if conv.kind == K.DM:
            return set(p.dm_users(conv.key)) - {user}
        return conv.members - {user} if conv.kind == K.GROUP else set()

    def _tell_seen(self, s: Session, conv: Conversation, before: int, mark: int) -> None:
        """A reader's mark moved forward: the conversation's readers learn it (not in everyone)."""
        if mark > before and conv.kind != K.EVERYONE:
            payload = p.encode(p.Seen(conv.key, s.name, mark))
            for t in conv.topics:
                self._publish_everywhere(t, payload)
