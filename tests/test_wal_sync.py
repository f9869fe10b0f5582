"""The WAL syncer (group commit): a ticket is synced only by a sync that began after its commit."""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from zchat.wal_sync import WalSyncer


@pytest.fixture
def wal_db(tmp_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(tmp_path / "z.db", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE t(x TEXT)")
    return conn


def _recording(monkeypatch: pytest.MonkeyPatch, wal: Path) -> list[tuple[str, int]]:
    """os.fdatasync, recording which thread synced and how big the WAL was as the sync began."""
    seen: list[tuple[str, int]] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        seen.append((threading.current_thread().name, wal.stat().st_size))
        real(fd)
    monkeypatch.setattr(os, "fdatasync", fdatasync)
    return seen


def test_a_background_ticket_is_synced_by_the_thread_after_its_commit(
        wal_db: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = tmp_path / "z.db-wal"
    seen = _recording(monkeypatch, wal)
    syncer = WalSyncer(str(wal))
    try:
        wal_db.execute("INSERT INTO t VALUES ('a line')")
        size = wal.stat().st_size
        ticket = syncer.request()
        assert syncer.wait(ticket, timeout=30)
        assert syncer.synced >= ticket and syncer.error is None
        assert seen and seen[-1][0] == "zchat-wal-sync" and seen[-1][1] >= size
        assert os.read(syncer.fileno(), 16)          # the owner's poll was woken
    finally:
        syncer.stop()


def test_sync_now_syncs_on_the_callers_thread_and_a_foreground_request_wakes_no_thread(
        wal_db: sqlite3.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wal = tmp_path / "z.db-wal"
    seen = _recording(monkeypatch, wal)
    syncer = WalSyncer(str(wal))
    try:
        wal_db.execute("INSERT INTO t VALUES ('a line')")
        ticket = syncer.request(background=False)
        assert syncer.synced < ticket and not seen     # nobody synced it yet
        syncer.sync_now()
        assert syncer.synced >= ticket
        assert [name for name, _ in seen] == [threading.current_thread().name]
    finally:
        syncer.stop()


def test_stop_syncs_what_was_asked_for(wal_db: sqlite3.Connection, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    wal = tmp_path / "z.db-wal"
    seen = _recording(monkeypatch, wal)
    syncer = WalSyncer(str(wal))
    wal_db.execute("INSERT INTO t VALUES ('a line')")
    ticket = syncer.request(background=False)
    syncer.stop()
    assert syncer.synced >= ticket and seen


def test_a_failed_sync_is_reported_not_retried(wal_db: sqlite3.Connection, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def failing(fd: int) -> None:
        calls.append(fd)
        raise OSError(5, "Input/output error")
    monkeypatch.setattr(os, "fdatasync", failing)
    syncer = WalSyncer(str(tmp_path / "z.db-wal"))
    try:
        wal_db.execute("INSERT INTO t VALUES ('a line')")
        ticket = syncer.request()
        assert syncer.wait(ticket, timeout=30)         # returns: the sync failed
        assert syncer.synced < ticket and isinstance(syncer.error, OSError)
        with pytest.raises(OSError):
            syncer.sync_now()
        assert len(calls) == 1                         # the thread's one try: sync_now does not retry
    finally:
        syncer.stop()
