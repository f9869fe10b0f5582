"""The panes of the main window: conversation list, message view, member list, prompt bar,
status bar. Each is a ttk.Frame that draws what it is given and reports clicks through
callbacks; none of them knows about the client or the network.
"""
from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk
from typing import Callable, Iterable

from zchat import events as ev
from zchat.frontends.text import STATE_WORDS, clean, clock
from zchat.frontends.tk.format import STATE_ICON, Line, conv_label

MAX_VIEW_LINES = 1500      # lines kept in the Text widget; older ones are trimmed
COLORS = {"ok": "#1a7f37", "busy": "#9a6700", "bad": "#cf222e"}
SENDER_COLORS = ("#0550ae", "#8250df", "#953800", "#116329", "#a40e26", "#0a3069", "#6639ba")


class ConversationList(ttk.Frame):
    """everyone, the DMs and the groups, each with its unread count; a click picks one."""

    def __init__(self, master: tk.Misc, on_pick: Callable[[str], None]) -> None:
        super().__init__(master)
        self.on_pick = on_pick
        ttk.Label(self, text="Conversations", style="Pane.TLabel").pack(fill="x")
        self.tree = ttk.Treeview(self, columns=("unread",), show="tree", selectmode="browse", height=12)
        self.tree.column("#0", width=130, stretch=True)
        self.tree.column("unread", width=34, anchor="e", stretch=False)
        bold = tkfont.nametofont("TkDefaultFont").copy()
        bold.configure(weight="bold")
        self._bold = bold
        self.tree.tag_configure("unread", font=bold)
        self.tree.pack(fill="both", expand=True)
        self.tree.bind("<<TreeviewSelect>>", self._picked)
        self._drawing = False

    def show(self, convs: Iterable[ev.Conversation], current: str) -> None:
        self._drawing = True
        try:
            order = {"everyone": 0, "group": 1, "dm": 2}
            items = sorted(convs, key=lambda c: (order.get(c.kind, 3), c.title.lower()))
            wanted = [c.conv for c in items]
            for iid in self.tree.get_children():
                if iid not in wanted:
                    self.tree.delete(iid)
            for i, c in enumerate(items):
                text = conv_label(c.conv, c.title) + (" (private)" if c.private and c.kind == "group" else "")
                values = (str(c.unread) if c.unread else "",)
                tags = ("unread",) if c.unread else ()
                if self.tree.exists(c.conv):
                    self.tree.item(c.conv, text=text, values=values, tags=tags)
                    self.tree.move(c.conv, "", i)
                else:
                    self.tree.insert("", i, iid=c.conv, text=text, values=values, tags=tags)
            if self.tree.exists(current) and self.tree.selection() != (current,):
                self.tree.selection_set(current)
                self.tree.see(current)
        finally:
            self._drawing = False

    def _picked(self, _event: object) -> None:
        sel = self.tree.selection()
        if sel and not self._drawing:
            self.on_pick(sel[0])


