"""The Tk client's life: the join screen, then the main window, then a clean exit.

Tk is touched only on the main thread. The client's I/O thread never calls Tk: its wake-up
writes one byte to a pipe, and Tk's file handler (on the main thread) schedules the pump
with ``after_idle``. The pump pulls at most ``BATCH`` events per turn (Thonny's bounded
pump, EXAMPLES.md §3.7): a full batch goes again once the screen is redrawn and keys are
handled, otherwise the pump sleeps until the next wake-up or ``POLL_MS`` at the latest (the
only mechanism where file handlers are missing, e.g. on Windows).
"""
from __future__ import annotations

import os
import sys
import tkinter as tk
import traceback
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk
from types import TracebackType

from zchat import events as ev
from zchat.client import Client, ClientClosed
from zchat.events import ConnState
from zchat.frontends.tk import settings
from zchat.frontends.tk.dialogs import MessageDialog
from zchat.frontends.tk.join import JoinScreen
from zchat.frontends.tk.window import ChatWindow

POLL_MS = 25          # the pump's safety-net period
BATCH = 100           # events per pump turn, so keys and redraws get their turn during a flood
LEAVE_WAIT_MS = 6000  # after [EXIT] or closing the window: the core gives up after 3 s


def default_server() -> str:
    """The local default broker's connect string, or "" when none is running here."""
    from zchat.config import default_data_dir
    try:
        return (default_data_dir() / "connect").read_text().strip()
    except OSError:
        return ""


def setup_styles(root: tk.Tk) -> None:
    style = ttk.Style(root)
    if "clam" in style.theme_names():
        style.theme_use("clam")
    style.configure("Big.TLabel", font=("TkDefaultFont", 20, "bold"))
    style.configure("Title.TLabel", font=("TkDefaultFont", 11, "bold"), padding=(6, 4))
    style.configure("Pane.TLabel", font=("TkDefaultFont", 9, "bold"), padding=(4, 4), foreground="#57606a")
    style.configure("Hint.TLabel", foreground="#57606a")
    style.configure("Icon.TButton", padding=(2, 1), font=("TkDefaultFont", 12))
    style.configure("Status.TFrame", background="#eaeef2")
    style.configure("Status.TLabel", background="#eaeef2")
    style.configure("Invite.TFrame", background="#fff8c5")
    style.configure("Invite.TLabel", background="#fff8c5")


