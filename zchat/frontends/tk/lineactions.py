"""What the user does to one line: reply to it, react to it, edit or delete it (their own), and
telling the others they are typing.

A mixin of :class:`~.window.ChatWindow`. Reply and Edit (from a line's right-click menu) put a
bar above the entry ("↪ Replying to bob: …", "✎ Editing your message"); the next line typed
(not a slash command) goes as that reply or edit, and Escape or ✕ cancels. Every action is a
Client call that returns at once; the change comes back as events like anyone else's.
"""
from __future__ import annotations

import tkinter as tk

from zchat.frontends.tk.actions import Actions
from zchat.frontends.tk.format import Line

REACTIONS = ("👍", "❤️", "😂", "🎉", "😮", "👀")     # the right-click menu's; /react SEQ EMOJI takes any
QUOTE = 50


def short(text: str, size: int = QUOTE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[:size - 1] + "…"


class LineActions(Actions):
    def init_line_actions(self) -> None:
        self.composing: tuple[str, str, int] | None = None     # ("reply" | "edit", conv, seq)
        self.entry.bind("<KeyPress>", self._keyed, add="+")
        self.entry.bind("<Escape>", lambda e: self.cancel_compose(), add="+")

    def start_reply(self, line: Line) -> None:
        self._compose("reply", line, f"↪ Replying to {line.sender}: {short(line.text)}")

    def start_edit(self, line: Line) -> None:
        self._compose("edit", line, "✎ Editing your message (Enter saves, Escape cancels)")
        self.entry.delete(0, "end")
        self.entry.insert(0, " ".join(line.text.split("\n      ")))

    def _compose(self, how: str, line: Line, label: str) -> None:
        self.composing = (how, self.current, line.seq)
        self.compose_label.configure(text=label)
        self.compose_bar.grid()
        self.entry.focus_set()
        self.entry.icursor("end")

    def cancel_compose(self) -> None:
        if self.composing is not None and self.composing[0] == "edit":
            self.entry.delete(0, "end")
        self.composing = None
        self.compose_bar.grid_remove()

    def react(self, line: Line, emoji: str) -> None:
        self.client.react(line.seq, emoji, self.current)

    def delete_line(self, line: Line) -> None:
        self.client.delete(line.seq, self.current)

    def send_line(self) -> None:
        """A reply or an edit under way takes the typed line; anything else goes as before."""
        text = self.entry.get()
        if self.composing is None or not text.strip() or text.startswith("/"):
            super().send_line()
            return
        how, conv, seq = self.composing
        try:
            if how == "reply":
                self.client.reply(seq, text, conv)
            else:
                self.client.edit(text, seq, conv)
        except ValueError as exc:                    # too long, say: the text stays in the box
            self.show_notice(f"Not sent: {exc}. It is still in the box.")
            return
        self._took(text)
        self.composing = None
        self.compose_bar.grid_remove()

    def _keyed(self, e: tk.Event) -> None:
        """A key that types something, in a line that is not a command: the others see "typing…"
        (the core sends at most one notice every few seconds)."""
        if e.char and e.char.isprintable() and not (self.entry.get() or e.char).startswith("/"):
            self.client.typing(self.current)
