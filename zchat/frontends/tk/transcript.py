"""One conversation's lines as the Tk client keeps them: pure, no tkinter.

Lines stay in seq order whatever order they come in: /history lines older than what is
shown go above it (and above the "missed" marker), lines already shown are not added twice,
and a line typed here is drawn at once (sending…) and becomes the broker's line when that
arrives. Every change returns an :data:`Edit` so the message view can mirror it without
redrawing everything.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Literal

from zchat.events import SendState
from zchat.frontends.tk.format import MISSED_MARKER, Line

MAX_LINES = 1000      # lines kept per conversation; the oldest go first

# ("append", line) | ("insert", index, line) | ("replace", index, line) | ("delete", index) | ("trim", count)
Edit = (tuple[Literal["append"], Line] | tuple[Literal["insert", "replace"], int, Line]
        | tuple[Literal["delete", "trim"], int])


class Transcript:
    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.lines: list[Line] = []
        self.max_lines = max_lines
        self.marked = False           # the missed marker is in (it is drawn once per conversation)

    def __iter__(self) -> Iterator[Line]:
        return iter(self.lines)

    def __len__(self) -> int:
        return len(self.lines)

    def _has(self, seq: int) -> bool:
        return seq > 0 and any(line.seq == seq and line.style != "marker" for line in self.lines)

    def _trim(self, edits: list[Edit]) -> list[Edit]:
        extra = len(self.lines) - self.max_lines
        if extra > 0:
            del self.lines[:extra]
            edits.append(("trim", extra))
        return edits

    def append(self, line: Line) -> list[Edit]:
        self.lines.append(line)
        return self._trim([("append", line)])

    def add(self, line: Line, missed: bool = False) -> list[Edit]:
        """A live or caught-up line; the first missed one gets the marker above it; one already
        shown (by /history) is not drawn again."""
        if self._has(line.seq):
            return []
        edits: list[Edit] = []
        if missed and not self.marked:
            self.marked = True
            edits += self.append(Line("marker", MISSED_MARKER, seq=line.seq))
        return edits + self.append(line)

    def add_history(self, line: Line) -> list[Edit]:
        """A /history line: in seq order (above the marker when older than the missed ones); [] when shown."""
        if self._has(line.seq):
            return []
        for i, other in enumerate(self.lines):
            if other.seq > line.seq:
                self.lines.insert(i, line)
                return self._trim([("insert", i, line)])
        return self.append(line)

    # ---------------------------------------------------------------- own messages
    def _find_cmid(self, cmid: str) -> int | None:
        for i in range(len(self.lines) - 1, -1, -1):
            if self.lines[i].cmid == cmid:
                return i
        return None

    def set_status(self, cmid: str, state: str, reason: str = "", seq: int = 0) -> list[Edit]:
        """A SendStatus for a line typed here. A "sent" line whose broker copy is drawn already goes."""
        i = self._find_cmid(cmid)
        if i is None:
            return []
        line = self.lines[i]
        if state == SendState.SENT and line.status == SendState.SENDING and self._has(seq) and line.seq != seq:
            del self.lines[i]          # the broker's copy came first and is drawn: this one is a duplicate
            return [("delete", i)]
        line = replace(line, status=state, reason=reason, seq=seq or line.seq)
        self.lines[i] = line
        return [("replace", i, line)]

    def settle_own(self, line: Line) -> list[Edit] | None:
        """The broker's copy of an own line: it takes the place of the line drawn at send time
        (matched by seq, else the oldest unsent one with the same text); None when there is none."""
        for i, other in enumerate(self.lines):
            if other.cmid and (other.seq == line.seq or (other.seq == 0 and other.status == SendState.SENDING
                                                         and other.text == line.text)):
                self.lines[i] = replace(line, cmid=other.cmid, status=SendState.SENT)
                return [("replace", i, self.lines[i])]
        return None

    # ---------------------------------------------------------------- lines that change
    def find(self, seq: int) -> int | None:
        """The row of the chat line ``seq`` (newest first: changes are mostly to recent lines)."""
        for i in range(len(self.lines) - 1, -1, -1):
            if self.lines[i].seq == seq and self.lines[i].style != "marker":
                return i
        return None

    def change(self, seq: int, how: Callable[[Line], Line]) -> list[Edit]:
        """Line ``seq`` redrawn as ``how`` makes it (an edit, a deletion, a reaction): that row only."""
        i = self.find(seq)
        if i is None:
            return []
        line = how(self.lines[i])
        if line == self.lines[i]:
            return []
        self.lines[i] = line
        return [("replace", i, line)]

    def set_seen(self, seq: int, names: tuple[str, ...]) -> list[Edit]:
        """"seen by ..." under line ``seq`` only (taken off the line that had it before)."""
        edits: list[Edit] = []
        for i, line in enumerate(self.lines):
            if line.seen and line.seq != seq:
                self.lines[i] = replace(line, seen=())
                edits.append(("replace", i, self.lines[i]))
        return edits + self.change(seq, lambda line: replace(line, seen=names))

    def remove(self, cmid: str) -> tuple[Line | None, list[Edit]]:
        i = self._find_cmid(cmid)
        if i is None:
            return None, []
        return self.lines.pop(i), [("delete", i)]
