"""Getting the user's attention for a mention or a DM: a desktop notification where the desktop
offers one, else Tk's bell; and the window manager's urgency hint while the window is unfocused.

Desktop notifications come from ``desktop-notifier`` when it is installed (it is optional:
``pip install desktop-notifier``); it is asyncio and D-Bus, so it runs on a thread of its own
with its own event loop, and Tk never waits for it. Without it, or without a session bus (no
``DBUS_SESSION_BUS_ADDRESS``, as under Xvfb), or once it failed, the bell rings instead (the
window title always carries the unread and mention counts: see ChatWindow).

The urgency hint: Tk 8.6 has no ``wm attributes -urgent`` (on X11 it offers only -alpha,
-topmost, -zoomed, -fullscreen and -type), so on X11 the ICCCM ``XUrgencyHint`` flag is set in
the WM_HINTS of the toplevel's wrapper window (``wm frame``) with Xlib through ctypes; a Tk that
does offer ``-urgent`` is used as it is. Elsewhere (Windows, macOS Aqua) there is none.
"""
from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import queue
import sys
import threading
import tkinter as tk
from collections.abc import Callable
from typing import Any

X_URGENCY_HINT = 1 << 8


class DesktopNotifier:
    """desktop-notifier on its own thread: :meth:`send` queues and returns at once. ``failed`` says
    the library could not deliver (no notification server): the caller rings the bell from then on."""

    def __init__(self, app_name: str = "zchat") -> None:
        import desktop_notifier  # ImportError: not installed (make() falls back)
        self._module: Any = desktop_notifier
        self.app_name = app_name
        self.sent = 0                          # notifications handed to the library (for tests and the curious)
        self.failed = ""
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="zchat-notify", daemon=True)
        self._thread.start()

    def send(self, title: str, body: str) -> None:
        self._queue.put((title, body))

    def close(self) -> None:
        self._queue.put(None)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            notifier = self._module.DesktopNotifier(app_name=self.app_name)
            while (item := self._queue.get()) is not None:
                try:
                    loop.run_until_complete(notifier.send(title=item[0], message=item[1]))
                    self.sent += 1
                except Exception as exc:     # no server on the bus, refused...: the bell takes over
                    self.failed = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            self.failed = f"{type(exc).__name__}: {exc}"
        finally:
            loop.close()


def desktop_notifier(app_name: str = "zchat") -> DesktopNotifier | None:
    """A DesktopNotifier where one can work: the library is installed and, on Linux and the BSDs,
    there is a session bus to reach a notification server on. None otherwise."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) and not os.environ.get(
            "DBUS_SESSION_BUS_ADDRESS"):
        return None
    try:
        return DesktopNotifier(app_name)
    except ImportError:
        return None


class Attention:
    """What a Notification does, on Tk's thread: ``notify(title, body)`` hands it to the desktop or
    rings the bell (``rung`` counts the bells, ``last`` is the latest (title, body)), and
    ``urge(on)`` sets or clears the urgency hint (``urgent`` is what was asked for last)."""

    def __init__(self, root: tk.Misc, desktop: DesktopNotifier | None | Callable[[], DesktopNotifier | None]
                 = desktop_notifier) -> None:
        self.root = root
        self.desktop = desktop() if callable(desktop) else desktop
        self.rung = 0
        self.last: tuple[str, str] = ("", "")
        self.urgent = False

    @property
    def via_desktop(self) -> bool:
        return self.desktop is not None and not self.desktop.failed

    def notify(self, title: str, body: str) -> None:
        self.last = (title, body)
        if self.desktop is not None and not self.desktop.failed:
            self.desktop.send(title, body)
        else:
            self.rung += 1
            self.root.bell()

    def urge(self, on: bool) -> bool:
        """Set (or clear) the urgency hint; False where this Tk and windowing system have none."""
        self.urgent = on
        return set_urgent(self.root.winfo_toplevel(), on)

    def close(self) -> None:
        if self.desktop is not None:
            self.desktop.close()


# ---------------------------------------------------------------- the urgency hint
class XWMHints(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_long), ("input", ctypes.c_int), ("initial_state", ctypes.c_int),
                ("icon_pixmap", ctypes.c_ulong), ("icon_window", ctypes.c_ulong), ("icon_x", ctypes.c_int),
                ("icon_y", ctypes.c_int), ("icon_mask", ctypes.c_ulong), ("window_group", ctypes.c_ulong)]


_xlib: Any = None


def _libx11() -> Any:
    """libX11 with the few functions used here typed (None where there is no libX11)."""
    global _xlib
    if _xlib is None:
        path = ctypes.util.find_library("X11")
        if path is None:
            _xlib = False
            return None
        lib = ctypes.CDLL(path)
        lib.XOpenDisplay.restype = ctypes.c_void_p
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XGetWMHints.restype = ctypes.POINTER(XWMHints)
        lib.XGetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        lib.XAllocWMHints.restype = ctypes.POINTER(XWMHints)
        lib.XSetWMHints.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(XWMHints)]
        lib.XFree.argtypes = [ctypes.c_void_p]
        lib.XFlush.argtypes = [ctypes.c_void_p]
        lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
        _xlib = lib
    return _xlib or None


def _wm_hints(top: tk.Misc, change: Callable[[XWMHints], None] | None) -> XWMHints | None:
    """Read the wrapper window's WM_HINTS and, with ``change``, write them back changed (X11 only)."""
    lib = _libx11()
    if lib is None or top.tk.call("tk", "windowingsystem") != "x11":
        return None
    top.update_idletasks()                                # the wrapper exists once the window is mapped
    window = int(top.tk.call("wm", "frame", top._w), 16)  # type: ignore[attr-defined]
    display = lib.XOpenDisplay(top.winfo_screen().encode())
    if not display:
        return None
    try:
        got = lib.XGetWMHints(display, window)
        hints = got or lib.XAllocWMHints()
        if not hints:
            return None
        copy = XWMHints.from_buffer_copy(hints.contents)
        if change is not None:
            change(hints.contents)
            lib.XSetWMHints(display, window, hints)
            lib.XFlush(display)
            copy = XWMHints.from_buffer_copy(hints.contents)
        lib.XFree(hints)
        return copy
    finally:
        lib.XCloseDisplay(display)


def set_urgent(top: tk.Misc, on: bool) -> bool:
    if "-urgent" in top.tk.call("wm", "attributes", top._w):  # type: ignore[attr-defined]
        top.tk.call("wm", "attributes", top._w, "-urgent", int(on))  # type: ignore[attr-defined]
        return True

    def flag(h: XWMHints) -> None:
        h.flags = h.flags | X_URGENCY_HINT if on else h.flags & ~X_URGENCY_HINT
    return _wm_hints(top, flag) is not None


def is_urgent(top: tk.Misc) -> bool | None:
    """Whether the window manager is asked to draw attention to ``top`` (None: no way to tell here)."""
    if "-urgent" in top.tk.call("wm", "attributes", top._w):  # type: ignore[attr-defined]
        return bool(int(top.tk.call("wm", "attributes", top._w, "-urgent")))  # type: ignore[attr-defined]
    hints = _wm_hints(top, None)
    return None if hints is None else bool(hints.flags & X_URGENCY_HINT)
