"""The join screen: a name, a server (the local default filled in, a pasted connect string
accepted) and a Join button. Problems (a taken name, no broker, a bad connect string) are
shown in place, in red, under the fields; the screen stays usable for another try.
"""
from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Callable

from tktooltip import ToolTip

from zchat.frontends.tk.format import COLORS


class JoinScreen(ttk.Frame):
    """``on_join(name, server)`` is called with the stripped fields (server "" = local default)."""

    def __init__(self, master: tk.Misc, on_join: Callable[[str, str], None], *, name: str = "",
                 server: str = "") -> None:
        super().__init__(master, padding=24)
        self.on_join = on_join
        ttk.Label(self, text="zchat", style="Big.TLabel").grid(row=0, column=0, columnspan=2, pady=(0, 12))
        ttk.Label(self, text="Your name").grid(row=1, column=0, sticky="w", pady=4)
        self.name = ttk.Entry(self, width=40)
        self.name.insert(0, name)
        self.name.grid(row=1, column=1, sticky="ew", pady=4)
        ttk.Label(self, text="Server").grid(row=2, column=0, sticky="w", pady=4, padx=(0, 8))
        self.server = ttk.Entry(self, width=40)
        self.server.insert(0, server)
        self.server.grid(row=2, column=1, sticky="ew", pady=4)
        self.hint = ttk.Label(self, text="the local broker is filled in; paste a connect string "
                                         "(tcp://HOST:PORT#key=…) to use another", style="Hint.TLabel",
                              wraplength=420)
        self.hint.grid(row=3, column=1, sticky="w")
        self.button = ttk.Button(self, text="Join", command=self.submit)
        self.button.grid(row=4, column=1, sticky="e", pady=12)
        ToolTip(self.button, msg="Join the chat with this name (Enter)", delay=0.5)
        self.error = ttk.Label(self, text="", foreground=COLORS["bad"], wraplength=480, justify="left")
        self.error.grid(row=5, column=0, columnspan=2, sticky="w")
        self.status = ttk.Label(self, text="", style="Hint.TLabel", wraplength=480, justify="left")
        self.status.grid(row=6, column=0, columnspan=2, sticky="w")
        self.columnconfigure(1, weight=1)
        for entry in (self.name, self.server):
            entry.bind("<Return>", lambda e: self.submit() or "break")
            entry.bind("<KP_Enter>", lambda e: self.submit() or "break")

    def submit(self) -> None:
        name, server = self.name.get().strip(), self.server.get().strip()
        if not name:
            self.show_error("Type the name you want to be known by.")
            self.name.focus_force()
            return
        self.show_error("")
        self.show_status("joining…")
        self.on_join(name, server)

    def show_error(self, text: str) -> None:
        self.error.configure(text=text)
        if text:
            self.show_status("")

    def show_status(self, text: str) -> None:
        self.status.configure(text=text)

    def error_text(self) -> str:
        return str(self.error.cget("text"))
