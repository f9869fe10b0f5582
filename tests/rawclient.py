"""A bare protocol client for tests: a DEALER and a SUB with one CURVE key, built on zchat.protocol.

It is deliberately thin (no reconnect, no session logic) so tests see exactly what the broker
sends. Every receive is bounded by a deadline; nothing here sleeps to synchronise.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Callable

import zmq

from zchat import protocol as p

TIMEOUT = 5.0


class RawClient:
    _ids = itertools.count(1)

    def __init__(self, ctx: zmq.Context, connect: str, keypair: tuple[bytes, bytes] | None = None,
                 monitor: int = 0) -> None:
        """``monitor``: the DEALER's socket-monitor events to watch (``self.monitor``), attached before
        the connect so that not even the first handshake can be missed."""
        self.endpoint, server_key = p.parse_connect_string(connect)
        self.public, self.secret = keypair or zmq.curve_keypair()
        self.ctx = ctx
        self.dealer = self._socket(zmq.DEALER, server_key)
        self.monitor = self.dealer.get_monitor_socket(monitor) if monitor else None
        self.dealer.connect(self.endpoint)
        self.server_key = server_key
        self.sub: zmq.Socket | None = None
        self.sub_options: dict[str, int] = {}
        self.topics: list[bytes] = []         # every topic the SUB asked for, in order
        self.synced = False                   # hb| is subscribed on the current SUB's pipe already
        self.welcome: p.Welcome | None = None
        self.sub_token: str | None = None     # what the SUB presents: None = the welcome's, "" = nothing

    def _socket(self, kind: int, server_key: bytes) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.linger = 0
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server_key, self.public, self.secret
        return s

    # ---------------------------------------------------------------- requests
    def send_raw(self, *frames: bytes) -> None:
        self.dealer.send_multipart(list(frames))

    def send(self, msg: Any) -> None:
        self.dealer.send(p.encode(msg))

    def next_id(self) -> str:
        return f"r{next(self._ids)}"

    def recv_reply(self, timeout: float = TIMEOUT) -> p.Reply:
        assert self.dealer.poll(int(timeout * 1000)), "no reply from the broker in time"
        return p.decode_reply(self.dealer.recv())

    def call(self, cls: type, **fields: Any) -> Any:
        """Send one request and return its reply (checking the reply carries the same id)."""
        rid = self.next_id()
        self.send(cls(id=rid, **fields))
        reply = self.recv_reply()
        assert reply.id == rid, f"reply {reply} is not for request {rid}"
        return reply

    def hello(self, name: str, subscribe: bool = True) -> Any:
        reply = self.call(p.Hello, version=p.PROTOCOL_VERSION, name=name)
        if isinstance(reply, p.Welcome):
            self.welcome = reply
            if subscribe:
                self.subscribe(p.TOPIC_PRESENCE, b"all|", p.user_topic(name))
        return reply

    def say(self, conv: str, text: str, cmid: str | None = None) -> Any:
        return self.call(p.Send, conv=conv, text=text, cmid=cmid or self.next_id())

    # ---------------------------------------------------------------- subscriptions
    def subscribe(self, *topics: bytes, sync: bool = True) -> None:
        """Subscribe, then (``sync``) wait until the broker has processed it: see sync_subscriptions."""
        if self.sub is None:
            self.open_sub()
        assert self.sub is not None
        for t in topics:
            self.sub.subscribe(t)
            self.topics.append(t)
        if sync:
            self.sync_subscriptions()

    def open_sub(self, **options: int) -> None:
        """Connect the SUB to the welcome's endpoint, presenting ``sub_token`` (socket ``options``
        such as rcvbuf are set first)."""
        assert self.welcome is not None
        self.sub = self._socket(zmq.SUB, self.server_key)
        self.sub_options, self.synced = options, False
        for name, value in options.items():
            setattr(self.sub, name, value)
        if self.sub_token is None:
            self.sub_token = self.welcome.sub_token
        if self.sub_token:
            self.sub.setsockopt(zmq.METADATA, p.sub_metadata(self.sub_token))
        self.sub.connect(self.welcome.pub_endpoint)

    def sync_subscriptions(self) -> None:
        """Wait until the broker has read every subscription of this client (installed or refused).

        Subscriptions travel in order on the SUB's pipe and the broker reads them in that order, so
        a heartbeat after hb| was subscribed for the FIRST time on a pipe proves the earlier ones
        were read. Once hb| is subscribed, a heartbeat proves nothing (it may have left the broker
        before a newer subscription arrived), so a later sync moves to a fresh SUB with the same
        topics and then hb|, and closes the old one (dropping what it had queued)."""
        assert self.sub is not None
        if self.synced:
            old = self.sub
            self.open_sub(**self.sub_options)
            for t in self.topics:
                self.sub.subscribe(t)
            try:
                self.sync_subscriptions()
            finally:
                old.close(0)
            return
        self.sub.subscribe(p.TOPIC_HEARTBEAT)
        self.synced = True
        self.wait_published(lambda t, m: t == p.TOPIC_HEARTBEAT, timeout=10)

    def recv_published(self, timeout: float = TIMEOUT) -> tuple[bytes, Any] | None:
        assert self.sub is not None
        if not self.sub.poll(int(timeout * 1000)):
            return None
        t, payload = self.sub.recv_multipart()
        return t, p.decode_published(payload)

    def wait_published(self, match: Callable[[bytes, Any], bool], timeout: float = TIMEOUT) -> Any:
        """The first published message that matches, skipping others; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = self.recv_published(left)
            if got and match(*got):
                return got[1]
        raise AssertionError("no matching published message in time")

    def messages(self, conv: str, count: int, timeout: float = TIMEOUT) -> list[p.Message]:
        """Collect ``count`` chat messages of ``conv`` (heartbeats and presence skipped)."""
        out: list[p.Message] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and (left := deadline - time.monotonic()) > 0:
            got = self.recv_published(left)
            if got and isinstance(got[1], p.Message) and got[1].conv == conv:
                out.append(got[1])
        assert len(out) == count, f"got {len(out)} of {count} messages in {conv}"
        return out

    def silent(self, match: Callable[[bytes, Any], bool], window: float) -> bool:
        """True if nothing matching arrives within ``window`` seconds (for 'must not receive' checks)."""
        try:
            self.wait_published(match, timeout=window)
        except AssertionError:
            return True
        return False

    def close(self) -> None:
        """Close every socket; closing again does nothing."""
        if self.monitor is not None and not self.dealer.closed:
            self.dealer.disable_monitor()
        for s in (self.monitor, self.dealer, self.sub):
            if s is not None:
                s.close(0)
