"""One person, several devices, in the Tk client: the link-code dialog, the devices dialog, and
the main window's actions for them.

:class:`DeviceActions` is a mixin of :class:`~.window.ChatWindow`, like :class:`~.actions.Actions`:
the dialogs ask the Client (which returns at once) and the answers (LinkCodeMade, DevicesListed,
a CommandFailed) are drawn into whichever dialog is open, so nothing here waits for the network.
Revoking asks first, inside the dialog: a modal message box would block the Tk loop.
"""
from __future__ import annotations

import time
import tkinter as tk
from collections.abc import Callable, Sequence
from functools import partial
from tkinter import ttk
from typing import TypeGuard, TypeVar

from zchat import events as ev
from zchat.frontends.text import clean
from zchat.frontends.tk import format as fmt
from zchat.frontends.tk.dialogs import handled, show_over
from zchat.frontends.tk.join import LINK_CHECK, LINK_LABEL
from zchat.frontends.tk.window_parts import WindowPart

TICK_MS = 10_000      # how often the link dialog says again how long its code is good for
W = TypeVar("W", bound=tk.Misc)


def alive(win: W | None) -> TypeGuard[W]:
    """``win`` is there and not destroyed (closing a dialog destroys it; the attribute stays)."""
    return win is not None and bool(win.winfo_exists())


