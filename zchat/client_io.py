"""The Client's one I/O thread: it owns the DEALER and the SUB (a ZeroMQ socket belongs to one
thread), drives the sans-IO :class:`~zchat.session.ClientSession`, and reconnects by itself:
libzmq redials with back-off, a socket monitor reports each new link, and the session says
hello again, resubscribes, catches up and resends its outbox.

The thread cannot die silently. Its start is a hand-shake (as pyzmq's ThreadAuthenticator
does it): ``Client.join`` waits, bounded, until the context and sockets exist or their
creation failed, and re-raises that failure. After the start, anything that escapes a loop
turn is logged with its traceback and becomes ``ConnectionChanged(state=FAILED)`` and
``Left`` for the frontend; the client is then stopped, so later calls raise ClientClosed.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import zmq
from zmq.utils.monitor import parse_monitor_message

from zchat import events as ev
from zchat import protocol as p
from zchat.session import ClientSession

if TYPE_CHECKING:
    from zchat.client import Client

log = logging.getLogger("zchat.client")
RECONNECT_MIN, RECONNECT_MAX = 0.25, 5.0      # seconds; libzmq doubles the interval up to the max
LEAVE_TIMEOUT = 3.0                            # [EXIT] with a silent broker still ends the client
START_TIMEOUT = 10.0                           # join() waits this long at most for the thread's sockets
CONNECT_TIMEOUT_MS = 2000                      # with several brokers: a dial unanswered this long tries the next


class IOThread:
    """Owns the sockets. Everything here runs on the "zchat-io" thread, except the constructor."""

    def __init__(self, client: Client, session: ClientSession, keys: tuple[bytes, bytes]) -> None:
        self.client, self.session = client, session
        self.public, self.secret = keys
        self.started = threading.Event()          # set once the sockets exist, or their creation failed
        self.start_error: BaseException | None = None
        self.ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self.dealer: zmq.Socket[bytes] | None = None
        self.sub: zmq.Socket[bytes] | None = None
        self.monitor: zmq.Socket[bytes] | None = None
        self.sub_monitor: zmq.Socket[bytes] | None = None
        self.sub_endpoint = self.sub_token = ""
        self.topics: dict[bytes, None] = {}       # what the SUB is subscribed to, in the order asked
        self.sub_broke = False                    # the SUB's link dropped since its last handshake
        self.leave_deadline: float | None = None
        self.failures = 0
        self.move_on = False                      # this endpoint failed: try the next broker of the string
        self._poller = zmq.Poller()
        self._polled: tuple[zmq.Socket[bytes] | None, ...] = ()

    def run(self) -> None:
        why = "the client was closed"
        try:
            try:
                self.ctx = zmq.Context()
                self._dial()
            except BaseException as exc:
                self.start_error, why = exc, f"its I/O thread could not start ({type(exc).__name__}: {exc})"
                return
            finally:
                self.started.set()
            self.client._emit([ev.ConnectionChanged(state=ev.ConnState.CONNECTING, detail=self.client.endpoint)])
            while self._turn():
                pass
        except BaseException as exc:       # SystemExit from an action would end the thread silently too
            why = f"the client stopped after an internal error ({type(exc).__name__}: {exc})"
            log.error("zchat: the client's I/O thread failed; the session is over", exc_info=exc)
            self.client._stop(why)       # before Left: a frontend that sees Left finds the client closed
            self._report(why)
        finally:
            self.client._stop(why)
            self._close_sockets()
            if self.ctx is not None:
                self.ctx.term()
            self.client._finish()

    def _report(self, why: str) -> None:
        """The frontend learns that the session is over, even from a wake-up that itself raises."""
        try:
            self.client._emit([ev.ConnectionChanged(state=ev.ConnState.FAILED, detail=f"{why}; see the log"),
                               ev.Left(reason=why)])
        except Exception as exc:
            log.error("zchat: the wake-up raised as well", exc_info=exc)

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        assert self.ctx is not None
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
        if len(self.client.endpoints) > 1:    # a broker that does not answer a dial is left for the next
            self.dealer.connect_timeout = CONNECT_TIMEOUT_MS
        self.monitor = self.dealer.get_monitor_socket(
            zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        self.dealer.connect(self.client.endpoint)

    def _close_sockets(self) -> None:
        self._close_sub()
        if self.dealer is not None:
            self.dealer.disable_monitor()
        for s in (self.monitor, self.dealer):
            if s is not None:
                s.close(0)
        self.dealer = self.monitor = None
        self.sub_endpoint, self.sub_token, self.topics = "", "", {}

    def _close_sub(self) -> None:
        if self.sub is not None:
            self.sub.disable_monitor()
            self.sub.close(0)
        if self.sub_monitor is not None:
            self.sub_monitor.close(0)
        self.sub = self.sub_monitor = None

    def _make_sub(self, endpoint: str, token: str, topics: list[bytes]) -> None:
        """A fresh SUB, subscribed to ``topics`` in order. A SUB is never trusted to resubscribe by
        itself after its link broke: libzmq 4.3.5 often does not resend the subscriptions on a
        reconnect when ZMTP heartbeats are on, and then the SUB stays connected and hears nothing."""
        self._close_sub()
        self.sub = self._socket(zmq.SUB)
        self.sub.setsockopt(zmq.METADATA, p.sub_metadata(token))
        self.sub_monitor = self.sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self.sub.connect(endpoint)
        self.sub_endpoint, self.sub_token, self.sub_broke = endpoint, token, False
        self.topics = dict.fromkeys(topics)
        for t in topics:
            self.sub.subscribe(t)

    def _relink_sub(self, now: float) -> None:
        """Remake the SUB with what it had (the heartbeat topic last, so its first beat proves the
        rest are in); the session catches up on what was published meanwhile."""
        topics = [t for t in self.topics if t != p.TOPIC_HEARTBEAT]
        if p.TOPIC_HEARTBEAT in self.topics:
            topics.append(p.TOPIC_HEARTBEAT)
        self._make_sub(self.sub_endpoint, self.sub_token, topics)
        self.session.sub_relinked(now)

    def _turn(self) -> bool:
        """One loop turn; False when the client is closed."""
        socks = (self.dealer, self.sub, self.monitor, self.sub_monitor)
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
        if self.move_on:
            self._next_broker("no broker answers at that address")
        self._read_sub_monitor(now)
        self._drain(self.dealer, lambda frames: s.receive_reply(frames[-1], now))
        self._drain(self.sub, lambda frames: s.receive_published(frames[0], frames[-1], now)
                    if len(frames) == 2 else None)
        alive = s.tick(now)
        if s.sub_stale and self.sub is not None:
            log.info("zchat: no heartbeat on the subscription for too long; subscribing again")
            self._relink_sub(now)
        if not alive:
            s.connection_lost()
            self.client._emit([ev.ConnectionChanged(state=ev.ConnState.RECONNECTING, retry_in=RECONNECT_MIN,
                                                    detail="the broker stopped answering")])
            self._next_broker("the broker stopped answering")
        self._flush(now)
        return True

    def _next_broker(self, why: str) -> None:
        """Dial afresh: the next endpoint of the connect string when it names several (brokers that share
        one database), else the same one. The session resumes from its last seqs either way: hello,
        catch-up, and the outbox resent with the same cmids (docs/PROTOCOL.md §4.4)."""
        self.move_on = False
        endpoints = self.client.endpoints
        if len(endpoints) > 1:
            self.client.endpoint = endpoints[(endpoints.index(self.client.endpoint) + 1) % len(endpoints)]
            log.info("zchat: %s; trying %s", why, self.client.endpoint)
        self._dial()
        self.client._emit([ev.ConnectionChanged(state=ev.ConnState.CONNECTING, detail=self.client.endpoint)])

    def _drain(self, sock: zmq.Socket[bytes] | None, handle: Callable[[list[bytes]], object]) -> None:
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
                if len(self.client.endpoints) > 1:
                    self.move_on = True
                    return
                self.client._emit([ev.ConnectionChanged(state=ev.ConnState.RECONNECTING, retry_in=event["value"] / 1000,
                                                        detail=f"no broker at {self.client.endpoint}")])
            else:
                self.failures += 1
                self.client._emit([ev.ConnectionChanged(
                    state=ev.ConnState.FAILED if self.failures >= 3 else ev.ConnState.RECONNECTING,
                    retry_in=RECONNECT_MIN,
                    detail="the broker did not complete the encrypted handshake: is the connect string "
                           "(and its key) the one the broker printed?")])

    def _read_sub_monitor(self, now: float) -> None:
        while self.sub_monitor is not None:
            try:
                kind = parse_monitor_message(self.sub_monitor.recv_multipart(zmq.NOBLOCK))["event"]
            except zmq.Again:
                return
            if kind == zmq.EVENT_DISCONNECTED:
                self.sub_broke = True
            elif kind == zmq.EVENT_HANDSHAKE_SUCCEEDED and self.sub_broke:
                log.info("zchat: the subscription's link came back; subscribing again")
                self._relink_sub(now)

    def _flush(self, now: float) -> None:
        s = self.session
        if s.pub_endpoint and (s.pub_endpoint, s.sub_token) != (self.sub_endpoint, self.sub_token):
            # a new session: its token is new, and subscriptions go with the link
            self._make_sub(s.pub_endpoint, s.sub_token, [])
        if self.sub is not None:
            for t in s.subscribe:
                if t not in self.topics:
                    self.topics[t] = None
                    self.sub.subscribe(t)
            for t in s.unsubscribe:
                if t in self.topics:
                    del self.topics[t]
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
