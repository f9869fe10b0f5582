"""Running a broker for real: one broker per data dir, files only its owner reads, an ok that means
the data is on disk, and client pins that one broker cannot have two of."""
from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
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


@pytest.mark.parametrize("fsync, level", [(True, 2), (False, 1)], ids=["fsync", "no-fsync"])
def test_fsync_is_the_default_and_no_fsync_is_the_option(tmp_path: Path, fsync: bool, level: int) -> None:
    """synchronous=FULL (2) syncs the WAL at every commit, which the broker makes once per batch before
    any ok of it goes out; NORMAL (1) only at checkpoints."""
    store = SQLiteStore(tmp_path / "z.db", fsync=fsync) if not fsync else SQLiteStore(tmp_path / "z.db")
    try:
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    finally:
        store.close()


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
