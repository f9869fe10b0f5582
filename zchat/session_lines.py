"""The client session's protocol 3 lines: what a line looks like to the frontend (reply quote,
mentions, reactions), lines that change other lines (edit, delete, react), notifications, typing
notices and read receipts.

Part of :class:`zchat.session.ClientSession` (a mixin; the session owns the state named in
zchat.session_parts), kept apart so each module stays small. A change to a line arrives as a line
of its own (it advances the conversation's seq like any other) and is applied to the line it
names, which the frontend redraws from one :class:`~zchat.events.MessageChanged`.
"""
from __future__ import annotations

from dataclasses import replace

from zchat import events as ev
from zchat import protocol as p
from zchat.session_parts import ConvState, SessionPart

MK = p.MessageKind
CHANGES = frozenset({MK.EDIT, MK.DELETE, MK.REACT, MK.UNREACT})
LINES_KEPT = 1000         # lines per conversation kept to apply later changes to (older ones: history has them)
MAX_TYPING = 50           # typists remembered per conversation (a flood of names costs no memory)


def reactions_of(m: p.Message) -> ev.Reactions:
    return tuple((r.emoji, tuple(r.users)) for r in m.reactions or ())


class Lines(SessionPart):
    # ---------------------------------------------------------------- a line as the frontend sees it
    def _names_me(self, conv: ConvState | None, sender: str, kind: str, mentions: list[str] | None) -> bool:
        """A line for this user's attention: it names the user, or it is a DM line from the other one."""
        if kind not in p.LINE_KINDS or p.canonical(sender) == self.user:
            return False
        return self.user in (mentions or ()) or (conv is not None and conv.kind == p.ConvKind.DM)

    def _line_event(self, conv: ConvState | None, m: p.Message, missed: bool, history: bool) -> ev.MessageReceived:
        reply_sender = reply_text = ""
        if m.reply_to:
            if m.quote is not None:
                reply_sender, reply_text = m.quote.sender, m.quote.text
            elif conv is not None and m.reply_to in conv.lines:
                quoted = conv.lines[m.reply_to]
                reply_sender, reply_text = quoted.sender, quoted.text[:p.QUOTE_CHARS]
        e = ev.MessageReceived(conv=m.conv, title=conv.title if conv else m.conv, seq=m.seq, ts=m.ts,
                               sender=m.sender, text=m.text, kind=m.kind, missed=missed, history=history,
                               own=p.canonical(m.sender) == self.user, reply_to=m.reply_to or 0,
                               reply_sender=reply_sender, reply_text=reply_text, edited=m.edited is not None,
                               deleted=bool(m.deleted), reactions=reactions_of(m),
                               mentions=tuple(m.mentions or ()), mention=self._names_me(conv, m.sender, m.kind,
                                                                                        m.mentions))
        if conv is not None:
            conv.lines[m.seq] = e
            if len(conv.lines) > LINES_KEPT:
                del conv.lines[min(conv.lines)]
            if e.own and e.kind in p.LINE_KINDS and not e.deleted:
                conv.my_last = max(conv.my_last, m.seq)
                self._receipts(conv)
        return e

    # ---------------------------------------------------------------- lines that change lines
    def _apply_change(self, conv: ConvState, m: p.Message) -> None:
        """An edit, deletion or reaction: applied to the line it names, if this session has it (an
        older line is given as it reads now by history anyway)."""
        line = conv.lines.get(m.ref or 0)
        if line is None or line.deleted:
            return
        if m.kind == MK.EDIT:
            mentions = tuple(m.mentions or ())
            line = replace(line, text=m.text, edited=True, mentions=mentions,
                           mention=self._names_me(conv, line.sender, line.kind, m.mentions))
        elif m.kind == MK.DELETE:
            line = replace(line, text="", deleted=True, reactions=(), mentions=(), mention=False)
        else:
            line = replace(line, reactions=reactions_of(m))
        conv.lines[line.seq] = line
        change = "react" if m.kind in (MK.REACT, MK.UNREACT) else str(m.kind)
        self._event(ev.MessageChanged(conv=conv.conv, title=conv.title, seq=line.seq, sender=line.sender,
                                      text=line.text, kind=line.kind, change=change, by=m.sender,
                                      edited=line.edited, deleted=line.deleted, reactions=line.reactions,
                                      mentions=line.mentions, mention=line.mention))
        if line.deleted and line.seq == conv.my_last:
            mine = [s for s, x in conv.lines.items() if x.own and x.kind in p.LINE_KINDS and not x.deleted]
            conv.my_last = max(mine, default=0)
            self._receipts(conv)

    def _event_line(self, conv: ConvState, m: p.Message) -> None:
        """What a group's event lines change here: its topic, and this user's role."""
        if m.text.startswith("set the topic: ") or m.text == "cleared the topic":
            conv.topic = m.text.removeprefix("set the topic: ") if m.text != "cleared the topic" else ""
            self._conv_list()
        elif m.text.startswith("made ") and m.text.count(" ") >= 2:
            _, name, role = m.text.split(" ", 2)
            if p.canonical(name) == self.user:
                conv.role = {"an admin": p.GroupRole.ADMIN, "a member": p.GroupRole.MEMBER,
                             "the owner": p.GroupRole.OWNER}.get(role, conv.role)
                self._conv_list()
            elif role == "the owner" and p.canonical(m.sender) == self.user and conv.role == p.GroupRole.OWNER:
                conv.role = p.GroupRole.ADMIN           # we handed it over
                self._conv_list()

    # ---------------------------------------------------------------- notifications
    def _attention(self, conv: ConvState, e: ev.MessageReceived) -> None:
        """A line that names this user (or a DM line) was delivered: notify now, or, for lines that
        came while it was away, once for all of them when the conversation is caught up."""
        if e.missed:
            conv.missed_mentions.append(e)
        elif self.chosen != p.ChosenState.DND:
            self._event(ev.Notification(conv=e.conv, title=e.title, seq=e.seq, sender=e.sender, text=e.text,
                                        reason="dm" if conv.kind == p.ConvKind.DM else "mention"))

    def _missed_attention(self, conv: ConvState) -> None:
        if conv.missed_mentions and conv.seen >= conv.head and not conv.fetching:
            last, count = conv.missed_mentions[-1], len(conv.missed_mentions)
            conv.missed_mentions = []
            if self.chosen != p.ChosenState.DND:
                self._event(ev.Notification(conv=last.conv, title=last.title, seq=last.seq, sender=last.sender,
                                            text=last.text, reason="dm" if conv.kind == p.ConvKind.DM else "mention",
                                            missed=True, count=count))

    # ---------------------------------------------------------------- typing and read receipts
    def _typing_seen(self, t: p.TypingNotice, now: float) -> None:
        conv = self.convs.get(t.conv)
        if conv is None or p.canonical(t.name) == self.user:
            return
        ttl = (self.limits.typing_ttl_ms if self.limits else p.TYPING_TTL * 1000) / 1000
        if t.name not in conv.typing:
            if len(conv.typing) >= MAX_TYPING:
                return
            self._event(ev.Typing(conv=t.conv, name=t.name, active=True))
        conv.typing[t.name] = now + ttl

    def _typing_stopped(self, conv: ConvState, name: str) -> None:
        if conv.typing.pop(name, None) is not None:
            self._event(ev.Typing(conv=conv.conv, name=name, active=False))

    def expire_typing(self, now: float) -> None:
        for conv in self.convs.values():
            for name, until in list(conv.typing.items()):
                if now >= until:
                    self._typing_stopped(conv, name)

    def _seen(self, conv: ConvState, name: str, seq: int) -> None:
        if p.canonical(name) != self.user and seq > conv.marks.get(name, 0):
            conv.marks[name] = seq
            self._receipts(conv)

    def _receipts(self, conv: ConvState) -> None:
        """Tell the frontend who has read up to this user's last line, when that changes."""
        names = tuple(sorted((n for n, seq in conv.marks.items() if conv.my_last and seq >= conv.my_last),
                             key=str.lower))
        if (conv.my_last, names) != conv.seen_by:
            conv.seen_by = (conv.my_last, names)
            if conv.my_last:
                self._event(ev.ReadBy(conv=conv.conv, seq=conv.my_last, names=names))

    def ask_read_marks(self, conv: ConvState) -> None:
        """Read receipts need the others' marks once per session (then ``seen`` keeps them fresh)."""
        if conv.kind != p.ConvKind.EVERYONE and not conv.marks_asked and conv.head and self.joined:
            conv.marks_asked = True
            self._request("read_marks", p.ReadMarks, conv.conv, conv=conv.conv)
