"""The terminal client's interactive mode: a full-screen prompt_toolkit application, WeeChat-like.

From top to bottom: a title bar (the conversation on screen), that conversation's buffer with
its own scrollback, a status bar (you, the buffer, the connection, the activity list) and the
input line. Events are drained on the asyncio loop (the client's wake-up hops there with
``call_soon_threadsafe``) into a :class:`~zchat.frontends.cli_model.ChatModel`; the screen is
drawn from it, whole, so a resize redraws without leftovers. Keys only call the client: the
core owns the current conversation, and the screen follows its ``ConversationsChanged``.
Only imported when stdin and stdout are a terminal.
"""
from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer as InputBuffer
from prompt_toolkit.filters import Condition, has_completions
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.layout import (
    BufferControl,
    Float,
    FloatContainer,
    FormattedTextControl,
    HSplit,
    Layout,
    UIContent,
    UIControl,
    Window,
)
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.menus import CompletionsMenu
from prompt_toolkit.layout.processors import BeforeInput

from zchat import events as ev
from zchat.frontends.cli import LEAVE_WAIT, Fatal, join, make_client
from zchat.frontends.cli_complete import ChatCompleter
from zchat.frontends.cli_model import CONTEXT, HISTORY_COUNT, ChatModel
from zchat.frontends.cli_render import STYLE, rows_of, status_bar, title_bar, visible_rows

if TYPE_CHECKING:
    from zchat.client import Client
    from zchat.plugins import Launch

DRAIN_BATCH = 500       # events handled per turn of the loop, so keys stay responsive in a flood
REDRAW_GAP = 0.03       # seconds: redraws are at most this often (a flood is drawn in batches)


