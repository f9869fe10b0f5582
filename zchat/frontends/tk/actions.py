"""What the user does in the main window: send, recall, ask (dialogs), open, close, retry, copy.

A mixin of :class:`~.window.ChatWindow` (which has the widgets and the state): kept apart so
the window module is about layout and drawing. Every action is a call on the Client, which
returns at once, or a local change of what is shown.
"""
from __future__ import annotations

from collections.abc import Sequence

from zchat import commands
from zchat import events as ev
from zchat.events import ConvKind
from zchat.frontends.text import clean
from zchat.frontends.tk.dialogs import Answer, FormDialog, HelpWindow
from zchat.frontends.tk.format import Line
from zchat.frontends.tk.window_parts import WindowPart

QUIT_LABEL = "Leave the chat"                    # the Chat menu's entry that still works once the session ended
STILL_WORKING = ("<Control-q>", "<F1>", "<Escape>")


class Actions(WindowPart):
    def init_actions(self) -> None:
        self.typed: list[str] = []                       # typed lines, for Up/Down
        self._recall = 0
        self.auto = {"who": 0, "groups": 0, "devices": 0}  # answers asked for by the window (not printed)
        self.failed_send: tuple[ev.SendStatus, str] | None = None  # the last refusal and where, until its
        #                                                             CommandFailed comes
        self.dialogs: dict[str, FormDialog] = {}
        self.help: HelpWindow | None = None

    # ---------------------------------------------------------------- the entry
    def send_line(self) -> None:
        line = self.entry.get()
        if not line.strip():
            return
        try:
            cmd = commands.parse(line)
        except commands.CommandError:
            cmd = None                                   # the core says what is wrong with it
        if isinstance(cmd, (commands.Say, commands.Msg)):
            size, limit = len(cmd.text.encode("utf-8", "replace")), self.client.max_text_bytes
            if size > limit:
                self.show_notice(f"Too long to send: {size:,} bytes, and a message may have {limit:,}. "
                                 f"It is still in the box: shorten it or split it, then press Enter.")
                return
        if isinstance(cmd, commands.Help):
            self._took(line)
            self.show_help()
        elif isinstance(cmd, commands.Quit):
            self._took(line)
            self.on_quit()                               # as closing the window: leave, bounded wait
        else:
            try:
                self.client.execute(line)
            except ValueError as exc:                    # the core refused the text itself: it stays in the box
                self.show_notice(f"Not sent: {exc}. It is still in the box.")
                return
            self._took(line)

    def _took(self, line: str) -> None:
        """``line`` was done: the entry is cleared and the line can be recalled with Up."""
        self.show_notice("")
        self.entry.delete(0, "end")
        self.typed.append(line)
        self._recall = len(self.typed)

    def show_notice(self, text: str) -> None:
        self.notice.configure(text=text)
        self.notice.grid() if text else self.notice.grid_remove()

    def _recall_line(self, step: int) -> None:
        if not self.typed:
            return
        self._recall = max(0, min(len(self.typed), self._recall + step))
        self.entry.delete(0, "end")
        if self._recall < len(self.typed):
            self.entry.insert(0, self.typed[self._recall])

    def _failed(self, e: ev.CommandFailed) -> None:
        if e.command == "send" and e.code != "too_large":
            refused, self.failed_send = self.failed_send, None
            if refused is None or refused[0].conv in self.convs:
                return                                   # the line itself says so, with Retry
            self._dead_conversation(*refused)
            return
        self._info(f"✕ {e.message}", "error")
        if e.code == "too_large" and not self.entry.get() and self.typed:
            self.entry.insert(0, self.typed[-1])         # refused after all: the text comes back

    def _dead_conversation(self, refused: ev.SendStatus, where: str) -> None:
        """The core dropped the conversation a line was refused in (a DM to nobody): its transcript
        goes too, and the reason and the text are said where the user now is."""
        self.transcripts.pop(refused.conv, None)
        self.sends.pop(refused.cmid, None)
        self.closed.pop(refused.conv, None)
        self._info(f"✕ not sent to {where}: {clean(refused.reason)}. You wrote: {clean(refused.text)}", "error")

    def ended(self, reason: str) -> None:
        """The session is over without the user asking (see TkApp._ended): say so; from now on only
        leaving, help and reading (scrolling, copying) work, so nothing calls the closed Client."""
        self.status.set_state(f"✕ session ended: {clean(reason)}", "bad")
        self._info(f"✕ session ended: {clean(reason)}", "error")
        self.flush()
        self.entry.configure(state="disabled")
        for key, button in self.buttons.items():
            if key != "help":
                button.state(["disabled"])
        top = self.winfo_toplevel()
        for seq in self.shortcuts:
            if seq not in STILL_WORKING:
                top.unbind(seq)
        for i in range((self.chat_menu.index("end") or 0) + 1):
            if self.chat_menu.type(i) == "command" and self.chat_menu.entrycget(i, "label") != QUIT_LABEL:
                self.chat_menu.entryconfigure(i, state="disabled")

    # ---------------------------------------------------------------- dialogs
    def _dialog(self, key: str, title: str, fields: Sequence[tuple[str, Sequence[str] | None]], answer: Answer,
                **options: str) -> FormDialog:
        """A new FormDialog (``options``: its check, ok_text, hint) in place of the one open for ``key``."""
        old = self.dialogs.pop(key, None)
        if old is not None and old.winfo_exists():
            old.destroy()
        d = self.dialogs[key] = FormDialog(self, title, fields, answer, on_close=self.entry.focus_force, **options)
        return d

    def ask_dm(self) -> None:
        people = sorted((n for n in self.presence if n.lower() != self.name.lower()), key=str.lower)
        self._dialog("dm", "New direct message", [("Write to", people)], self._answer_dm, ok_text="Write")

    def _answer_dm(self, values: list[str], _checked: bool) -> str | None:
        name = values[0].lstrip("@")
        if name.lower() == self.name.lower():
            return "That is you: pick someone else."
        if self.people_complete and name.lower() not in {n.lower() for n in self.presence}:
            return f"Nobody called {clean(name)!r} has joined this server: pick a name from the list."
        self.open_dm(name)
        return None

    def ask_create(self) -> None:
        self._dialog("create", "Create a group", [("Group name", None)], self._answer_create,
                     check="private (invite only)", ok_text="Create",
                     hint="Anyone can join a public group; a private one only with an invitation.")

    def ask_join(self) -> None:
        self.auto["groups"] += 1
        self.client.list_groups()                        # the choices come with the answer
        self._dialog("join", "Join a group", [("Group", [])], self._answer_join, ok_text="Join")

    def fill_join_choices(self, e: ev.GroupsListed) -> None:
        d = self.dialogs.get("join")
        if d is not None and d.winfo_exists():
            d.set_choices(0, [name for name, _private, _members, joined in e.groups if not joined])

    def _answer_create(self, values: list[str], private: bool) -> str | None:
        self.client.create_group(values[0].lstrip("#"), private)
        return None

    def _answer_join(self, values: list[str], _checked: bool) -> str | None:
        self.client.join_group(values[0].lstrip("#"))
        return None

    def ask_invite(self, conv: str | None = None) -> None:
        conv = conv or self.current
        c = self.convs.get(conv)
        if c is None or c.kind != ConvKind.GROUP:
            self._info("✕ invite to which group? Go to the group first, or use /invite NAME GROUP", "error")
            return
        members = {n.lower() for n in self.members.get(conv, {})} | {self.name.lower()}
        people = sorted((n for n in self.presence if n.lower() not in members), key=str.lower)
        self._dialog("invite", f"Invite to #{clean(c.title)}", [("Invite", people)],
                     lambda v, _c: self.client.invite(v[0].lstrip("@"), c.title), ok_text="Invite")

    def show_help(self) -> None:
        if self.help is not None and self.help.winfo_exists():
            self.help.destroy()
        self.help = HelpWindow(self, on_close=self.entry.focus_force)

    # ---------------------------------------------------------------- conversations
    def open_dm(self, name: str) -> None:
        """Go to the direct messages with ``name`` (the core makes the conversation current)."""
        self._want = None
        self.client.switch("@" + name.lstrip("@"))
        self.entry.focus_set()

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

    def close_current(self) -> None:
        self.close_conversation(self.current)

    def close_conversation(self, conv: str) -> None:
        """A group: leave it. A DM: close it here (the core keeps it; it comes back when someone
        writes in it or this user opens it again)."""
        c = self.convs.get(conv)
        kind = ev.conv_kind(conv)
        if kind == ConvKind.GROUP and c is not None:
            self.client.leave_group(c.title)
        elif kind == ConvKind.DM:
            closer = getattr(self.client, "close_conversation", None)
            if closer is not None:                       # the core's own close, where it has one
                closer(conv)
            if c is not None:
                self.closed[conv] = self.convs.pop(conv)
            if self.current == conv:
                self.pick("all")
            self._dirty.add("convs")
            self.flush()

    # ---------------------------------------------------------------- lines
    def retry(self, line: Line) -> None:
        conv, text = self.sends.pop(line.cmid, ("", ""))
        if not conv:
            return
        _, edits = self.transcript(conv).remove(line.cmid)
        self._edit(conv, edits)
        self.client.send(text, conv)
        self.flush()

    def copy(self, text: str) -> None:
        self.clipboard_clear()
        self.clipboard_append(text)

    def who(self, group: str | None = None) -> None:
        self.auto["who"] += 1
        self.client.who(group)
