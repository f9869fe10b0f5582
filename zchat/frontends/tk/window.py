"""The main window once joined: conversations, messages, people, the entry and the status bar.

:meth:`ChatWindow.apply` draws one event and :meth:`ChatWindow.flush` finishes a batch (the
conversation list, member list and status are redrawn once per batch, not once per event,
so a flood stays cheap). Everything the user does becomes a call on the Client, which
returns at once; nothing here waits for the network.
"""
from __future__ import annotations

import time
import tkinter as tk
from collections import deque
from tkinter import ttk
from typing import TYPE_CHECKING, Callable

from tktooltip import ToolTip

from zchat import events as ev
from zchat import commands
from zchat.commands import HELP
from zchat.protocol import group_key
from zchat.frontends.tk import format as fmt
from zchat.frontends.text import clean
from zchat.frontends.tk.format import Line
from zchat.frontends.tk.widgets import ConversationList, MemberList, MessageView, PromptBar, StatusBar

if TYPE_CHECKING:
    from zchat.client import Client

TRANSCRIPT_MAX = 1000     # lines kept per conversation
SHORTCUTS = """Keyboard shortcuts:
  Enter            send the line (slash commands work: /help lists them)
  Up / Down        recall lines you typed
  Ctrl+N           new direct message          Ctrl+G   create a group
  Ctrl+J           join a group                Ctrl+W   leave the current group
  Ctrl+PageUp/Ctrl+PageDown  previous / next conversation
  Alt+1 … Alt+9    go to conversation 1 … 9    Ctrl+Q   leave the chat (same as [EXIT])
  F1               this help                   Escape   back to the message entry"""


