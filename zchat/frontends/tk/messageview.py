"""The message view: one conversation's lines in a read-only Text, mirroring a Transcript.

Each transcript line is a row whose first Text line is remembered, so an edit (a /history
line inserted above, a "sending…" line settled, a trim) touches only its row, and a click
or right-click maps back to its row. A line that changes (edited, deleted, reacted to, "seen
by") is found by its seq among the rows and only its row is drawn again. Rows carry no tag of
their own: a tag per line made a trimming flood three times slower (1,000 tags in the Text's
B-tree; measured with bench/tk_latency.py). Links are tagged and open in the web browser; a
failed send offers "Retry" in place. It draws and reports; it never talks to the client.
"""
from __future__ import annotations

import bisect
import tkinter as tk
import tkinter.font as tkfont
import webbrowser
from collections.abc import Callable, Iterable
from tkinter import ttk

from zchat.frontends.text import clock
from zchat.frontends.tk.format import (
    COLORS,
    Line,
    mention_pieces,
    reaction_text,
    seen_text,
    split_links,
    status_suffix,
)
from zchat.frontends.tk.transcript import Edit

SENDER_COLORS = ("#0550ae", "#8250df", "#953800", "#116329", "#a40e26", "#0a3069", "#6639ba")
RETRY = "Retry"

Piece = tuple[str, tuple[str, ...]]     # text and its tags: what Text.insert takes, in pairs


def sender_tag(name: str) -> str:
    return f"s{sum(map(ord, name.lower())) % len(SENDER_COLORS)}"


