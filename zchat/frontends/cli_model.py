"""What the full-screen terminal client shows, fed one core event at a time.

:class:`ChatModel` sorts the events into per-conversation buffers (:mod:`cli_buffers`): chat
lines into their conversation, presence into everyone (and the DM with that user), a
command's outcome and the connection's news into the buffer on screen. The connection gets
one short line per change of state (lost, back, failed), never one per retry or catch-up
page: the status bar shows the details. Pure code: no terminal, no sockets.
"""
from __future__ import annotations

from enum import Enum

from zchat import events as ev
from zchat.frontends.cli_buffers import EVERYONE, Buffers, Line, LineKind
from zchat.frontends.cli_view import View
from zchat.frontends.text import clean, mentions, presence_phrase

HISTORY_FILL = 20       # a buffer opened with fewer messages than this gets history from the broker
HISTORY_COUNT = 50      # how many messages to ask for
ARRIVING = (ev.PresenceReason.JOINED, ev.PresenceReason.BACK)


class Link(Enum):
    """The connection as the user cares about it; only a change of this makes a line."""
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    FAILED = "failed"


LINK_OF = {ev.ConnState.CONNECTED: Link.UP, ev.ConnState.CATCHING_UP: Link.UP, ev.ConnState.LIVE: Link.UP,
           ev.ConnState.RECONNECTING: Link.DOWN, ev.ConnState.FAILED: Link.FAILED}


class ChatModel:
    """The buffers, the connection and the names seen; ``apply(event)`` updates them."""

    def __init__(self, hide_joins: bool = False, server: str | None = None) -> None:
        self.view = View(server)    # the name, users and groups seen (completion), the state in words
        self.buffers = Buffers()
        self.hide_joins = hide_joins
        self.link: Link | None = None
        self.live = False
        self.greeted = False
        self.left: str | None = None   # why the session ended, once it has

    @property
    def name(self) -> str | None:
        return self.view.name

    def shows(self, line: Line) -> bool:
        return not (self.hide_joins and line.kind.is_join)

    def note(self, lines: list[str], kind: LineKind = LineKind.INFO, conv: str | None = None) -> None:
        """Lines that are not chat: into ``conv``'s buffer, by default the one on screen."""
        for text in lines:
            self.buffers.add(conv or self.buffers.current, Line(kind, text))

    def apply(self, event: ev.Event) -> None:
        self.view.apply(event)      # its lines are for plain mode; here only its bookkeeping counts
        match event:
            case ev.MessageReceived():
                self._message(event)
            case ev.PresenceChanged():
                self._presence(event)
            case ev.ConversationsChanged(conversations=convs, current=current):
                self.buffers.sync(convs, current)
            case ev.Joined(name=name, conversations=convs):
                self.buffers.sync(convs)
                if not self.greeted:
                    self.greeted = True
                    self.note([f"joined as {clean(name)}"])
            case ev.ConnectionChanged():
                self._connection(event)
            case ev.JoinFailed() | ev.CommandFailed():
                self.note(self.view.notice(event), LineKind.ERROR)
            case ev.Invited() | ev.LinkCodeMade():         # for you to act on: its first line stands out
                first, *rest = self.view.notice(event)
                self.buffers.add(self.buffers.current, Line(LineKind.INFO, first, mention=True))
                self.note(rest)
            case ev.Left(reason=reason):
                self.left = clean(reason)
                self.note(self.view.notice(event))
            case _:
                self.note(self.view.notice(event))

    def _message(self, m: ev.MessageReceived) -> None:
        chat = m.kind == ev.MessageKind.MSG
        mention = chat and not m.own and mentions(m.text, self.name)
        line = Line(LineKind.MSG if chat else LineKind.MEMBERSHIP, clean(m.text, indent=0), m.ts, clean(m.sender),
                    m.seq, own=m.own, mention=mention, missed=m.missed, history=m.history)
        self.buffers.add(m.conv, line, m.title)

    def _presence(self, p: ev.PresenceChanged) -> None:
        arrow = "-->" if p.reason in ARRIVING else "<--"
        text = f"{clean(p.name)} {presence_phrase(p.reason)}"
        self.buffers.add(EVERYONE, Line(LineKind.PRESENCE, text, arrow=arrow))
        for buf in list(self.buffers.by_conv.values()):
            if buf.kind == ev.ConvKind.DM and buf.title.lower() == p.name.lower():
                buf.add(Line(LineKind.PRESENCE, text, arrow=arrow))

    def _connection(self, c: ev.ConnectionChanged) -> None:
        self.live = c.state == ev.ConnState.LIVE
        if c.state == ev.ConnState.CONNECTING:       # a redial while down is not news
            if self.link is None:
                self.link = Link.CONNECTING
                self.note([f"connecting to {clean(c.detail)}" if c.detail else "connecting"])
            return
        new = LINK_OF.get(c.state)
        if new is None or new == self.link:
            return
        old, self.link = self.link, new
        detail = clean(c.detail)
        if new == Link.DOWN:
            self.note([f"connection lost ({detail}); reconnecting" if old == Link.UP
                       else f"{detail or 'no answer'}; retrying"])
        elif new == Link.UP and self.greeted:
            self.note(["reconnected"])
        elif new == Link.FAILED:
            self.note([f"connection failed: {detail}"], LineKind.ERROR)

    def wants_history(self) -> str | None:
        """The conversation whose history to fetch now, if any: the one on screen when it holds
        little, once per run, when the link is live (so the catch-up of missed lines came first)."""
        buf = self.buffers.shown
        if not self.live or buf.history_asked or buf.messages() >= HISTORY_FILL or 1 in buf.seqs:
            return None
        buf.history_asked = True
        return buf.conv
