"""The main window once joined: conversations, messages, people, the entry and the status bar.

Laid out with grid, so the entry and the Send button keep their row at any size down to the
minimum (640x400): only the message view shrinks. :meth:`ChatWindow.apply` draws one event
into the conversations' :class:`~.transcript.Transcript` and :meth:`ChatWindow.flush` ends a
batch (lists redrawn once per batch, so a flood stays cheap). Everything the user does is a
call on the Client, which returns at once; nothing here waits for the network.
"""
from __future__ import annotations

import time
import tkinter as tk
from collections.abc import Callable
from functools import partial
from tkinter import ttk
from typing import TYPE_CHECKING

from tktooltip import ToolTip

from zchat import events as ev
from zchat.events import ConnState, ConvKind, SendState
from zchat.frontends.text import conv_label as plain_label
from zchat.frontends.tk import format as fmt
from zchat.frontends.tk.actions import QUIT_LABEL
from zchat.frontends.tk.awareness import CHANGES, Awareness
from zchat.frontends.tk.devices import DeviceActions
from zchat.frontends.tk.dialogs import handled
from zchat.frontends.tk.format import Line
from zchat.frontends.tk.lineactions import LineActions
from zchat.frontends.tk.menus import ContextMenus
from zchat.frontends.tk.messageview import MessageView
from zchat.frontends.tk.search import SearchPanel
from zchat.frontends.tk.transcript import Edit, Transcript
from zchat.frontends.tk.widgets import ConversationList, InviteBar, MemberList, StatusBar

if TYPE_CHECKING:
    from zchat.client import Client

EVERYONE = "all"
OFFLINE = (ConnState.CONNECTING, ConnState.RECONNECTING, ConnState.FAILED)
SIDE_MIN = (140, 180)      # px: conversation list, member list
CENTER_MIN = 300           # px: the messages, the entry and the Send button