class MessageView(ttk.Frame):
    """``on_retry(line)``: "Retry" clicked on a failed line; ``on_menu(line, url, event)``: a right-click
    (``line`` None between rows, ``url`` the link under the pointer or "")."""

    def __init__(self, master: tk.Misc, on_retry: Callable[[Line], None],
                 on_menu: Callable[[Line | None, str, tk.Event], None]) -> None:
        super().__init__(master)
        self.on_retry, self.on_menu = on_retry, on_menu
        self.open_url: Callable[[str], object] = webbrowser.open
        self.text = t = tk.Text(self, wrap="word", state="disabled", width=40, height=5, padx=6, pady=4,
                                relief="flat", highlightthickness=0, background="white", cursor="arrow",
                                font="TkDefaultFont")
        bar = ttk.Scrollbar(self, orient="vertical", command=t.yview)
        t.configure(yscrollcommand=bar.set)
        t.grid(row=0, column=0, sticky="nsew")
        bar.grid(row=0, column=1, sticky="ns")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        base = tkfont.nametofont("TkDefaultFont")
        bold, italic = base.copy(), base.copy()
        bold.configure(weight="bold")
        italic.configure(slant="italic")
        self._fonts = (bold, italic)
        t.tag_configure("time", foreground=COLORS["dim"])
        t.tag_configure("sender", font=bold)
        t.tag_configure("own", font=bold, foreground="#57606a")
        t.tag_configure("event", foreground=COLORS["dim"], font=italic)
        t.tag_configure("info", foreground="#0969da")
        t.tag_configure("error", foreground=COLORS["bad"])
        t.tag_configure("history", foreground="#57606a")
        t.tag_configure("marker", foreground=COLORS["bad"], justify="center", spacing1=4, spacing3=4)
        t.tag_configure("status", foreground=COLORS["dim"])
        t.tag_configure("failed", foreground=COLORS["bad"])
        t.tag_configure("quote", foreground="#57606a", font=italic, lmargin1=18, lmargin2=18)
        t.tag_configure("action", font=italic)
        t.tag_configure("deleted", foreground=COLORS["dim"], font=italic)
        t.tag_configure("edited", foreground=COLORS["dim"])
        t.tag_configure("reaction", background="#eaeef2", foreground="#24292f")
        t.tag_configure("seen", foreground=COLORS["dim"], justify="right")
        t.tag_configure("mention", background="#fff8c5")
        t.tag_configure("at", foreground="#0550ae", font=bold)
        t.tag_configure("found", background="#ddf4ff")
        t.tag_raise("found")
        for tag in ("link", "retry"):
            t.tag_configure(tag, foreground=COLORS["link"], underline=True)
            t.tag_bind(tag, "<Enter>", lambda e: t.configure(cursor="hand2"))
            t.tag_bind(tag, "<Leave>", lambda e: t.configure(cursor="arrow"))
        t.tag_bind("link", "<Button-1>", self._link_clicked)
        t.tag_bind("retry", "<Button-1>", self._retry_clicked)
        t.bind("<Button-3>", self._right_click)
        for i, color in enumerate(SENDER_COLORS):
            t.tag_configure(f"s{i}", foreground=color)
        self.rows: list[Line] = []
        self.starts: list[int] = []       # the Text line each row begins on (1-based)
        self._pinned = True

    # ---------------------------------------------------------------- drawing
    def _pieces(self, line: Line) -> list[Piece]:
        if line.style == "marker":
            return [(line.text + "\n", ("marker",))]
        row: tuple[str, ...] = ("mention",) if line.mention else ()     # on every piece of the row
        out: list[Piece] = [("  ↪ " + line.reply + "\n", ("quote", *row))] if line.reply else []
        out += [(clock(line.ts) + "  ", ("time", *row))] if line.ts is not None else []
        chat = line.style in ("msg", "own", "history")
        if chat:
            who = ("own",) if line.style == "own" else ("sender", sender_tag(line.sender))
            out += [("* " if line.action else "", ("action", *row)), (line.sender, (*who, *row)),
                    (" " if line.action else ": ", row)]
            base: tuple[str, ...] = ("history",) if line.style == "history" else ()
            base += ("action",) if line.action else ()
        else:
            base = (line.style,)
        base += row
        if line.deleted:
            out.append(("message deleted", ("deleted", *row)))
        else:
            out += self._body(line, base)
        if line.edited and not line.deleted:
            out.append(("  (edited)", ("edited", *row)))
        if line.status:
            out.append((status_suffix(line), ("failed",) if line.status == "failed" else ("status",)))
            if line.status == "failed":
                out.append((RETRY, ("retry",)))
        out.append(("\n", base))
        if line.reactions and not line.deleted:
            out.append(("      ", row))
            for emoji, names in line.reactions:
                out += [(reaction_text(emoji, names), ("reaction", *row)), ("   ", row)]
            out.append(("\n", row))
        if line.seen:
            out.append((f"      {seen_text(line.seen)}\n", ("seen", *row)))
        return out

    @staticmethod
    def _body(line: Line, base: tuple[str, ...]) -> list[Piece]:
        out: list[Piece] = []
        for piece, is_link in split_links(line.text):
            if is_link:
                out.append((piece, (*base, "link")))
                continue
            for part, at in mention_pieces(piece, line.mentions) if line.mentions else ((piece, False),):
                out.append((part, (*base, "at") if at else base))
        return out

    def _insert_row(self, i: int, line: Line) -> None:
        pieces = self._pieces(line)
        start = self.starts[i] if i < len(self.rows) else int(self.text.index("end-1c").split(".")[0])
        (chars, tags), *more = pieces
        self.text.insert(f"{start}.0", chars, tags, *(part for piece in more for part in piece))   # one Tk call
        n = sum(text.count("\n") for text, _ in pieces)
        for j in range(i, len(self.starts)):
            self.starts[j] += n
        self.rows.insert(i, line)
        self.starts.insert(i, start)

    def _delete_row(self, i: int) -> None:
        first, last = self.row_range(i)
        self.text.delete(first, last)
        del self.rows[i], self.starts[i]
        n = int(last.split(".")[0]) - int(first.split(".")[0])
        for j in range(i, len(self.starts)):
            self.starts[j] -= n

    def load(self, lines: Iterable[Line]) -> None:
        """Draw a whole conversation (on a switch), at the bottom."""
        t = self.text
        t.configure(state="normal")
        t.delete("1.0", "end")
        self.rows, self.starts = [], []
        for line in lines:
            self._insert_row(len(self.rows), line)
        t.configure(state="disabled")
        t.see("end")

    def begin(self) -> None:
        """Before a batch of edits: stay at the bottom only if the user was there."""
        self._pinned = self.text.yview()[1] >= 0.999

    def apply(self, edits: Iterable[Edit]) -> None:
        t = self.text
        t.configure(state="normal")
        for edit in edits:
            match edit:
                case ("append", line):
                    self._insert_row(len(self.rows), line)
                case ("insert", i, line):
                    self._insert_row(i, line)
                case ("replace", i, line):
                    self._delete_row(i)
                    self._insert_row(i, line)
                case ("delete", i):
                    self._delete_row(i)
                case ("trim", n):
                    for _ in range(min(n, len(self.rows))):
                        self._delete_row(0)
        t.configure(state="disabled")

    def end(self) -> None:
        if self._pinned:
            self.text.see("end")

    def see_row(self, i: int) -> None:
        if 0 <= i < len(self.starts):
            self.text.see(f"{self.starts[i]}.0")

    def row_range(self, i: int) -> tuple[str, str]:
        """The Text indices of row ``i`` (its quote, reactions and "seen by" included)."""
        end = self.starts[i + 1] if i + 1 < len(self.starts) else int(self.text.index("end-1c").split(".")[0])
        return f"{self.starts[i]}.0", f"{end}.0"

    def row_text(self, i: int) -> str:
        return self.text.get(*self.row_range(i))

    def find_row(self, seq: int) -> int | None:
        for i in range(len(self.rows) - 1, -1, -1):
            if self.rows[i].seq == seq and self.rows[i].style != "marker":
                return i
        return None

    def mark_found(self, seq: int) -> bool:
        """Show line ``seq`` (a search result) and mark it until the next one; False when it is not here."""
        i = self.find_row(seq)
        self.text.tag_remove("found", "1.0", "end")
        if i is None:
            return False
        self.text.tag_add("found", *self.row_range(i))
        self.text.see(self.row_range(i)[0])
        self._pinned = False
        return True

    # ---------------------------------------------------------------- reading and clicks
    def content(self) -> str:
        return self.text.get("1.0", "end-1c")

    def row_at(self, index: str) -> Line | None:
        line_no = int(self.text.index(index).split(".")[0])
        i = bisect.bisect_right(self.starts, line_no) - 1
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def url_at(self, index: str) -> str:
        if "link" not in self.text.tag_names(index):
            return ""
        found = self.text.tag_prevrange("link", f"{index} + 1c")
        return self.text.get(*found) if found else ""

    def links(self) -> list[str]:
        ranges = self.text.tag_ranges("link")
        return [self.text.get(a, b) for a, b in zip(ranges[::2], ranges[1::2], strict=True)]

    def _link_clicked(self, _e: tk.Event) -> str:
        url = self.url_at("current")
        if url:
            self.open_url(url)
        return "break"

    def _retry_clicked(self, _e: tk.Event) -> str:
        line = self.row_at("current")
        if line is not None and line.status == "failed":
            self.on_retry(line)
        return "break"

    def _right_click(self, e: tk.Event) -> str:
        index = f"@{e.x},{e.y}"
        self.on_menu(self.row_at(index), self.url_at(index), e)
        return "break"
