"""Two brokers on one PostgreSQL under load, with real clients whose connect string names both:
``kill -9`` of one broker (its clients move to the other and resume), and PostgreSQL restarted
(the brokers recover by themselves). Counted: every message sent is stored once, and each
sender sees each of its own lines once, in the order it sent them."""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import BULK, BrokerProcess
from tests.pgkit import PgCluster
from tests.probe import Probe
from tests.rawclient import RawClient
from zchat import events as ev
from zchat import protocol as p
from zchat.client import Client

SENDERS, EACH = 3, 120


@pytest.fixture
def store_kind() -> str:
    return "pg"


@pytest.fixture
def clients(tmp_path: Path) -> Iterator[Callable[[str, str, str], Probe]]:
    made: list[Client] = []

    def make(name: str, connect: str, start: str) -> Probe:
        c = Client(connect, config_dir=tmp_path / f"cfg-{name}")
        c.endpoint = start          # where it dials first (a client picks at random; here: chosen)
        made.append(c)
        c.join(name)
        probe = Probe(c)
        probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "live", timeout=20)
        return probe

    yield make
    for c in made:
        c.close()


def both(b1: BrokerProcess, b2: BrokerProcess) -> str:
    (e1, key), (e2, _) = p.parse_connect_string(b1.connect), p.parse_connect_string(b2.connect)
    return f"{e1},{e2}#key={key.hex()}"


def own_lines(probe: Probe, count: int, timeout: float = 60.0) -> list[str]:
    """Wait until ``probe`` has seen ``count`` of its own lines; they are returned in the order shown."""
    def mine() -> list[ev.MessageReceived]:
        return [e for e in probe.seen if isinstance(e, ev.MessageReceived) and e.own and e.kind == "msg"]
    try:
        probe.wait(lambda e: len(mine()) >= count, timeout=timeout)
    except AssertionError:
        pass
    return [e.text for e in mine()]


def stored(reader: RawClient) -> list[p.Message]:
    out: list[p.Message] = []
    after = 0
    while True:
        page = reader.call(p.History, conv="all", after=after, limit=200)
        out += page.messages
        if page.complete:
            return out
        after = page.to_seq


def check_every_line_once(senders: list[Probe], reader: RawClient) -> None:
    for s in senders:
        name = s.client.name
        assert own_lines(s, EACH) == [f"{name} {i}" for i in range(EACH)]
    lines = [m.text for m in stored(reader) if m.kind == "msg"]
    assert len(lines) == len(set(lines)) == SENDERS * EACH, (len(lines), len(set(lines)))
    for s in senders:
        name = s.client.name
        assert [t for t in lines if t.startswith(name + " ")] == [f"{name} {i}" for i in range(EACH)]


def test_kill_9_of_one_broker_under_load_moves_its_clients_and_loses_or_doubles_nothing(
        broker_factory: Callable[..., BrokerProcess], clients, make_client) -> None:
    b1 = broker_factory(*BULK, name="b1")
    b2 = broker_factory(*BULK, name="b2", key_of=b1)
    connect, first = both(b1, b2), p.parse_connect_string(b1.connect)[0]
    senders = [clients(f"s{k}", connect, first) for k in range(SENDERS)]
    reader = make_client(b2.connect, "reader")
    for i in range(EACH // 2):
        for s in senders:
            s.client.send(f"{s.client.name} {i}", "all")
    reader.messages("all", SENDERS * 5, timeout=20)       # the load is flowing through b1 to b2
    b1.kill(signal.SIGKILL)
    for i in range(EACH // 2, EACH):
        for s in senders:
            s.client.send(f"{s.client.name} {i}", "all")
    check_every_line_once(senders, reader)
    assert all(s.client.endpoint == p.parse_connect_string(b2.connect)[0] for s in senders)


def test_postgresql_restarted_under_load_the_brokers_recover_and_lose_nothing(
        tmp_path: Path, clients, make_client) -> None:
    cluster = PgCluster()
    try:
        url = cluster.url(cluster.fresh_db())
        b1 = BrokerProcess(tmp_path / "b1", "--store", url, *BULK)
        b2 = BrokerProcess(tmp_path / "b2", "--store", url, *BULK)
        for b in (b1, b2):
            b.data_dir.mkdir()
        b1.start()
        (b2.data_dir / "server.key").write_bytes((b1.data_dir / "server.key").read_bytes())
        b2.start()
        try:
            connect = both(b1, b2)
            starts = [p.parse_connect_string(b.connect)[0] for b in (b1, b2, b1)]
            senders = [clients(f"s{k}", connect, starts[k]) for k in range(SENDERS)]
            reader = make_client(b2.connect, "reader")
            for i in range(EACH // 2):
                for s in senders:
                    s.client.send(f"{s.client.name} {i}", "all")
            reader.messages("all", SENDERS * 5, timeout=20)
            cluster.stop("fast")
            for i in range(EACH // 2, EACH):
                for s in senders:
                    s.client.send(f"{s.client.name} {i}", "all")
            cluster.start()
            check_every_line_once(senders, reader)
            assert b1.proc is not None and b1.proc.poll() is None and b2.proc is not None and b2.proc.poll() is None
        finally:
            for b in (b1, b2):
                b.stop()
    finally:
        cluster.destroy()
