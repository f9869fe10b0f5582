"""``Client``: the one object every frontend, bot and bridge talks to.

Its methods may be called from any thread and return at once; outcomes arrive later as
events (zchat.events) that the frontend pulls on its own thread: ``poll_events`` for Tk's
``after`` pump, the blocking ``events()`` iterator for bots, ``set_wakeup`` for asyncio.
One private I/O thread owns the DEALER and the SUB (a ZeroMQ socket belongs to one
thread), drives the sans-IO :class:`~zchat.session.ClientSession`, and reconnects by
itself: libzmq redials with back-off, a socket monitor reports each new link, and the
session says hello again, resubscribes, catches up and resends its outbox.
"""
from __future__ import annotations

import queue
import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import zmq
from zmq.utils.monitor import parse_monitor_message

from zchat import commands
from zchat import events as ev
from zchat import protocol as p
from zchat.config import default_config_dir
from zchat.keys import resolve_server, user_keypair
from zchat.session import ClientSession

Action = Callable[[ClientSession], object]
RECONNECT_MIN, RECONNECT_MAX = 0.25, 5.0      # seconds; libzmq doubles the interval up to the max
LEAVE_TIMEOUT = 3.0                            # [EXIT] with a silent broker still ends the client


class Client:
    """A chat session with a broker. ``server`` is a connect string (None: the local default broker).
    Raises NoServer, ServerKeyChanged or ValueError at once when the server cannot be used."""

    def __init__(self, server: str | None = None, *, config_dir: Path | None = None,
                 observers: Sequence[Callable[[ev.Event], None]] = ()) -> None:
        self.config_dir = Path(config_dir) if config_dir else default_config_dir()
        self.endpoint, self.server_key = resolve_server(server, self.config_dir)
        self.observers = list(observers)
        self.name: str | None = None
        self._actions: queue.SimpleQueue[Action | None] = queue.SimpleQueue()
        self._events: queue.SimpleQueue[ev.Event] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._wakeup: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._session: ClientSession | None = None    # read-only from here: max_text_bytes
        self._closed = False

    @property
    def max_text_bytes(self) -> int:
        """The longest text (UTF-8 bytes) one message may carry: the broker's limit once joined, the
        protocol's before. Longer sends are refused (CommandFailed "too_large"), so a frontend checks first."""
        limits = self._session.limits if self._session is not None else None
        return limits.max_text_bytes if limits is not None else p.MAX_TEXT_BYTES

    # ---------------------------------------------------------------- commands (any thread, never block)
    def join(self, name: str) -> None:
        """Start the session as ``name`` (its key pair is made on first use); Joined or JoinFailed follows."""
        if self._thread is not None:
            raise RuntimeError("join() was called already; make a new Client for another name")
        self.name = name
        keys = user_keypair(self.config_dir, name)
        io = _IOThread(self, name, keys)
        self._session = io.session
        self._thread = threading.Thread(target=io.run, name="zchat-io", daemon=True)
        self._thread.start()

    def _do(self, action: Action) -> None:
        if self._closed:
            raise RuntimeError("the client is closed")
        self._actions.put(action)
        try:
            self._wake_w.send(b"x")
        except BlockingIOError:     # the I/O thread has a wake-up pending already
            pass

    def execute(self, line: str) -> None:
        """What a frontend calls with a typed line: text, a slash command or [EXIT]."""
        self._do(lambda s: commands.execute(s, line))

    def send(self, text: str, conv: str | None = None) -> None:
        self._do(lambda s: s.send(text, conv))

    def dm(self, name: str, text: str) -> None:
        self._do(lambda s: s.dm(name, text))

    def create_group(self, group: str, private: bool = False) -> None:
        self._do(lambda s: s.create_group(group, private))

    def join_group(self, group: str) -> None:
        self._do(lambda s: s.join_group(group))

    def leave_group(self, group: str) -> None:
        self._do(lambda s: s.leave_group(group))

    def invite(self, name: str, group: str) -> None:
        self._do(lambda s: s.invite(name, group))

    def who(self, group: str | None = None) -> None:
        """List the users of everyone, or the members of ``group``; UsersListed follows."""
        self._do(lambda s: s.who(group))

    def list_groups(self) -> None:
        """List the groups this user can see; GroupsListed follows."""
        self._do(lambda s: s.list_groups())

    def history(self, count: int = 20, conv: str | None = None) -> None:
        self._do(lambda s: s.show_history(count, conv))

    def switch(self, target: str) -> None:
        self._do(lambda s: s.switch(target))

    def leave(self) -> None:
        """End the session on purpose ([EXIT]): others see "left"; a Left event follows."""
        self._do(lambda s: s.leave())

    def close(self, timeout: float = 5.0) -> None:
        """Stop the I/O thread and close the sockets (without telling anyone: use leave() for that)."""
        if self._closed:
            return
        self._closed = True
        self._actions.put(None)
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- events (one frontend thread)
    def poll_events(self, max_events: int = 100) -> list[ev.Event]:
        """Up to ``max_events`` events, without waiting (the Tk pump)."""
        out: list[ev.Event] = []
        while len(out) < max_events:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        self._observe(out)
        return out

    def events(self, timeout: float | None = None) -> Iterator[ev.Event]:
        """Events as they come, blocking on a queue (never a socket); stops after Left, or after
        ``timeout`` seconds without an event."""
        while True:
            try:
                event = self._events.get(timeout=timeout)
            except queue.Empty:
                return
            self._observe([event])
            yield event
            if isinstance(event, ev.Left):
                return

    def set_wakeup(self, fn: Callable[[], None] | None) -> None:
        """``fn`` is called on the I/O thread whenever events are queued; it must be thread-safe
        (e.g. ``lambda: loop.call_soon_threadsafe(drain)``)."""
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


