"""A bare protocol client for tests: a DEALER and a SUB with one CURVE key, built on zchat.protocol.

It is deliberately thin (no reconnect, no session logic) so tests see exactly what the broker
sends: it keeps the fan-out keys its welcome, oks and ``key`` notices hand it, opens published
frames with them, and keeps notices apart from replies (``notices``). Every receive is
bounded by a deadline; nothing here sleeps to synchronise.
"""
from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from typing import Any

import zmq

from tests.oskit import Monitored, local_port
from zchat import protocol as p
from zchat.seal import KeyChain, SealError

TIMEOUT = 5.0


class RawClient:
    _ids = itertools.count(1)

    def __init__(self, ctx: zmq.Context, connect: str, keypair: tuple[bytes, bytes] | None = None,
                 routing_id: bytes | None = None, monitor: int = 0, **options: int) -> None:
        """``options``: DEALER socket options (such as rcvhwm) set before it connects; ``monitor``: the
        DEALER's socket-monitor events to watch (``self.monitor``, and ``local_port`` with
        EVENT_CONNECTED), attached before the connect so that not even the first can be missed."""
        self.endpoint, server_key = p.parse_connect_string(connect)
        self.public, self.secret = keypair or zmq.curve_keypair()
        self.ctx = ctx
        self.dealer = self._socket(zmq.DEALER, server_key)
        self.routing_id = p.new_routing_id() if routing_id is None else routing_id
        if self.routing_id:
            self.dealer.routing_id = self.routing_id
        for name, value in options.items():
            setattr(self.dealer, name, value)
        self.watch = Monitored(self.dealer, monitor) if monitor else None
        self.monitor = self.watch.mon if self.watch is not None else None
        self.dealer.connect(self.endpoint)
        self._port: int | None = None
        self.keys = KeyChain()
        self.notices: list[Any] = []          # key and resubscribe notices, in arrival order
        self.early_replies: list[Any] = []    # replies read while looking for notices
        self.unread: collections.deque[bytes] = collections.deque()   # the rest of a frame's replies
        self.unopened: list[tuple[bytes, SealError]] = []   # published frames our keys could not open
        self.opened: collections.deque[tuple[bytes, Any]] = collections.deque()   # opened, not yet taken
        self.frames_opened = 0
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
        """The next reply; notices that come first are applied (keys) and kept in ``notices``."""
        if self.early_replies:
            return self.early_replies.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            if not self.unread:
                left = max(0, int((deadline - time.monotonic()) * 1000))
                assert self.dealer.poll(left), "no reply from the broker in time"
                self._read_frame()
            reply = p.decode_reply(self.unread.popleft())
            if isinstance(reply, p.NOTICE_TYPES):
                self._notice(reply)
                continue
            self._learn(reply)
            return reply

    def _read_frame(self) -> None:
        """One frame from the DEALER: one or more replies and notices (protocol 4), kept in order."""
        self.unread.extend(p.unbundle(self.dealer.recv()))

    def recv_part(self, timeout: float = TIMEOUT) -> bytes | None:
        """The next reply or notice as its raw bytes (one message of a frame); None after ``timeout``."""
        if not self.unread:
            if not self.dealer.poll(int(timeout * 1000)):
                return None
            self._read_frame()
        return self.unread.popleft()

    def _notice(self, notice: Any) -> None:
        self.notices.append(notice)
        if isinstance(notice, p.KeyChange):
            self.keys.add(notice.scope, notice.epoch, bytes.fromhex(notice.key))

    def _learn(self, reply: Any) -> None:
        """Keep the keys a welcome, a conversations page or an ok carries."""
        infos = list(getattr(reply, "keys", None) or ())
        if isinstance(reply, p.Ok) and reply.key is not None:
            infos.append(reply.key)
        for info in infos:
            self.keys.add(info.scope, info.epoch, bytes.fromhex(info.key))

    def poll_notices(self, timeout: float = 0.0) -> None:
        """Apply the notices waiting on the DEALER; a reply found among them waits for recv_reply."""
        while self.unread or self.dealer.poll(int(timeout * 1000)):
            if not self.unread:
                self._read_frame()
            reply = p.decode_reply(self.unread.popleft())
            if isinstance(reply, p.NOTICE_TYPES):
                self._notice(reply)
            else:
                self._learn(reply)
                self.early_replies.append(reply)
            timeout = 0.0

    def call(self, cls: type, **fields: Any) -> Any:
        """Send one request and return its reply (checking the reply carries the same id)."""
        rid = self.next_id()
        self.send(cls(id=rid, **fields))
        reply = self.recv_reply()
        assert reply.id == rid, f"reply {reply} is not for request {rid}"
        return reply

    def hello(self, name: str, subscribe: bool = True, resume: str | None = None, **fields: Any) -> Any:
        """Say hello, resuming ``resume`` (a session token) or, by default, this client's own last session."""
        if resume is None and self.welcome is not None:
            resume = self.welcome.sub_token
        reply = self.call(p.Hello, version=p.PROTOCOL_VERSION, name=name, resume=resume, **fields)
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
        """The next published message we can open, as (topic, message); frames our keys do not open are
        kept in ``unopened`` and skipped. None when nothing (openable) came within ``timeout``. A frame
        may carry several messages (protocol 4): the rest wait in ``opened`` for the next calls."""
        assert self.sub is not None
        if self.opened:
            return self.opened.popleft()
        deadline = time.monotonic() + timeout
        while self.sub.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            t, frame = self.sub.recv_multipart()
            try:
                payload = self.keys.open(t, frame)
            except SealError as exc:
                if exc.reason == "unknown_key":      # a key notice may be on its way
                    self.poll_notices()
                    try:
                        payload = self.keys.open(t, frame)
                    except SealError as again:
                        self.unopened.append((t, again))
                        continue
                else:
                    self.unopened.append((t, exc))
                    continue
            self.frames_opened += 1
            self.opened.extend((t, p.decode_published(part)) for part in p.unbundle(payload))
            return self.opened.popleft()
        return None

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

    @property
    def local_port(self) -> int:
        """The DEALER's local TCP port (waits, bounded, for the connection)."""
        assert self.watch is not None, "make the RawClient with monitor=zmq.EVENT_CONNECTED"
        if self._port is None:
            self._port = local_port(self.watch.wait(zmq.EVENT_CONNECTED)["value"])
        return self._port

    def close(self) -> None:
        """Close every socket; closing again does nothing."""
        if self.watch is not None and not self.dealer.closed:
            self.watch.close()
        self.watch = self.monitor = None
        for s in (self.dealer, self.sub):
            if s is not None:
                s.close(0)