class ChatLog(UIControl):
    """The buffer on screen, bottom-aligned, scrolled to its anchor; remembers the size it was drawn at."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.width, self.height = 80, 20

    def create_content(self, width: int, height: int) -> UIContent:
        self.width, self.height = width, height
        rows = visible_rows(self.model, self.model.buffers.shown, width, height)
        rows = [[] for _ in range(height - len(rows))] + rows
        return UIContent(get_line=lambda i: rows[i], line_count=len(rows), show_cursor=False)

    def is_focusable(self) -> bool:
        return False

    def scroll(self, pages: int) -> None:
        buf = self.model.buffers.shown
        buf.scroll(pages * max(1, self.height - 2), self.height, rows_of(self.model, buf, self.width))


class FullScreen:
    """One run of the interactive client: the application, the client it drives, the keys."""

    def __init__(self, launch: Launch, options: argparse.Namespace) -> None:
        self.launch, self.options = launch, options
        self.model = ChatModel(hide_joins=bool(getattr(options, "hide_joins", False)), server=options.server)
        self.client: Client | None = None
        self.asking_name = False
        self.leaving = False
        self.farewell = ""
        self.fatal: Fatal | None = None
        self._exiting = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._wake_pending = False
        self.log = ChatLog(self.model)
        self.input = InputBuffer(multiline=False, completer=ChatCompleter(self.model.view), complete_while_typing=False,
                                 history=InMemoryHistory(), accept_handler=self._accept)
        self.input.on_text_changed += self._typed
        self.app: Application[None] = Application(layout=self._layout(), key_bindings=self._keys(), style=STYLE,
                                                  full_screen=True, mouse_support=False, min_redraw_interval=REDRAW_GAP)

    # ---------------------------------------------------------------- drawing
    def _layout(self) -> Layout:
        bar = "class:bar"
        body = HSplit([
            Window(FormattedTextControl(lambda: title_bar(self.model, self.app.output.get_size().columns)),
                   height=1, style=bar),
            Window(self.log),
            Window(FormattedTextControl(lambda: status_bar(self.model, self.leaving)), height=1, style=bar),
            Window(BufferControl(self.input, input_processors=[BeforeInput(self._prompt, style="class:prompt")]),
                   height=Dimension(min=1, max=3), wrap_lines=True, dont_extend_height=True),
        ])
        menu = Float(xcursor=True, ycursor=True, content=CompletionsMenu(max_height=8, scroll_offset=1))
        return Layout(FloatContainer(body, floats=[menu]), focused_element=self.input)

    def _prompt(self) -> str:
        return "your name: " if self.asking_name else f"{self.model.buffers.shown.label}> "

    # ---------------------------------------------------------------- keys
    def _keys(self) -> KeyBindings:
        kb = KeyBindings()
        buffers = self.model.buffers

        def number(n: int) -> None:
            @kb.add("escape", str(n % 10))
            def _(event: KeyPressEvent) -> None:
                self._show(buffers.at(n))
        for n in range(1, 11):
            number(n)

        @kb.add("escape", "left")
        @kb.add("f5")
        @kb.add("c-p", filter=~has_completions)
        def _previous(event: KeyPressEvent) -> None:
            self._show(buffers.neighbour(-1))

        @kb.add("escape", "right")
        @kb.add("f6")
        @kb.add("c-n", filter=~has_completions)
        def _next(event: KeyPressEvent) -> None:
            self._show(buffers.neighbour(1))

        @kb.add("escape", "a")
        def _hottest(event: KeyPressEvent) -> None:
            self._show(buffers.hottest())

        @kb.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            self.log.scroll(-1)

        @kb.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.log.scroll(1)

        @kb.add("escape", "j")
        def _toggle_joins(event: KeyPressEvent) -> None:
            self.model.hide_joins = not self.model.hide_joins

        @kb.add("escape", "w")
        def _close(event: KeyPressEvent) -> None:
            self._close_dm()

        @kb.add("escape", "g")
        def _next_hit(event: KeyPressEvent) -> None:
            self._jump()

        empty = Condition(lambda: not self.input.text)

        @kb.add("c-c", filter=~empty)
        def _clear(event: KeyPressEvent) -> None:
            self.input.reset()

        @kb.add("c-c", filter=empty)
        @kb.add("c-d", filter=empty)
        def _quit(event: KeyPressEvent) -> None:
            self._leave()

        return kb

    def _show(self, conv: str | None) -> None:
        """Ask the core to make ``conv`` current; the screen follows when it says so."""
        if (conv is not None and conv != self.model.buffers.current and self.client is not None
                and self.model.view.joined):
            self.client.switch(conv)

    def _close_dm(self) -> None:
        """Alt+W: close the DM on screen through the core's /close (its buffer goes when the core's
        conversation list drops it); other buffers are not closed by a key."""
        buf = self.model.buffers.shown
        if buf.kind != ev.ConvKind.DM:
            self.model.note(["Alt+W closes a direct-message buffer; /leave GROUP leaves a group"])
        elif self.client is not None:
            self.client.execute(f"/close @{buf.title}")     # the core's command; see README

    def _jump(self) -> None:
        """Alt+G: the next hit of the last /search, in its conversation among the lines around it (the
        core fetches them; the buffer scrolls there once the line is in it, see ChatModel.settle_jump)."""
        hit = self.model.next_hit()
        if hit is None or self.client is None or not self.model.view.joined:
            return
        if hit.conv != self.model.buffers.current:
            self.client.switch(hit.conv)
        self.client.context(hit.conv, hit.seq, CONTEXT)

    # ---------------------------------------------------------------- input
    def _typed(self, _buffer: InputBuffer) -> None:
        """Each change of the input line: tell the others we are typing (the core sends at most one
        notice every few seconds); not for commands, not while asking for a name or leaving."""
        text = self.input.text
        if (text and not text.startswith("/") and self.client is not None and not self.asking_name
                and not self.leaving and self.model.view.joined):
            self.client.typing()

    def _accept(self, _buffer: InputBuffer) -> bool:
        line = self.input.text
        if self.asking_name:
            if line.strip():
                try:
                    self._join(line.strip())
                except Fatal as exc:       # said after the screen closes, as when --name was given
                    self.fatal = exc
                    self._exit()
        elif self.client is not None and not self.leaving:
            self.model.buffers.shown.anchor = None        # show what you said
            self.client.execute(line)
        return False                                       # clear the line (it goes into the history)

    def _join(self, name: str) -> None:
        client = self.client or make_client(self.launch, self.options)
        self.client, self.asking_name = client, False
        client.set_wakeup(self._wake)
        join(client, name)

    def _leave(self) -> None:
        """Ctrl-D or Ctrl-C: tell the others and wait (bounded) for Left; a second press stops waiting."""
        client = self.client
        if client is None or client.name is None or self.leaving:
            self._exit("leaving: no answer from the broker" if self.leaving else "")
            return
        self.leaving = True
        client.leave()
        assert self.loop is not None
        self.loop.call_later(LEAVE_WAIT, self._exit, "leaving: no answer from the broker")

    def _exit(self, farewell: str = "") -> None:
        """Close the screen; ``farewell`` (or the reason the session ended) is printed after it."""
        if self.app.is_running and not self._exiting:
            self._exiting, self.farewell = True, farewell
            self.app.exit()

    # ---------------------------------------------------------------- events
    def _wake(self) -> None:
        """On the client's I/O thread: schedule one drain on the loop (not one per event)."""
        if self._wake_pending or self.loop is None:
            return
        self._wake_pending = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:       # the loop closed while the client was still talking
            pass

    def _drain(self) -> None:
        self._wake_pending = False
        client = self.client
        if client is None:
            return
        events = client.poll_events(DRAIN_BATCH)
        for event in events:
            self.model.apply(event)
            if isinstance(event, ev.JoinFailed):
                self._ask_name_again(client)
                break
            if isinstance(event, ev.Left):
                self._exit()
                break
        self.model.settle_jump()
        if self.model.bells:
            self.model.bells = 0
            self.app.output.bell()          # "\a": the terminal rings or flags the window (not while dnd)
        conv = self.model.wants_history()
        if conv is not None and self.client is client:
            client.history(HISTORY_COUNT, conv)
        if len(events) == DRAIN_BATCH and self.client is client and self.loop is not None:
            self.loop.call_soon(self._drain)
        self.app.invalidate()

    def _ask_name_again(self, old: Client) -> None:
        old.set_wakeup(None)
        old.close(timeout=1.0)
        self.client, self.asking_name = None, True       # the next line typed is another name

    # ---------------------------------------------------------------- running
    async def run(self) -> int:
        self.loop = asyncio.get_running_loop()
        self.client = make_client(self.launch, self.options)   # a bad --server fails before the screen opens
        if self.options.name:
            self._join(self.options.name)
        else:
            self.asking_name = True
        try:
            await self.app.run_async()
        finally:
            if self.client is not None:
                self.client.set_wakeup(None)
                self.client.close()
        if self.fatal is not None:
            raise self.fatal
        farewell = self.farewell or self.model.left
        if farewell:
            print(f"* {farewell}", flush=True)       # on the terminal's own screen, after the full-screen one
        return 0


def run_interactive(launch: Launch, options: argparse.Namespace) -> int:
    return asyncio.run(FullScreen(launch, options).run())
