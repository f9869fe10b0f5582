"""zchat.zap.ZapHandler over real CURVE sockets (tcp on 127.0.0.1): rotating the handler (which
ends libzmq's per-connection ZAP pipes) keeps every connection's key, answers what was asked of
the old handler, and a handshake that finds no handler at all fails closed."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import zmq
from zmq.utils.monitor import recv_monitor_message

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from zchat import protocol as p
from zchat.broker_loop import MONITOR_EVENTS
from zchat.zap import GRACE, ROTATE_EVERY, TRIM_AFTER, TRIM_GAP, ZapHandler

DEADLINE = 20.0


class Rig:
    """A CURVE ROUTER that names clients through a ZapHandler on a clock the test moves."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], handler: bool = True) -> None:
        self.ctx, self.now = ctx, 1000.0
        self.opened: list[zmq.Socket[bytes]] = []
        self.closed: list[zmq.Socket[bytes]] = []
        self.zap = ZapHandler(ctx, self.opened.append, self.closed.append, clock=lambda: self.now) if handler else None
        self.public, secret = zmq.curve_keypair()
        self.router = ctx.socket(zmq.ROUTER)
        self.router.linger = 0
        self.router.curve_server = True
        self.router.curve_publickey, self.router.curve_secretkey = self.public, secret
        self.router.zap_domain = b"test"
        self.router.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
        self.port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.dealers: list[tuple[zmq.Socket[bytes], bytes]] = []
        self.monitors: list[zmq.Socket[bytes]] = []

    def dealer(self, monitor: int = 0) -> tuple[zmq.Socket[bytes], bytes]:
        """A CURVE client with a key of its own, connected (``monitor``: events to watch on it from
        before the connect, in ``self.monitors``)."""
        d = self.ctx.socket(zmq.DEALER)
        d.linger = 0
        d.reconnect_ivl = 50
        d.curve_serverkey = self.public
        key, d.curve_secretkey = zmq.curve_keypair()
        d.curve_publickey = key
        if monitor:
            self.monitors.append(d.get_monitor_socket(monitor))
        d.connect(f"tcp://127.0.0.1:{self.port}")
        self.dealers.append((d, key))
        return d, key

    def pump(self, answer: bool = True) -> list[tuple[bytes, str]]:
        """One bounded turn: answer ZAP (unless told not to) and read what the ROUTER has:
        [(payload, User-Id)]."""
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        for s in self.zap.sockets if self.zap and answer else ():
            poller.register(s, zmq.POLLIN)
        ready = dict(poller.poll(50))
        for s in self.zap.sockets if self.zap and answer else ():
            if s in ready:
                self.zap.answer(s)
        got = []
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return got
            got.append((frames[-1].bytes, frames[-1].get("User-Id") or ""))

    def receive(self, n: int, answer: bool = True) -> list[tuple[bytes, str]]:
        got: list[tuple[bytes, str]] = []
        end = time.monotonic() + DEADLINE
        while len(got) < n:
            assert time.monotonic() < end, f"only {got} of {n} frames arrived"
            got += self.pump(answer)
        return got

    def pending(self, sock: zmq.Socket[bytes]) -> None:
        """Wait (bounded) until a ZAP request waits on ``sock``, unanswered."""
        assert sock.poll(int(DEADLINE * 1000), zmq.POLLIN), "no ZAP request arrived"


@pytest.fixture
def ctx() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    c: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield c
    c.destroy(0)


def test_connections_keep_their_key_after_the_handler_that_named_them_is_closed(ctx) -> None:
    rig = Rig(ctx)
    first = rig.zap.current
    olds = [rig.dealer() for _ in range(3)]
    for d, _ in olds:
        d.send(b"hi")
    assert sorted(rig.receive(3)) == sorted((b"hi", key.decode()) for _, key in olds)
    rig.now += ROTATE_EVERY
    rig.zap.tick()                                           # someone was answered: rotate
    assert rig.zap.current is not first and rig.opened == [rig.zap.current]
    rig.now += GRACE
    rig.zap.tick()
    assert rig.closed == [first] and rig.zap.sockets == [rig.zap.current]
    for d, _ in olds:
        d.send(b"again")
    new, new_key = rig.dealer()
    new.send(b"new")
    got = rig.receive(4)
    assert sorted(got) == sorted([(b"again", key.decode()) for _, key in olds] + [(b"new", new_key.decode())])


def test_a_request_waiting_on_the_old_handler_is_answered_before_it_closes(ctx) -> None:
    rig = Rig(ctx)
    d, key = rig.dealer()
    d.send(b"hi")
    rig.pending(rig.zap.current)
    rig.zap.answered = 1             # as if someone had been answered this second
    rig.now += ROTATE_EVERY
    rig.zap.tick()                   # the request still waits on the socket now retired
    rig.now += GRACE
    rig.zap.tick()                   # closing it answers it first
    assert rig.receive(1, answer=False) == [(b"hi", key.decode())]


def test_no_rotation_while_nobody_handshakes(ctx) -> None:
    rig = Rig(ctx)
    first = rig.zap.current
    for _ in range(3):
        rig.now += ROTATE_EVERY + GRACE
        rig.zap.tick()
    assert rig.zap.current is first and rig.opened == [] and rig.closed == []


