"""Small windows over the main one: the question dialogs (new direct message, create, join,
invite), the help window, and a message to read before going on (the session ended).

Every dialog is laid out with grid and sized from what its widgets ask for, so nothing is
squeezed out at any main-window size; a bad answer is shown in the dialog, which stays open
with what was typed.
"""
from __future__ import annotations

import tkinter as tk
import tkinter.font as tkfont
from collections.abc import Callable, Sequence
from tkinter import ttk

from zchat.commands import COMMANDS, EXIT_WORD
from zchat.frontends.tk.format import COLORS, SHORTCUTS

# answer(values, checked) -> an error to show (the dialog stays open), or None (done: it closes)
Answer = Callable[[list[str], bool], "str | None"]


def handled(action: Callable[[], object]) -> Callable[[tk.Event], str]:
    """A key binding that runs ``action`` and ends there ("break"): the widget's own binding for
    the key (an Entry's Return, a Text's Up) does not run after it."""
    def on_key(_e: tk.Event) -> str:
        action()
        return "break"
    return on_key


def show_over(win: tk.Toplevel, parent: tk.Misc, focus: tk.Misc) -> None:
    """Show ``win`` centred over ``parent``'s toplevel, kept on the screen (there may be no window
    manager), with the keys going to ``focus``: asked again once ``win`` is mapped, since a focus
    asked for before the window is on the screen is lost without a window manager."""
    win.update_idletasks()
    top = parent.winfo_toplevel()
    w, h = win.winfo_reqwidth(), win.winfo_reqheight()
    x = top.winfo_rootx() + (top.winfo_width() - w) // 2
    y = top.winfo_rooty() + (top.winfo_height() - h) // 3
    x = max(0, min(x, win.winfo_screenwidth() - w))
    y = max(0, min(y, win.winfo_screenheight() - h))
    win.geometry(f"+{x}+{y}")
    win.minsize(w, h)
    win.bind("<Map>", lambda e: focus.focus_force() if e.widget is win else None, add="+")
    win.deiconify()
    win.lift()
    focus.focus_force()


class FormDialog(tk.Toplevel):
    """A titled question: one labelled field per ``fields`` entry (an entry when its choices are
    None, else a combobox: they may come later, see set_choices), an optional check box, an error
    line, OK and Cancel. Enter answers, Escape cancels."""

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
        self.bind("<Return>", handled(self.submit))
        self.bind("<KP_Enter>", handled(self.submit))
        self.bind("<Escape>", handled(self.close))
        self.protocol("WM_DELETE_WINDOW", self.close)
        show_over(self, parent, self.fields[0])

    def set_choices(self, index: int, choices: Sequence[str]) -> None:
        field = self.fields[index]
        if isinstance(field, ttk.Combobox):
            field.configure(values=list(choices))

    def submit(self) -> None:
        values = [f.get().strip() for f in self.fields]
        if not all(values):
            self.show_error("Fill in every field.")
            return
        try:
            problem = self.answer(values, self.checked.get())
        except ValueError as exc:            # the core refused the value itself (an invalid name...)
            problem = str(exc)
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

    def destroy(self) -> None:
        super().destroy()
        self.checked = None  # type: ignore[assignment]  # a Tk variable goes on Tk's thread, not in a later GC