class ChatWindow(LineActions, Awareness, DeviceActions, ttk.Frame):
    def __init__(self, master: tk.Misc, client: Client, on_quit: Callable[[], None]) -> None:
        ttk.Frame.__init__(self, master)
        self.client, self.on_quit = client, on_quit
        self.name = client.name or ""
        self.current = EVERYONE
        self.convs: dict[str, ev.Conversation] = {EVERYONE: ev.Conversation(conv=EVERYONE, kind=ConvKind.EVERYONE,
                                                                           title="everyone")}
        self.transcripts: dict[str, Transcript] = {}
        self.presence: dict[str, str] = {}               # everyone: name -> online / lost / away
        self.people_complete = False                     # presence lists every user (so a DM can be checked)
        self.members: dict[str, dict[str, str]] = {}     # group key -> its members
        self.offline = False
        self.sends: dict[str, tuple[str, str]] = {}      # cmid -> (conv, text) of lines typed here
        self.closed: dict[str, ev.Conversation] = {}    # DMs closed here (see close_conversation)
        self._want: str | None = None                    # a switch we asked for and the core has not confirmed
        self._dirty: set[str] = {"convs", "members"}
        self._drawn = False
        self._history = [0, 0, -1]                       # this batch: new /history lines, repeats, first row
        self.init_actions()
        self.init_devices()
        self._build()
        self.init_awareness()
        self.init_line_actions()
        self.menus = ContextMenus(self)
        self._bind_keys()

    # ---------------------------------------------------------------- layout
    def _build(self) -> None:
        top = self.winfo_toplevel()
        menu = tk.Menu(top, tearoff=False)
        chat = tk.Menu(menu, tearoff=False)
        for label, key, cmd in (("New direct message…", "Ctrl+N", self.ask_dm),
                                ("Create group…", "Ctrl+G", self.ask_create),
                                ("Join group…", "Ctrl+J", self.ask_join),
                                ("Invite someone to this group…", "", self.ask_invite),
                                ("Leave this group / close this conversation", "Ctrl+W", self.close_current)):
            chat.add_command(label=label, accelerator=key, command=cmd)
        chat.add_separator()
        chat.add_command(label="Who is here", command=self.client.who)
        chat.add_command(label="List groups", command=self.client.list_groups)
        chat.add_separator()
        chat.add_command(label="Link a device…", accelerator="Ctrl+L", command=self.ask_link)
        chat.add_command(label="Devices…", accelerator="Ctrl+Shift+D", command=self.show_devices)
        chat.add_separator()
        chat.add_command(label=QUIT_LABEL, accelerator="Ctrl+Q", command=self.on_quit)
        helpm = tk.Menu(menu, tearoff=False)
        helpm.add_command(label="Shortcuts and commands", accelerator="F1", command=self.show_help)
        menu.add_cascade(label="Chat", menu=chat)
        menu.add_cascade(label="Help", menu=helpm)
        top.configure(menu=menu)
        self.menu, self.chat_menu = menu, chat

        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.panes = panes = ttk.PanedWindow(self, orient="horizontal")
        panes.grid(row=0, column=0, sticky="nsew")
        self.status = StatusBar(self, on_presence=self.set_presence)
        self.status.grid(row=1, column=0, sticky="ew")
        self.status.set_who(self.name, self.client.endpoint)
        self.conv_list = ConversationList(panes, self.pick, lambda conv, e: self.menus.conversation(conv, e))
        center = ttk.Frame(panes, padding=(2, 0))
        self.member_list = MemberList(panes, self.open_dm, lambda name, e: self.menus.person(name, e))
        panes.add(self.conv_list, weight=0)
        panes.add(center, weight=1)
        panes.add(self.member_list, weight=0)
        panes.bind("<Configure>", self._place_sashes, add="+")
        self._sashes_placed = False

        head = ttk.Frame(center)
        head.grid(row=0, column=0, sticky="ew")
        self.title = ttk.Label(head, text="# everyone", style="Title.TLabel")
        self.title.grid(row=0, column=0, sticky="w")
        head.columnconfigure(0, weight=1)
        self.buttons: dict[str, ttk.Button] = {}
        self.tooltips: dict[str, ToolTip] = {}
        self.search = SearchPanel(head, head, on_search=self.run_search, on_more=self.more_results,
                                  on_open=self.open_result)
        ttk.Label(head, text="🔍", style="Hint.TLabel").grid(row=1, column=1, sticky="e")   # under the buttons
        self.search.box.grid(row=1, column=2, columnspan=4, sticky="ew", padx=(2, 1), pady=(0, 2))
        self.tooltips["search"] = ToolTip(self.search.box, msg="Search every conversation (Ctrl+F, Enter)", delay=0.4)
        self.search.grid(row=2, column=0, columnspan=6, sticky="ew")
        self.search.grid_remove()
        self.topic = ttk.Label(head, text="", style="Hint.TLabel", padding=(8, 0, 0, 2))
        self.topic.grid(row=1, column=0, sticky="w")
        self.topic.grid_remove()
        for col, (key, icon, tip, cmd) in enumerate((
                ("dm", "✉", "New direct message (Ctrl+N)", self.ask_dm),
                ("create", "✚", "Create a group (Ctrl+G)", self.ask_create),
                ("join", "⇥", "Join a group (Ctrl+J)", self.ask_join),
                ("leave", "⏏", "Leave this group, or close these direct messages (Ctrl+W)", self.close_current),
                ("help", "?", "Shortcuts and commands (F1)", self.show_help)), start=1):
            b = ttk.Button(head, text=icon, width=2, command=cmd, style="Icon.TButton")
            b.grid(row=0, column=col, padx=1, pady=2)
            self.buttons[key] = b
            self.tooltips[key] = ToolTip(b, msg=tip, delay=0.4)
        self.invites = InviteBar(center, on_accept=self.client.join_group)
        self.invites.grid(row=1, column=0, sticky="ew", pady=(0, 2))
        self.invites.grid_remove()
        self.view = MessageView(center, on_retry=self.retry, on_menu=self.menus_message)
        self.view.grid(row=2, column=0, sticky="nsew")
        self.notice = ttk.Label(center, text="", foreground=fmt.COLORS["bad"], wraplength=300, justify="left")
        self.typing_label = ttk.Label(center, text="", style="Hint.TLabel", padding=(6, 0))
        self.typing_label.grid(row=3, column=0, sticky="ew")
        self.notice.grid(row=4, column=0, sticky="ew")
        self.notice.grid_remove()
        row = ttk.Frame(center, padding=(0, 4, 0, 4))
        row.grid(row=5, column=0, sticky="ew")
        self.compose_bar = ttk.Frame(row, style="Invite.TFrame", padding=(6, 2))
        self.compose_label = ttk.Label(self.compose_bar, text="", style="Invite.TLabel")
        self.compose_label.grid(row=0, column=0, sticky="w")
        ttk.Button(self.compose_bar, text="✕", width=2, command=self.cancel_compose).grid(row=0, column=1)
        self.compose_bar.columnconfigure(0, weight=1)
        self.compose_bar.grid(row=0, column=0, columnspan=2, sticky="ew", pady=(0, 2))
        self.compose_bar.grid_remove()
        self.entry = ttk.Entry(row)
        self.entry.grid(row=1, column=0, sticky="ew")
        send = ttk.Button(row, text="Send", width=6, command=self.send_line)
        send.grid(row=1, column=1, padx=(4, 0))
        row.columnconfigure(0, weight=1)
        self.buttons["send"] = send
        self.tooltips["send"] = ToolTip(send, msg="Send (Enter)", delay=0.4)
        center.rowconfigure(2, weight=1)
        center.columnconfigure(0, weight=1)
        center.bind("<Configure>", lambda e: self.notice.configure(wraplength=max(150, e.width - 12)))

    def _place_sashes(self, e: tk.Event) -> None:
        """The side panes get a share of a wide window, and never leave the middle less than CENTER_MIN."""
        width = e.width
        if width <= 1:
            return
        left, right = self.panes.sashpos(0), width - self.panes.sashpos(1)
        if not self._sashes_placed:
            self._sashes_placed = True
            left = min(max(int(width * 0.13), SIDE_MIN[0]), 240)
            right = min(max(int(width * 0.2), SIDE_MIN[1]), 280)
        spare = width - CENTER_MIN - left - right
        if spare < 0:                                  # too narrow: the side panes give way, down to their minimum
            left = max(SIDE_MIN[0], left + spare // 2)
            right = max(SIDE_MIN[1], width - CENTER_MIN - left)
        self.panes.sashpos(0, left)
        self.panes.sashpos(1, width - right)

    def menus_message(self, line: Line | None, url: str, e: tk.Event) -> None:
        self.menus.message(line, url, e)

    def _bind_keys(self) -> None:
        top = self.winfo_toplevel()
        self.entry.bind("<Return>", handled(self.send_line))
        self.entry.bind("<KP_Enter>", handled(self.send_line))
        self.entry.bind("<Up>", handled(partial(self._recall_line, -1)))
        self.entry.bind("<Down>", handled(partial(self._recall_line, 1)))
        keys: dict[str, Callable[[], object]] = {
            "<Control-n>": self.ask_dm, "<Control-g>": self.ask_create, "<Control-j>": self.ask_join,
            "<Control-w>": self.close_current, "<Control-q>": self.on_quit, "<F1>": self.show_help,
            "<Control-l>": self.ask_link, "<Control-D>": self.show_devices,
            "<Control-Prior>": lambda: self.step(-1), "<Control-Next>": lambda: self.step(1),
            "<Escape>": self.entry.focus_set, "<Control-f>": self.search.box.focus_set}
        for n in range(1, 10):
            keys[f"<Alt-Key-{n}>"] = partial(self.pick_index, n - 1)
        for seq, fn in keys.items():
            top.bind(seq, handled(fn))
        self.shortcuts = list(keys)

    # ---------------------------------------------------------------- drawing events
    def transcript(self, conv: str) -> Transcript:
        t = self.transcripts.get(conv)
        if t is None:
            t = self.transcripts[conv] = Transcript()
        return t

    def _edit(self, conv: str, edits: list[Edit]) -> None:
        if conv != self.current or not edits:
            return
        if not self._drawn:
            self.view.begin()
            self._drawn = True
        self.view.apply(edits)

    def _add(self, conv: str, line: Line) -> None:
        self._edit(conv, self.transcript(conv).append(line))

    def _info(self, text: str, style: str = "info") -> None:
        self._add(self.current, Line(style, text, None if "\n" in text else time.time()))

    def _show(self, conv: str) -> None:
        if self.composing is not None and self.composing[1] != conv:
            self.cancel_compose()                        # a reply or an edit belongs to its conversation
        self.current = conv
        c = self.convs.get(conv)
        title = fmt.conv_label(conv, c.title if c else conv)
        if ev.conv_kind(conv) == ConvKind.DM:
            title += "  (direct messages)"
        self.title.configure(text=title)
        self.view.load(self.transcripts.get(conv, ()))
        if ev.conv_kind(conv) == ConvKind.GROUP and c is not None:
            self.who(c.title)
        self._dirty |= {"convs", "members", "typing"}

    def joined(self, e: ev.Joined) -> None:
        self.name, self.offline = e.name, False
        self.status.set_who(e.name, self.client.endpoint)
        for c in e.conversations:
            self.convs[c.conv] = c
        self.who()
        if ev.conv_kind(self.current) == ConvKind.GROUP and self.current in self.convs:
            self.who(self.convs[self.current].title)
        self._dirty |= {"convs", "members", "title"}
        self.entry.focus_force()

    def _message(self, e: ev.MessageReceived) -> None:
        if not e.history:
            self._reopen(e.conv)                         # someone wrote: it is back in the list
        if e.conv not in self.convs:
            self.convs[e.conv] = ev.Conversation(conv=e.conv, kind=ev.conv_kind(e.conv), title=e.title)
            self._dirty.add("convs")
        t, line = self.transcript(e.conv), fmt.message_line(e)
        if e.history:
            edits = t.add_history(line)
            self._history[0 if edits else 1] += 1
            inserted = [edit[1] for edit in edits if edit[0] == "insert"]
            if inserted and e.conv == self.current:
                self._history[2] = min(inserted) if self._history[2] < 0 else min(self._history[2], *inserted)
        else:
            settled = t.settle_own(line) if e.own else None
            edits = settled if settled is not None else t.add(line, e.missed)
        self._edit(e.conv, edits)
        if e.own:
            self.seen_again(e.conv, e.seq)
        if e.kind != "msg" and e.conv == self.current and ev.conv_kind(e.conv) == ConvKind.GROUP and not e.history:
            self.who(e.title)                   # someone joined or left the group: refresh members

    def _reopen(self, conv: str) -> None:
        c = self.closed.pop(conv, None)
        if c is not None:
            self.convs.setdefault(conv, c)
            self._dirty.add("convs")

    def _send_status(self, e: ev.SendStatus) -> None:
        self._reopen(e.conv)                             # written to again: listed again
        t = self.transcript(e.conv)
        if e.state == SendState.SENDING:
            self.sends[e.cmid] = (e.conv, e.text)
            self._edit(e.conv, t.append(fmt.own_line(e, self.name)))
        else:
            self._edit(e.conv, t.set_status(e.cmid, e.state, e.reason, e.seq))
            if e.state == SendState.SENT:
                self.sends.pop(e.cmid, None)
            else:                                        # see _failed: the core may drop its conversation
                c = self.convs.get(e.conv)
                self.failed_send = (e, plain_label(e.conv, c.title if c else e.conv))

    def apply(self, e: ev.Event) -> None:
        match e:
            case ev.MessageReceived():
                self._message(e)
            case ev.SendStatus():
                self._send_status(e)
            case ev.ConversationsChanged():
                self.convs = {c.conv: c for c in e.conversations if c.conv not in self.closed}
                everyone = ev.Conversation(conv=EVERYONE, kind=ConvKind.EVERYONE, title="everyone")
                self.convs.setdefault(EVERYONE, everyone)
                for c in e.conversations:
                    if c.kind == ConvKind.GROUP:
                        self.invites.drop(c.title)
                if self._want is not None:           # older lists still name the previous one
                    if e.current == self._want:
                        self._want = None
                elif e.current != self.current:
                    self._reopen(e.current)              # made current (opened again): listed again
                    self._show(e.current)
                self._dirty |= {"convs", "title"}
            case ev.PresenceChanged():
                self.presence[e.name] = e.state
                self.statuses[e.name] = e.status
                for users in self.members.values():
                    if e.name in users:
                        users[e.name] = e.state
                self._add(EVERYONE, fmt.presence_line(e))
                self._dirty.add("members")
            case ev.UsersListed():
                self._users(e)
            case ev.ConnectionChanged():
                self.status.set_state(*fmt.status_text(e))
                offline = e.state in OFFLINE
                if offline != self.offline:
                    self.offline = offline
                    self._dirty |= {"members", "title"}
                if e.state == ConnState.FAILED:
                    self._add(self.current, Line("error", f"✕ {e.detail}", time.time()))
            case ev.GroupsListed():
                self._groups(e)
            case ev.Invited():
                self.invites.push(e.group, e.by)
            case ev.Info():
                self._info(e.text)
            case ev.CommandFailed():
                if not self.device_failed(e):
                    self._failed(e)
            case ev.LinkCodeMade():
                self.link_code_made(e)
            case ev.DevicesListed():
                self.devices_listed(e)
            case ev.JoinFailed():
                self._add(self.current, Line("error", f"✕ could not join again as {e.name}: {e.message}", time.time()))
            case ev.Joined():
                self.joined(e)
            case _ if isinstance(e, CHANGES):
                self.aware(e)

    def _groups(self, e: ev.GroupsListed) -> None:
        if self.auto["groups"] > 0:
            self.auto["groups"] -= 1
            self.fill_join_choices(e)
        else:
            self._info(fmt.groups_text(e))

    def flush(self) -> None:
        """End of a batch: redraw what changed, once."""
        new, repeats, first = self._history
        if repeats and not new:
            self._info("/history: those messages are all shown here already")
        if self._drawn:
            self.view.end()
            self._drawn = False
        if first >= 0:
            self.view.see_row(first)
        self._history = [0, 0, -1]
        if "convs" in self._dirty:
            self.conv_list.show(self.convs.values(), self.current)
            closable = ev.conv_kind(self.current) != ConvKind.EVERYONE
            self.buttons["leave"].state(["!disabled"] if closable else ["disabled"])
            self.chat_menu.entryconfigure(4, state="normal" if closable else "disabled")
            is_group = ev.conv_kind(self.current) == ConvKind.GROUP
            self.chat_menu.entryconfigure(3, state="normal" if is_group else "disabled")
        if "members" in self._dirty:
            self._draw_members()
        if "title" in self._dirty:
            self.winfo_toplevel().title(self.window_title())
        self.after_flush(self._dirty)
        self._dirty.clear()
