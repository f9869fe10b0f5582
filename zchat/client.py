"""``Client``: the one object every frontend, bot and bridge talks to.

Its methods may be called from any thread and return at once; outcomes arrive later as
events (zchat.events) that the frontend pulls on its own thread: ``poll_events`` for Tk's
``after`` pump, the blocking ``events()`` iterator for bots, ``set_wakeup`` for asyncio.
One private I/O thread (zchat.client_io) owns the sockets and reconnects by itself.

Arguments are checked in the caller's thread before anything is queued (zchat.client_checks:
TypeError, ValueError). If the I/O thread dies all the same, the frontend gets
``ConnectionChanged(state=FAILED)`` and ``Left``, and every later call raises
:class:`ClientClosed` instead of queueing work nobody will do.
"""
from __future__ import annotations

import queue
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from zchat import client_checks as check
from zchat import commands
from zchat import events as ev
from zchat import protocol as p
from zchat.client_features import FeatureMethods
from zchat.client_io import START_TIMEOUT, IOThread
from zchat.config import default_config_dir
from zchat.errors import ZchatError
from zchat.keys import resolve_server, user_keypair
from zchat.session import ClientSession
from zchat.session_features import IDLE_AFTER

Action = Callable[[ClientSession], object]
_STOPPED = object()      # put on the event queue when the I/O thread ends: wakes a blocked events()


class ClientError(ZchatError, RuntimeError):
    """A Client cannot do what was asked in its present state (join twice, a thread that will not start)."""


class ClientClosed(ClientError):
    """The Client was closed, or its I/O thread has stopped: nothing more can be sent or received."""