class MessageView(ttk.Frame):
    """The current conversation's lines: time, sender, text; a marker where missed ones begin."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.title = ttk.Label(self, text="everyone", style="Title.TLabel")
        self.title.pack(fill="x")
        body = ttk.Frame(self)
        body.pack(fill="both", expand=True)
        self.text = tk.Text(body, wrap="word", state="disabled", width=60, height=20, padx=6, pady=4,
                            relief="flat", highlightthickness=0, background="white", cursor="arrow",
                            font="TkDefaultFont")
        bar = ttk.Scrollbar(body, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=bar.set)
        bar.pack(side="right", fill="y")
        self.text.pack(side="left", fill="both", expand=True)
        base = tkfont.nametofont("TkDefaultFont")
        bold, italic = base.copy(), base.copy()
        bold.configure(weight="bold")
        italic.configure(slant="italic")
        self._fonts = (bold, italic)
        t = self.text
        t.tag_configure("time", foreground="#6e7781")
        t.tag_configure("sender", font=bold)
        t.tag_configure("own", font=bold, foreground="#57606a")
        t.tag_configure("event", foreground="#6e7781", font=italic)
        t.tag_configure("info", foreground="#0969da")
        t.tag_configure("error", foreground=COLORS["bad"])
        t.tag_configure("history", foreground="#57606a")
        t.tag_configure("marker", foreground="#cf222e", justify="center", spacing1=4, spacing3=4)
        for i, color in enumerate(SENDER_COLORS):
            t.tag_configure(f"s{i}", foreground=color)
        self._pinned = True

    def _pieces(self, line: Line) -> list[object]:
        if line.style == "marker":
            return [line.text + "\n", ("marker",)]
        stamp = [clock(line.ts) + "  ", ("time",)] if line.ts is not None else []
        if line.style in ("msg", "own", "history"):
            color = f"s{sum(map(ord, line.sender.lower())) % len(SENDER_COLORS)}"
            who = ("own",) if line.style == "own" else ("sender", color)
            body = ("history",) if line.style == "history" else ()
            return [*stamp, line.sender, who, ": " + line.text + "\n", body]
        return [*stamp, line.text + "\n", (line.style,)]

    def begin(self) -> None:
        """Before appending a batch: stay at the bottom only if the user was there."""
        self._pinned = self.text.yview()[1] >= 0.999

    def append(self, line: Line) -> None:
        t = self.text
        t.configure(state="normal")
        t.insert("end-1c", *self._pieces(line))
        t.configure(state="disabled")

    def end(self) -> None:
        """After a batch: trim old lines, follow the bottom."""
        t = self.text
        extra = int(t.index("end-1c").split(".")[0]) - MAX_VIEW_LINES
        if extra > 0:
            t.configure(state="normal")
            t.delete("1.0", f"{extra + 1}.0")
            t.configure(state="disabled")
        if self._pinned:
            t.see("end")

    def show(self, title: str, lines: Iterable[Line]) -> None:
        self.title.configure(text=title)
        t = self.text
        t.configure(state="normal")
        t.delete("1.0", "end")
        for line in lines:
            t.insert("end-1c", *self._pieces(line))
        t.configure(state="disabled")
        t.see("end")

    def content(self) -> str:
        return self.text.get("1.0", "end-1c")


class MemberList(ttk.Frame):
    """Users of the current conversation, with online / lost connection / away."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master)
        self.title = ttk.Label(self, text="People", style="Pane.TLabel")
        self.title.pack(fill="x")
        self.tree = ttk.Treeview(self, columns=("state",), show="tree", selectmode="none", height=12)
        self.tree.column("#0", width=110, stretch=True)
        self.tree.column("state", width=112, stretch=False)
        for state, color in (("online", COLORS["ok"]), ("lost", COLORS["busy"]), ("away", "#8c959f")):
            self.tree.tag_configure(state, foreground=color)
        self.tree.pack(fill="both", expand=True)

    def show(self, title: str, users: dict[str, str]) -> None:
        self.title.configure(text=title)
        self.tree.delete(*self.tree.get_children())
        rank = {"online": 0, "lost": 1, "away": 2}
        for name, state in sorted(users.items(), key=lambda u: (rank.get(u[1], 3), u[0].lower())):
            self.tree.insert("", "end", text=f"{STATE_ICON.get(state, '?')} {clean(name)}",
                             values=(STATE_WORDS.get(state, state),), tags=(state,))

    def rows(self) -> list[tuple[str, str]]:
        return [(self.tree.item(i, "text")[2:], self.tree.item(i, "values")[0]) for i in self.tree.get_children()]


class PromptBar(ttk.Frame):
    """An inline question above the entry ("Direct message to:"): Enter answers, Escape cancels."""

    def __init__(self, master: tk.Misc, on_done: Callable[[], None]) -> None:
        super().__init__(master, padding=(4, 2))
        self.on_done = on_done
        self.label = ttk.Label(self)
        self.label.pack(side="left")
        self.entry = ttk.Entry(self, width=24)
        self.entry.pack(side="left", padx=4)
        self.private = tk.BooleanVar(self, False)
        self.check = ttk.Checkbutton(self, text="private (invite only)", variable=self.private)
        self.ok = ttk.Button(self, text="OK", width=5, command=self._ok)
        self.cancel = ttk.Button(self, text="Cancel", width=7, command=self.close)
        self.cancel.pack(side="right")
        self.ok.pack(side="right", padx=2)
        self.entry.bind("<Return>", lambda e: self._ok() or "break")
        self.entry.bind("<Escape>", lambda e: self.close() or "break")
        self._answer: Callable[[str, bool], None] | None = None

    def ask(self, question: str, answer: Callable[[str, bool], None], *, private_box: bool = False,
            before: tk.Misc | None = None) -> None:
        self.label.configure(text=question)
        self.entry.delete(0, "end")
        self.private.set(False)
        if private_box:
            self.check.pack(side="left", padx=4)
        else:
            self.check.pack_forget()
        self._answer = answer
        self.pack(fill="x", before=before) if before is not None else self.pack(fill="x")
        self.entry.focus_force()

    def _ok(self) -> None:
        text, answer = self.entry.get().strip(), self._answer
        if not text or answer is None:
            return
        self.close()
        answer(text, self.private.get())

    def close(self) -> None:
        self._answer = None
        self.pack_forget()
        self.on_done()

    @property
    def open(self) -> bool:
        return self._answer is not None


class StatusBar(ttk.Frame):
    """The connection state on the left ("catching up: N behind"), who you are on the right."""

    def __init__(self, master: tk.Misc) -> None:
        super().__init__(master, padding=(6, 2), style="Status.TFrame")
        self.state = ttk.Label(self, text="◌ connecting…", style="Status.TLabel")
        self.state.pack(side="left")
        self.who = ttk.Label(self, text="", style="Status.TLabel")
        self.who.pack(side="right")

    def set_state(self, text: str, level: str) -> None:
        self.state.configure(text=text, foreground=COLORS.get(level, "black"))

    def text(self) -> str:
        return str(self.state.cget("text"))
