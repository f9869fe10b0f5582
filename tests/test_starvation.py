"""A stranger with the connect string cannot starve the broker: floods of subscription frames,
a huge frame, hundreds of idle connections and a user who never reads its replies each leave a
healthy client's round trip short and the broker's memory where it was.

The bounds (100 ms median round trip, 50 MB of RSS) are the issue's; they are generous on
purpose, so a busy machine does not fail them, and bench/attack.py measures the real figures.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import zmq

from tests.conftest import BrokerProcess
from tests.oskit import Monitored, broker_rx_queue, client_tx_queue, open_fds, rss_bytes, wait_until
from tests.rawclient import RawClient
from zchat import protocol as p

RSS_SLACK = 50 * 1024 * 1024
RTT_BOUND = 0.100


@pytest.fixture
def broker_args() -> tuple[str, ...]:
    return ("--login-timeout", "2")


def round_trips(c: RawClient, count: int) -> list[float]:
    out = []
    for _ in range(count):
        t = time.perf_counter()
        assert isinstance(c.call(p.Ping), p.Pong)
        out.append(time.perf_counter() - t)
    return out


class Attack:
    """Runs ``step`` in a loop on its own thread (with its own sockets) until stopped."""

    def __init__(self, step: Callable[[], None]) -> None:
        self.step, self.stop, self.rounds = step, threading.Event(), 0
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
                self.rounds += 1
        except BaseException as exc:   # surfaced by the test, not swallowed
            self.error = exc

    def __enter__(self) -> Attack:
        self.thread.start()
        wait_until(lambda: self.rounds >= 1 or self.error is not None, 10, "the attack to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


@pytest.fixture
def healthy(client: Any, broker: BrokerProcess) -> Iterator[RawClient]:
    c = client("healthy")
    round_trips(c, 20)                     # warm: the first calls pay for imports and caches
    yield c
    assert broker.proc is not None and broker.proc.poll() is None, broker.output()[-2000:]


def xsub(ctx: zmq.Context, c: RawClient) -> zmq.Socket:
    s = ctx.socket(zmq.XSUB)
    s.linger = 0
    s.curve_serverkey = c.server_key
    s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
    s.sndhwm = 1000
    s.connect(c.welcome.pub_endpoint)
    return s


@pytest.mark.parametrize("frames", [
    [b"\x01g:x%d|"], [b"\x01g:x%d|", b"\x00g:x%d|"], [b"\x02junk%d"], [b"\x01all|", b"\x02%d", b""]],
    ids=["subscribe", "subscribe-unsubscribe", "not-subscriptions", "mixed"])
def test_a_flood_of_subscription_frames_does_not_starve_requests(broker: BrokerProcess, healthy: RawClient,
                                                                 ctx: zmq.Context, frames: list[bytes]) -> None:
    start = rss_bytes(broker.proc.pid)
    attacker = [xsub(ctx, healthy)]
    counter = iter(range(10**9))
    breaks_framing = any(not f or f[0] not in (0, 1) for f in frames)

    def flood() -> None:
        for _ in range(200):
            n = next(counter)
            for f in frames:
                try:
                    attacker[0].send(f.replace(b"%d", str(n).encode()) if b"%d" in f else f, zmq.NOBLOCK)
                except zmq.Again:
                    return
        if breaks_framing:
            attacker[0].close(0)            # the broker cuts a peer that breaks the framing: come back
            attacker[0] = xsub(ctx, healthy)

    try:
        with Attack(flood) as attack:
            rtts = round_trips(healthy, 200)
            wait_until(lambda: attack.rounds >= 20, 30, "the flood to run a while")
    finally:
        attacker[0].close(0)
    assert statistics.median(rtts) < RTT_BOUND, sorted(rtts)[::20]
    assert rss_bytes(broker.proc.pid) - start < RSS_SLACK


def test_an_8_mib_subscription_frame_drops_only_that_connection(broker: BrokerProcess, healthy: RawClient,
                                                                ctx: zmq.Context) -> None:
    start = rss_bytes(broker.proc.pid)
    s = xsub(ctx, healthy)
    watch = Monitored(s, zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
    try:
        watch.wait(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        # The first byte is not 1: libzmq's XSUB would store an 8 MiB subscription in its own trie, one
        # recursion per byte, and overflow the test's stack. The broker's libzmq drops the link on the
        # frame's length (ZMQ_MAXMSGSIZE) before anything looks at its first byte.
        s.send(b"\x02" + b"x" * (8 * 1024 * 1024))
        watch.wait(zmq.EVENT_DISCONNECTED)
    finally:
        watch.close()
        s.close(0)
    assert statistics.median(round_trips(healthy, 50)) < RTT_BOUND
    assert rss_bytes(broker.proc.pid) - start < RSS_SLACK


def test_hundreds_of_idle_tokenless_connections_are_bounded_and_cut(broker: BrokerProcess, healthy: RawClient,
                                                                    ctx: zmq.Context) -> None:
    """300 SUBs with no token and 300 DEALERs that never say hello: the healthy client does not notice,
    memory stays put, and after --login-timeout (2 s here) the broker has cut them all."""
    pid = broker.proc.pid
    start_rss, start_fds = rss_bytes(pid), open_fds(pid)
    idle: list[zmq.Socket] = []
    try:
        for kind, endpoint in ((zmq.SUB, healthy.welcome.pub_endpoint), (zmq.DEALER, healthy.endpoint)):
            for _ in range(300):
                s = ctx.socket(kind)
                s.linger = 0
                s.reconnect_ivl = 60_000          # once cut, stay away (a real attacker would come back)
                s.curve_serverkey = healthy.server_key
                s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
                s.connect(endpoint)
                idle.append(s)
        wait_until(lambda: open_fds(pid) >= start_fds + 500, 30, "the idle connections to be accepted")
        assert statistics.median(round_trips(healthy, 50)) < RTT_BOUND
        assert rss_bytes(pid) - start_rss < RSS_SLACK
        wait_until(lambda: open_fds(pid) <= start_fds + 10, 30, "the broker to cut the idle connections")
        assert statistics.median(round_trips(healthy, 20)) < RTT_BOUND
    finally:
        for s in idle:
            s.close(0)


def settle(broker: BrokerProcess, healthy: RawClient, greedy: RawClient, timeout: float = 60) -> None:
    """Wait until the broker has every byte ``greedy`` sent (both kernel queues of its connection are
    empty) and has worked through them (three round trips of ``healthy`` leave its RSS where it was)."""
    server_port = int(greedy.endpoint.rsplit(":", 1)[1])
    wait_until(lambda: broker_rx_queue(server_port, greedy.local_port) == 0
               and client_tx_queue(server_port, greedy.local_port) == 0, timeout, "the requests to reach the broker")
    steady, last = 0, -1
    deadline = time.monotonic() + timeout
    while steady < 3:
        assert time.monotonic() < deadline, "the broker's memory did not settle"
        assert isinstance(healthy.call(p.Ping), p.Pong)
        now = rss_bytes(broker.proc.pid)
        steady, last = (steady + 1 if now == last else 0), now


def unread_history(broker: BrokerProcess, healthy: RawClient, greedy: RawClient, count: int) -> list[p.Reply]:
    """``greedy`` pipelines ``count`` history requests and reads nothing until the broker has worked
    through them; the broker's memory must not have grown; then every reply it gets, in order."""
    start = rss_bytes(broker.proc.pid)
    for i in range(count):
        greedy.send(p.History(id=f"h{i}", conv="all", after=0))
    settle(broker, healthy, greedy)
    assert rss_bytes(broker.proc.pid) - start < RSS_SLACK
    out = []
    while (part := greedy.recv_part(2.0)) is not None:
        out.append(p.decode_reply(part))
    return out


