"""Small windows over the main one: the question dialogs (new direct message, create, join,
invite) and the help window.

Every dialog is laid out with grid and sized from what its widgets ask for, so nothing is
squeezed out at any main-window size; a bad answer is shown in the dialog, which stays open
with what was typed.
"""
from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from tkinter import ttk
from typing import Callable, Sequence

from zchat.commands import COMMANDS, EXIT_WORD
from zchat.frontends.tk.format import COLORS, SHORTCUTS

# answer(values, checked) -> an error to show (the dialog stays open), or None (done: it closes)
Answer = Callable[[list[str], bool], "str | None"]


def place_over(win: tk.Toplevel, parent: tk.Misc) -> None:
    """Centre ``win`` over ``parent``'s toplevel, kept on the screen (there may be no window manager)."""
    win.update_idletasks()
    top = parent.winfo_toplevel()
    w, h = win.winfo_reqwidth(), win.winfo_reqheight()
    x = top.winfo_rootx() + (top.winfo_width() - w) // 2
    y = top.winfo_rooty() + (top.winfo_height() - h) // 3
    x = max(0, min(x, win.winfo_screenwidth() - w))
    y = max(0, min(y, win.winfo_screenheight() - h))
    win.geometry(f"+{x}+{y}")
    win.minsize(w, h)


class FormDialog(tk.Toplevel):
    """A titled question: one labelled field per ``fields`` entry (an entry when its choices are
    None, else a combobox: they may come later, see set_choices), an optional check box, an error line, OK and Cancel. Enter answers, Escape cancels."""

    def __init__(self, parent: tk.Misc, title: str, fields: Sequence[tuple[str, Sequence[str] | None]], answer: Answer,
                 *, check: str = "", ok_text: str = "OK", hint: str = "",
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.withdraw()
        self.title(title)
        self.transient(parent.winfo_toplevel())
        self.answer, self.on_close = answer, on_close
        body = ttk.Frame(self, padding=12)
        body.grid(sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.fields: list[ttk.Entry] = []
        row = 0
        for label, choices in fields:
            ttk.Label(body, text=label).grid(row=row, column=0, sticky="w", padx=(0, 8), pady=3)
            field = ttk.Entry(body, width=30) if choices is None else ttk.Combobox(body, values=list(choices), width=28)
            field.grid(row=row, column=1, sticky="ew", pady=3)
            self.fields.append(field)
            row += 1
        self.checked = tk.BooleanVar(self, False)
        self.check: ttk.Checkbutton | None = None
        if check:
            self.check = ttk.Checkbutton(body, text=check, variable=self.checked)
            self.check.grid(row=row, column=1, sticky="w", pady=3)
            row += 1
        if hint:
            ttk.Label(body, text=hint, style="Hint.TLabel", wraplength=300, justify="left").grid(
                row=row, column=0, columnspan=2, sticky="w", pady=(2, 0))
            row += 1
        self.error = ttk.Label(body, text="", foreground=COLORS["bad"], wraplength=300, justify="left")
        self.error.grid(row=row, column=0, columnspan=2, sticky="w")
        buttons = ttk.Frame(body)
        buttons.grid(row=row + 1, column=0, columnspan=2, sticky="e", pady=(10, 0))
        self.ok = ttk.Button(buttons, text=ok_text, command=self.submit, default="active")
        self.cancel = ttk.Button(buttons, text="Cancel", command=self.close)
        self.ok.grid(row=0, column=0, padx=(0, 6))
        self.cancel.grid(row=0, column=1)
        body.columnconfigure(1, weight=1)
        self.bind("<Return>", lambda e: self.submit() or "break")
        self.bind("<KP_Enter>", lambda e: self.submit() or "break")
        self.bind("<Escape>", lambda e: self.close() or "break")
        self.protocol("WM_DELETE_WINDOW", self.close)
        place_over(self, parent)
        self.deiconify()
        self.lift()
        self.fields[0].focus_force()

    def set_choices(self, index: int, choices: Sequence[str]) -> None:
        field = self.fields[index]
        if isinstance(field, ttk.Combobox):
            field.configure(values=list(choices))

    def submit(self) -> None:
        values = [f.get().strip() for f in self.fields]
        if not all(values):
            self.show_error("Fill in every field.")
            return
        problem = self.answer(values, self.checked.get())
        if problem:
            self.show_error(problem)
        else:
            self.close()

    def show_error(self, text: str) -> None:
        self.error.configure(text=text)
        if text:
            self.fields[0].focus_force()

    def close(self) -> None:
        self.destroy()
        self.on_close()


class HelpWindow(tk.Toplevel):
    """The keyboard shortcuts and the slash commands as two tables. Escape or Close shuts it."""

    def __init__(self, parent: tk.Misc, on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.on_close = on_close
        self.withdraw()
        self.title("zchat help")
        self.transient(parent.winfo_toplevel())
        body = ttk.Frame(self, padding=10)
        body.grid(sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        commands = [(usage, what) for usage, what in COMMANDS.values()] + [(EXIT_WORD, "leave the chat")]
        self.tables: dict[str, ttk.Treeview] = {}
        for row, (title, rows) in enumerate((("Keyboard, mouse and symbols", SHORTCUTS), ("Commands (type them in the entry)",
                                                                                  commands))):
            ttk.Label(body, text=title, style="Title.TLabel").grid(row=2 * row, column=0, sticky="w")
            self.tables[title] = self._table(body, rows)
            self.tables[title].grid(row=2 * row + 1, column=0, sticky="nsew", pady=(0, 8))
            body.rowconfigure(2 * row + 1, weight=1)
        body.columnconfigure(0, weight=1)
        self.close_button = ttk.Button(body, text="Close", command=self.close)
        self.close_button.grid(row=4, column=0, sticky="e")
        self.bind("<Escape>", lambda e: self.close())
        self.bind("<F1>", lambda e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        place_over(self, parent)
        self.deiconify()
        self.lift()
        self.close_button.focus_force()

    @staticmethod
    def _table(master: tk.Misc, rows: Sequence[tuple[str, str]]) -> ttk.Treeview:
        font = tkfont.nametofont("TkDefaultFont")
        tree = ttk.Treeview(master, columns=("what",), show="tree", selectmode="none", height=len(rows))
        first = max(font.measure(a) for a, _ in rows) + 24
        tree.column("#0", width=first, minwidth=first, stretch=False)
        tree.column("what", width=max(font.measure(b) for _, b in rows) + 12, stretch=True)
        for a, b in rows:
            tree.insert("", "end", text=a, values=(b,))
        return tree

    def close(self) -> None:
        self.destroy()
        self.on_close()

    def rows(self) -> list[tuple[str, str]]:
        return [(t.item(i, "text"), t.item(i, "values")[0]) for t in self.tables.values() for i in t.get_children()]
