"""Helpers for the Tk tests: pump Tk until a condition holds, drive real keys and clicks with
xdotool (while Tk keeps running), and a CLI client in plain line mode through pipes.

No sleeps to synchronise: every wait pumps ``root.update()`` until a condition holds or a
deadline passes (TESTING-UI.md, pitfall 5).
"""
from __future__ import annotations

import gc
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import tkinter as tk
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

from zchat.client import Client
from zchat.frontends.tk.app import TkApp


def pump(roots: tk.Misc | Iterable[tk.Misc], cond: Callable[[], object], timeout: float = 10.0) -> bool:
    """Run Tk (every root given) until ``cond()`` is true or ``timeout`` seconds pass."""
    roots = [roots] if isinstance(roots, tk.Misc) else list(roots)
    end = time.monotonic() + timeout
    while True:
        for r in roots:
            try:
                r.update()
            except tk.TclError:         # a root that finished (destroyed) is done pumping
                pass
        if cond():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.002)


def xdo(roots: tk.Misc | Iterable[tk.Misc], *args: str) -> None:
    """Run xdotool with Popen and keep Tk pumping meanwhile (pitfall 4)."""
    p = subprocess.Popen(["xdotool", *args])
    pump(roots, lambda: p.poll() is not None, timeout=20)
    assert p.wait() == 0, f"xdotool {args} failed"


def focus(widget: tk.Misc) -> None:
    """No window manager under Xvfb: keys reach a widget only after focus_force (pitfall 3)."""
    widget.winfo_toplevel().lift()
    widget.focus_force()
    pump(widget, lambda: widget.focus_get() == widget, timeout=3)


def type_into(widget: tk.Misc, text: str, *keys: str, roots: Iterable[tk.Misc] = ()) -> None:
    """Real key presses: focus ``widget``, type ``text``, then press ``keys`` (e.g. "Return")."""
    focus(widget)
    everyone = [widget.winfo_toplevel(), *roots]
    if text:
        xdo(everyone, "type", "--delay", "20", text)
    if keys:
        xdo(everyone, "key", "--delay", "20", *keys)


def click(widget: tk.Misc, roots: Iterable[tk.Misc] = ()) -> None:
    """A real mouse click in the middle of ``widget`` (its window is raised first)."""
    widget.winfo_toplevel().lift()
    pump(widget, lambda: widget.winfo_viewable(), timeout=3)
    x = widget.winfo_rootx() + widget.winfo_width() // 2
    y = widget.winfo_rooty() + widget.winfo_height() // 2
    xdo([widget.winfo_toplevel(), *roots], "mousemove", str(x), str(y), "click", "1")