class _Dialog(tk.Toplevel):
    """A titled window over the main one with a body frame, an error line and a Close button;
    Escape and the window manager's close button close it too."""

    def __init__(self, parent: tk.Misc, title: str, on_close: Callable[[], None]) -> None:
        super().__init__(parent)
        self.withdraw()
        self.title(title)
        self.transient(parent.winfo_toplevel())
        self.on_close = on_close
        self.body = ttk.Frame(self, padding=14)
        self.body.grid(sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.error = ttk.Label(self.body, text="", foreground=fmt.COLORS["bad"], wraplength=400, justify="left")
        self.buttons = ttk.Frame(self.body)
        self.close_button = ttk.Button(self.buttons, text="Close", command=self.close)
        self.bind("<Escape>", handled(self.close))
        self.protocol("WM_DELETE_WINDOW", self.close)

    def finish_layout(self, row: int, focus: tk.Misc) -> None:
        """Put the error line and the buttons (Close last) under ``row``, then show the dialog."""
        self.error.grid(row=row, column=0, columnspan=4, sticky="w", pady=(6, 0))
        self.buttons.grid(row=row + 1, column=0, columnspan=4, sticky="e", pady=(10, 0))
        self.close_button.grid(row=0, column=9, padx=(6, 0))
        show_over(self, self.master, focus)

    def show_error(self, text: str) -> None:
        self.error.configure(text=text)

    def close(self) -> None:
        self.destroy()
        self.on_close()


class LinkDialog(_Dialog):
    """The one-time code a new device of this account joins with: selectable and copyable, how long
    it is good for, and what to do with it on the new device. Drawn at once; the code comes later."""

    def __init__(self, parent: tk.Misc, name: str, on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent, "Link a device", on_close)
        self.user, self.code_text, self.expires = name, "", 0.0
        body = self.body
        ttk.Label(body, text="A code for your new device", style="Title.TLabel").grid(row=0, column=0, sticky="w")
        self.code = ttk.Entry(body, font=("TkFixedFont", 18, "bold"), justify="center", width=16)
        self.code.insert(0, "…")
        self.code.configure(state="readonly")           # selectable and copyable, not editable
        self.code.grid(row=1, column=0, sticky="ew", pady=(6, 2))
        self.valid = ttk.Label(body, text="Asking the broker for a code…", style="Hint.TLabel")
        self.valid.grid(row=2, column=0, sticky="w")
        self.how = ttk.Label(body, text="", wraplength=400, justify="left")
        self.how.grid(row=3, column=0, sticky="w", pady=(10, 0))
        self.secret = ttk.Label(body, style="Hint.TLabel", wraplength=400, justify="left",
                                text="Whoever has this code can join as you until it is used or expires: "
                                     "type it on your own device only, and share it with nobody.")
        self.secret.grid(row=4, column=0, sticky="w", pady=(6, 0))
        body.columnconfigure(0, weight=1)
        self.copy_button = ttk.Button(self.buttons, text="Copy code", command=self.copy, state="disabled")
        self.copy_button.grid(row=0, column=0)
        self._how("CODE")
        self._job: str | None = None
        self.finish_layout(5, self.close_button)

    def _how(self, code: str) -> None:
        self.how.configure(text=f"On the new device, start zchat and type your name, {clean(self.user)}. Tick "
                                f"“{LINK_CHECK}” and type this code under {LINK_LABEL}, then Join. In a "
                                f"terminal: python -m zchat --name {clean(self.user)} --link {code}")

    def show_code(self, code: str, expires: float) -> None:
        self.code_text, self.expires = code, expires
        self.code.configure(state="normal")
        self.code.delete(0, "end")
        self.code.insert(0, code)
        self.code.configure(state="readonly")
        self.code.selection_range(0, "end")
        self.copy_button.configure(state="normal")
        self._how(code)
        self.show_error("")
        self._tick()
        self.code.focus_force()

    def _tick(self) -> None:
        if self._job is not None:
            self.after_cancel(self._job)
        self.valid.configure(text=fmt.link_validity(self.expires, time.time()))
        self._job = self.after(TICK_MS, self._tick) if self.expires > time.time() else None

    def copy(self) -> None:
        if self.code_text:
            self.clipboard_clear()
            self.clipboard_append(self.code_text)
            self.valid.configure(text="Copied. " + fmt.link_validity(self.expires, time.time()))

    def show_error(self, text: str) -> None:
        super().show_error(text)
        if text and not self.code_text:
            self.valid.configure(text="No code was made.")

    def close(self) -> None:
        if self._job is not None:
            self.after_cancel(self._job)
        super().close()


class DevicesDialog(_Dialog):
    """The account's devices: name, when added, online or last seen, which one is this; Revoke on
    every other one, confirmed in the dialog. ``on_revoke(name)`` returns an error to show, or None."""

    COLUMNS = ("Device", "Added", "Last seen")

    def __init__(self, parent: tk.Misc, name: str, on_revoke: Callable[[str], str | None],
                 on_refresh: Callable[[], None], on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent, "Your devices", on_close)
        self.on_revoke = on_revoke
        body = self.body
        ttk.Label(body, text=f"Devices signed in as {clean(name)}", style="Title.TLabel").grid(row=0, column=0,
                                                                                           sticky="w")
        self.table = ttk.Frame(body)
        self.table.grid(row=1, column=0, sticky="ew", pady=(4, 0))
        self.loading = ttk.Label(self.table, text="Asking the broker…", style="Hint.TLabel")
        self.loading.grid(row=1, column=0, sticky="w")
        self.revoke_buttons: dict[str, ttk.Button] = {}
        self.confirm = ttk.Frame(body, padding=(8, 6), style="Invite.TFrame")
        self.question = ttk.Label(self.confirm, text="", style="Invite.TLabel", wraplength=380, justify="left")
        self.question.grid(row=0, column=0, columnspan=2, sticky="w")
        self.confirm_button = ttk.Button(self.confirm, text="Revoke", command=self._revoke)
        self.keep_button = ttk.Button(self.confirm, text="Keep it", command=self._cancel)
        self.confirm_button.grid(row=1, column=0, sticky="w", pady=(6, 0))
        self.keep_button.grid(row=1, column=1, sticky="w", padx=(6, 0), pady=(6, 0))
        self.confirm.grid(row=2, column=0, sticky="ew", pady=(10, 0))
        self.confirm.grid_remove()
        self._asked = ""
        body.columnconfigure(0, weight=1)
        self.refresh_button = ttk.Button(self.buttons, text="Refresh", command=on_refresh)
        self.refresh_button.grid(row=0, column=0)
        self.finish_layout(3, self.close_button)

    def show(self, devices: Sequence[ev.Device], now: float) -> None:
        for child in self.table.winfo_children():
            child.destroy()
        self.revoke_buttons.clear()
        for col, heading in enumerate(self.COLUMNS):
            ttk.Label(self.table, text=heading, style="Pane.TLabel").grid(row=0, column=col, sticky="w", padx=(0, 12))
        for row, d in enumerate(devices, start=1):
            cells = (clean(d.name) + ("  (this device)" if d.current else ""), fmt.device_added(d),
                     fmt.device_seen(d, now))
            for col, text in enumerate(cells):
                label = ttk.Label(self.table, text=text)
                if col == 2 and d.online:
                    label.configure(foreground=fmt.COLORS["ok"])
                label.grid(row=row, column=col, sticky="w", padx=(0, 12), pady=2)
            if not d.current:
                b = ttk.Button(self.table, text="Revoke…", command=partial(self.ask, d.name))
                b.grid(row=row, column=3, sticky="e", pady=2)
                self.revoke_buttons[d.name] = b
        self.table.columnconfigure(0, weight=1)
        if self._asked and self._asked not in self.revoke_buttons:
            self._cancel()                               # gone already (revoked elsewhere)
        self.update_idletasks()
        self.minsize(self.winfo_reqwidth(), self.winfo_reqheight())

    def rows(self) -> list[tuple[str, ...]]:
        """What the table shows, row by row: (device, added, last seen)."""
        cells: dict[tuple[int, int], str] = {}
        for w in self.table.winfo_children():
            info = w.grid_info() if isinstance(w, ttk.Label) else None
            if info:
                cells[(int(info["row"]), int(info["column"]))] = str(w.cget("text"))
        last = max((r for r, _ in cells), default=0)
        return [tuple(cells.get((r, c), "") for c in range(3)) for r in range(1, last + 1)]

    def ask(self, device: str) -> None:
        """Revoke… clicked: ask first, here (Keep it has the focus: Enter must not revoke by a slip)."""
        self._asked = device
        self.question.configure(text=f"Revoke {clean(device)}? It is signed out at once and can no longer read "
                                     f"anything new; to come back it needs a new link code.")
        self.confirm_button.configure(text=f"Revoke {clean(device)}")
        self.confirm.grid()
        self.show_error("")
        self.keep_button.focus_force()

    def _revoke(self) -> None:
        device, self._asked = self._asked, ""
        self.confirm.grid_remove()
        if device:
            self.show_error(self.on_revoke(device) or "")

    def _cancel(self) -> None:
        self._asked = ""
        self.confirm.grid_remove()


class DeviceActions(WindowPart):
    """The window's part: Ctrl+L, Ctrl+Shift+D, /device link, /devices, and their answers."""

    def init_devices(self) -> None:
        self.link_dialog: LinkDialog | None = None
        self.devices_dialog: DevicesDialog | None = None

    def ask_link(self) -> None:
        if alive(self.link_dialog):
            self.link_dialog.destroy()
        self.link_dialog = LinkDialog(self, self.name, on_close=self.entry.focus_force)
        self.client.link_device()

    def link_code_made(self, e: ev.LinkCodeMade) -> None:
        if not alive(self.link_dialog):              # typed /device link: the code is shown the same way
            self.link_dialog = LinkDialog(self, self.name, on_close=self.entry.focus_force)
        self.link_dialog.show_code(e.code, e.expires)

    def show_devices(self) -> None:
        self._devices_dialog().lift()
        self._ask_devices()

    def _devices_dialog(self) -> DevicesDialog:
        if not alive(self.devices_dialog):
            self.devices_dialog = DevicesDialog(self, self.name, self.revoke, self._ask_devices,
                                                on_close=self.entry.focus_force)
        return self.devices_dialog

    def _ask_devices(self) -> None:
        self.auto["devices"] += 1                    # the answer goes to the dialog, not the conversation
        self.client.list_devices()

    def devices_listed(self, e: ev.DevicesListed) -> None:
        if self.auto["devices"] > 0:
            self.auto["devices"] -= 1
            if not alive(self.devices_dialog):       # closed before the answer came
                return
        self._devices_dialog().show(e.devices, time.time())   # (typed /devices: the dialog opens)

    def revoke(self, device: str) -> str | None:
        try:
            self.client.revoke_device(device)
        except ValueError as exc:
            return str(exc)
        self._ask_devices()                          # answered after the revoke: the list without it
        return None

    def device_failed(self, e: ev.CommandFailed) -> bool:
        """A failed /device link, /devices or revoke is shown in its dialog when that is open."""
        d = {"link_device": self.link_dialog, "devices": self.devices_dialog,
             "revoke_device": self.devices_dialog}.get(e.command)
        if e.command == "devices" and self.auto["devices"] > 0:
            self.auto["devices"] -= 1
        if d is None or not alive(d):
            return False
        d.show_error(f"✕ {e.message}")
        return True
