"""The search box and its results: an entry in the conversation header (Ctrl+F), and under it a
list of hits, newest first, a page at a time ("More" asks for the next one). Clicking a hit
reports it; the window then shows it among the lines around it. Draws and reports only.
"""
from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from zchat import events as ev
from zchat.frontends.text import clean, clock
from zchat.frontends.tk.format import conv_label


def hit_text(h: ev.SearchHit) -> tuple[str, str]:
    """(where and when, what) of one result: ("# design  14:02", "bob: the text")."""
    text = clean(h.text).replace("\n", " ")
    who = f"* {clean(h.sender)} {text}" if h.kind == "me" else f"{clean(h.sender)}: {text}"
    return f"{conv_label(h.conv, h.title)}  {clock(h.ts)}", who + ("  (edited)" if h.edited else "")


class SearchPanel(ttk.Frame):
    """``on_search(query)``: Enter in the box; ``on_more()``: the next page; ``on_open(hit)``: a hit
    clicked (or Enter on it)."""

    def __init__(self, master: tk.Misc, box_parent: tk.Misc, on_search: Callable[[str], None],
                 on_more: Callable[[], None], on_open: Callable[[ev.SearchHit], None]) -> None:
        super().__init__(master)
        self.on_open, self.on_search = on_open, on_search
        self.box = ttk.Entry(box_parent, width=12)
        self.box.bind("<Return>", self._search)
        self.box.bind("<KP_Enter>", self._search)
        self.box.bind("<Escape>", lambda e: self.close())
        self.label = ttk.Label(self, text="", style="Pane.TLabel")
        self.label.grid(row=0, column=0, sticky="w")
        self.more = ttk.Button(self, text="More", width=6, command=on_more)
        self.more.grid(row=0, column=1, padx=2)
        close = ttk.Button(self, text="✕", width=2, command=self.close)
        close.grid(row=0, column=2)
        self.tree = ttk.Treeview(self, columns=("text",), show="tree", selectmode="browse", height=5)
        self.tree.column("#0", width=150, minwidth=100, stretch=False)
        self.tree.column("text", width=300, minwidth=100, stretch=True)
        bar = ttk.Scrollbar(self, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=bar.set)
        self.tree.grid(row=1, column=0, columnspan=3, sticky="nsew")
        bar.grid(row=1, column=3, sticky="ns")
        self.columnconfigure(0, weight=1)
        self.tree.bind("<ButtonRelease-1>", self._clicked)
        self.tree.bind("<Return>", self._clicked)
        self.hits: dict[str, ev.SearchHit] = {}
        self.appending = False          # the next results are the next page (set by whoever asked for it)

    def show(self, results: ev.SearchResults, more: bool) -> None:
        """A page of results: the first page replaces what is listed, a next one adds to it."""
        if not self.appending:
            self.tree.delete(*self.tree.get_children())
            self.hits.clear()
        self.appending = False
        for h in results.results:
            iid = f"{h.conv}/{h.seq}"
            if iid in self.hits:
                continue
            self.hits[iid] = h
            where, what = hit_text(h)
            self.tree.insert("", "end", iid=iid, text=where, values=(what,))
        n = len(self.hits)
        partial = " (still indexing: search again soon for the newest)" if results.partial else ""
        self.label.configure(text=f"{n} result{'s' * (n != 1)} for “{clean(results.query)}”{partial}"
                             if n else f"nothing found for “{clean(results.query)}”")
        self.more.state(["!disabled"] if more else ["disabled"])
        self.grid()

    def _search(self, _e: tk.Event) -> str:
        self.on_search(self.box.get())
        return "break"

    def _clicked(self, _e: tk.Event) -> None:
        sel = self.tree.selection()
        if sel and sel[0] in self.hits:
            self.on_open(self.hits[sel[0]])

    def rows(self) -> list[tuple[str, str]]:
        return [(self.tree.item(i, "text"), self.tree.item(i, "values")[0]) for i in self.tree.get_children()]

    def close(self) -> None:
        self.grid_remove()