def click_row(tree: tk.Misc, iid: str, roots: Iterable[tk.Misc] = ()) -> None:
    """A real click on a Treeview row."""
    tree.winfo_toplevel().lift()
    x, y, w, h = tree.bbox(iid)  # type: ignore[attr-defined]
    xdo([tree.winfo_toplevel(), *roots], "mousemove", str(tree.winfo_rootx() + x + w // 3),
        str(tree.winfo_rooty() + y + h // 2), "click", "1")


def menu_click(u, label: str) -> None:  # type: ignore[no-untyped-def]
    """A real click on the posted popup menu's entry named ``label``."""
    popup = u.win.menus.popup
    assert pump(u.root, popup.winfo_ismapped, 5), "the menu did not open"
    i = u.win.menus.labels().index(label)
    y = popup.winfo_rooty() + popup.yposition(i) + 6
    xdo(u.root, "mousemove", str(popup.winfo_rootx() + 30), str(y), "click", "1")
    assert pump(u.root, lambda: not popup.winfo_ismapped(), 5)


def row_point(u, text: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Screen coordinates of a message line (in its text part)."""
    view = u.win.view
    i = next(i for i, line in enumerate(view.rows) if text in line.text)
    view.see_row(i)
    u.root.update()
    x, y, _w, h = view.text.bbox(f"{view.starts[i]}.12")
    return str(view.text.winfo_rootx() + x), str(view.text.winfo_rooty() + y + h // 2)


def submenu_click(u, label: str, entry: str) -> None:  # type: ignore[no-untyped-def]
    """A real click on ``entry`` of the cascade ``label`` of the posted popup menu (React ▸ 👍)."""
    popup, sub = u.win.menus.popup, u.win.menus.reactions
    assert pump(u.root, popup.winfo_ismapped, 5), "the menu did not open"
    i = u.win.menus.labels().index(label)
    xdo(u.root, "mousemove", str(popup.winfo_rootx() + 30), str(popup.winfo_rooty() + popup.yposition(i) + 6))
    assert pump(u.root, sub.winfo_ismapped, 5), "the submenu did not open"
    j = [sub.entrycget(k, "label") for k in range((sub.index("end") or 0) + 1)].index(entry)
    xdo(u.root, "mousemove", str(sub.winfo_rootx() + 20), str(sub.winfo_rooty() + sub.yposition(j) + 6), "click", "1")
    assert pump(u.root, lambda: not popup.winfo_ismapped(), 5)


class TkUser:
    """One Tk client: its own root and TkApp, joined through the join screen."""

    def __init__(self, server: str, config_dir: Path, geometry: str | None = "760x520+0+0") -> None:
        """``geometry`` None: the one the app restores from ``config_dir`` (or its default)."""
        self.root = tk.Tk()
        self.exit_status: int | None = None
        self.app = TkApp(self.root, lambda s: Client(s, config_dir=config_dir), server=server,
                         on_exit=self._exited, config_dir=config_dir)
        if geometry:
            self.root.geometry(geometry)
        pump(self.root, self.root.winfo_viewable, timeout=5)

    def _exited(self, status: int) -> None:
        self.exit_status = status

    @property
    def win(self):  # type: ignore[no-untyped-def]
        assert self.app.window is not None, "not joined"
        return self.app.window

    def text(self) -> str:
        return self.win.view.content()

    def close(self) -> None:
        if not self.app.done:
            self.app.finish(0)
        try:
            self.root.update_idletasks()
            park_pointer(self.root)
            self.root.destroy()
        except tk.TclError:
            pass
        gc.collect()    # now, on Tk's thread: a Tk variable collected later on a client's thread raises in __del__


def park_pointer(root: tk.Tk) -> None:
    """Put the pointer inside ``root`` before it is destroyed. Tk 8.6.13 without a window manager
    crashes (SIGSEGV in TkSetFocusWin) when a later Tk() in the same process takes the focus after
    an earlier one was destroyed while the pointer was outside it; reproduced with plain tkinter
    (two roots, no zchat code). One root per process, as the real program has, never meets it."""
    x, y = root.winfo_rootx() + 5, root.winfo_rooty() + 5
    xdo(root, "mousemove", str(x), str(y))
    pump(root, lambda: root.winfo_pointerxy() == (x, y), 5)
    root.update()


class CliUser:
    """``python -m zchat --ui cli`` in plain line mode through pipes; its output lines gathered on a thread."""

    def __init__(self, name: str, server: str, config_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zchat", "--ui", "cli", "--name", name, "--server", server,
             "--config-dir", str(config_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._q: queue.SimpleQueue[str] = queue.SimpleQueue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(timeout=5)


def inside(widget: tk.Misc, outer: tk.Misc | None = None) -> bool:
    """``widget`` is mapped and lies wholly within ``outer`` (its toplevel by default), on screen."""
    outer = outer or widget.winfo_toplevel()
    x, y, w, h = widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()
    ox, oy, ow, oh = outer.winfo_rootx(), outer.winfo_rooty(), outer.winfo_width(), outer.winfo_height()
    return (bool(widget.winfo_ismapped()) and w > 1 and h > 1 and ox <= x and oy <= y
            and x + w <= ox + ow and y + h <= oy + oh)


def assert_fits(dialog: tk.Misc, least: int = 4) -> None:
    """Every widget ``dialog`` shows (labels with text, entries, buttons, check boxes; at least
    ``least``) is inside it and gets the room it asks for."""
    dialog.update_idletasks()
    kinds = ("TLabel", "TEntry", "TCombobox", "TCheckbutton", "TButton")
    shown = [w for w in descendants(dialog) if w.winfo_ismapped() and w.winfo_class() in kinds
             and (w.winfo_class() != "TLabel" or w.cget("text"))]
    assert len(shown) >= least, shown
    for w in shown:
        assert inside(w, dialog), (w, w.winfo_geometry(), dialog.winfo_geometry())
        assert w.winfo_width() >= w.winfo_reqwidth(), (w, "squeezed")


def descendants(widget: tk.Misc) -> list[tk.Misc]:
    out = []
    for child in widget.winfo_children():
        out += [child, *descendants(child)]
    return out


def wait_event(root: object, client: Client, kind: type, cond: Callable[[object], bool] = lambda e: True,
               seen: list | None = None, timeout: float = 10.0) -> object:
    """Pump Tk while pulling ``client``'s events until one of ``kind`` matches ``cond``."""
    found: list[object] = []

    def check() -> bool:
        for e in client.poll_events(100):
            if seen is not None:
                seen.append(e)
            if isinstance(e, kind) and cond(e):
                found.append(e)
        return bool(found)
    assert pump(root, check, timeout), f"no {kind.__name__} within {timeout} s"  # type: ignore[arg-type]
    return found[0]


# ---------------------------------------------------------------- fixtures (a plugin: tests/conftest.py loads it)
@pytest.fixture
def display() -> None:
    assert os.environ.get("DISPLAY"), "no DISPLAY: install Xvfb and pytest-xvfb (pip install pytest-xvfb)"
    assert shutil.which("xdotool"), "xdotool is missing: apt-get install xdotool"


@pytest.fixture
def tk_user(display: None, tmp_path: Path) -> Iterator[Callable[..., TkUser]]:
    """make(server, name=None, geometry="760x520+0+0", config="cfg"): a TkUser, joined when ``name`` is given."""
    made: list[TkUser] = []

    def make(server: str, name: str | None = None, geometry: str | None = "760x520+0+0",
             config: str = "cfg") -> TkUser:
        u = TkUser(server, tmp_path / config, geometry)
        made.append(u)
        if name:
            type_into(u.app.join.name, name, "Return")
            assert pump(u.root, lambda: u.app.window is not None, 15), u.app.join.error_text()
        return u

    yield make
    for u in reversed(made):
        u.close()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    """make(server, name, config="cfg", link=None, device=None): a plain Client, joined (with a link
    code: as a new device of the account, which needs a config dir of its own, i.e. its own key)."""
    made: list[Client] = []

    def make(server: str, name: str, config: str = "cfg", link: str | None = None,
             device: str | None = None) -> Client:
        c = Client(server, config_dir=tmp_path / config)
        c.join(name, link=link, device=device)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