class Client(FeatureMethods):
    """A chat session with a broker, for frontends, bots and bridges.

    Args:
        server: the broker's connect string as it printed it (``tcp://HOST:PORT#key=HEX``), or
            several brokers of one database with one key (``tcp://H1:P1,tcp://H2:P2#key=HEX``);
            None: the local default broker (its connect file).
        config_dir: where user key pairs and pinned server keys live (default: ZCHAT_CONFIG_DIR
            or the platform's config dir).
        observers: callables given every event as the frontend drains it (plugins' zchat_event).
        idle_after: seconds without a call from the user (send, typing, switch...) after which the
            account shows "away" by itself, until the next call (default 300; 0: never).

    Raises (at once, before any network traffic):
        zchat.keys.NoServer: no server given and no local broker found.
        zchat.keys.ServerKeyChanged: the broker's key differs from the one pinned on first use.
        ValueError: a malformed connect string, link code or device name.

    Every command method returns at once; what happens arrives as events. They raise TypeError or
    ValueError for bad arguments, and ClientClosed once :meth:`close` was called or the I/O
    thread has stopped.
    """

    def __init__(self, server: str | None = None, *, config_dir: Path | None = None,
                 observers: Sequence[Callable[[ev.Event], None]] = (), link: str | None = None,
                 device: str | None = None, idle_after: float = IDLE_AFTER) -> None:
        self.config_dir = Path(config_dir) if config_dir else default_config_dir()
        # join()'s defaults: a link code, this device's name (checked now, so a bad one is said at once)
        self.link = check.link_code(link)
        self.device = check.name(device, "device name") if device is not None else None
        # several endpoints: brokers sharing one database; start at one of them at random (spreading the
        # clients), move to the next when it fails (zchat.client_io, docs/PROTOCOL.md §4.4)
        self.endpoints, self.server_key = resolve_server(server, self.config_dir)
        self.endpoint = self.endpoints[random.randrange(len(self.endpoints))]
        self.observers = list(observers)
        check.number(idle_after, "idle_after", 0, kind=float)
        self.idle_after = float(idle_after)
        self.name: str | None = None
        self._actions: queue.SimpleQueue[Action | None] = queue.SimpleQueue()
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wakeup: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._session: ClientSession | None = None    # read-only from here: max_text_bytes
        self._closed = False                       # close() was called
        self._why: str | None = None               # set once the client cannot be used: what ClientClosed says
        self._finished = threading.Event()         # no more events will be queued

    @property
    def max_text_bytes(self) -> int:
        """The longest text (UTF-8 bytes) one message may carry: the broker's limit once joined, the
        protocol's before. Longer sends are refused (CommandFailed "too_large"), so a frontend checks first."""
        limits = self._session.limits if self._session is not None else None
        return limits.max_text_bytes if limits is not None else p.MAX_TEXT_BYTES

    # ---------------------------------------------------------------- the session
    def join(self, name: str, *, link: str | None = None, device: str | None = None) -> None:
        """Start the session as ``name``: the I/O thread starts and dials the broker.

        Args:
            name: the user name (1-32 ASCII letters, digits, '_' or '-'); its CURVE key pair (this
                device's) is made on first use in ``config_dir/keys``. The broker binds a name to the
                first key that claims it; another key gets in only with a link code.
            link: a link code made on a device of the account (``link_device``; default: the
                constructor's): this key joins the account as a new device.
            device: this device's name in the account when it is added (default: the constructor's,
                else the broker numbers it).

        Answered by ``ConnectionChanged`` (connecting, connected), then ``Joined`` and
        ``ConversationsChanged`` (and ``ConnectionChanged`` catching_up, live), or by ``JoinFailed``
        (the name is invalid, taken, or the server is full). A name that breaks the name rule gets
        ``JoinFailed(code="name_invalid")`` at once, before any key file is written or any
        connection made; such a client is stopped (make a new one for another name).

        Raises:
            TypeError: ``name`` is not a str.
            ClientError: join() was called already on this client.
            ClientClosed: the client was closed.
            Whatever made the I/O thread fail to start (e.g. zmq.ZMQError: too many open files).
        """
        self._check_open()
        if self._thread is not None:
            raise ClientError("join() was called already; make a new Client for another name")
        try:
            p.check_name(check.string(name, "name"))
        except p.ProtocolError as exc:
            self._stop(f"the name {name!r} was refused")
            self._emit([ev.JoinFailed(name=name, code=exc.code, message=exc.message)])
            self._finish()
            return
        link = check.link_code(link or self.link)
        device = check.name(device or self.device, "device name") if device or self.device else None
        io = IOThread(self, ClientSession(name, link, device, self.idle_after),
                      user_keypair(self.config_dir, name))
        self._session = io.session
        self._thread = threading.Thread(target=io.run, name="zchat-io", daemon=True)
        self.name = name
        self._thread.start()
        if not io.started.wait(START_TIMEOUT):       # the hand-shake of pyzmq's ThreadAuthenticator
            self.close(timeout=0)
            raise ClientError(f"the client's I/O thread did not start within {START_TIMEOUT:.0f} s")
        if io.start_error is not None:
            self._thread.join(START_TIMEOUT)
            raise io.start_error

    def execute(self, line: str) -> None:
        """Do one line as the user typed it: text for the current conversation, a slash command
        (``/help`` lists them) or ``[EXIT]``.

        Answered by whatever the line does (``MessageReceived`` for the own message, ``Info``,
        ``UsersListed``...); bad commands by ``CommandFailed`` (code "usage" or "unknown_command").

        Raises: TypeError (not a str), ValueError (a lone surrogate), ClientClosed.
        """
        line = check.unicode(check.string(line, "line"), "line")
        self._do(lambda s: commands.execute(s, line))

    def send(self, text: str, conv: str | None = None) -> None:
        """Send ``text`` to conversation ``conv`` (a key: "all", "dm:alice:bob", "g:team"; None: the
        current one). It is kept and resent until the broker acknowledges it.

        Answered by the ``MessageReceived`` of the message itself (``own=True``), or ``CommandFailed``
        (e.g. "not_member", "too_large" over the broker's own limit); a rate limit only slows it down
        (an ``Info`` says so).

        Raises: TypeError; ValueError (empty, over ``MAX_TEXT_BYTES`` of UTF-8, not a conversation
        key); ClientClosed.
        """
        text, conv = check.text(text), check.conv(conv)
        self._do(lambda s: s.send(text, conv))

    def dm(self, name: str, text: str) -> None:
        """Send a direct message to user ``name`` (no '@'); the DM shows in the conversation list.

        Answered by ``ConversationsChanged`` (a new DM) and the message's ``MessageReceived``, or
        ``CommandFailed("no_such_user")``, after which a DM this call opened is dropped again.

        Raises: TypeError; ValueError (an invalid name, empty or oversized text); ClientClosed.
        """
        name, text = check.name(name), check.text(text)
        self._do(lambda s: s.dm(name, text))

    def create_group(self, group: str, private: bool = False) -> None:
        """Create group ``group`` (no '#') and make it current; ``private``: members join by invitation.

        Answered by ``ConversationsChanged`` and ``Info("created group ...")``, or ``CommandFailed``
        ("group_exists").

        Raises: TypeError; ValueError (an invalid group name); ClientClosed.
        """
        group = check.name(group, "group name")
        if not isinstance(private, bool):
            raise TypeError(f"private must be a bool, not {type(private).__name__}")
        self._do(lambda s: s.create_group(group, private))

    def join_group(self, group: str) -> None:
        """Join group ``group`` (no '#') and make it current.

        Answered by ``ConversationsChanged``, ``Info("joined group ...")`` and its recent lines, or
        ``CommandFailed`` ("no_such_conversation", "not_invited").

        Raises: TypeError; ValueError (an invalid group name); ClientClosed.
        """
        group = check.name(group, "group name")
        self._do(lambda s: s.join_group(group))

    def leave_group(self, group: str) -> None:
        """Leave group ``group``: it leaves the conversation list; the others see "left".

        Answered by ``Info("left group ...")`` and ``ConversationsChanged``, or ``CommandFailed``
        ("not_member").

        Raises: TypeError; ValueError (an invalid group name); ClientClosed.
        """
        group = check.name(group, "group name")
        self._do(lambda s: s.leave_group(group))

    def invite(self, name: str, group: str) -> None:
        """Invite user ``name`` to group ``group``, which this user is in; they get ``Invited``.

        Answered by ``Info("invited ...")`` or ``CommandFailed`` ("no_such_user", "not_member").

        Raises: TypeError; ValueError (an invalid name); ClientClosed.
        """
        name, group = check.name(name), check.name(group, "group name")
        self._do(lambda s: s.invite(name, group))

    def who(self, group: str | None = None) -> None:
        """List the users of everyone, or the members of ``group``.

        Answered by ``UsersListed``, or ``CommandFailed`` ("not_member").

        Raises: TypeError; ValueError (an invalid group name); ClientClosed.
        """
        group = None if group is None else check.name(group, "group name")
        self._do(lambda s: s.who(group))

    def list_groups(self) -> None:
        """List the groups this user can see. Answered by ``GroupsListed``. Raises: ClientClosed."""
        self._do(lambda s: s.list_groups())

    def link_device(self) -> None:
        """Make a one-time code with which a new device joins this account (``python -m zchat
        --name NAME --link CODE`` on it), good for 10 minutes.

        Answered by ``LinkCodeMade``, or ``CommandFailed`` ("rate_limited"). Raises: ClientClosed.
        """
        self._do(lambda s: s.link_device())

    def list_devices(self) -> None:
        """List this account's devices. Answered by ``DevicesListed``. Raises: ClientClosed."""
        self._do(lambda s: s.list_devices())

    def revoke_device(self, device: str) -> None:
        """Remove a device from the account: its sessions end at once (it gets ``Left`` with the
        reason) and it can no longer read anything new.

        Answered by ``Info``, or ``CommandFailed`` ("no_such_device", "last_device").
        Raises: TypeError; ValueError (not a device name); ClientClosed.
        """
        device = check.name(device, "device name")
        self._do(lambda s: s.revoke_device(device))

    def history(self, count: int = commands.HISTORY_DEFAULT, conv: str | None = None) -> None:
        """Show the last ``count`` (1 to 1000) messages of ``conv`` (None: the current conversation).

        Answered by ``MessageReceived`` events with ``history=True``, oldest first, or
        ``Info("no history here yet")``, or ``CommandFailed``.

        Raises: TypeError; ValueError (count out of range, not a conversation key); ClientClosed.
        """
        check.number(count, "count", 1, commands.HISTORY_MAX)
        conv = check.conv(conv)
        self._do(lambda s: s.show_history(count, conv))

    def switch(self, target: str) -> None:
        """Make ``target`` the current conversation, as a user types it: "everyone", "@NAME" (opens
        the DM), "#GROUP", or a conversation key.

        Answered by ``ConversationsChanged`` (with the new ``current``), or ``CommandFailed("usage")``
        for a target that names no conversation.

        Raises: TypeError; ClientClosed.
        """
        target = check.string(target, "target")
        self._do(lambda s: s.switch(target))

    def close_conversation(self, conv: str) -> None:
        """Take a conversation off the list: a DM, or a group this user has left. ``conv`` is a key
        or a target as for :meth:`switch`. A new message in it opens it again.

        Answered by ``ConversationsChanged``, or ``CommandFailed("usage")`` for everyone, a group this
        user is still in (leave it first), or a conversation that is not open.

        Raises: TypeError; ValueError (empty); ClientClosed.
        """
        if not check.string(conv, "conv").strip():
            raise ValueError("conv is empty: which conversation?")
        self._do(lambda s: s.close_conversation(conv))

    def leave(self) -> None:
        """End the session on purpose ([EXIT]): read marks are saved and the others see "left".

        Answered by ``Left`` (within 3 s even if the broker does not confirm). Call :meth:`close`
        afterwards. Raises: ClientClosed.
        """
        self._do(lambda s: s.leave())

    def close(self, timeout: float = 5.0) -> None:
        """Stop the I/O thread (waiting up to ``timeout`` seconds) and close the sockets, without
        telling anyone (use :meth:`leave` for that). Idempotent; never raises ClientClosed."""
        if self._closed:
            return
        self._closed = True
        self._stop("the client was closed")
        self._actions.put(None)
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout)
        self._finish()
        self._wake_r.close()
        self._wake_w.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the I/O thread has stopped: calls raise ClientClosed."""
        return self._why is not None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._why is not None:
            raise ClientClosed(f"this zchat Client cannot be used any more: {self._why}")

    def _do(self, action: Action) -> None:
        """Queue ``action`` for the I/O thread; every call is the user's doing, so it ends "idle" too."""
        self._check_open()

        def act(s: ClientSession) -> object:
            s.user_active(time.monotonic())
            return action(s)
        self._actions.put(act)
        self._poke()

    def _poke(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):     # a wake-up is pending already, or the pair is closed
            pass

    def _stop(self, why: str) -> None:
        """From now on calls raise ClientClosed saying ``why`` (the first reason given stays)."""
        if self._why is None:
            self._why = why

    def _finish(self) -> None:
        """No more events will be queued: wake a blocked events(), which then stops."""
        if not self._finished.is_set():
            self._finished.set()
            self._events.put(_STOPPED)

    # ---------------------------------------------------------------- events (one frontend thread)
    def poll_events(self, max_events: int = 100) -> list[ev.Event]:
        """Up to ``max_events`` (>= 1) events, without waiting (the Tk pump). Never raises
        ClientClosed: a stopped client just has none left (see :attr:`closed`)."""
        check.number(max_events, "max_events", 1)
        out: list[ev.Event] = []
        while len(out) < max_events:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            if event is not _STOPPED:
                out.append(event)  # type: ignore[arg-type]
        self._observe(out)
        return out

    def events(self, timeout: float | None = None) -> Iterator[ev.Event]:
        """Events as they come, blocking on a queue (never a socket), for bots.

        Stops after ``Left``, after ``timeout`` seconds (None: no limit) without an event, or once a
        stopped client has delivered its last event. Raises ClientClosed when called on a stopped
        client that has nothing left to deliver (so a loop around it cannot spin or hang).
        """
        if timeout is not None:
            check.number(timeout, "timeout", 0, kind=float)
        delivered = False
        while True:
            try:
                event = self._events.get_nowait() if self._finished.is_set() else self._events.get(timeout=timeout)
            except queue.Empty:
                if self._finished.is_set() and not delivered:
                    raise ClientClosed(f"no more events: {self._why}") from None
                return
            if event is _STOPPED:
                continue
            delivered = True
            self._observe([event])  # type: ignore[list-item]
            yield event  # type: ignore[misc]
            if isinstance(event, ev.Left):
                return

    def set_wakeup(self, fn: Callable[[], None] | None) -> None:
        """``fn`` is called whenever events are queued, usually on the I/O thread (on the caller's
        thread for the JoinFailed of an invalid name); it must be thread-safe and only hand over
        (e.g. ``lambda: loop.call_soon_threadsafe(drain)``). None removes it. Never raises ClientClosed."""
        if fn is not None and not callable(fn):
            raise TypeError(f"the wake-up must be callable or None, not {type(fn).__name__}")
        self._wakeup = fn

    def _observe(self, events: list[ev.Event]) -> None:
        for event in events:
            for observer in self.observers:
                observer(event)

    def _emit(self, events: list[ev.Event]) -> None:
        for event in events:
            self._events.put(event)
        wakeup = self._wakeup
        if events and wakeup is not None:
            wakeup()
