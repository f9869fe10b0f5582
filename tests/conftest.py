"""Fixtures: a real broker process on a random port with its own data dir, and raw clients.

Brokers run as ``python -m zchat.broker`` subprocesses so tests can kill -9 and restart
them; every wait is bounded, every socket and process is closed at teardown.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq
from hypothesis import settings

from tests.pgkit import PgCluster
from tests.probe import Probe
from tests.rawclient import RawClient
from zchat import events as ev
from zchat import protocol as p
from zchat.client import Client

HEARTBEAT = 0.25   # seconds: fast heartbeats keep subscription syncs short
# rate limits out of the way, for tests that pipeline thousands of requests on purpose
BULK = ("--limit", "message=1e9/1000000", "--limit", "history=1e9/1000000", "--limit", "create_group=1e9/1000000",
        "--limit", "invite=1e9/1000000", "--rate", "1e9", "--rate-burst", "1000000")

# Property tests: HYPOTHESIS_PROFILE=ci (what .ci/run sets) runs them at full strength, the same
# examples every run; the default, dev, is quicker for local loops.
settings.register_profile("ci", max_examples=1000, deadline=None, derandomize=True, database=None)
# Both name every setting they care about: on a CI machine (env CI set) hypothesis loads its own "ci"
# profile first, and a profile registered without a parent inherits from whatever is loaded.
settings.register_profile("dev", max_examples=100, deadline=None, derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# The Tk tests' fixtures (display, tk_user, other) live with the Tk helpers; loaded as a plugin here so a test
# module names them as arguments only. Without tkinter there is nothing to load and the Tk tests skip themselves.
try:
    import tkinter  # noqa: F401
except ImportError:
    pytest_plugins: list[str] = []
else:
    pytest_plugins = ["tests.tk_helpers"]


class BrokerProcess:
    """One broker subprocess; ``start()`` waits (bounded) for its connect file."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir, self.extra = data_dir, list(extra)
        self.proc: subprocess.Popen[str] | None = None
        self.connect = ""
        self.bind = "tcp://127.0.0.1:*"

    def start(self, timeout: float = 15.0) -> str:
        connect_file = self.data_dir / "connect"
        if connect_file.exists():
            connect_file.unlink()
        self.log = open(self.data_dir.parent / f"{self.data_dir.name}.log", "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "zchat.broker", "--bind", self.bind, "--data-dir", str(self.data_dir),
             "--heartbeat", str(HEARTBEAT), "--log-level", "debug", *self.extra],
            stdout=self.log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while not (connect_file.exists() and connect_file.read_text().strip()):
            assert self.proc.poll() is None, f"broker exited with {self.proc.returncode}: {self.output()}"
            assert time.monotonic() < deadline, "broker did not write its connect file in time"
            time.sleep(0.02)  # polling a file the broker writes once; no event to wait on
        self.connect = connect_file.read_text().strip()
        return self.connect

    def output(self) -> str:
        return (self.data_dir.parent / f"{self.data_dir.name}.log").read_text()

    def restart_on_same_port(self) -> str:
        """Bring the broker back on the endpoints it had (clients keep the same connect string)."""
        self.bind, _ = p.parse_connect_string(self.connect)
        return self.start()

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=15)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        return self.kill(signal.SIGTERM)


