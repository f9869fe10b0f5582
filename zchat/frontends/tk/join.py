"""The join screen: a name, a server (the local default filled in, a pasted connect string
accepted), optionally a link code and a device name (to add this device to an account used
elsewhere), and a Join button. Problems (a taken name, no broker, a bad connect string, a wrong
link code) are shown in place, in red and wrapped, under the fields; the screen stays usable.
"""
from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from tktooltip import ToolTip

from zchat.frontends.tk.dialogs import handled
from zchat.frontends.tk.format import COLORS

LINK_CHECK = "I already use this name on another device"
LINK_LABEL = "Link code"


class JoinScreen(ttk.Frame):
    """``on_join(name, server, link, device)`` is called with the stripped fields (server "" = the local
    default; link and device "" unless the link box is ticked)."""

    def __init__(self, master: tk.Misc, on_join: Callable[[str, str, str, str], None], *, name: str = "",
                 server: str = "", link: str = "", device: str = "") -> None:
        super().__init__(master, padding=(24, 12))
        self.on_join = on_join
        self.labels: dict[int, ttk.Label] = {}
        ttk.Label(self, text="zchat", style="Big.TLabel").grid(row=0, column=0, columnspan=2, pady=(0, 4))
        self.name = self._field(1, "Your name", name)
        self.server = self._field(2, "Server", server)
        self.hint = ttk.Label(self, text="the local broker, or paste a connect string (tcp://HOST:PORT#key=…)",
                              style="Hint.TLabel", justify="left", wraplength=360)
        self.hint.grid(row=3, column=1, sticky="w")
        self.linking = tk.BooleanVar(self, bool(link or device))
        self.link_check = ttk.Checkbutton(self, text=LINK_CHECK, variable=self.linking, command=self._show_link)
        self.link_check.grid(row=4, column=1, sticky="w", pady=(4, 0))
        self.link = self._field(5, LINK_LABEL, link)
        self.device = self._field(6, "This device", device)
        self.link_hint = ttk.Label(self, style="Hint.TLabel", justify="left", wraplength=360,
                                   text="make the code where you are signed in (Chat ▸ Link a device…, Ctrl+L); "
                                        "naming this device is optional")
        self.link_hint.grid(row=7, column=1, sticky="w")
        self.button = ttk.Button(self, text="Join", command=self.submit)
        self.button.grid(row=8, column=1, sticky="e", pady=6)
        ToolTip(self.button, msg="Join the chat with this name (Enter)", delay=0.5)
        # one line under the fields: an error in red, or how joining goes (they never need showing together)
        self.error = ttk.Label(self, text="", justify="left", wraplength=460)
        self.error.grid(row=9, column=0, columnspan=2, sticky="w")
        self._is_error = False
        self.columnconfigure(1, weight=1)
        # hints wrap at the entries' width, the error line at the screen's: nothing is cut or widens it
        self.name.bind("<Configure>", lambda e: [h.configure(wraplength=max(200, e.width))
                                                 for h in (self.hint, self.link_hint)], add="+")
        self.bind("<Configure>", lambda e: self.error.configure(wraplength=max(300, e.width - 48)), add="+")
        self._show_link()

    def _field(self, row: int, label: str, value: str) -> ttk.Entry:
        self.labels[row] = ttk.Label(self, text=label)
        self.labels[row].grid(row=row, column=0, sticky="w", pady=3, padx=(0, 8))
        entry = ttk.Entry(self, width=44)
        entry.insert(0, value)
        entry.grid(row=row, column=1, sticky="ew", pady=3)
        entry.bind("<Return>", handled(self.submit))
        entry.bind("<KP_Enter>", handled(self.submit))
        return entry

    def _show_link(self) -> None:
        """The link code and device name rows show only while the box is ticked."""
        for w in (self.labels[5], self.link, self.labels[6], self.device, self.link_hint):
            w.grid() if self.linking.get() else w.grid_remove()

    def show_link(self, focus: bool = False) -> None:
        """Tick the link box (a taken name may be this person's own, on another device)."""
        self.linking.set(True)
        self._show_link()
        if focus:
            self.link.focus_force()
            self.link.select_range(0, "end")

    def destroy(self) -> None:
        super().destroy()
        self.linking = None  # type: ignore[assignment]  # a Tk variable goes on Tk's thread, not in a later GC

    def submit(self) -> None:
        name, server = self.name.get().strip(), self.server.get().strip()
        link, device = (self.link.get().strip(), self.device.get().strip()) if self.linking.get() else ("", "")
        if not name:
            self.show_error("Type the name you want to be known by.")
            self.name.focus_force()
            return
        self.show_error("")
        self.show_status("joining…")
        self.on_join(name, server, link, device)

    def show_error(self, text: str) -> None:
        self._is_error = bool(text)
        self.error.configure(text=text, foreground=COLORS["bad"])

    def show_status(self, text: str) -> None:
        self._is_error = False
        self.error.configure(text=text, foreground=COLORS["dim"])

    def error_text(self) -> str:
        return str(self.error.cget("text")) if self._is_error else ""

    def status_text(self) -> str:
        return "" if self._is_error else str(self.error.cget("text"))
