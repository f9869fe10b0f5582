"""Right-click menus: on a message, on a person, on a conversation.

One popup menu, refilled for what was clicked; every entry is a call on the window's own
actions, so a menu never does anything the keyboard and the menu bar cannot.
"""
from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from zchat.events import ConvKind, conv_kind
from zchat.frontends.text import clean
from zchat.frontends.tk.format import Line
from zchat.frontends.tk.lineactions import REACTIONS

if TYPE_CHECKING:
    from zchat.frontends.tk.window import ChatWindow


class ContextMenus:
    def __init__(self, win: ChatWindow) -> None:
        self.win = win
        self.popup = tk.Menu(win, tearoff=False)
        self.reactions = tk.Menu(self.popup, tearoff=False)    # React ▸ on a message

    def _post(self, entries: list[tuple[str, Callable[[], object] | None]], e: tk.Event) -> None:
        """``entries``: (label, action); an action None is a heading (disabled), "React" opens the
        reactions menu (filled in by the caller)."""
        if not entries:
            return
        self.popup.delete(0, "end")
        for label, action in entries:
            if label == "React":
                self.popup.add_cascade(label=label, menu=self.reactions)
            elif action is None:
                self.popup.add_command(label=label, state="disabled")
            else:
                self.popup.add_command(label=label, command=action)
        self.popup.tk_popup(e.x_root, e.y_root)

    def labels(self) -> list[str]:
        end = self.popup.index("end")
        return [] if end is None else [self.popup.entrycget(i, "label") for i in range(end + 1)]

    def message(self, line: Line | None, url: str, e: tk.Event) -> None:
        win = self.win
        entries: list[tuple[str, Callable[[], object] | None]] = []
        if url:
            entries += [("Open link", lambda: win.view.open_url(url)), ("Copy link", lambda: win.copy(url))]
        if line is not None and line.seq and line.style in ("msg", "own", "history"):
            entries += self._line_entries(line)
        if line is not None and line.style != "marker":
            entries.append(("Copy text", lambda: win.copy(line.text)))
            if line.sender and line.sender.lower() != win.name.lower():
                entries.append((f"Reply to {line.sender} in a direct message", lambda: win.open_dm(line.sender)))
            if line.status == "failed":
                entries.append(("Retry sending", lambda: win.retry(line)))
        self._post(entries, e)

    def _line_entries(self, line: Line) -> list[tuple[str, Callable[[], object] | None]]:
        """Reply, React ▸, and for your own line (or any line of a group you run) Edit and Delete;
        headed by the line's number, which /reply, /react, /edit and /delete take."""
        win = self.win
        mine = line.sender.lower() == win.name.lower()
        c = win.convs.get(win.current)
        runs = c is not None and c.role in ("owner", "admin")
        entries: list[tuple[str, Callable[[], object] | None]] = [(f"Message #{line.seq} from {line.sender}", None)]
        if line.deleted:
            return entries
        self.reactions.delete(0, "end")
        for emoji in REACTIONS:
            self.reactions.add_command(label=emoji, command=partial(win.react, line, emoji))
        entries += [("Reply", lambda: win.start_reply(line)), ("React", None)]
        if mine:
            entries.append(("Edit", lambda: win.start_edit(line)))
        if mine or runs:
            entries.append(("Delete", lambda: win.delete_line(line)))
        return entries

    def person(self, name: str, e: tk.Event) -> None:
        win = self.win
        entries: list[tuple[str, Callable[[], object] | None]] = []
        if name.lower() != win.name.lower():
            entries.append((f"Write to {clean(name)}", lambda: win.open_dm(name)))
            for conv, c in sorted(win.convs.items()):   # the groups this user is in (the broker refuses a member)
                if c.kind == ConvKind.GROUP and name not in win.members.get(conv, {}):
                    entries.append((f"Invite {clean(name)} to #{clean(c.title)}",
                                    partial(win.client.invite, name, c.title)))
        here = win.convs.get(win.current)              # a group this user runs: moderation (the broker checks)
        if (here is not None and here.kind == ConvKind.GROUP and here.role in ("owner", "admin")
                and name.lower() != win.name.lower() and name in win.members.get(win.current, {})):
            entries += [(f"Kick {clean(name)} from #{clean(here.title)}", partial(win.client.kick, name, here.title)),
                        (f"Ban {clean(name)} from #{clean(here.title)}", partial(win.client.ban, name, here.title))]
        entries.append(("Copy name", lambda: win.copy(name)))
        self._post(entries, e)

    def conversation(self, conv: str, e: tk.Event) -> None:
        win = self.win
        c = win.convs.get(conv)
        title = clean(c.title) if c else conv
        if conv_kind(conv) == ConvKind.GROUP:
            self._post([(f"Invite someone to #{title}…", lambda: win.ask_invite(conv)),
                        (f"Leave #{title}", lambda: win.close_conversation(conv))], e)
        elif conv_kind(conv) == ConvKind.DM:
            self._post([(f"Close the conversation with {title}", lambda: win.close_conversation(conv))], e)
