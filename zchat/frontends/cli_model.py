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
from zchat.frontends.text import being, clean, presence_text, quote

HISTORY_FILL = 20       # a buffer opened with fewer messages than this gets history from the broker
HISTORY_COUNT = 50      # how many messages to ask for
CONTEXT = 5             # lines around a search hit (Alt+G) that are fetched and shown below it
ARRIVING = (ev.PresenceReason.JOINED, ev.PresenceReason.BACK)
GOING = (ev.PresenceReason.LOST, ev.PresenceReason.LEFT, ev.PresenceReason.TIMED_OUT)
KIND_OF: dict[str, LineKind] = {ev.MessageKind.MSG: LineKind.MSG, ev.MessageKind.ME: LineKind.ACTION}


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
        self.status: tuple[str, str, bool] = ("online", "", False)   # my chosen presence: state, text, idle
        self.bells = 0                 # notifications not yet rung (the screen rings and resets this)
        self.hits: tuple[ev.SearchHit, ...] = ()   # the last search's results, newest first
        self.hit = -1                  # the one Alt+G last jumped to
        self._found: Line | None = None

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
            case ev.MessageChanged():
                self._changed(event)
            case ev.Notification():
                self._notified(event)
            case ev.Typing(conv=conv, name=name, active=active) if conv in self.buffers.by_conv:
                typing = self.buffers.by_conv[conv].typing
                if active:
                    typing[name] = None
                else:
                    typing.pop(name, None)
            case ev.ReadBy(conv=conv, seq=seq, names=names) if conv in self.buffers.by_conv:
                buf = self.buffers.by_conv[conv]
                buf.seen_seq, buf.seen_names = seq, names
            case ev.Typing() | ev.ReadBy():
                pass            # about a conversation that is not open here (yet): nothing to draw it in
            case ev.SearchResults(results=hits):
                self.hits, self.hit = hits, -1
                self.note(self.view.notice(event))
                if hits:
                    self.note(["Alt+G: show the next hit among the lines around it"])
            case ev.StatusChanged(state=state, text=text, idle=idle):
                self.status = (state, text, idle)
                self.note([f"you are {being(state, text, idle)}"])
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
        kind = KIND_OF.get(m.kind, LineKind.MEMBERSHIP)
        line = Line(kind, clean(m.text, indent=0), m.ts, clean(m.sender), m.seq, own=m.own,
                    mention=self._for_me(m.conv, m.mention, m.mentions), missed=m.missed, history=m.history,
                    quote=quote(m.reply_sender, m.reply_text) if m.reply_to else "", edited=m.edited,
                    deleted=m.deleted, reactions=m.reactions)
        self.buffers.add(m.conv, line, m.title)
        self.buffers.get(m.conv).typing.pop(m.sender, None)      # its line came: no longer typing

    def _for_me(self, conv: str, mention: bool, names: tuple[str, ...]) -> bool:
        """Highlight the line: the core says it is for me, and in a DM (where every line is) it names me."""
        return mention and (ev.conv_kind(conv) != ev.ConvKind.DM or (self.name or "").lower() in names)

    def _changed(self, c: ev.MessageChanged) -> None:
        """Redraw the line where it is (the screen is drawn from the buffers), and say what changed."""
        buf = self.buffers.get(c.conv, c.title)
        line = buf.line_at(c.seq)
        if line is not None:
            line.text, line.edited, line.deleted, line.reactions = clean(c.text, indent=0), c.edited, c.deleted, \
                c.reactions
            line.mention = self._for_me(c.conv, c.mention, c.mentions)
        buf.add(Line(LineKind.INFO, self.view.change_words(c)))

    def _notified(self, n: ev.Notification) -> None:
        """Ring the bell and mark the line (the activity list counts it as for you); lines for you that came
        while away are summed up in the buffer on screen."""
        self.bells += 1
        line = self.buffers.get(n.conv, n.title).line_at(n.seq)
        if line is not None and not n.missed:
            line.notified = True
        if n.missed:
            self.buffers.add(self.buffers.current, Line(LineKind.INFO, self.view.notification_words(n), mention=True))

    def next_hit(self) -> ev.SearchHit | None:
        """Alt+G: the next hit of the last search (round again after the last), to show among its lines."""
        if not self.hits:
            self.note(["no search results to go to: /search WORDS"])
            return None
        self.hit = (self.hit + 1) % len(self.hits)
        hit = self.hits[self.hit]
        self.buffers.get(hit.conv, hit.title).target = hit.seq
        return hit

    def settle_jump(self) -> None:
        """Scroll the buffer on screen to the hit Alt+G asked for, once that line is in it, and mark it."""
        buf = self.buffers.shown
        if not buf.target or not buf.show_line(buf.target, CONTEXT):
            return
        if self._found is not None:
            self._found.found = False
        self._found = buf.line_at(buf.target)
        if self._found is not None:
            self._found.found = True
        buf.target = 0

    def _presence(self, p: ev.PresenceChanged) -> None:
        arrow = "-->" if p.reason in ARRIVING else "<--" if p.reason in GOING else "--"
        text = presence_text(p.name, p.state, p.reason, p.status)
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