def test_a_handshake_that_finds_no_handler_fails_closed_and_gets_in_once_one_is_bound(ctx) -> None:
    """The instant between unbinding the old handler and binding the new one: ZAP_ENFORCE_DOMAIN
    makes libzmq refuse the handshake (without it, the client would pass with no User-Id), and the
    refused connection is closed at once, so the client redials.

    The ROUTER's monitor has the broker's mask, which leaves out the handshake events. Seen here:
    with a monitor that is sent HANDSHAKE_FAILED_NO_DETAIL, the refused connection sometimes stayed
    open until its handshake timed out (always with a mask of the handshake events alone; once
    under load with every event). Why, as far as the source says: curve_server.cpp reports the
    event and returns -1 without setting errno, and stream_engine_base.cpp closes the connection
    only if errno is not EAGAIN, so whatever sending the event leaves in errno decides it. The
    client's own monitor shows the close instead."""
    rig = Rig(ctx, handler=False)
    server_mon = rig.router.get_monitor_socket(MONITOR_EVENTS)
    d, key = rig.dealer(monitor=zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)
    [client_mon] = rig.monitors
    d.send(b"hi")
    assert client_mon.poll(int(DEADLINE * 1000)), "the refused connection was not closed"
    assert recv_monitor_message(client_mon)["event"] == zmq.EVENT_DISCONNECTED      # not SUCCEEDED first
    assert rig.pump() == []                                  # nothing got through unnamed
    rig.zap = ZapHandler(ctx, rig.opened.append, rig.closed.append, clock=lambda: rig.now)
    assert rig.receive(1) == [(b"hi", key.decode())]        # the DEALER redialled and was named
    for sock, mon in ((rig.router, server_mon), (d, client_mon)):
        sock.disable_monitor()
        mon.close(0)


def test_a_client_without_a_curve_key_is_refused_by_the_handler(ctx) -> None:
    """The handler names CURVE clients only; anything else gets 400 (and libzmq drops it)."""
    rig = Rig(ctx)
    rep = ctx.socket(zmq.DEALER)
    rep.linger = 0
    rep.connect(rig.zap.current.LAST_ENDPOINT.decode())
    rep.send_multipart([b"", b"1.0", b"7", b"test", b"127.0.0.1", b"", b"NULL"])
    assert rig.zap.current.poll(int(DEADLINE * 1000))
    rig.zap.answer(rig.zap.current)
    assert rep.poll(int(DEADLINE * 1000))
    assert rep.recv_multipart() == [b"", b"1.0", b"7", b"400", b"CURVE required", b"", b""]
    rep.close(0)


def test_memory_is_handed_back_after_many_pipes_end_at_most_once_per_trim_gap(ctx) -> None:
    """A trim walks every heap (up to 20 ms of the loop at 10,000 clients), so a flood of handshakes
    gets one per TRIM_GAP, and the trim comes a tick after the close (libzmq ends pipes meanwhile)."""
    rig = Rig(ctx)
    trims: list[float] = []
    rig.zap.trim = lambda: trims.append(rig.now)
    def handshakes_go_on(named: int) -> None:
        """A retired handler that named ``named`` closes, and another one is retired meanwhile."""
        rig.zap.retired.append((ctx.socket(zmq.REP), rig.now + 1.0, named))
        rig.now += 1.0
        rig.zap.tick()

    for _ in range(3):
        handshakes_go_on(TRIM_AFTER // 2)
    assert trims == [1003.0]            # 1,000 ended by 1002, trimmed a tick later
    for _ in range(3):
        handshakes_go_on(TRIM_AFTER)
    assert trims == [1003.0]            # 2,500 more ended, but within the gap
    rig.now = 1003.0 + TRIM_GAP
    rig.zap.tick()
    assert trims == [1003.0, 1003.0 + TRIM_GAP]
    handshakes_go_on(10)                # a few more, then the handshakes stop: trimmed after the gap
    rig.now += 1.0
    rig.zap.tick()                      # the last retired one closes
    rig.zap.tick()
    assert len(trims) == 2
    rig.now = 1003.0 + 2 * TRIM_GAP
    rig.zap.tick()
    assert trims == [1003.0, 1003.0 + TRIM_GAP, 1003.0 + 2 * TRIM_GAP] and not rig.zap.retired


# ---------------------------------------------------------------- the broker's own handler, end to end
def test_the_broker_names_every_client_by_its_key_across_rotations(tmp_path) -> None:
    """Clients keep joining while the broker rotates its handler and closes the old one; each gets its
    own welcome, and a client named by a handler that is gone still sends as itself."""
    broker = BrokerProcess(tmp_path / "broker")
    broker.start()
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        first = RawClient(ctx, broker.connect)
        assert isinstance(first.hello("first"), p.Welcome)
        others: list[RawClient] = []
        deadline = time.monotonic() + 60
        while broker.output().count("ZAP handler closed") < 2:        # two handlers gone, a third named
            assert time.monotonic() < deadline, broker.output()[-2000:]
            c = RawClient(ctx, broker.connect)
            assert isinstance(c.hello(f"user{len(others)}"), p.Welcome)
            others.append(c)
        assert isinstance(first.say(p.EVERYONE, "still me"), p.Ok)
        last = others[-1]
        [line] = last.messages(p.EVERYONE, 1)
        assert (line.sender, line.text) == ("first", "still me")
        assert "rotated" in broker.output()
    finally:
        ctx.destroy(0)
        broker.stop()


def test_a_rotation_that_cannot_open_a_socket_keeps_the_old_handler_bound(ctx) -> None:
    """Out of sockets (the context's real limit: its handler and its ROUTER fill it): the old
    handler is bound again and still names clients."""
    small: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    small.set(zmq.MAX_SOCKETS, 2)
    try:
        rig = Rig(small)
        first = rig.zap.current
        rig.zap.answered = 1
        rig.zap.rotate()
        assert rig.zap.current is first and rig.zap.retired == [] and rig.opened == []
        rig.ctx = ctx                                # the client lives in a context with room
        d, key = rig.dealer()
        d.send(b"hi")
        assert rig.receive(1) == [(b"hi", key.decode())]
    finally:
        small.destroy(0)