def test_thousands_of_unread_history_replies_are_bounded_by_the_rate_limit(broker: BrokerProcess,
                                                                          client: Any) -> None:
    """A user pipelines 6,000 history requests and reads nothing: past the burst they are refused
    (small errors), so what waits for it stays small."""
    greedy, healthy = client("greedy", monitor=zmq.EVENT_CONNECTED), client("healthy")
    for i in range(40):
        healthy.say("all", "y" * 1000 + str(i)) if i % 2 else greedy.say("all", "x" * 1000 + str(i))
    replies = unread_history(broker, healthy, greedy, 6000)
    pages = [r for r in replies if isinstance(r, p.HistoryPage)]
    errors = {r.code for r in replies if isinstance(r, p.Error)}
    assert 100 <= len(pages) < 1000 and errors <= {"rate_limited", "overloaded"}, (len(pages), errors)
    assert isinstance(greedy.call(p.Ping), p.Pong)


@pytest.mark.parametrize("broker_args", [("--limit", "history=1e9/1000000", "--history-page-max", "1")])
def test_a_connection_that_never_reads_is_held_then_told_once(broker: BrokerProcess, client: Any) -> None:
    """With history unlimited, 20,000 unread replies would pile up: past 2,000 frames waiting (each a
    batch's replies to it, up to p.BUNDLE_BYTES: three of these 5 kB pages) the broker stops serving the
    connection (nothing more is done for it, no more memory), and once it reads it gets one
    'overloaded' error with no id, then is served again."""
    greedy, healthy = client("greedy", monitor=zmq.EVENT_CONNECTED, rcvhwm=10), client("healthy")
    healthy.say("all", "z" * 5000)
    replies = unread_history(broker, healthy, greedy, 20000)
    overloaded = [r for r in replies if isinstance(r, p.Error) and r.code == "overloaded"]
    assert len(replies) < 20000 and len(overloaded) == 1 and overloaded[0].id is None, len(replies)
    assert overloaded[0].retryable and "read your replies" in overloaded[0].message
    assert isinstance(greedy.call(p.Ping), p.Pong)
