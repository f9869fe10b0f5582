"""Helpers for the Tk tests: pump Tk until a condition holds, drive real keys and clicks with
xdotool (while Tk keeps running), and a CLI client in plain line mode through pipes.

No sleeps to synchronise: every wait pumps ``root.update()`` until a condition holds or a
deadline passes (TESTING-UI.md, pitfall 5).
"""
from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import tkinter as tk

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


class TkUser:
    """One Tk client: its own root and TkApp, joined through the join screen."""

    def __init__(self, server: str, config_dir: Path, geometry: str = "760x520+0+0") -> None:
        self.root = tk.Tk()
        self.root.geometry(geometry)
        self.exit_status: int | None = None
        self.app = TkApp(self.root, lambda s: Client(s, config_dir=config_dir), server=server,
                         on_exit=self._exited)
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
            self.root.destroy()
        except tk.TclError:
            pass


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
