"""What the main window draws of protocol 3 besides new lines: lines that change in place,
notifications (desktop or bell, the counts in the title, the urgency hint), who is typing,
read receipts, search results and the jump to a result, and this user's own presence.

A mixin of :class:`~.window.ChatWindow`, like :mod:`.actions`: it only draws events and makes
Client calls that return at once.
"""
from __future__ import annotations

import tkinter as tk

from zchat import events as ev
from zchat.events import ConvKind, PresenceState
from zchat.frontends.text import clean
from zchat.frontends.tk import format as fmt
from zchat.frontends.tk.attention import Attention
from zchat.frontends.tk.window_parts import WindowPart

CHANGES = (ev.MessageChanged, ev.Notification, ev.Typing, ev.ReadBy, ev.SearchResults, ev.StatusChanged)


class Awareness(WindowPart):
    def init_awareness(self) -> None:
        self.typing: dict[str, list[str]] = {}                     # conv -> who is typing there now
        self.read_by: dict[str, tuple[int, tuple[str, ...]]] = {}  # conv -> (my last line, who has seen it)
        self.statuses: dict[str, str] = {}                         # name -> the text of a chosen state
        self.my_state: tuple[str, str] = (ev.ChosenState.ONLINE, "")
        self.alert = ""                 # the latest notification while the window was unfocused (in the title)
        self.attention = Attention(self.winfo_toplevel())
        self.search_query = ""
        self.search_cursor: int | None = None
        self.jump_to: tuple[str, int] | None = None                # a search result to show once it is drawn
        self.winfo_toplevel().bind("<FocusIn>", self._focus_in, add="+")

    def aware(self, e: ev.Event) -> None:
        match e:
            case ev.MessageChanged():
                self._edit(e.conv, self.transcript(e.conv).change(e.seq, lambda line: fmt.changed_line(line, e)))
            case ev.Notification():
                self._notified(e)
            case ev.Typing():
                names = self.typing.setdefault(e.conv, [])
                if e.name in names:
                    names.remove(e.name)
                if e.active:
                    names.append(e.name)
                self._dirty.add("typing")
            case ev.ReadBy():
                self.read_by[e.conv] = (e.seq, e.names)
                self._edit(e.conv, self.transcript(e.conv).set_seen(e.seq, e.names))
            case ev.SearchResults():
                self.search_cursor = e.cursor
                self.search.show(e, more=e.cursor is not None)
            case ev.StatusChanged():
                if (e.state, e.text) != self.my_state:
                    self._info(f"you are {fmt.state_words(e.state, e.text)}" + (" (idle)" if e.idle else ""))
                self.my_state = (e.state, e.text)
                self.status.set_presence(e.state, e.text, e.idle)

    def seen_again(self, conv: str, seq: int) -> None:
        """My line ``seq`` was (re)drawn: it gets the receipt that came for it before it was drawn."""
        got = self.read_by.get(conv)
        if got is not None and got[0] == seq:
            self._edit(conv, self.transcript(conv).set_seen(*got))

    # ---------------------------------------------------------------- notifications
    def focused(self) -> bool:
        return self.winfo_toplevel().focus_displayof() is not None

    def _notified(self, n: ev.Notification) -> None:
        title, body = fmt.notification_text(n)
        focused = self.focused()
        if focused and n.conv == self.current and not n.missed:
            return                                  # the user is looking at it
        self.attention.notify(title, body)
        if not focused:
            self.alert = title
            self.attention.urge(True)
            self._dirty.add("title")

    def _focus_in(self, _e: tk.Event) -> None:
        if self.alert or self.attention.urgent:
            self.alert = ""
            self.attention.urge(False)
            self._dirty.add("title")
            self.flush()

    def window_title(self) -> str:
        """"zchat — alice (3 unread, 1 mention)", "(offline)" while it is, and the latest notification
        while the window is unfocused."""
        convs = list(self.convs.values())
        counts = fmt.counts_text(sum(c.unread for c in convs), sum(c.mentions for c in convs))
        title = f"zchat — {self.name}" + (" (offline)" if self.offline else "") + (f" ({counts})" if counts else "")
        return title + (f" · {self.alert}" if self.alert else "")

    # ---------------------------------------------------------------- typing, topic
    def draw_typing(self) -> None:
        self.typing_label.configure(text=fmt.typing_text(self.typing.get(self.current, [])))

    def draw_topic(self) -> None:
        c = self.convs.get(self.current)
        topic = clean(c.topic) if c is not None and c.topic else ""
        self.topic.configure(text=topic)
        self.topic.grid() if topic else self.topic.grid_remove()

    # ---------------------------------------------------------------- presence
    def _users(self, e: ev.UsersListed) -> None:
        self.statuses.update((name, status) for name, _state, status, _role in e.details)
        if ev.conv_kind(e.conv) == ConvKind.EVERYONE:
            self.presence = dict(e.users)
            self.people_complete = len(e.users) >= e.total
        else:
            self.members[e.conv] = dict(e.users)
        self._dirty.add("members")
        if self.auto["who"] > 0:
            self.auto["who"] -= 1
        else:
            self._info(fmt.users_text(e))

    def _draw_members(self) -> None:
        c = self.convs.get(self.current)
        if ev.conv_kind(self.current) == ConvKind.GROUP and c is not None:
            users = {n: self.presence.get(n, s) if s != PresenceState.OFFLINE else s
                     for n, s in self.members.get(self.current, {}).items()}
            title = f"Members of #{clean(c.title)}"
        else:
            users, title = self.presence, "People"
        if self.offline:
            title += " (you are offline)"
        else:
            title += f" ({sum(s == PresenceState.ONLINE for s in users.values())} online)"
        self.member_list.show(title, users, offline=self.offline, statuses=self.statuses)

    def set_presence(self, state: str) -> None:
        """The status bar's selector: online, away or do not disturb (a text comes with /away TEXT)."""
        if state == ev.ChosenState.AWAY:
            self.client.away()
        elif state == ev.ChosenState.DND:
            self.client.dnd()
        else:
            self.client.back()

    # ---------------------------------------------------------------- search
    def run_search(self, query: str) -> None:
        query = query.strip()
        if query:
            self.search_query, self.search_cursor = query, None
            self.client.search(query)
            self.search.appending = False

    def more_results(self) -> None:
        if self.search_query and self.search_cursor is not None:
            self.client.search(self.search_query, before=self.search_cursor)
            self.search.appending = True

    def open_result(self, hit: ev.SearchHit) -> None:
        """Go to the conversation of ``hit`` and show it among the lines around it."""
        self.pick(hit.conv)
        self.jump_to = (hit.conv, hit.seq)
        self.client.context(hit.conv, hit.seq)
        self._dirty.add("jump")
        self.flush()

    def after_flush(self, dirty: set[str]) -> None:
        if "typing" in dirty or "convs" in dirty:
            self.draw_typing()
            self.draw_topic()
        if self.jump_to is not None and self.jump_to[0] == self.current and self.view.mark_found(self.jump_to[1]):
            self.jump_to = None