class TkApp:
    """Owns one Tk root's contents. ``make_client(server)`` builds an unjoined Client (raising
    NoServer, ServerKeyChanged or ValueError); ``on_exit(status)`` runs when the session is over
    (0, or 1 when the client failed). ``name``, ``server``, ``link``, ``device`` fill in the join
    screen; ``config_dir``: where the window's geometry is remembered (None: nowhere)."""

    def __init__(self, root: tk.Tk, make_client: Callable[[str | None], Client], *, name: str = "",
                 server: str = "", link: str = "", device: str = "", on_exit: Callable[[int], None] | None = None,
                 config_dir: Path | None = None) -> None:
        self.root, self.make_client, self.config_dir = root, make_client, config_dir
        self.on_exit = on_exit or (lambda status: root.destroy())
        self.client: Client | None = None
        self.window: ChatWindow | None = None
        self.done = False
        self.status = 0
        self.leaving = False           # the user asked to leave: Left closes the window at once
        self.ended: MessageDialog | None = None     # the broker ended the session: says why, then closes
        self._job: str | None = None
        self._idle = False
        self._leave_job: str | None = None
        self._pipe_r, self._pipe_w = os.pipe()
        os.set_blocking(self._pipe_r, False)
        os.set_blocking(self._pipe_w, False)
        try:
            root.tk.createfilehandler(self._pipe_r, tk.READABLE, self._on_wake)
            self.wakeable = True
        except (AttributeError, tk.TclError):      # no file handlers (Windows): POLL_MS polling only
            self.wakeable = False
        setup_styles(root)
        root.title("zchat")
        root.minsize(*settings.MIN_SIZE)
        self._restore_geometry()
        root.rowconfigure(0, weight=1)
        root.columnconfigure(0, weight=1)
        root.protocol("WM_DELETE_WINDOW", self.request_exit)
        root.report_callback_exception = self._callback_failed
        self.join = JoinScreen(root, self._join, name=name, server=server or default_server(), link=link,
                               device=device)
        self.join.grid(row=0, column=0)                 # centred
        (self.join.name if not name else self.join.button).focus_force()

    def _restore_geometry(self) -> None:
        if self.config_dir is None:
            return
        saved = settings.fitting(settings.load(self.config_dir).get("geometry"),
                                 (self.root.winfo_screenwidth(), self.root.winfo_screenheight()))
        if not saved:                    # nothing saved (or it does not fit): a comfortable default
            w, h = settings.DEFAULT_SIZE
            saved = f"{min(w, self.root.winfo_screenwidth())}x{min(h, self.root.winfo_screenheight())}"
        self.root.geometry(saved)

    def _save_geometry(self) -> None:
        if self.config_dir is not None:
            self.root.update_idletasks()
            settings.save(self.config_dir, geometry=self.root.geometry())

    # ---------------------------------------------------------------- joining
    def _join(self, name: str, server: str, link: str = "", device: str = "") -> None:
        self._drop_client()
        self.status = 0
        try:
            client = self.make_client(server or None)
        except Exception as exc:          # NoServer, ServerKeyChanged, ValueError: the message says what to do
            self.join.show_error(str(exc))
            return
        try:
            client.join(name, link=link or None, device=device or None)
        except ValueError as exc:         # a malformed link code or device name, checked by the core
            client.close()
            self.join.show_error(f"Cannot join as {name}: {exc}")
            self.join.show_link(focus=True)
            return
        except Exception as exc:
            client.close()
            self.join.show_error(f"Cannot join as {name}: {exc}")
            return
        self.client = client
        if self.wakeable:
            client.set_wakeup(self._wake)
        self._schedule(0)

    def _drop_client(self) -> None:
        if self.client is not None:
            self.client.set_wakeup(None)
            self.client.close()
            self.client = None

    def _joined(self, e: ev.Joined) -> None:
        assert self.client is not None
        self.join.grid_remove()
        self.window = ChatWindow(self.root, self.client, on_quit=self.request_exit)
        self.window.grid(row=0, column=0, sticky="nsew")
        self.root.title(f"zchat — {e.name}")
        self.window.joined(e)

    def _callback_failed(self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        """A click or key whose Client call came after the session ended (ClientClosed): said in the
        status bar, not as a traceback. Anything else is a bug: its traceback goes to stderr as usual."""
        if isinstance(exc, ClientClosed) and self.window is not None:
            self.window.status.set_state(f"✕ {exc}", "bad")
            return
        traceback.print_exception(kind, exc, tb, file=sys.stderr)

    # ---------------------------------------------------------------- the pump (main thread only)
    def _wake(self) -> None:
        """Called on the client's I/O thread: no Tk here, only a byte into the pipe."""
        try:
            os.write(self._pipe_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _on_wake(self, _fd: int, _mask: int) -> None:
        try:
            while os.read(self._pipe_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        if not self._idle:
            self._schedule(0)

    def _schedule(self, ms: int) -> None:
        if self.done:
            return
        if self._job is not None:
            self.root.after_cancel(self._job)
        self._idle = ms == 0
        self._job = self.root.after_idle(self._pump) if ms == 0 else self.root.after(ms, self._pump)

    def _pump(self) -> None:
        self._job, self._idle = None, False
        client = self.client
        if client is None or self.done:
            return
        events = client.poll_events(BATCH)
        for event in events:
            try:
                self._handle(event)
            except Exception:          # one bad draw must not stop the pump
                traceback.print_exc(file=sys.stderr)
            if self.done or self.client is not client:
                return
        if self.window is not None:
            self.window.flush()
        self._schedule(0 if len(events) == BATCH else POLL_MS)

    def _handle(self, e: ev.Event) -> None:
        if isinstance(e, ev.ConnectionChanged) and e.state == ConnState.FAILED:
            self.status = 1
        if isinstance(e, ev.Left):
            self._left(e.reason)
        elif self.window is not None:
            self.window.apply(e)
        elif isinstance(e, ev.Joined):
            self._joined(e)
        elif isinstance(e, ev.JoinFailed):
            self._drop_client()
            self.join.show_error(f"Cannot join as {e.name}: {e.message}")
            if e.code == "link_invalid":
                self.join.show_link(focus=True)
                return
            if e.code == "name_taken":       # perhaps this person's own name, on another device
                self.join.show_link()
            self.join.name.focus_force()
            self.join.name.select_range(0, "end")
        elif isinstance(e, ev.ConnectionChanged):
            if e.state == ConnState.FAILED:
                self._drop_client()
                self.join.show_error(e.detail)
            elif e.state == ConnState.RECONNECTING:
                self.join.show_status(f"{e.detail}; still trying… (change the server and press Join "
                                      f"to try another)")
            else:
                self.join.show_status(f"{e.state} {e.detail}".strip() + "…")

    # ---------------------------------------------------------------- leaving
    def _left(self, reason: str) -> None:
        """The session is over: at once if the user asked for it, else say why first."""
        if self.leaving:
            self.finish(self.status)
        elif self.window is None:            # still on the join screen: another try is possible
            self._drop_client()
            self.join.show_error(reason)
        else:
            self._ended(reason)

    def _ended(self, reason: str) -> None:
        """The broker ended the session (this device revoked, the account banned...) or the client
        failed: the window stays, disabled, until the user has read why in a dialog."""
        assert self.window is not None
        self._drop_client()
        self.window.ended(reason)
        why = f"{reason[:1].upper()}{reason[1:].rstrip('.')}."
        self.ended = MessageDialog(self.root, "zchat: session ended", "Your session has ended",
                                   f"{why}\n\nzchat closes when you press OK.",
                                   on_close=lambda: self.finish(self.status))

    def request_exit(self) -> None:
        """Closing the window or Ctrl+Q: leave (others are told), then close once Left comes."""
        if self.done:
            return
        if self.client is None or self.window is None:
            self.finish(self.status)
            return
        self.leaving = True
        self.window.status.set_state("◌ leaving…", "busy")
        if self._leave_job is None:
            self.client.leave()
            self._leave_job = self.root.after(LEAVE_WAIT_MS, lambda: self.finish(self.status))

    def finish(self, status: int) -> None:
        if self.done:
            return
        self.done, self.status = True, status
        try:
            self._save_geometry()
        except tk.TclError:            # the window is gone already
            pass
        for job in (self._job, self._leave_job):
            if job is not None:
                self.root.after_cancel(job)
        self._job = self._leave_job = None
        if self.ended is not None:
            try:
                self.ended.destroy()
            except tk.TclError:
                pass
        self._drop_client()
        if self.window is not None:
            self.window.attention.close()       # the desktop notifier's thread, where there is one
        if self.wakeable:
            self.root.tk.deletefilehandler(self._pipe_r)
        os.close(self._pipe_r)
        os.close(self._pipe_w)
        self.on_exit(status)
