"""Running a broker for real: one broker per data dir, files only its owner reads, an ok that means
the data is on disk, and client pins that one broker cannot have two of."""
from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BrokerProcess
from zchat import protocol as p
from zchat.keys import ServerKeyChanged, resolve_server
from zchat.store import SQLiteStore


def test_a_second_broker_on_the_same_data_dir_refuses_to_start(broker: BrokerProcess) -> None:
    connect_before = (broker.data_dir / "connect").read_text()
    result = subprocess.run([sys.executable, "-m", "zchat.broker", "--bind", "tcp://127.0.0.1:*",
                             "--data-dir", str(broker.data_dir)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result
    assert f"another broker (pid {broker.proc.pid})" in result.stderr and "--data-dir" in result.stderr
    assert (broker.data_dir / "connect").read_text() == connect_before     # it touched nothing


def test_the_lock_dies_with_the_broker(broker: BrokerProcess) -> None:
    broker.kill()                                   # kill -9: no chance to clean up
    broker.restart_on_same_port()                   # the kernel dropped the flock with the process


def test_the_data_dir_and_the_database_are_the_owners_alone(broker: BrokerProcess, client: Any) -> None:
    alice = client("alice")
    alice.say("all", "private enough")
    assert stat.S_IMODE(broker.data_dir.stat().st_mode) == 0o700
    files = {f.name: stat.S_IMODE(f.stat().st_mode) for f in broker.data_dir.iterdir()}
    assert {"zchat.db", "zchat.db-wal", "server.key", "broker.lock"} <= files.keys(), files
    assert all(mode & 0o077 == 0 for name, mode in files.items() if name != "connect"), files
    assert files["connect"] == 0o644                # not secret: this user's clients read it


def test_a_data_dir_left_readable_by_an_older_broker_is_closed_up(broker_factory: Any, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    db = SQLiteStore(old / "zchat.db")
    db.close()
    os.chmod(old / "zchat.db", 0o644)
    b = broker_factory(name="old")
    assert b.data_dir == old
    assert stat.S_IMODE(old.stat().st_mode) == 0o700 and stat.S_IMODE((old / "zchat.db").stat().st_mode) == 0o600


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_fsync_is_the_default_and_no_fsync_is_the_option(tmp_path: Path, fsync: bool) -> None:
    """With fsync (the default) a syncer makes each commit durable (group commit, zchat.wal_sync); with
    --no-fsync only checkpoints sync. Either way a COMMIT itself writes the WAL without syncing it."""
    store = SQLiteStore(tmp_path / "z.db", fsync=fsync) if not fsync else SQLiteStore(tmp_path / "z.db")
    try:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert (store.syncer is not None) == fsync
        assert store.sync_ticket() == (1 if fsync else 0)      # the setup's transaction, synced at once
        assert not fsync or store.syncer.synced == 1           # type: ignore[union-attr]
    finally:
        store.close()


# Loaded into the broker's process (sitecustomize, by PYTHONPATH): a disk whose syncs hang while
# <base>.stuck exists, or fail with EIO while <base>.eio exists. SQLite's own syncs (checkpoints) are
# not affected: only the WAL syncer calls os.fdatasync.
DISK_HOOK = """
import os, time
_base = os.environ.get("ZCHAT_TEST_DISK")
_real = os.fdatasync

def fdatasync(fd):
    if os.path.exists(_base + ".eio"):
        raise OSError(5, "Input/output error (the test's failing disk)")
    if os.path.exists(_base + ".stuck"):
        open(_base + ".entered", "w").close()
        while os.path.exists(_base + ".stuck"):
            time.sleep(0.002)
    _real(fd)

if _base:
    os.fdatasync = fdatasync
"""


@pytest.fixture
def disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The base path of the disk hook's flag files, installed for brokers started from now on."""
    hook = tmp_path / "disk-hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(DISK_HOOK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("ZCHAT_TEST_DISK", str(tmp_path / "disk"))
    return tmp_path / "disk"


def _wait_for(check: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)     # polling files the broker's process writes: there is no event to wait on


def test_no_ok_and_no_publish_leaves_before_the_sync_that_makes_it_durable(
        disk: Path, broker_factory: Any, make_client: Any) -> None:
    """Group commit keeps what an ok means: with the disk's syncs hanging, lines are committed (they are
    in the WAL) but no ok and no publish leaves; once the syncs return, all of them do, in order."""
    b = broker_factory("--rate", "1000", "--rate-burst", "100", name="stuck")   # 30 at once are not too many
    alice, bob = make_client(b.connect, "alice"), make_client(b.connect, "bob")
    Path(f"{disk}.stuck").touch()
    texts = [f"not on disk yet {i}" for i in range(30)]
    for i, text in enumerate(texts):       # pipelined: the loop has requests waiting as it commits
        alice.send(p.Send(id=f"r{i}", conv="all", text=text, cmid=f"c{i}"))
    wal = b.data_dir / "zchat.db-wal"
    _wait_for(lambda: texts[0].encode() in wal.read_bytes(), "the first line's commit to reach the WAL")
    _wait_for(Path(f"{disk}.entered").exists, "a sync to start")
    assert not alice.dealer.poll(500), "an ok left before the sync that makes its line durable"
    assert bob.silent(lambda t, m: isinstance(m, p.Message) and m.text.startswith("not on disk"), 0.2)
    Path(f"{disk}.stuck").unlink()
    oks = [alice.recv_reply() for _ in texts]
    assert [o.id for o in oks] == [f"r{i}" for i in range(30)] and all(isinstance(o, p.Ok) for o in oks), oks
    assert [o.seq for o in oks] == sorted(o.seq for o in oks)
    assert [m.text for m in bob.messages("all", 30)] == texts


def test_a_failed_sync_stops_the_broker_without_acknowledging(disk: Path, broker_factory: Any,
                                                            make_client: Any) -> None:
    """After an fsync error the kernel may have dropped the pages (PostgreSQL's fsyncgate): the broker
    does not retry or acknowledge; it says why and exits non-zero, and the client's ok never comes."""
    b = broker_factory(name="eio")
    alice = make_client(b.connect, "alice")
    Path(f"{disk}.eio").touch()
    alice.send(p.Send(id="r1", conv="all", text="on a failing disk", cmid="c1"))
    assert b.proc.wait(timeout=30) == 1
    assert "could not be made durable" in b.output() and "Input/output error" in b.output()
    assert not alice.dealer.poll(200), "a line whose sync failed was acknowledged"


def test_the_broker_says_which_durability_it_runs_with(broker_factory: Any) -> None:
    out = subprocess.run([sys.executable, "-m", "zchat.broker", "--help"], capture_output=True, text=True,
                         env={**os.environ, "COLUMNS": "1000"})
    assert "--no-fsync" in out.stdout and "power cut" in out.stdout
    assert "fsync before every ok" in broker_factory(name="a").output()
    assert "no fsync (--no-fsync)" in broker_factory("--no-fsync", name="b").output()


def test_localhost_and_127_0_0_1_cannot_pin_two_keys_for_one_broker(tmp_path: Path) -> None:
    good, evil = "ab" * 32, "cd" * 32
    resolve_server(f"tcp://127.0.0.1:5599#key={good}", tmp_path)
    for host in ("localhost", "LOCALHOST", "127.0.0.1"):
        with pytest.raises(ServerKeyChanged, match="pinned"):
            resolve_server(f"tcp://{host}:5599#key={evil}", tmp_path)
    resolve_server(f"tcp://localhost:5599#key={good}", tmp_path)          # the same key by another name
    resolve_server(f"tcp://127.0.0.1:5600#key={evil}", tmp_path)          # another port, another broker
    pins = (tmp_path / "servers.json").read_text()
    assert '"port": 5599' in pins and '"port": 5600' in pins


def test_pins_written_by_an_older_client_still_hold(tmp_path: Path) -> None:
    (tmp_path / "servers.json").write_text('{"tcp://127.0.0.1:5599": "%s"}' % ("ab" * 32))
    with pytest.raises(ServerKeyChanged):
        resolve_server(f"tcp://localhost:5599#key={'cd' * 32}", tmp_path)


def test_the_database_holds_what_was_acknowledged_after_kill_9(broker: BrokerProcess, client: Any) -> None:
    alice = client("alice")
    oks = [alice.say("all", f"durable {i}") for i in range(20)]
    assert all(isinstance(ok, p.Ok) for ok in oks)
    broker.kill()
    rows = sqlite3.connect(broker.data_dir / "zchat.db").execute(
        "SELECT seq, text FROM messages WHERE conv = 'all' ORDER BY seq").fetchall()
    assert rows == [(ok.seq, f"durable {i}") for i, ok in enumerate(oks)]
