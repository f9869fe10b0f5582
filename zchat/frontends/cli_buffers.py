"""The full-screen terminal client's buffers: one per conversation, as WeeChat and irssi have them.

A :class:`Buffer` holds the lines of one conversation received in this run (plus history
fetched from the broker, merged in seq order, each seq once) and its own scroll position.
:class:`Buffers` numbers them (everyone is 1), knows which one is on screen, and keeps the
activity list (WeeChat's hotlist) from the core's unread counts: a line is unread if it arrived
while its conversation was not on screen, until it is shown here or on another device of the
account. Pure code: no terminal.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from zchat import events as ev
from zchat.frontends.cli_view import MISSED_WORDS
from zchat.frontends.text import conv_label

MAX_LINES = 5000        # per buffer; the oldest go first (the broker keeps them all)
EVERYONE = "all"


class LineKind(StrEnum):
    MSG = "msg"              # a chat line
    ACTION = "action"        # /me: "* alice waves"
    MEMBERSHIP = "membership"  # someone joined, left or created a group: dimmed, hideable
    PRESENCE = "presence"    # someone came, went or lost the link: dimmed, hideable
    INFO = "info"            # a command's outcome, a list, the connection's state
    ERROR = "error"
    MARKER = "marker"        # "messages you missed while away"

    @property
    def is_join(self) -> bool:
        return self in (LineKind.MEMBERSHIP, LineKind.PRESENCE)


@dataclass(slots=True)
class Line:
    kind: LineKind
    text: str
    ts: float = field(default_factory=time.time)
    sender: str = ""
    seq: int = 0             # 0: not a message of the conversation (info, presence, marker)
    own: bool = False
    mention: bool = False    # names you
    missed: bool = False     # sent while you were away
    history: bool = False    # fetched from the broker's history, not received live
    arrow: str = ""          # for presence lines: "-->" arriving, "<--" going
    quote: str = ""          # a reply: "↳ bob: the start of the line it answers"
    edited: bool = False
    deleted: bool = False    # a tombstone: drawn as "message deleted"
    reactions: ev.Reactions = ()
    notified: bool = False   # it rang the bell (a mention or a DM while not on do-not-disturb)
    found: bool = False      # the search hit Alt+G jumped to


class Buffer:
    """One conversation's lines and scroll position (``anchor``: index of the lowest line shown,
    None to follow the newest)."""

    def __init__(self, conv: str, kind: str, title: str, private: bool = False) -> None:
        self.conv, self.kind, self.title, self.private = conv, kind, title, private
        self.lines: list[Line] = []
        self.seqs: set[int] = set()
        self.unread = 0
        self.mentions = 0             # of the unread lines, those for you (the core counts them)
        self.topic = ""
        self.typing: dict[str, None] = {}   # who is typing here now, in the order they started
        self.seen_seq = 0             # your last line here, and who has read it ("seen by carol, dave")
        self.seen_names: tuple[str, ...] = ()
        self.target = 0               # a search hit to scroll to once its line is here (Alt+G)
        self.history_asked = False
        self.anchor: int | None = None
        self.widest = 0               # the longest sender name, for the name column
        self._marked_missed = False

    @property
    def label(self) -> str:
        return conv_label(self.conv, self.title)

    def messages(self) -> int:
        return len(self.seqs)

    def line_at(self, seq: int) -> Line | None:
        """The line with this seq, if this buffer holds it (newest first: changes are mostly recent)."""
        if seq not in self.seqs:
            return None
        return next((line for line in reversed(self.lines) if line.seq == seq), None)

    def show_line(self, seq: int, after: int) -> bool:
        """Scroll so line ``seq`` is on screen with up to ``after`` lines below it; False if it is not here."""
        for i, line in enumerate(self.lines):
            if line.seq == seq:
                end = min(i + after, len(self.lines) - 1)
                self.anchor = end if end < len(self.lines) - 1 else None
                return True
        return False

    def add(self, line: Line) -> bool:
        """Add ``line`` where its seq belongs; False (and nothing changes) if that seq is here already."""
        if line.seq:
            if line.seq in self.seqs:
                return False
            self.seqs.add(line.seq)
        if line.kind == LineKind.MSG:
            self.widest = max(self.widest, len(line.sender))
        index = self._position(line)
        self._insert(index, line)
        if line.missed and not self._marked_missed:
            self._marked_missed = True
            self._insert(index, Line(LineKind.MARKER, MISSED_WORDS, line.ts))
        if len(self.lines) > MAX_LINES:
            self._drop(len(self.lines) - MAX_LINES)
        return True

    def _position(self, line: Line) -> int:
        """Where ``line`` goes: messages in seq order, so an older seq that comes late (history) goes
        right after the message before it, or at the top, above this run's notes."""
        if not line.seq:
            return len(self.lines)
        newer = False
        for i in range(len(self.lines) - 1, -1, -1):
            seq = self.lines[i].seq
            if seq and seq < line.seq:
                return i + 1 if newer or line.history else len(self.lines)
            newer = newer or seq > line.seq
        return 0 if newer or line.history else len(self.lines)

    def _insert(self, index: int, line: Line) -> None:
        self.lines.insert(index, line)
        if self.anchor is not None and index <= self.anchor:
            self.anchor += 1            # what is on screen stays on screen

    def _drop(self, count: int) -> None:
        for line in self.lines[:count]:
            self.seqs.discard(line.seq)
        del self.lines[:count]
        if self.anchor is not None:
            self.anchor = max(0, self.anchor - count)

    # ---------------------------------------------------------------- scrolling, in screen rows
    def scroll(self, rows: int, height: int, rows_of: Callable[[Line], int]) -> None:
        """Move the view by ``rows`` screen rows (negative: up, to older lines); ``rows_of(line)`` is how
        many rows a line takes (0 if hidden); the top stops with the first line at the top of a
        ``height``-row screen, the bottom goes back to following the newest line."""
        if not self.lines:
            return
        start = bottom = len(self.lines) - 1 if self.anchor is None else self.anchor
        moved = 0
        if rows < 0:
            while bottom > 0 and moved < -rows:
                moved += rows_of(self.lines[bottom])
                bottom -= 1
            bottom = max(bottom, min(self._first_full(height, rows_of), start))   # the top stays filled
        else:
            while bottom < len(self.lines) - 1 and moved < rows:
                bottom += 1
                moved += rows_of(self.lines[bottom])
        self.anchor = bottom if bottom < len(self.lines) - 1 else None

    def _first_full(self, height: int, rows_of: Callable[[Line], int]) -> int:
        """The first line that, with those above it, fills a ``height``-row screen (the last if none does)."""
        total = 0
        for i, line in enumerate(self.lines):
            total += rows_of(line)
            if total >= height:
                return i
        return len(self.lines) - 1

    def below(self, shown: Callable[[Line], bool]) -> int:
        """How many shown lines are below the view (WeeChat's -MORE(n)-)."""
        if self.anchor is None:
            return 0
        return sum(1 for line in self.lines[self.anchor + 1:] if shown(line))