class HelpWindow(tk.Toplevel):
    """The keyboard shortcuts and the slash commands, each a key and what it does, in a read-only
    Text: long descriptions wrap under their own column, and the window is sized to the screen
    (with a scroll bar when that is needed). Escape, F1 or Close shuts it."""

    DESCRIPTION_PX = 440       # the width of the "what it does" column

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
        commands = [(spec.usage, spec.what) for spec in COMMANDS.values()] + [(EXIT_WORD, "leave the chat")]
        sections = (("Keyboard, mouse and symbols", SHORTCUTS), ("Commands (type them in the entry)", commands))
        font = tkfont.nametofont("TkDefaultFont")
        bold = font.copy()
        bold.configure(weight="bold", size=font.actual("size") + 1)
        self._bold = bold
        self.key_width = max(font.measure(key) for _, rows in sections for key, _ in rows) + 24
        width_px = min(self.key_width + self.DESCRIPTION_PX, self.winfo_screenwidth() - 60)
        self.text = t = tk.Text(body, wrap="word", relief="flat", highlightthickness=0, font=font, padx=8, pady=4,
                                tabs=(self.key_width,), cursor="arrow", background="white",
                                width=width_px // max(1, font.measure("0")), height=1)
        t.tag_configure("title", font=bold, spacing1=8, spacing3=4)
        t.tag_configure("row", lmargin2=self.key_width, spacing1=1, spacing3=2)
        t.tag_configure("what", foreground="#24292f")
        t.tag_configure("key", foreground="#0550ae")
        for title, rows in sections:
            t.insert("end", title + "\n", ("title",))
            for key, what in rows:
                t.insert("end", key, ("row", "key"), "\t", ("row",), what + "\n", ("row", "what"))
        t.delete("end-1c")
        t.configure(state="disabled")
        bar = ttk.Scrollbar(body, orient="vertical", command=t.yview)
        t.configure(yscrollcommand=bar.set)
        t.grid(row=0, column=0, sticky="nsew")
        bar.grid(row=0, column=1, sticky="ns")
        body.rowconfigure(0, weight=1)
        body.columnconfigure(0, weight=1)
        self.close_button = ttk.Button(body, text="Close", command=self.close)
        self.close_button.grid(row=1, column=0, columnspan=2, sticky="e", pady=(8, 0))
        self._fit_height(font)
        self.bind("<Escape>", lambda e: self.close())
        self.bind("<F1>", lambda e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        show_over(self, parent, self.close_button)

    def _fit_height(self, font: tkfont.Font) -> None:
        """As tall as the wrapped text, but at most 70 % of the screen (it scrolls)."""
        self.text.configure(height=200)
        self.update_idletasks()
        counted = self.text.count("1.0", "end", "ypixels")      # (n,), or None for 0
        pixels = int(counted[0]) if counted else 0
        room = int(self.winfo_screenheight() * 0.7)
        self.text.configure(height=max(8, min(pixels, room) // font.metrics("linespace") + 1))

    def close(self) -> None:
        self.destroy()
        self.on_close()

    def rows(self) -> list[tuple[str, str]]:
        """Every (key, what it does) row as drawn."""
        rows = [line.partition("\t") for line in self.text.get("1.0", "end-1c").split("\n")]
        return [(key, what) for key, tab, what in rows if tab]


class MessageDialog(tk.Toplevel):
    """A message that needs reading, with one OK button (Enter, Escape and closing the window answer
    too); ``on_close`` runs once, after it is gone."""

    def __init__(self, parent: tk.Misc, title: str, heading: str, text: str,
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.withdraw()
        self.title(title)
        self.transient(parent.winfo_toplevel())
        self.on_close = on_close
        body = ttk.Frame(self, padding=16)
        body.grid(sticky="nsew")
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        self.heading = ttk.Label(body, text=heading, style="Title.TLabel")
        self.heading.grid(row=0, column=0, sticky="w")
        self.message = ttk.Label(body, text=text, wraplength=380, justify="left")
        self.message.grid(row=1, column=0, sticky="w", pady=(6, 0))
        self.ok = ttk.Button(body, text="OK", command=self.close, default="active")
        self.ok.grid(row=2, column=0, sticky="e", pady=(14, 0))
        for key in ("<Return>", "<KP_Enter>", "<Escape>"):
            self.bind(key, handled(self.close))
        self.protocol("WM_DELETE_WINDOW", self.close)
        show_over(self, parent, self.ok)

    def close(self) -> None:
        if self.winfo_exists():
            self.destroy()
            self.on_close()