class _IOThread:
    """Owns the sockets. Everything here runs on the "zchat-io" thread."""

    def __init__(self, client: Client, name: str, keys: tuple[bytes, bytes]) -> None:
        self.client, self.session = client, ClientSession(name)
        self.public, self.secret = keys
        self.ctx = zmq.Context()
        self.dealer: zmq.Socket | None = None
        self.sub: zmq.Socket | None = None
        self.monitor: zmq.Socket | None = None
        self.sub_endpoint = self.sub_token = ""
        self.topics: set[bytes] = set()
        self.leave_deadline: float | None = None
        self.failures = 0
        self._poller = zmq.Poller()
        self._polled: tuple[zmq.Socket | None, ...] = ()

    def _socket(self, kind: int) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        s.curve_serverkey = self.client.server_key
        s.curve_publickey, s.curve_secretkey = self.public, self.secret
        s.reconnect_ivl, s.reconnect_ivl_max = int(RECONNECT_MIN * 1000), int(RECONNECT_MAX * 1000)
        s.heartbeat_ivl, s.heartbeat_timeout = 2000, 6000
        return s

    def _dial(self) -> None:
        """(Re)make the DEALER: a fresh connection is a fresh session on the broker's side."""
        self._close_sockets()
        self.dealer = self._socket(zmq.DEALER)
        self.dealer.routing_id = p.new_routing_id()   # random: no other peer can guess it and take our replies
        self.dealer.immediate = True          # never queue requests for a link that is not up
        self.monitor = self.dealer.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        self.dealer.connect(self.client.endpoint)
        self.client._emit([ev.ConnectionChanged(state=ev.ConnState.CONNECTING, detail=self.client.endpoint)])

    def _close_sockets(self) -> None:
        if self.dealer is not None:
            self.dealer.disable_monitor()
        for s in (self.monitor, self.dealer, self.sub):
            if s is not None:
                s.close(0)
        self.dealer = self.monitor = self.sub = None
        self.sub_endpoint, self.sub_token, self.topics = "", "", set()

    def run(self) -> None:
        try:
            self._dial()
            while self._turn():
                pass
        finally:
            self._close_sockets()
            self.ctx.term()

    def _turn(self) -> bool:
        """One loop turn; False when the client is closed."""
        socks = (self.dealer, self.sub, self.monitor)
        if socks != self._polled:     # rebuilt only when a socket was made or closed, not every turn
            self._poller = zmq.Poller()
            self._poller.register(self.client._wake_r, zmq.POLLIN)
            for sock in socks:
                if sock is not None:
                    self._poller.register(sock, zmq.POLLIN)
            self._polled = socks
        self._poller.poll(5 if self.session.frames else 100)
        now = time.monotonic()
        s = self.session
        try:
            self.client._wake_r.recv(4096)
        except (BlockingIOError, OSError):
            pass
        while True:
            try:
                action = self.client._actions.get_nowait()
            except queue.Empty:
                break
            if action is None:
                return False
            action(s)
        self._read_monitor(now)
        self._drain(self.dealer, lambda frames: s.receive_reply(frames[-1], now))
        self._drain(self.sub, lambda frames: s.receive_published(frames[0], frames[-1], now) if len(frames) == 2 else None)
        if not s.tick(now):
            s.connection_lost()
            self.client._emit([ev.ConnectionChanged(state=ev.ConnState.RECONNECTING, retry_in=RECONNECT_MIN,
                                                    detail="the broker stopped answering")])
            self._dial()
        self._flush(now)
        return True

    def _drain(self, sock: zmq.Socket | None, handle: Callable[[list[bytes]], object]) -> None:
        while sock is not None:
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            handle(frames)

    def _read_monitor(self, now: float) -> None:
        while self.monitor is not None:
            try:
                event = parse_monitor_message(self.monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                return
            kind = event["event"]
            if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.failures = 0
                self.client._emit([ev.ConnectionChanged(state=ev.ConnState.CONNECTED, detail=self.client.endpoint)])
                self.session.connected(now)
            elif kind == zmq.EVENT_DISCONNECTED:
                self.session.connection_lost()
                self.client._emit([ev.ConnectionChanged(state=ev.ConnState.RECONNECTING, retry_in=RECONNECT_MIN,
                                                        detail="lost the link to the broker")])
            elif kind == zmq.EVENT_CONNECT_RETRIED:
                self.client._emit([ev.ConnectionChanged(state=ev.ConnState.RECONNECTING, retry_in=event["value"] / 1000,
                                                        detail=f"no broker at {self.client.endpoint}")])
            else:
                self.failures += 1
                self.client._emit([ev.ConnectionChanged(
                    state=ev.ConnState.FAILED if self.failures >= 3 else ev.ConnState.RECONNECTING, retry_in=RECONNECT_MIN,
                    detail="the broker did not complete the encrypted handshake: is the connect string "
                           "(and its key) the one the broker printed?")])

    def _flush(self, now: float) -> None:
        s = self.session
        if s.pub_endpoint and (s.pub_endpoint, s.sub_token) != (self.sub_endpoint, self.sub_token):
            if self.sub is not None:   # a new session: its token is new, and subscriptions go with the link
                self.sub.close(0)
            self.sub = self._socket(zmq.SUB)
            self.sub.setsockopt(zmq.METADATA, p.sub_metadata(s.sub_token))
            self.sub.connect(s.pub_endpoint)
            self.sub_endpoint, self.sub_token, self.topics = s.pub_endpoint, s.sub_token, set()
        if self.sub is not None:
            for t in s.subscribe:
                if t not in self.topics:
                    self.topics.add(t)
                    self.sub.subscribe(t)
            for t in s.unsubscribe:
                if t in self.topics:
                    self.topics.discard(t)
                    self.sub.unsubscribe(t)
            for t in s.resubscribe:      # the broker skipped these: cancel our count of one, then ask again
                if t in self.topics:
                    self.sub.unsubscribe(t)
                    self.sub.subscribe(t)
            s.subscribe.clear()
            s.unsubscribe.clear()
            s.resubscribe.clear()
        sent = 0
        for frame in s.frames:
            try:
                self.dealer.send(frame, zmq.NOBLOCK)   # type: ignore[union-attr]
            except zmq.Again:          # the link's queue is full (or there is no link): the rest waits, in order
                break
            sent += 1
        if sent:
            s.last_sent = now
            del s.frames[:sent]
        events, s.events = s.events, []
        if any(isinstance(e, ev.Left) for e in events):
            self.leave_deadline = None
        elif self.leave_deadline is None and any(w == "bye" for w, _ in s.pending.values()):
            self.leave_deadline = now + LEAVE_TIMEOUT
        elif self.leave_deadline is not None and now > self.leave_deadline:
            self.leave_deadline = None
            events.append(ev.Left(reason="left (the broker did not confirm)"))
        self.client._emit(events)