class ChatWindow(ttk.Frame):
    def __init__(self, master: tk.Misc, client: Client, on_quit: Callable[[], None]) -> None:
        super().__init__(master)
        self.client, self.on_quit = client, on_quit
        self.name = client.name or ""
        self.current = "all"
        self.convs: dict[str, ev.Conversation] = {"all": ev.Conversation(conv="all", kind="everyone", title="everyone")}
        self.transcripts: dict[str, deque[Line]] = {}
        self.marked: set[str] = set()                    # conversations whose missed marker is drawn
        self.presence: dict[str, str] = {}               # everyone: name -> online / lost / away
        self.members: dict[str, dict[str, str]] = {}     # group key -> its members
        self.auto_who = 0                                # /who answers we asked for (not printed)
        self.sent: list[str] = []                        # typed lines, for Up/Down
        self._recall = 0
        self.left_groups: set[str] = set()               # see apply(ConversationsChanged)
        self._want: str | None = None                    # a switch we asked for and the core has not confirmed
        self._dirty: set[str] = {"convs", "members"}
        self._drawn = False
        self._build()
        self._bind_keys()

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        top = self.winfo_toplevel()
        menu = tk.Menu(top, tearoff=False)
        chat = tk.Menu(menu, tearoff=False)
        chat.add_command(label="New direct message…", accelerator="Ctrl+N", command=self.ask_dm)
        chat.add_command(label="Create group…", accelerator="Ctrl+G", command=self.ask_create)
        chat.add_command(label="Join group…", accelerator="Ctrl+J", command=self.ask_join)
        chat.add_command(label="Leave this group", accelerator="Ctrl+W", command=self.leave_group)
        chat.add_separator()
        chat.add_command(label="Who is here", command=lambda: self.client.execute("/who"))
        chat.add_command(label="List groups", command=lambda: self.client.execute("/groups"))
        chat.add_separator()
        chat.add_command(label="Leave the chat", accelerator="Ctrl+Q", command=self.on_quit)
        helpm = tk.Menu(menu, tearoff=False)
        helpm.add_command(label="Commands", command=lambda: self._info(HELP))
        helpm.add_command(label="Keyboard shortcuts", accelerator="F1", command=lambda: self._info(SHORTCUTS))
        menu.add_cascade(label="Chat", menu=chat)
        menu.add_cascade(label="Help", menu=helpm)
        top.configure(menu=menu)
        self.menu, self.chat_menu = menu, chat

        self.status = StatusBar(self)
        self.status.pack(side="bottom", fill="x")
        self.status.who.configure(text=f"you are {self.name} · {self.client.endpoint}")
        panes = ttk.PanedWindow(self, orient="horizontal")
        panes.pack(fill="both", expand=True)
        self.conv_list = ConversationList(panes, self.pick)
        center = ttk.Frame(panes)
        self.member_list = MemberList(panes)
        panes.add(self.conv_list, weight=0)
        panes.add(center, weight=1)
        panes.add(self.member_list, weight=0)

        tools = ttk.Frame(center, padding=(2, 2))
        tools.pack(fill="x")
        self.buttons: dict[str, ttk.Button] = {}
        self.tooltips: dict[str, ToolTip] = {}
        for key, icon, tip, cmd in (("dm", "✉", "New direct message (Ctrl+N)", self.ask_dm),
                                    ("create", "✚", "Create a group (Ctrl+G)", self.ask_create),
                                    ("join", "⇥", "Join a group (Ctrl+J)", self.ask_join),
                                    ("leave", "⏏", "Leave this group (Ctrl+W)", self.leave_group),
                                    ("help", "?", "Commands and keyboard shortcuts (F1)",
                                     lambda: self._info(SHORTCUTS))):
            b = ttk.Button(tools, text=icon, width=3, command=cmd, style="Icon.TButton")
            b.pack(side="left", padx=1)
            self.buttons[key] = b
            self.tooltips[key] = ToolTip(b, msg=tip, delay=0.4)
        self.view = MessageView(center)
        self.view.pack(fill="both", expand=True)
        row = ttk.Frame(center, padding=(0, 4, 0, 0))
        row.pack(fill="x", side="bottom")
        self.entry = ttk.Entry(row)
        self.entry.pack(side="left", fill="x", expand=True)
        send = ttk.Button(row, text="➤", width=3, command=self.send_line, style="Icon.TButton")
        send.pack(side="right", padx=(4, 0))
        self.buttons["send"] = send
        self.tooltips["send"] = ToolTip(send, msg="Send (Enter)", delay=0.4)
        self.prompt = PromptBar(center, on_done=self.entry.focus_set)
        self._prompt_before = row

    def _bind_keys(self) -> None:
        top = self.winfo_toplevel()
        self.entry.bind("<Return>", lambda e: self.send_line() or "break")
        self.entry.bind("<KP_Enter>", lambda e: self.send_line() or "break")
        self.entry.bind("<Up>", lambda e: self._recall_line(-1) or "break")
        self.entry.bind("<Down>", lambda e: self._recall_line(1) or "break")
        keys: dict[str, Callable[[], object]] = {
            "<Control-n>": self.ask_dm, "<Control-g>": self.ask_create, "<Control-j>": self.ask_join,
            "<Control-w>": self.leave_group, "<Control-q>": self.on_quit, "<F1>": lambda: self._info(SHORTCUTS),
            "<Control-Prior>": lambda: self.step(-1), "<Control-Next>": lambda: self.step(1),
            "<Escape>": self._escape}
        for n in range(1, 10):
            keys[f"<Alt-Key-{n}>"] = lambda n=n: self.pick_index(n - 1)
        for seq, fn in keys.items():
            top.bind(seq, lambda e, fn=fn: fn() and None or "break")

    # ---------------------------------------------------------------- user actions
    def send_line(self) -> None:
        line = self.entry.get()
        if not line.strip():
            return
        self.entry.delete(0, "end")
        self.sent.append(line)
        self._recall = len(self.sent)
        try:
            cmd = commands.parse(line)
        except commands.CommandError:
            cmd = None
        if isinstance(cmd, commands.Quit):
            self.status.set_state("◌ leaving…", "busy")
        elif isinstance(cmd, (commands.JoinGroup, commands.CreateGroup)):
            self.left_groups.discard(group_key(cmd.group))
        self.client.execute(line)

    def _recall_line(self, step: int) -> None:
        if not self.sent:
            return
        self._recall = max(0, min(len(self.sent), self._recall + step))
        self.entry.delete(0, "end")
        if self._recall < len(self.sent):
            self.entry.insert(0, self.sent[self._recall])

    def _escape(self) -> None:
        if self.prompt.open:
            self.prompt.close()
        self.entry.focus_set()

    def ask_dm(self) -> None:
        self.prompt.ask("Direct message to:", lambda name, _p: self.client.switch("@" + name.lstrip("@")),
                        before=self._prompt_before)

    def ask_create(self) -> None:
        self.prompt.ask("Create group:", lambda g, private: self._group(g, private, create=True),
                        private_box=True, before=self._prompt_before)

    def ask_join(self) -> None:
        self.prompt.ask("Join group:", lambda g, _p: self._group(g),
                        before=self._prompt_before)

    def _group(self, group: str, private: bool = False, create: bool = False) -> None:
        group = group.lstrip("#")
        self.left_groups.discard(group_key(group))
        if create:
            self.client.create_group(group, private)
        else:
            self.client.join_group(group)

    def leave_group(self) -> None:
        conv = self.convs.get(self.current)
        if conv is not None and conv.kind == "group":
            self.client.leave_group(conv.title)

    def pick(self, conv: str) -> None:
        if conv != self.current:
            self._want = conv
            self.client.switch(conv)
            self._show(conv)
        self.entry.focus_set()

    def ordered(self) -> list[str]:
        return list(self.conv_list.tree.get_children())

    def step(self, delta: int) -> None:
        order = self.ordered()
        if self.current in order:
            self.pick(order[(order.index(self.current) + delta) % len(order)])

    def pick_index(self, i: int) -> None:
        order = self.ordered()
        if i < len(order):
            self.pick(order[i])

    # ---------------------------------------------------------------- drawing events
    def _add(self, conv: str, line: Line) -> None:
        lines = self.transcripts.get(conv)
        if lines is None:
            lines = self.transcripts[conv] = deque(maxlen=TRANSCRIPT_MAX)
        lines.append(line)
        if conv == self.current:
            if not self._drawn:
                self.view.begin()
                self._drawn = True
            self.view.append(line)

    def _info(self, text: str, style: str = "info") -> None:
        self._add(self.current, Line(style, text, None if "\n" in text else time.time()))
        self.flush()

    def _who(self, group: str | None = None) -> None:
        self.auto_who += 1
        self.client.execute(f"/who {group}" if group else "/who")

    def _show(self, conv: str) -> None:
        self.current = conv
        c = self.convs.get(conv)
        title = fmt.conv_label(conv, c.title if c else conv)
        if conv.startswith("dm:"):
            title += "  (direct messages)"
        self.view.show(title, self.transcripts.get(conv, ()))
        if conv.startswith("g:") and c is not None:
            self._who(c.title)
        self._dirty |= {"convs", "members"}

    def joined(self, e: ev.Joined) -> None:
        self.name = e.name
        self.status.who.configure(text=f"you are {e.name} · {self.client.endpoint}")
        for c in e.conversations:
            self.convs[c.conv] = c
        self._who()
        if self.current.startswith("g:") and self.current in self.convs:
            self._who(self.convs[self.current].title)
        self._dirty |= {"convs", "members"}
        self.entry.focus_force()

    def apply(self, e: ev.Event) -> None:
        match e:
            case ev.MessageReceived():
                if e.conv in self.left_groups:
                    return
                if e.conv not in self.convs:
                    self.convs[e.conv] = ev.Conversation(conv=e.conv, kind=fmt.conv_kind(e.conv), title=e.title)
                    self._dirty.add("convs")
                if e.missed and e.conv not in self.marked:
                    self.marked.add(e.conv)
                    self._add(e.conv, Line("marker", fmt.MISSED_MARKER))
                self._add(e.conv, fmt.message_line(e))
                if e.kind != "msg" and e.conv == self.current and e.conv.startswith("g:") and not e.history:
                    self._who(e.title)                   # someone joined or left the group: refresh members
            case ev.ConversationsChanged():
                # The core re-lists a group when its "left" line arrives after the leave was confirmed
                # (see the report): a group that vanished stays hidden until this user joins it again.
                listed = {c.conv: c for c in e.conversations}
                self.left_groups |= {k for k in self.convs if k.startswith("g:") and k not in listed}
                self.convs = {k: c for k, c in listed.items() if k not in self.left_groups}
                self.convs.setdefault("all", ev.Conversation(conv="all", kind="everyone", title="everyone"))
                if self._want is not None:           # older lists still name the previous one
                    if e.current == self._want:
                        self._want = None
                elif e.current != self.current:
                    self._show(e.current)
                self._dirty.add("convs")
            case ev.PresenceChanged():
                self.presence[e.name] = e.state
                for users in self.members.values():
                    if e.name in users:
                        users[e.name] = e.state
                self._add("all", fmt.presence_line(e))
                self._dirty.add("members")
            case ev.UsersListed():
                if e.conv == "all":
                    self.presence = dict(e.users)
                else:
                    self.members[e.conv] = dict(e.users)
                self._dirty.add("members")
                if self.auto_who > 0:
                    self.auto_who -= 1
                else:
                    self._add(self.current, Line("info", fmt.users_text(e), time.time()))
            case ev.ConnectionChanged():
                self.status.set_state(*fmt.status_text(e))
                if e.state == "failed":
                    self._add(self.current, Line("error", f"✕ {e.detail}", time.time()))
            case ev.GroupsListed():
                self._add(self.current, Line("info", fmt.groups_text(e), time.time()))
            case ev.Invited():
                self._add(self.current, Line("info", f"{clean(e.by)} invited you to #{clean(e.group)}: "
                                                     f"use ⇥ (Ctrl+J) or /join {clean(e.group)} to accept",
                                             time.time()))
            case ev.Info():
                self._add(self.current, Line("info", e.text, None if "\n" in e.text else time.time()))
            case ev.CommandFailed():
                self._add(self.current, Line("error", f"✕ {e.message}", time.time()))
            case ev.JoinFailed():
                self._add(self.current, Line("error", f"✕ could not join again as {e.name}: {e.message}", time.time()))
            case ev.Joined():
                self.joined(e)

    def flush(self) -> None:
        """End of a batch: redraw what changed, once."""
        if self._drawn:
            self.view.end()
            self._drawn = False
        if "convs" in self._dirty:
            self.conv_list.show(self.convs.values(), self.current)
            is_group = self.current.startswith("g:")
            self.buttons["leave"].state(["!disabled"] if is_group else ["disabled"])
            self.chat_menu.entryconfigure(3, state="normal" if is_group else "disabled")
        if "members" in self._dirty:
            c = self.convs.get(self.current)
            if self.current.startswith("g:") and c is not None:
                users = {n: self.presence.get(n, s) if s != "away" else s
                         for n, s in self.members.get(self.current, {}).items()}
                title = f"Members of #{clean(c.title)}"
            else:
                users, title = self.presence, "People"
            online = sum(s == "online" for s in users.values())
            self.member_list.show(f"{title} ({online} online)", users)
        self._dirty.clear()
