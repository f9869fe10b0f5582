"""The client session's catch-up and live delivery: what turns broker frames into messages shown
once, in order (the zguide's Clone pattern).

Part of :class:`zchat.session.ClientSession` (a mixin; the session owns the state named below),
kept apart so each module stays small. Live messages come from the SUB, sealed; a gap in a
conversation's seqs, or a heartbeat naming a head beyond what was shown, starts a catch-up from
``history``, one page at a time, and live messages wait in a buffer meanwhile.
"""
from __future__ import annotations

from typing import Any

from zchat import events as ev
from zchat import protocol as p
from zchat.session_lines import CHANGES, Lines
from zchat.session_parts import ConvState


class Delivery(Lines):
    def _catch_up(self, conv: ConvState) -> None:
        """Fetch what lies between what was shown and the newest known seq, one page at a time."""
        if conv.head > conv.seen and not conv.fetching and self.joined:
            conv.fetching = True
            page = self.limits.history_page_max if self.limits else 200
            self._request("history", p.History, conv.conv, conv=conv.conv, after=conv.seen, limit=page)

    def _report_progress(self) -> None:
        behind = sum(max(0, c.head - c.seen) for c in self.convs.values())
        if behind:
            self._live = False
            self._event(ev.ConnectionChanged(state=ev.ConnState.CATCHING_UP, behind=behind,
                                             detail=f"catching up: {behind} behind"))
        elif not self._live and self.joined and self._synced:
            self._live = True
            self._event(ev.ConnectionChanged(state=ev.ConnState.LIVE))

    def _on_history(self, what: str, ctx: Any, page: p.HistoryPage) -> None:
        if what == "show_history":
            for m in page.messages:     # lines as they read now: the changes in the page are in them already
                if m.kind not in CHANGES:
                    self._deliver_one(self.convs.get(page.conv), m, history=True)
            if not page.messages:
                self._event(ev.Info(text="no history here yet"))
            return
        conv = self.convs.get(page.conv)
        if conv is None:
            return
        conv.fetching = False
        conv.head = max(conv.head, page.head_seq)
        for m in page.messages:
            if m.seq == conv.seen + 1:
                self._deliver(conv, m)
        self._drain_buffer(conv)
        if page.complete and not page.messages:
            conv.head = max(conv.seen, page.head_seq)
        self._catch_up(conv)
        self._missed_attention(conv)
        self._report_progress()

    def receive_published(self, topic: bytes, frame: bytes, now: float) -> None:
        """A sealed frame from the SUB: opened with the scope's key (or kept until its key comes)."""
        self.last_heard = self.last_published = now
        payload = self.keys.open_or_keep(topic, frame)
        if payload is not None:
            self._published(topic, payload)

    def _published(self, topic: bytes, data: bytes) -> None:
        """An opened frame: one or more messages for ``topic``, in order (p.unbundle)."""
        for part in p.unbundle(data):
            try:
                msg = p.decode_published(part)
            except p.ProtocolError:
                continue    # a newer broker's message this client does not know: ignore it
            self._published_one(topic, msg)

    def _published_one(self, topic: bytes, msg: p.Published) -> None:
        if isinstance(msg, p.Message):
            self._on_message(msg)
        elif isinstance(msg, p.Heartbeat):
            if topic == p.TOPIC_HEARTBEAT and not self._synced:
                self._synced = True
                self._report_progress()
            for key, head in msg.heads.items():
                # a DM someone started while our subscription was not in yet: its first line was lost
                # with nobody to tell us, but its heartbeat names it (on our own topic)
                conv = self.convs.get(key) or (self._new_conv(key) if p.conv_kind(key) == p.ConvKind.DM else None)
                if conv is not None and head > conv.head:
                    conv.head = head
                    self._catch_up(conv)
        elif isinstance(msg, p.Presence):
            for c in msg.changes:
                self._event(ev.PresenceChanged(name=c.name, state=c.state, reason=c.reason, status=c.status or ""))
                if p.canonical(c.name) == self.user and c.state in set(p.ChosenState):
                    self._own_status(c.state, c.status or "", idle=c.reason == p.PresenceReason.IDLE)
        elif isinstance(msg, p.Invited):
            self._event(ev.Invited(group=msg.group, by=msg.by))
        elif isinstance(msg, p.TypingNotice):
            self._typing_seen(msg, self.last_published)
        elif isinstance(msg, p.Seen) and msg.conv in self.convs:
            self._seen(self.convs[msg.conv], msg.name, msg.seq)

    def _on_message(self, m: p.Message) -> None:
        conv = self.convs.get(m.conv)
        if conv is None and m.conv in self.left_convs:
            return              # the group's own "left" line, published after our leave was confirmed
        if conv is None:        # a new DM, or a group this session joined elsewhere
            conv = self._new_conv(m.conv)
        conv.head = max(conv.head, m.seq)
        if m.seq <= conv.seen or not self.joined:
            return
        if conv.typing and m.kind in p.LINE_KINDS:
            self._typing_stopped(conv, m.sender)
        if m.seq == conv.seen + 1 and not conv.fetching:
            self._deliver(conv, m)
            self._drain_buffer(conv)
        else:                   # a gap: keep it, fetch what is missing
            conv.buffer[m.seq] = m
            self._catch_up(conv)

    def _new_conv(self, key: str) -> ConvState:
        conv = self.convs[key] = ConvState(key, p.conv_kind(key), self._title_for(key))
        self._conv_list()
        return conv

    def _drain_buffer(self, conv: ConvState) -> None:
        for seq in sorted(conv.buffer):
            m = conv.buffer.pop(seq)
            if seq == conv.seen + 1:
                self._deliver(conv, m)

    def _deliver(self, conv: ConvState, m: p.Message) -> None:
        conv.seen = m.seq
        if m.kind in CHANGES:           # not a line of its own: it changes the line it names
            self._apply_change(conv, m)
            return
        if conv.conv in self.closed:    # a closed view opens again for a new line (it kept its seq)
            self.closed.discard(conv.conv)
            self._conv_list()
        if m.kind == p.MessageKind.EVENT and conv.kind == p.ConvKind.GROUP:
            self._event_line(conv, m)
        e = self._deliver_one(conv, m, missed=m.seq <= conv.missed_upto)
        if e is None or not (e.mention or (not e.own and e.kind in p.LINE_KINDS)):
            return
        # a line read on another device (or while on screen) is not unread here
        if conv.conv != self.current and m.seq > conv.read_sent:
            conv.unread += 1
            conv.mentions += e.mention
            self._conv_list()
        if e.mention and m.seq > conv.read_sent:
            self._attention(conv, e)

    def _deliver_one(self, conv: ConvState | None, m: p.Message, missed: bool = False,
                     history: bool = False) -> ev.MessageReceived | None:
        e = self._line_event(conv, m, missed, history)
        self._event(e)
        if e.own and m.cmid in self.outbox:
            self._settle(m.cmid, m.seq)
        return e

    def _title_for(self, key: str) -> str:
        return p.conv_title(key, self.user)

