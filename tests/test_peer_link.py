"""Which brokers are still there (zchat.peer_link), with two hubs in this process on one real
PostgreSQL and its real LISTEN/NOTIFY bus; only the clocks are in the test's hands, so that
"silent for 3 s" needs no waiting."""
from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.hubkit import peer_of
from zchat import protocol as p
from zchat.bus import PgBus
from zchat.hub import Hub, HubConfig
from zchat.peer_link import PeerLink
from zchat.store_pg import PgStore


class Broker:
    """A hub, its store and its link to the bus, driven as zchat.broker_loop drives them."""

    def __init__(self, url: str, broker_id: str) -> None:
        self.now = [1000.0]
        self.store = PgStore(url)
        self.hub = Hub(self.store, HubConfig(pub_endpoint="tcp://127.0.0.1:5556"))
        self.hub.shared, self.hub.broker_id = self.store, broker_id
        self.bus = PgBus(self.store.url, self.store.notify)
        assert self.bus.listening.wait(10), "the bus is not listening"
        self.link = PeerLink(self.hub, self.store, self.bus, heartbeat=1.0, clock=lambda: self.now[0])

    def hello(self, name: str) -> None:
        self.store.begin_batch()
        self.hub.handle(peer_of(name), "key-" + name, p.encode(p.Hello("h", p.PROTOCOL_VERSION, name)))
        self.store.commit_batch(self.hub.lines)
        self.link.committed(self.hub.lines)
        replies, _ = self.hub.take_output()
        assert isinstance(p.decode_reply(p.unbundle(replies[0][1])[0]), p.Welcome)

    def close(self) -> None:
        self.bus.close()
        self.store.close()


@pytest.fixture
def two(pg_cluster: Any) -> Iterator[tuple[Broker, Broker]]:
    db = pg_cluster.fresh_db()
    b1 = Broker(pg_cluster.url(db), "b1")
    b2 = Broker(pg_cluster.url(db), "b2")
    yield b1, b2
    b1.close(), b2.close()
    pg_cluster.drop_db(db)


def hear(brokers: list[Broker], until: Callable[[], bool], what: str) -> None:
    """Apply what the bus brings each of ``brokers`` until ``until()`` holds."""
    deadline = time.monotonic() + 10
    while not until():
        assert time.monotonic() < deadline, f"not in 10 s: {what}"
        select.select([b.bus.fileno() for b in brokers], [], [], 0.2)
        for b in brokers:
            b.link.readable()


def online_on_b1(b1: Broker) -> Callable[[], bool]:
    return lambda: b1.hub.presence.state_of("alice") == p.PresenceState.ONLINE


def test_a_broker_taken_for_gone_is_asked_again_who_is_online_when_it_speaks(two: tuple[Broker, Broker]) -> None:
    b1, b2 = two
    b2.hello("alice")
    b1.link.tick()                        # b1 says its start-up hi, and b2 answers it ...
    hear([b1, b2], lambda: online_on_b1(b1)() and "b1" in b2.link.heard, "b1 and b2 know each other")
    b2.hello("bob")                       # ... before it says bob came: once b1 knows that, it has had the answer
    hear([b1, b2], lambda: b1.hub.presence.state_of("bob") == p.PresenceState.ONLINE, "bob online on b1")
    b1.now[0] += 4                        # b2 silent (to b1) for longer than DEAD_AFTER
    b1.link.tick()
    assert "b2" not in b1.link.heard and b1.hub.presence.state_of("alice") != p.PresenceState.ONLINE
    b2.now[0] += 2                        # b2 was only slow: its heartbeat comes; b1 asks, b2 answers
    b2.link.tick()
    hear([b1, b2], online_on_b1(b1), "alice online on b1 again")
    assert "b2" in b1.link.heard


def test_a_slow_apply_is_not_taken_for_silence(two: tuple[Broker, Broker], monkeypatch: pytest.MonkeyPatch) -> None:
    """Applying a bundle may take seconds (a slow database): the sender is stamped when its message
    is taken, so the next tick does not take it for gone."""
    b1, b2 = two
    b2.hello("alice")
    apply = b1.hub.apply_bundle

    def slow_apply(bundle: dict[str, Any]) -> None:
        apply(bundle)
        b1.now[0] += 4                    # what a 4 s apply does to the clock

    monkeypatch.setattr(b1.hub, "apply_bundle", slow_apply)
    hear([b1], online_on_b1(b1), "alice online on b1")
    b1.link.tick()
    assert "b2" in b1.link.heard and b1.hub.presence.state_of("alice") == p.PresenceState.ONLINE