class Hot(NamedTuple):
    """One entry of the activity list."""
    number: int
    label: str
    unread: int
    mentions: int

    @property
    def highlight(self) -> bool:
        return self.mentions > 0


class Buffers:
    """Every open conversation's buffer, numbered, with the one on screen and the activity list."""

    def __init__(self) -> None:
        self.order: list[str] = [EVERYONE]
        self.by_conv: dict[str, Buffer] = {EVERYONE: Buffer(EVERYONE, ev.ConvKind.EVERYONE, "everyone")}
        self.current = EVERYONE

    @property
    def shown(self) -> Buffer:
        return self.by_conv[self.current]

    def get(self, conv: str, title: str = "") -> Buffer:
        """The buffer of ``conv``, opened (numbered last) if it is new."""
        buf = self.by_conv.get(conv)
        if buf is None:
            buf = self.by_conv[conv] = Buffer(conv, ev.conv_kind(conv), title or conv)
            self.order.append(conv)
        return buf

    def sync(self, conversations: Iterable[ev.Conversation], current: str | None = None) -> None:
        """Follow the core's conversation list: new ones open, closed ones go (everyone stays),
        ``current`` is shown, and each buffer's unread count is the core's (which clears when the
        conversation is shown here or read on another device of the account)."""
        listed = {c.conv: c for c in conversations}
        for c in listed.values():
            buf = self.get(c.conv, c.title)
            buf.title, buf.private, buf.unread, buf.mentions, buf.topic = (c.title, c.private, c.unread, c.mentions,
                                                                           c.topic)
        for conv in [c for c in self.order if c not in listed and c != EVERYONE]:
            self.order.remove(conv)
            del self.by_conv[conv]
        if current in self.by_conv:
            self.current = current
        elif self.current not in self.by_conv:
            self.current = EVERYONE
        self.shown.unread = self.shown.mentions = 0

    def add(self, conv: str, line: Line, title: str = "") -> bool:
        """Add a line to ``conv``'s buffer; False if it was a duplicate."""
        return self.get(conv, title).add(line)

    def number(self, conv: str) -> int:
        return self.order.index(conv) + 1

    def at(self, number: int) -> str | None:
        """The conversation numbered ``number`` (1 is everyone), None if there is none."""
        return self.order[number - 1] if 1 <= number <= len(self.order) else None

    def neighbour(self, step: int) -> str:
        """The conversation ``step`` places after the one on screen, going round."""
        return self.order[(self.order.index(self.current) + step) % len(self.order)]

    def hotlist(self) -> list[Hot]:
        return [Hot(n, buf.label, buf.unread, buf.mentions)
                for n, buf in enumerate((self.by_conv[c] for c in self.order), start=1) if buf.unread]

    def hottest(self) -> str | None:
        """The buffer to jump to next (Alt+A): the lowest-numbered one that names you, else with unread lines."""
        hot = sorted(self.hotlist(), key=lambda h: (not h.highlight, h.number))
        return self.at(hot[0].number) if hot else None


def hot_entry(h: Hot) -> str:
    """``1:everyone(3 @1)``: number, conversation, unread lines and, after ``@``, how many of them are
    for you (they name you, or it is a DM), counted apart."""
    return f"{h.number}:{h.label}({h.unread}{f' @{h.mentions}' if h.mentions else ''})"


def hotlist_text(hot: list[Hot]) -> str:
    """The activity list as the status bar shows it: ``[2:#dev(3) 3:@bob(1 @1)]``, "" when empty."""
    return "[" + " ".join(map(hot_entry, hot)) + "]" if hot else ""
