"""The terminal client: ``python -m zchat --ui cli``.

In a terminal it runs a full-screen application (:mod:`zchat.frontends.cli_app`): a buffer per
conversation with its own scrollback, a status bar with the activity list, keys to switch.
When stdin or stdout is not a terminal it runs in plain line mode (here): one input line is one
chat line or command, one event is one flushed output line (written by
:class:`~zchat.frontends.cli_view.View`), so scripts can drive it.
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from zchat import events as ev
from zchat.errors import ZchatError
from zchat.frontends.cli_view import View
from zchat.hookspecs import hookimpl

if TYPE_CHECKING:
    from zchat.client import Client
    from zchat.plugins import Launch

LEAVE_WAIT = 6.0     # seconds to wait for Left after leaving (the core gives up after 3)
EOF_JOIN_WAIT = 15.0  # stdin ended before the join finished: how long the join may still take


@hookimpl
def zchat_addoption(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "terminal client (--ui cli)",
        "Each line shows its number (#12): /reply, /react, /edit and /delete take it. A line that names you "
        "(@you) or a direct message rings the terminal's bell and is marked with » (not while /dnd); the "
        "activity list counts those apart: 3:@bob(2 @2). Alt+G shows the next /search hit among the lines "
        "around it. /help lists the commands.")
    group.add_argument("--hide-joins", action="store_true",
                       help="do not show who joined, left or lost the connection (Alt+J toggles it)")


@hookimpl
def zchat_register_frontends(register: Callable[..., None]) -> None:
    register("cli", CliFrontend, help="terminal client: prompt with completion; plain line mode when not a terminal")


class Fatal(Exception):
    """A problem to print as one ``zchat: error: ...`` line; the process exits with status 2."""


def make_client(launch: Launch, options: argparse.Namespace) -> Client:
    try:
        return launch.client()   # options.server, options.config_dir, options.away_after
    except (ZchatError, ValueError) as exc:
        raise Fatal(str(exc)) from exc


def join(client: Client, name: str) -> None:
    """Start the session as ``name``. The core checks --link and --device here; a bad one is Fatal,
    since no name typed afterwards could fix it (a bad name is a JoinFailed instead)."""
    try:
        client.join(name)
    except ValueError as exc:
        client.close()
        raise Fatal(str(exc)) from exc


def is_terminal() -> bool:
    # sys.stdin is None when fd 0 is closed (`zchat <&-`): check it before isatty()
    return bool(sys.stdin and sys.stdin.isatty() and sys.stdout and sys.stdout.isatty())


class CliFrontend:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options

    def run(self, launch: Launch) -> int:
        try:
            if is_terminal():
                from zchat.frontends.cli_app import run_interactive  # imports prompt_toolkit
                return run_interactive(launch, self.options)
            return PlainMode(launch, self.options).run()
        except Fatal as exc:
            print(f"zchat: error: {exc}", file=sys.stderr, flush=True)
            return 2


_EOF = object()
_WAKE = object()


class PlainMode:
    """Line mode: a reader thread turns stdin into items on one queue, the client's wake-up adds
    a marker to the same queue, and the main thread handles both in order and prints."""

    def __init__(self, launch: Launch, options: argparse.Namespace) -> None:
        self.launch, self.options = launch, options
        self.inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.backlog: deque[object] = deque()       # lines read but not yet used (typed before the join ended)
        self.view = View(options.server)

    def _read_stdin(self) -> None:
        try:
            if sys.stdin is not None:
                for line in sys.stdin:
                    self.inbox.put(line.rstrip("\r\n"))
        except (OSError, ValueError):
            pass
        finally:
            self.inbox.put(_EOF)

    def _next(self, timeout: float | None = None) -> object:
        """The next stdin line, _EOF or _WAKE; None after ``timeout`` seconds."""
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    def _print(self, lines: list[str]) -> None:
        if lines:
            try:
                sys.stdout.write("".join(line + "\n" for line in lines))
                sys.stdout.flush()
            except (BrokenPipeError, ValueError):     # nobody reads our output any more: that is an EOF too
                self.backlog.append(_EOF)

    def run(self) -> int:
        client = make_client(self.launch, self.options)     # a bad --server fails before we read a name
        threading.Thread(target=self._read_stdin, name="zchat-stdin", daemon=True).start()
        name, from_stdin, refused = self.options.name, self.options.name is None, False
        while True:
            if name is None:
                name = self._read_name()
                if name is None:
                    client.close()
                    return 1 if refused else 0
            client.set_wakeup(lambda: self.inbox.put(_WAKE))
            join(client, name)
            outcome = self._session(client)
            client.set_wakeup(None)
            client.close()
            if outcome != "refused":
                return int(outcome)
            if not from_stdin:
                return 1
            name, refused, client = None, True, make_client(self.launch, self.options)

    def _read_name(self) -> str | None:
        while True:
            item = self.backlog.popleft() if self.backlog else self._next()
            if item is _EOF:
                return None
            if isinstance(item, str) and item.strip():
                return item.strip()

    def _session(self, client: Client) -> int | str:
        """Run one session: 0 after Left, 1 if the connection failed, "refused" on JoinFailed."""
        joined = leaving = False
        deadline: float | None = None      # stdin ended or we left: stop waiting for the broker after it
        while True:
            if joined and self.backlog:
                item = self.backlog.popleft()
            else:
                item = self._next(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if item is None:
                self._print(["* leaving: no answer from the broker"])
                return 0
            if item is _WAKE:
                for event in client.poll_events(200):
                    self._print(self.view.apply(event))
                    if isinstance(event, ev.Joined):
                        joined, deadline = True, None
                    elif isinstance(event, ev.JoinFailed):
                        return "refused"
                    elif isinstance(event, ev.Left):
                        return 0
                    elif isinstance(event, ev.ConnectionChanged) and event.state == ev.ConnState.FAILED:
                        return 1
            elif not joined:
                self.backlog.append(item)        # typed before the join ended: keep it for later
                if item is _EOF and deadline is None:
                    deadline = time.monotonic() + EOF_JOIN_WAIT
            elif item is _EOF:
                if not leaving:
                    leaving, deadline = True, time.monotonic() + LEAVE_WAIT
                    client.leave()
            elif isinstance(item, str) and not leaving:
                client.execute(item)
