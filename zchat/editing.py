"""The hub's line requests of protocol 3: edit and delete a line, react to one, and what a line
carries besides its text (a reply's quote, mentions, reactions), live and in history.

Part of the hub (a mixin of :class:`zchat.hub.Hub`, whose state zchat.hub_parts declares); kept
apart so each module stays small. A change to a line is stored as a line of its own through
``Hub._append`` (kind edit/delete/react/unreact, ``ref`` = the line), so seqs stay gap-free and
catch-up brings it to whoever was away; the store also changes the line itself, so ``history``
gives every line as it reads now (docs/PROTOCOL.md §13.2).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.hub_parts import Conversation, HubPart

if TYPE_CHECKING:
    from zchat.presence import Session
    from zchat.store import MessageRow

K, MK, RK = p.ConvKind, p.MessageKind, p.RateKind
LINES = p.LINE_KINDS
CHANGES = frozenset({MK.REACT, MK.UNREACT})
MODERATORS = frozenset({p.GroupRole.OWNER, p.GroupRole.ADMIN})


class LineRequests(HubPart):
    # ---------------------------------------------------------------- what a line carries
    def _mentions(self, text: str) -> list[str] | None:
        """The users ``text`` names as @name (those that exist), or None."""
        names = [n for n in p.mentioned_names(text) if n in self.names]
        return names or None

    def _line(self, conv: Conversation, seq: int, req_id: str) -> MessageRow:
        """The msg or me line ``seq`` of ``conv``, not deleted: what can be edited, deleted, reacted or
        replied to."""
        row = self.store.line(conv.key, seq) if conv.stored and 0 < seq <= conv.head else None
        if row is None or row.kind not in LINES or row.deleted:
            what = "was deleted" if row is not None and row.deleted else "is not a chat line"
            raise ProtocolError(ErrorCode.NO_SUCH_MESSAGE, f"line {seq} of {conv.key!r} {what}" if row else
                                f"there is no line {seq} in {conv.key!r}", req_id)
        return row

    def _quote(self, row: MessageRow) -> p.Quote:
        return p.Quote(row.sender, "" if row.deleted else row.text[:p.QUOTE_CHARS], True if row.deleted else None)

    def _reaction_list(self, made: list[tuple[str, str]]) -> list[p.Reaction] | None:
        """[(emoji, user)] in the order made -> reactions, each emoji once, in the order first made."""
        by_emoji: dict[str, list[str]] = {}
        for emoji, user in made:
            by_emoji.setdefault(emoji, []).append(self.names.get(user, user))
        return [p.Reaction(e, users) for e, users in by_emoji.items()] or None

    def _render(self, key: str, rows: list[MessageRow]) -> list[p.Message]:
        """Stored rows -> the messages history and search give: each line as it reads now, with its
        quote (replies) and reactions; react/unreact lines with the reactions of their line now."""
        targets = [r.seq for r in rows if r.kind in LINES and not r.deleted] + \
                  [r.ref for r in rows if r.kind in CHANGES and r.ref is not None]
        reactions = self.store.reactions_between(key, min(targets), max(targets)) if targets else {}
        replied = sorted({r.ref for r in rows if r.kind in LINES and r.ref is not None})
        quotes = self.store.quotes_of(key, replied) if replied else {}
        out = []
        for r in rows:
            line = r.kind in LINES
            quote = quotes.get(r.ref) if line and r.ref is not None else None
            shown = r.ref if r.kind in CHANGES else r.seq if line else None
            out.append(p.Message(
                r.conv, r.seq, r.ts, r.sender, r.text, r.kind, r.cmid,
                reply_to=r.ref if line else None,
                quote=p.Quote(quote[0], "" if quote[2] else quote[1][:p.QUOTE_CHARS], quote[2] or None)
                if quote else None,
                ref=None if line else r.ref, edited=r.edited, deleted=True if r.deleted else None,
                mentions=r.mentions.split() if r.mentions else None,
                reactions=self._reaction_list(reactions.get(shown, [])) if shown is not None else None))
        return out

    # ---------------------------------------------------------------- requests
    def _limit_message(self, s: Session, conv: Conversation, req_id: str) -> None:
        everyone = conv.kind == K.EVERYONE
        self._limit(s, RK.EVERYONE if everyone else RK.MESSAGE, req_id,
                    "messages to everyone" if everyone else "messages")

    def _on_edit(self, s: Session, req: p.Edit) -> p.Ok:
        conv = self._readable(s, req.conv)
        row = self._line(conv, req.seq, req.id)
        if p.canonical(row.sender) != s.user:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "you can only edit your own lines", req.id)
        self._limit_message(s, conv, req.id)
        mentions = self._mentions(req.text)
        self.store.edit_line(conv.key, req.seq, req.text, mentions, self.clock())
        key, seq, ts, _ = self._append(conv, s, MK.EDIT, req.text, ref=req.seq, mentions=mentions)
        return p.Ok(req.id, key, seq, ts)

    def _on_delete(self, s: Session, req: p.Delete) -> p.Ok:
        conv = self._readable(s, req.conv)
        row = self._line(conv, req.seq, req.id)
        if p.canonical(row.sender) != s.user and conv.roles.get(s.user) not in MODERATORS:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "you can only delete your own lines (a group's owner and "
                                "admins may delete any of its lines)", req.id)
        self._limit_message(s, conv, req.id)
        self.store.delete_line(conv.key, req.seq)
        key, seq, ts, _ = self._append(conv, s, MK.DELETE, "", ref=req.seq)
        return p.Ok(req.id, key, seq, ts)

    def _on_react(self, s: Session, req: p.React) -> p.Ok:
        conv = self._readable(s, req.conv)
        self._line(conv, req.seq, req.id)
        emoji = req.emoji.strip()
        if not emoji or " " in emoji:
            raise ProtocolError(ErrorCode.BAD_FIELD, "field 'emoji': one emoji or word, without spaces", req.id)
        self._limit(s, RK.REACT, req.id, "reactions")
        made = self.store.reactions_between(conv.key, req.seq, req.seq).get(req.seq, [])
        kinds = {e for e, _ in made}
        if emoji not in kinds and len(kinds) >= p.MAX_REACTIONS:
            raise ProtocolError(ErrorCode.LIMIT_REACHED, f"a line has at most {p.MAX_REACTIONS} different "
                                "reactions", req.id)
        added = self.store.toggle_reaction(conv.key, req.seq, s.user, emoji, self.clock())
        made = self.store.reactions_between(conv.key, req.seq, req.seq).get(req.seq, [])
        key, seq, ts, _ = self._append(conv, s, MK.REACT if added else MK.UNREACT, emoji, ref=req.seq,
                                       reactions=self._reaction_list(made) or [])
        return p.Ok(req.id, key, seq, ts)
