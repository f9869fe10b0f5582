"""The panes of the main window: conversation list, member list, invitation bar, status bar.

Each is a ttk widget that draws what it is given and reports clicks through callbacks; none
of them knows about the client or the network. The message view is :mod:`.messageview`.
"""
from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable, Iterable
from functools import partial
from tkinter import ttk

from tktooltip import ToolTip

from zchat import events as ev
from zchat.frontends.text import STATE_WORDS, clean
from zchat.frontends.tk.format import COLORS, STATE_ICON, conv_label, state_words

STATE_COLORS = {"online": COLORS["ok"], "away": COLORS["busy"], "dnd": COLORS["bad"], "lost": "#bc4c00",
                "offline": "#8c959f", "unknown": "#8c959f"}

Menu = Callable[[str, tk.Event], None]


class ConversationList(ttk.Frame):
    """everyone, the groups and the DMs, each with its unread count and, after an "@", how many of
    those mention this user (a DM's all do); a click picks one, a
    right-click asks ``on_menu(conv, event)``."""

    def __init__(self, master: tk.Misc, on_pick: Callable[[str], None], on_menu: Menu) -> None:
        super().__init__(master)
        self.on_pick, self.on_menu = on_pick, on_menu
        ttk.Label(self, text="Conversations", style="Pane.TLabel").grid(row=0, column=0, sticky="ew")
        self.tree = ttk.Treeview(self, columns=("unread",), show="tree", selectmode="browse", height=4)
        self.tree.column("#0", width=112, minwidth=60, stretch=True)
        self.tree.column("unread", width=52, minwidth=24, anchor="e", stretch=False)
        bold = tkfont.nametofont("TkDefaultFont").copy()
        bold.configure(weight="bold")
        self._bold = bold
        self.tree.tag_configure("unread", font=bold)
        self.tree.tag_configure("mention", font=bold, foreground=COLORS["bad"])
        self.tree.grid(row=1, column=0, sticky="nsew")
        self.rowconfigure(1, weight=1)
        self.columnconfigure(0, weight=1)
        self.tree.bind("<<TreeviewSelect>>", self._picked)
        self.tree.bind("<Button-3>", self._right_click)
        self._drawing = False

    def show(self, convs: Iterable[ev.Conversation], current: str) -> None:
        self._drawing = True
        try:
            order: dict[str, int] = {ev.ConvKind.EVERYONE: 0, ev.ConvKind.GROUP: 1, ev.ConvKind.DM: 2}
            items = sorted(convs, key=lambda c: (order.get(c.kind, 3), c.title.lower()))
            wanted = [c.conv for c in items]
            for iid in self.tree.get_children():
                if iid not in wanted:
                    self.tree.delete(iid)
            for i, c in enumerate(items):
                text = conv_label(c.conv, c.title) + (" (private)" if c.private and c.kind == ev.ConvKind.GROUP else "")
                values = ((str(c.unread) if c.unread else "") + (f" @{c.mentions}" if c.mentions else ""),)
                tags = ("mention",) if c.mentions else ("unread",) if c.unread else ()
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

    def _right_click(self, e: tk.Event) -> str:
        conv = self.tree.identify_row(e.y)
        if conv:
            self.on_menu(conv, e)
        return "break"


class MemberList(ttk.Frame):
    """Users of the current conversation: online, away (with its text: "away: lunch", also in a
    tooltip), do not disturb, lost connection, offline, each with its own symbol and colour
    ("unknown" while this client is offline). Double-click: ``on_open(name)``; right-click:
    ``on_menu(name, event)``."""

    def __init__(self, master: tk.Misc, on_open: Callable[[str], None], on_menu: Menu) -> None:
        super().__init__(master)
        self.on_open, self.on_menu = on_open, on_menu
        self.title = ttk.Label(self, text="People", style="Pane.TLabel")
        self.title.grid(row=0, column=0, sticky="ew")
        self.tree = ttk.Treeview(self, columns=("state",), show="tree", selectmode="browse", height=4)
        words = max(tkfont.nametofont("TkDefaultFont").measure(w) for w in STATE_WORDS.values())
        self.tree.column("#0", width=80, minwidth=60, stretch=True)
        self.tree.column("state", width=words + 10, minwidth=60, stretch=False)
        for state, color in STATE_COLORS.items():
            self.tree.tag_configure(state, foreground=color)
        self.tooltip = ToolTip(self.tree, msg=self.hover_text, delay=0.4)
        self.tree.grid(row=1, column=0, sticky="nsew")
        self.rowconfigure(1, weight=1)
        self.columnconfigure(0, weight=1)
        self.tree.bind("<Configure>", self._fit)
        self.tree.bind("<Double-Button-1>", lambda e: self._call(self.on_open, e))
        self.tree.bind("<Button-3>", lambda e: self._call(self.on_menu, e, e))

    def _fit(self, e: tk.Event) -> None:
        """A narrow pane shows the state by its symbol and colour alone, so names are not cut."""
        state = int(self.tree.column("state", "width"))
        narrow = e.width < state + 110
        self.tree.configure(displaycolumns=() if narrow else ("state",))
        self.tree.column("#0", width=max(60, e.width - (0 if narrow else state) - 4))

    def _call(self, fn: Callable[..., None], e: tk.Event, *extra: object) -> str:
        name = self.tree.identify_row(e.y)
        if name:
            self.tree.selection_set(name)
            fn(name, *extra)
        return "break"

    def show(self, title: str, users: dict[str, str], offline: bool = False,
             statuses: dict[str, str] | None = None) -> None:
        """``offline``: nobody's state is known while this client is disconnected; say so.
        ``statuses``: the text of a chosen state (away or do not disturb), by name."""
        self.title.configure(text=title)
        self.tree.delete(*self.tree.get_children())
        rank = {"online": 0, "away": 1, "dnd": 1, "lost": 2, "offline": 3}
        for name, state in sorted(users.items(), key=lambda u: (rank.get(u[1], 3), u[0].lower())):
            state = "unknown" if offline else state
            status = (statuses or {}).get(name, "") if state in ("away", "dnd") else ""
            self.tree.insert("", "end", iid=name, text=f"{STATE_ICON.get(state, '?')} {clean(name)}",
                             values=(state_words(state, status),), tags=(state,))

    def hover_text(self) -> str:
        """The tooltip: who is under the pointer and their state, with its text ("bob: away: lunch")."""
        name = self.tree.identify_row(self.tree.winfo_pointery() - self.tree.winfo_rooty())
        return f"{clean(name)}: {self.tree.item(name, 'values')[0]}" if name else "People: double-click to write"

    def rows(self) -> list[tuple[str, str]]:
        return [(i, self.tree.item(i, "values")[0]) for i in self.tree.get_children()]


