"""The terminal client's interactive mode: a prompt_toolkit prompt on an asyncio loop.

Incoming events are drained on the loop thread (the client's wake-up hops there with
``call_soon_threadsafe``) and printed through a stdout proxy, so they appear above the prompt
and never disturb what is being typed. The prompt shows the current conversation; the bottom
toolbar the connection state and unread counts. Only imported when stdin and stdout are a terminal.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.patch_stdout import StdoutProxy

from zchat import events as ev
from zchat.commands import COMMANDS, EXIT_WORD
from zchat.frontends.cli import LEAVE_WAIT, make_client
from zchat.frontends.cli_view import View

if TYPE_CHECKING:
    from zchat.client import Client

WRITE_BATCH = 0.02   # seconds the stdout proxy gathers output before one redraw (prompt_toolkit's default: 0.2)
USER_ARGS = {"msg": 0, "invite": 0}               # command -> index of the argument that is a user name
GROUP_ARGS = {"join": 0, "leave": 0, "who": 0, "invite": 1}


class ChatCompleter(Completer):
    """Commands after "/", then user names and group names where a command expects them;
    ``@name`` anywhere; conversations for /switch."""

    def __init__(self, view: View) -> None:
        self.view = view

    def get_completions(self, document: Document, complete_event: Any) -> Iterable[Completion]:
        text = document.text_before_cursor
        word = document.get_word_before_cursor(WORD=True)
        if text.startswith("/") and " " not in text:
            words = [f"/{name}" for name in COMMANDS]
        elif text.startswith("/"):
            command, *args = text[1:].split(" ")
            index = len(args) - 1
            command = command.lower()
            if command == "switch" and index == 0:
                words = ["everyone"] + [f"@{u}" for u in self._users()] + [f"#{g}" for g in self._groups()]
            elif USER_ARGS.get(command) == index:
                words = self._users()
            elif GROUP_ARGS.get(command) == index:
                words = self._groups()
            else:
                words = []
        elif word.startswith("@"):
            words = [f"@{u}" for u in self._users()]
        elif EXIT_WORD.startswith(text) and text.startswith("["):
            words = [EXIT_WORD]
        else:
            words = []
        for w in words:
            if w.lower().startswith(word.lower()) and w != word:
                yield Completion(w + " ", start_position=-len(word), display=w)   # ready for the next word

    def _users(self) -> list[str]:
        return sorted(self.view.users, key=str.lower)

    def _groups(self) -> list[str]:
        return sorted(self.view.groups, key=str.lower)


@contextmanager
def patched_stdout() -> Iterator[None]:
    """prompt_toolkit's ``patch_stdout(raw=True)`` with a shorter batching delay."""
    with StdoutProxy(raw=True, sleep_between_writes=WRITE_BATCH) as proxy:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = proxy  # type: ignore[assignment]
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


class Interactive:
    def __init__(self, launch: Any, options: argparse.Namespace) -> None:
        self.launch, self.options = launch, options
        self.view = View()
        self.client: Client | None = None
        self.asking_name = False
        self.left = False
        self.left_event: asyncio.Event | None = None
        self.session: PromptSession[str] = PromptSession(
            completer=ChatCompleter(self.view), complete_while_typing=False, erase_when_done=True,
            bottom_toolbar=self._toolbar)

    # ---------------------------------------------------------------- drawing
    def _prompt(self) -> str:
        return "your name: " if self.asking_name else f"{self.view.current_label()}> "

    def _toolbar(self) -> str:
        return " " + self.view.status()

    def _drain(self) -> None:
        """On the loop thread: print what came in, above the prompt, and redraw the status line."""
        client = self.client
        if client is None:
            return
        events = client.poll_events(200)
        lines: list[str] = []
        for event in events:
            lines += self.view.apply(event)
            if isinstance(event, ev.JoinFailed):
                self._ask_name_again(client)
                break
            if isinstance(event, ev.Left):
                self._finish()
                break
        if lines:
            print("\n".join(lines), flush=True)
        if len(events) == 200 and self.client is client:
            asyncio.get_running_loop().call_soon(self._drain)
        if self.session.app.is_running:
            self.session.app.invalidate()

    def _ask_name_again(self, old: Client) -> None:
        old.set_wakeup(None)
        old.close(timeout=1.0)
        self.client, self.asking_name = None, True     # the next line typed is another name

    def _finish(self) -> None:
        self.left = True
        if self.left_event is not None:
            self.left_event.set()
        app = self.session.app
        if app.is_running and app.future is not None and not app.future.done():
            app.exit(result=None)

    # ---------------------------------------------------------------- running
    def _join(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        client = self.client or make_client(self.launch, self.options)
        self.client, self.asking_name = client, False
        client.set_wakeup(lambda: loop.call_soon_threadsafe(self._drain))
        client.join(name)

    async def run(self) -> int:
        self.left_event = asyncio.Event()
        self.client = make_client(self.launch, self.options)   # a bad --server fails before the name prompt
        with patched_stdout():
            try:
                if self.options.name:
                    self._join(self.options.name)
                else:
                    self.asking_name = True
                while not self.left:
                    try:
                        line = await self.session.prompt_async(self._prompt)
                    except (EOFError, KeyboardInterrupt):
                        break
                    if line is None or self.left:
                        break
                    if self.asking_name:
                        if line.strip():
                            self._join(line.strip())
                    elif self.client is not None:
                        self.client.execute(line)
                await self._leave()
            finally:
                if self.client is not None:
                    self.client.set_wakeup(None)
                    self.client.close()
        return 0

    async def _leave(self) -> None:
        """Ctrl-D, Ctrl-C or [EXIT]: tell the others, wait (bounded) for Left."""
        client = self.client
        if self.left or client is None:
            return
        if not self.view.joined and client.name is None:     # never joined: nobody to tell
            return
        client.leave()
        try:
            await asyncio.wait_for(self.left_event.wait(), LEAVE_WAIT)   # type: ignore[union-attr]
        except asyncio.TimeoutError:
            print("* leaving: no answer from the broker", flush=True)


def run_interactive(launch: Any, options: argparse.Namespace) -> int:
    return asyncio.run(Interactive(launch, options).run())
