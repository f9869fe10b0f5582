"""Replies and publishes whose seq the database gives only at commit (several brokers on PostgreSQL).

Part of the hub (a mixin of :class:`zchat.hub.Hub`). A line the store cannot settle while the
hub decides (zchat.store_base) is answered with :class:`Later` values in place of its conv, seq,
ts and duplicate flag, and takes its place among the batch's publishes as the line itself. After
the commit (one call for the whole batch), :meth:`DeferredOutput._settle_output` fills them in:
replies are encoded with the stored values, each new line is published in its conversation's
seq order (what other brokers stored in between first, read from the store), sealed with the
key its scope had when the hub decided it, so a member who left in the same batch reads nothing
said after. A single broker on SQLite never gets here: its lines are settled when staged.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zchat import protocol as p
from zchat.hub_parts import Conversation, HubPart
from zchat.seal import scope_of
from zchat.store_base import Line, line_message

if TYPE_CHECKING:
    from zchat.store import MessageRow

_PLAIN = frozenset({p.MessageKind.MSG, p.MessageKind.ME, p.MessageKind.EVENT})   # published as stored


class Later:
    """A field of a line that the commit fills in (``conv``, ``seq``, ``ts`` or ``duplicate``)."""
    __slots__ = ("line", "field")

    def __init__(self, line: Line, field: str) -> None:
        self.line, self.field = line, field

    def get(self) -> Any:
        return getattr(self.line, self.field)


class Pending:
    """What the hub keeps with an unsettled line: its conversation, the keys it is to be sealed with,
    what to do if it turns out to be a retry of a stored one, and what its publish carries besides
    the stored line (a reply's quote, a reaction's tally)."""
    __slots__ = ("conv", "keys", "on_duplicate", "quote", "reactions")

    def __init__(self, conv: Conversation, keys: list[tuple[bytes, int, bytes]],
                 on_duplicate: Callable[[], None] | None, quote: p.Quote | None = None,
                 reactions: list[p.Reaction] | None = None) -> None:
        self.conv, self.keys, self.on_duplicate = conv, keys, on_duplicate
        self.quote, self.reactions = quote, reactions


def resolve(msg: Any) -> Any:
    """``msg`` with every Later field replaced by its value."""
    later = {f.name: v.get() for f in dataclasses.fields(msg) if isinstance(v := getattr(msg, f.name), Later)}
    return dataclasses.replace(msg, **later) if later else msg


class DeferredOutput(HubPart):
    if TYPE_CHECKING:
        lines: list[Line]
        replies: list[tuple[bytes, Any]]
        publishes: list[Any]
        _later_reply: bool
        _dirty: set[str]
        _active: set[str]

    def _stage_later(self, line: Line, conv: Conversation, on_duplicate: Callable[[], None] | None,
                     quote: p.Quote | None = None,
                     reactions: list[p.Reaction] | None = None) -> tuple[Any, Any, Any, Any]:
        keys = []
        for t in conv.topics:
            epoch, key = self.access.keys.current(scope_of(t))
            keys.append((t, epoch, key))
        line.extra = Pending(conv, keys, on_duplicate, quote, reactions)
        self.lines.append(line)
        self.publishes.append(line)
        self._later_reply = True
        return Later(line, "conv"), Later(line, "seq"), Later(line, "ts"), Later(line, "duplicate")

    def _settle_output(self) -> None:
        """After the commit: encode the deferred replies and publish the new lines in seq order."""
        if not self.lines:
            return
        self.replies = [(peer, r if isinstance(r, bytes) else p.encode(resolve(r))) for peer, r in self.replies]
        publishes: list[Any] = []
        for item in self.publishes:
            if not isinstance(item, Line):
                publishes.append(item)
                continue
            pending: Pending = item.extra  # type: ignore[assignment]
            if item.duplicate:
                if pending.on_duplicate is not None:
                    pending.on_duplicate()
                continue
            conv = pending.conv
            if item.seq > conv.head + 1:      # another broker stored lines in between: they go first
                self._publish_rows(conv, self._rows_between(conv.key, conv.head, item.seq), publishes)
            payload = p.encode(line_message(item, pending.quote, pending.reactions))
            for topic, epoch, key in pending.keys:
                publishes.append((topic, payload, epoch, key))
            self._advance(conv, item.seq)
        self.publishes = publishes
        self.lines = []

    def _advance(self, conv: Conversation, seq: int) -> None:
        if seq > conv.head:
            conv.head = seq
            self._dirty.add(conv.key)
            self._active.add(conv.key)

    def _rows_between(self, conv: str, after: int, before: int) -> list[MessageRow]:
        """Stored lines with after < seq < before, in order (paged: a long gap is read in pieces)."""
        rows: list[MessageRow] = []
        while after + 1 < before:
            page = [r for r in self.store.after(conv, after, min(500, before - after - 1)) if r.seq < before]
            if not page:
                break
            rows += page
            after = page[-1].seq
        return rows

    def _publish_rows(self, conv: Conversation, rows: list[MessageRow], out: list[Any]) -> None:
        """Publish stored lines (another broker's) with the scopes' current keys; the head follows.

        A plain line goes out as its broker published it; one with more to it (a reply's quote,
        mentions, an edit, a deletion, a reaction with the line's tally) as history gives it: as it
        reads now. A plain line reacted to before this broker published it goes out without the
        reactions; the react line, which follows, carries them."""
        rows = [r for r in rows if r.seq > conv.head]
        rich = [r for r in rows if r.ref is not None or r.mentions or r.edited is not None or r.deleted
                or r.kind not in _PLAIN]
        rendered = {m.seq: m for m in self._render(conv.key, rich)} if rich else {}
        for r in rows:
            msg = rendered.get(r.seq) or p.Message(r.conv, r.seq, r.ts, r.sender, r.text, r.kind, r.cmid)
            payload = p.encode(msg)
            for t in conv.topics:
                out.append((t, payload, *self.access.keys.key_for(t)))
            self._advance(conv, r.seq)