class InviteBar(ttk.Frame):
    """Invitations waiting for an answer, the oldest shown: "carol invited you to #design
    [Accept] [Decline]". ``on_accept(group)`` joins; the bar hides when none is left."""

    def __init__(self, master: tk.Misc, on_accept: Callable[[str], None]) -> None:
        super().__init__(master, padding=(6, 4), style="Invite.TFrame")
        self.on_accept = on_accept
        self.waiting: list[tuple[str, str]] = []           # (group, by)
        self.label = ttk.Label(self, style="Invite.TLabel", wraplength=260)
        self.label.grid(row=0, column=0, sticky="w")
        self.accept = ttk.Button(self, text="Accept", width=7, command=self._accept)
        self.decline = ttk.Button(self, text="Decline", width=7, command=self._decline)
        self.accept.grid(row=0, column=1, padx=(6, 2))
        self.decline.grid(row=0, column=2)
        self.columnconfigure(0, weight=1)
        self.bind("<Configure>", self._wrap)

    def _wrap(self, e: tk.Event) -> None:
        buttons = self.accept.winfo_reqwidth() + self.decline.winfo_reqwidth()
        self.label.configure(wraplength=max(100, e.width - buttons - 30))

    def push(self, group: str, by: str) -> None:
        if group not in (g for g, _ in self.waiting):
            self.waiting.append((group, by))
        self._draw()

    def drop(self, group: str) -> None:
        """Forget an invitation that no longer needs an answer (the group was joined another way)."""
        self.waiting = [(g, b) for g, b in self.waiting if g != group]
        self._draw()

    def _draw(self) -> None:
        if not self.waiting:
            self.grid_remove()
            return
        group, by = self.waiting[0]
        more = f"   (+{len(self.waiting) - 1} more)" if len(self.waiting) > 1 else ""
        self.label.configure(text=f"✉ {clean(by)} invited you to the private group #{clean(group)}{more}")
        self.grid()

    def _accept(self) -> None:
        if self.waiting:
            group = self.waiting[0][0]
            self.drop(group)
            self.on_accept(group)

    def _decline(self) -> None:
        if self.waiting:
            self.drop(self.waiting[0][0])

    def text(self) -> str:
        return str(self.label.cget("text")) if self.waiting else ""


class StatusBar(ttk.Frame):
    """The connection state on the left ("catching up: N behind"), who you are on the right, and
    your own presence: a menu button ("● online ▾") whose choices call ``on_presence(state)``."""

    def __init__(self, master: tk.Misc, on_presence: Callable[[str], None] = lambda state: None) -> None:
        super().__init__(master, padding=(6, 2), style="Status.TFrame")
        self.state_label = ttk.Label(self, text="◌ connecting…", style="Status.TLabel")   # .state is ttk's
        self.state_label.grid(row=0, column=0, sticky="w")
        self.who = ttk.Label(self, text="", style="Status.TLabel", anchor="e")
        self.who.grid(row=0, column=1, sticky="e", padx=(12, 0))
        self.presence = ttk.Menubutton(self, text="● online ▾", style="Status.TLabel")
        self.presence_menu = tk.Menu(self.presence, tearoff=False)
        self.chosen = tk.StringVar(self, "online")
        for state in ("online", "away", "dnd"):
            self.presence_menu.add_radiobutton(label=f"{STATE_ICON[state]} {STATE_WORDS[state]}", value=state,
                                               variable=self.chosen, command=partial(on_presence, state))
        self.presence.configure(menu=self.presence_menu)
        self.presence.grid(row=0, column=2, sticky="e", padx=(8, 0))
        self.columnconfigure(0, weight=1)
        self._who = ("", "")
        self.bind("<Configure>", lambda e: self._draw_who())

    def set_who(self, name: str, endpoint: str) -> None:
        self._who = (name, endpoint)
        self._draw_who()

    def _draw_who(self) -> None:
        """The endpoint only where there is room: the connection state matters more."""
        name, endpoint = self._who
        wide = self.winfo_width() >= 900
        self.who.configure(text=f"you are {name}" + (f" · {endpoint}" if wide and endpoint else ""))

    def set_presence(self, state: str, text: str = "", idle: bool = False) -> None:
        """Your chosen presence as the broker has it (set here, on another device, or when idle)."""
        self.chosen.set(state)
        words = state_words(state, text) + (" (idle)" if idle else "")
        self.presence.configure(text=f"{STATE_ICON.get(state, '?')} {words} ▾")

    def presence_text(self) -> str:
        return str(self.presence.cget("text"))

    def set_state(self, text: str, level: str) -> None:
        self.state_label.configure(text=text, foreground=COLORS.get(level, "black"))

    def text(self) -> str:
        return str(self.state_label.cget("text"))
