"""What the main window's parts (:class:`~.actions.Actions`, :class:`~.devices.DeviceActions`) may
use of the window: declared once, for the type checker. :class:`~.window.ChatWindow` is built from
these parts and provides all of it; at run time this is just the ttk.Frame they are mixed into."""
from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zchat import events as ev
    from zchat.client import Client
    from zchat.frontends.tk.messageview import MessageView
    from zchat.frontends.tk.search import SearchPanel
    from zchat.frontends.tk.transcript import Edit, Transcript
    from zchat.frontends.tk.widgets import ConversationList, MemberList, StatusBar


class WindowPart(ttk.Frame):
    if TYPE_CHECKING:
        client: Client
        on_quit: Callable[[], None]
        name: str                                  # who this window is joined as
        current: str                               # the conversation on screen
        convs: dict[str, ev.Conversation]
        closed: dict[str, ev.Conversation]         # DMs closed here
        transcripts: dict[str, Transcript]
        presence: dict[str, str]                   # everyone: name -> online / lost / away
        people_complete: bool
        members: dict[str, dict[str, str]]         # group key -> its members
        sends: dict[str, tuple[str, str]]          # cmid -> (conv, text) of lines typed here
        auto: dict[str, int]                       # answers asked for by the window (not printed)
        _want: str | None
        _dirty: set[str]
        entry: ttk.Entry
        notice: ttk.Label
        status: StatusBar
        conv_list: ConversationList
        member_list: MemberList
        buttons: dict[str, ttk.Button]
        shortcuts: list[str]                       # the key sequences bound on the toplevel
        chat_menu: tk.Menu
        offline: bool                              # not connected: nobody's state is known
        view: MessageView
        search: SearchPanel
        typing_label: ttk.Label                    # "bob is typing…" under the messages
        topic: ttk.Label                           # a group's topic, under its name
        compose_bar: ttk.Frame                     # "Replying to…" / "Editing…" above the entry
        compose_label: ttk.Label

        def _info(self, text: str, style: str = "info") -> None: ...
        def _show(self, conv: str) -> None: ...
        def _edit(self, conv: str, edits: list[Edit]) -> None: ...
        def transcript(self, conv: str) -> Transcript: ...
        def flush(self) -> None: ...
        def pick(self, conv: str) -> None: ...
        def _took(self, line: str) -> None: ...
        def show_notice(self, text: str) -> None: ...