# The modules whose brokers run on both stores, SQLite and PostgreSQL: the same tests, parametrised.
# These are the ones that drive the broker over its sockets end to end (messages, groups, devices,
# access, limits, a killed broker, the client core); running every broker test twice would add
# minutes for modules that test the loop's socket guards (robustness, starvation, slow consumers),
# which do not touch the store. tests/test_brokers.py runs two brokers on PostgreSQL.
PG_MODULES = {"test_broker_e2e", "test_security", "test_devices_e2e", "test_client", "test_limits",
              "test_broker_process", "test_client_api",
              # protocol 3: edits, deletions, replies, reactions, moderation, search, awareness, and attacks on them
              "test_lines_e2e", "test_moderation_e2e", "test_awareness_e2e", "test_feat_attacks"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in PG_MODULES:
        metafunc.parametrize("store_kind", ["sqlite", "pg"], indirect=True)


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the broker fixtures use: "sqlite" (the default) or "pg" (PG_MODULES run both)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One private PostgreSQL cluster for the whole run (about a second to start)."""
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


@pytest.fixture
def store_url(store_kind: str, request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The broker's --store: None for SQLite in its data dir, or a fresh PostgreSQL database, dropped after."""
    if store_kind != "pg":
        yield None
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    db = cluster.fresh_db()
    yield cluster.url(db)
    cluster.drop_db(db)


@pytest.fixture
def broker_factory(tmp_path: Path, store_url: str | None) -> Iterator[Callable[..., BrokerProcess]]:
    made: list[BrokerProcess] = []
    store = ("--store", store_url) if store_url else ()

    def make(*extra: str, name: str = "broker", key_of: BrokerProcess | None = None) -> BrokerProcess:
        """A broker started on its own data dir; ``key_of``: with that broker's server key (brokers
        that share a database share one key, so one connect string names them all)."""
        b = BrokerProcess(tmp_path / name, *store, *extra)
        b.data_dir.mkdir(exist_ok=True)
        if key_of is not None:
            shutil.copy(key_of.data_dir / "server.key", b.data_dir / "server.key")
        made.append(b)
        b.start()
        return b

    yield make
    for b in made:
        if b.stop() is None:
            b.kill()


@pytest.fixture
def broker_args() -> tuple[str, ...]:
    """Extra options of the ``broker`` fixture: override it in a module (e.g. to return BULK)."""
    return ()


@pytest.fixture
def broker(broker_factory: Callable[..., BrokerProcess], broker_args: tuple[str, ...]) -> BrokerProcess:
    return broker_factory(*broker_args)


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    # terminate on a helper thread with a deadline: a leaked socket fails the test instead of hanging it
    t = threading.Thread(target=context.term, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "zmq context could not terminate: a socket was left open"


@pytest.fixture
def make_client(ctx: zmq.Context) -> Iterator[Callable[..., RawClient]]:
    """make(connect, name=None, keypair=None, subscribe=True, **dealer_options): a RawClient, joined as
    ``name`` when given."""
    made: list[RawClient] = []

    def make(connect: str, name: str | None = None, keypair: tuple[bytes, bytes] | None = None,
             subscribe: bool = True, monitor: int = 0, **options: int) -> RawClient:
        c = RawClient(ctx, connect, keypair=keypair, monitor=monitor, **options)
        made.append(c)
        if name:
            welcome = c.hello(name, subscribe=subscribe)
            assert isinstance(welcome, p.Welcome), welcome
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def client(make_client: Callable[..., RawClient], broker: BrokerProcess) -> Callable[..., RawClient]:
    """make(name=None, connect=None, keypair=None): a RawClient on the ``broker`` fixture."""
    def make(name: str | None = None, connect: str | None = None, **kw: object) -> RawClient:
        return make_client(connect or broker.connect, name, **kw)
    return make


@pytest.fixture
def user(broker, tmp_path: Path) -> Iterator[Callable[..., Probe]]:
    made: list[Client] = []

    def make(name: str, connect: str | None = None, live: bool = True, cfg: str | None = None,
             link: str | None = None, joined: bool = True) -> Probe:
        """A Client joined as ``name``; ``cfg`` names its config dir (its key: another one is another
        device), ``link`` a link code to join an account with."""
        c = Client(connect or broker.connect, config_dir=tmp_path / (cfg or f"cfg-{name}"), link=link)
        made.append(c)
        c.join(name)
        probe = Probe(c)
        if not joined:
            return probe
        probe.wait(lambda e: isinstance(e, ev.Joined))
        if live:
            probe.wait(lambda e: isinstance(e, ev.ConnectionChanged) and e.state == "live")
        return probe

    yield make
    for c in made:
        c.close()


os.environ.setdefault("PYTHONUNBUFFERED", "1")
