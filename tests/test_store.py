"""Behaviour of zchat.store on real SQLite files."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from zchat.store import (
    SCHEMA_VERSION,
    Checkpointer,
    ConversationRow,
    DeviceRow,
    MessageRow,
    SQLiteStore,
    StoreError,
    UserRow,
)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "zchat.db"  # parent dir does not exist yet


@pytest.fixture
def store(db: Path):
    s = SQLiteStore(db)
    s.add_conversation("all", "everyone", False, None, 1.0)
    yield s
    s.close()


def wait_until(cond, timeout: float = 10.0) -> bool:
    """Poll `cond` until true or `timeout`; a bounded wait, not a fixed sleep."""
    deadline = time.monotonic() + timeout
    tick = threading.Event()
    while time.monotonic() < deadline:
        if cond():
            return True
        tick.wait(0.01)
    return cond()


def fill(store: SQLiteStore, conv: str, n: int, start: int = 1) -> None:
    with store.transaction():
        for seq in range(start, start + n):
            store.append(conv, seq, float(seq), "alice", "msg", f"m{seq}", f"c{seq}")


def test_file_db_uses_wal_and_creates_parent_dir(store: SQLiteStore, db: Path) -> None:
    assert db.exists()
    assert store.path == str(db)
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_schema_version_recorded_and_newer_refused(db: Path) -> None:
    SQLiteStore(db).close()
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    raw.execute(f"PRAGMA user_version={SCHEMA_VERSION + 98}")
    raw.close()
    with pytest.raises(StoreError, match=rf"{SCHEMA_VERSION + 98}.*{SCHEMA_VERSION}"):
        SQLiteStore(db)


def test_users_persist_across_reopen(store: SQLiteStore, db: Path) -> None:
    store.add_user("Alice", 10.0)
    store.add_user("bob", 11.0)
    store.close()
    with SQLiteStore(db) as again:
        assert again.load_users() == [
            UserRow("Alice", 10.0, False), UserRow("bob", 11.0, False)]


def test_name_uniqueness_is_case_insensitive_and_keys_unique(store: SQLiteStore) -> None:
    store.add_user("alice", 1.0)
    store.add_user("carol", 1.5)
    with pytest.raises(StoreError, match="Alice"):
        store.add_user("Alice", 2.0)
    store.add_device("KEY-A", "alice", "laptop", 1.0)
    with pytest.raises(StoreError):                       # a key is one account's device
        store.add_device("KEY-A", "carol", "phone", 3.0)
    with pytest.raises(StoreError):                       # device names are unique in an account
        store.add_device("KEY-B", "alice", "laptop", 3.0)
    assert store.load_users() == [UserRow("alice", 1.0, False), UserRow("carol", 1.5, False)]
    assert store.load_devices() == [DeviceRow("KEY-A", "alice", "laptop", 1.0, 1.0)]


def test_failed_add_user_does_not_abort_the_batch(store: SQLiteStore) -> None:
    store.add_user("alice", 1.0)
    with store.transaction():
        with pytest.raises(StoreError):
            store.add_user("ALICE", 2.0)
        store.add_user("bob", 3.0)
    assert [u.name for u in store.load_users()] == ["alice", "bob"]


def test_after_pages_ascending_with_limit(store: SQLiteStore) -> None:
    fill(store, "all", 10)
    assert [m.seq for m in store.after("all", 0, 3)] == [1, 2, 3]
    assert [m.seq for m in store.after("all", 8, 5)] == [9, 10]
    assert store.after("all", 10, 5) == []
    assert store.after("all", 0, 1) == [MessageRow("all", 1, 1.0, "alice", "msg", "m1", "c1")]


def test_before_returns_newest_page_ascending(store: SQLiteStore) -> None:
    fill(store, "all", 10)
    assert [m.seq for m in store.before("all", 11, 3)] == [8, 9, 10]
    assert [m.seq for m in store.before("all", 8, 3)] == [5, 6, 7]
    assert [m.seq for m in store.before("all", 3, 5)] == [1, 2]
    assert store.before("all", 1, 5) == []


def test_messages_are_kept_per_conversation(store: SQLiteStore) -> None:
    store.add_conversation("g:team", "group", True, "alice", 2.0)
    fill(store, "all", 3)
    store.append("g:team", 1, 5.0, "bob", "event", "bob joined", None)
    assert [m.text for m in store.after("g:team", 0, 10)] == ["bob joined"]
    assert len(store.after("all", 0, 10)) == 3


def test_retried_append_is_stored_once_and_returns_original(store: SQLiteStore, db: Path) -> None:
    assert store.append("all", 1, 1.5, "alice", "msg", "hi", "cm-1") is None
    original = MessageRow("all", 1, 1.5, "alice", "msg", "hi", "cm-1")
    assert store.append("all", 2, 9.0, "alice", "msg", "hi", "cm-1") == original
    store.close()
    with SQLiteStore(db) as again:
        assert again.append("all", 2, 9.0, "alice", "msg", "hi", "cm-1") == original
        assert again.after("all", 0, 10) == [original]


def test_same_cmid_from_other_sender_or_no_cmid_is_distinct(store: SQLiteStore) -> None:
    assert store.append("all", 1, 1.0, "alice", "msg", "a", "x") is None
    assert store.append("all", 2, 2.0, "bob", "msg", "b", "x") is None
    assert store.append("all", 3, 3.0, "alice", "event", "e", None) is None
    assert store.append("all", 4, 4.0, "alice", "event", "e", None) is None
    assert [m.sender for m in store.after("all", 0, 10)] == ["alice", "bob", "alice", "alice"]


def test_duplicate_seq_or_unknown_conversation_is_a_caller_bug(store: SQLiteStore) -> None:
    store.append("all", 1, 1.0, "alice", "msg", "a", None)
    with pytest.raises(sqlite3.IntegrityError):
        store.append("all", 1, 2.0, "bob", "msg", "b", None)
    with pytest.raises(sqlite3.IntegrityError):
        store.append("g:ghost", 1, 1.0, "alice", "msg", "x", None)


def test_transaction_rolls_back_on_exception(store: SQLiteStore) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction():
            fill(store, "all", 50)  # nested transaction() joins the outer one
            store.add_user("alice", 1.0)
            raise RuntimeError("batch failed")
    assert store.after("all", 0, 100) == []
    assert store.load_users() == []
    fill(store, "all", 50)  # store still usable after the rollback
    assert len(store.after("all", 0, 100)) == 50


def test_batch_visible_to_other_connections_only_after_commit(store: SQLiteStore, db: Path) -> None:
    reader = sqlite3.connect(db)
    count = "SELECT COUNT(*) FROM messages"
    with store.transaction():
        for seq in range(1, 101):
            store.append("all", seq, 1.0, "alice", "msg", "x", None)
        assert reader.execute(count).fetchone()[0] == 0
    assert reader.execute(count).fetchone()[0] == 100
    reader.close()


def test_conversations_report_head_seq(store: SQLiteStore, db: Path) -> None:
    store.add_conversation("dm:alice:bob", "dm", True, "alice", 2.0)
    store.add_conversation("dm:alice:bob", "group", False, "zed", 9.0)  # idempotent
    fill(store, "all", 7)
    store.close()
    with SQLiteStore(db) as again:
        assert again.load_conversations() == [
            ConversationRow("all", "everyone", False, None, 1.0, 7),
            ConversationRow("dm:alice:bob", "dm", True, "alice", 2.0, 0),
        ]


def test_members_and_invites_idempotent_and_persisted(store: SQLiteStore, db: Path) -> None:
    store.add_conversation("g:team", "group", True, "alice", 2.0)
    for _ in range(2):
        store.add_member("g:team", "alice", 3.0)
        store.add_member("g:team", "bob", 3.0)
        store.add_invite("g:team", "carol")
        store.add_invite("g:team", "dave")
    store.remove_member("g:team", "bob")
    store.remove_member("g:team", "bob")
    store.remove_invite("g:team", "dave")
    store.remove_invite("g:team", "nobody")
    store.close()
    with SQLiteStore(db) as again:
        assert again.load_members() == {"g:team": {"alice"}}
        assert again.load_invites() == {"g:team": {"carol"}}


def test_read_marks_only_move_forward(store: SQLiteStore, db: Path) -> None:
    store.add_conversation("g:team", "group", False, "bob", 2.0)
    store.set_read("alice", "all", 5)
    store.set_read("alice", "all", 3)
    store.set_read("alice", "g:team", 2)
    store.set_read("bob", "all", 9)
    assert store.load_read("alice") == {"all": 5, "g:team": 2}
    store.set_read("alice", "all", 8)
    store.close()
    with SQLiteStore(db) as again:
        assert again.load_read("alice") == {"all": 8, "g:team": 2}
        assert again.load_read("nobody") == {}


def test_checkpointer_moves_wal_into_database(store: SQLiteStore, db: Path, tmp_path: Path) -> None:
    fill(store, "all", 200)

    def rows_in_main_file() -> int:
        """Count messages in a copy of the database file alone (no WAL beside it)."""
        snap = tmp_path / f"copy{time.monotonic_ns()}.db"
        shutil.copyfile(db, snap)
        try:
            with sqlite3.connect(snap) as raw:
                return raw.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        except sqlite3.DatabaseError:
            return -1  # table not there yet (schema still only in the WAL)

    assert rows_in_main_file() < 200  # autocheckpoint is off: all still in the WAL
    cp = Checkpointer(db, interval=0.01)
    cp.start()
    try:
        assert wait_until(lambda: rows_in_main_file() == 200)
    finally:
        cp.stop()


def wal_restarts(db: Path, restart_bytes: int, until: Callable[[int, int], bool],
                 max_commits: int = 6000) -> tuple[int, int]:
    """Commit one row at a time, with the short gap a broker's poll leaves between batches, while a
    Checkpointer runs every 10 ms, until ``until(commits, restarts)``; -> (commits, how often the WAL
    started over).

    A WAL that starts over rewrites its header with the next checkpoint sequence number (bytes
    12-15, https://sqlite.org/fileformat.html#the_write_ahead_log), so each commit reads it."""
    s = SQLiteStore(db)
    s.add_conversation("all", "everyone", False, None, 1.0)
    gap, restarts, commits = threading.Event(), 0, 0
    fd = os.open(f"{db}-wal", os.O_RDONLY)
    cp = Checkpointer(db, interval=0.01, restart_bytes=restart_bytes)
    cp.start()
    try:
        first = os.pread(fd, 4, 12)
        while commits < max_commits and not until(commits, restarts):
            commits += 1
            fill(s, "all", 1, start=commits)
            gap.wait(0.0003)                      # pacing the writer, not synchronising with anything
            restarts = int.from_bytes(os.pread(fd, 4, 12)) - int.from_bytes(first)
    finally:
        cp.stop()
        os.close(fd)
    assert [c.head_seq for c in s.load_conversations()] == [commits]
    s.close()
    return commits, restarts


def test_the_wal_starts_over_while_the_broker_writes_without_a_pause(tmp_path: Path) -> None:
    """PASSIVE checkpoints alone let the WAL grow for as long as the commits keep coming (bench P3:
    6 MB/s): it starts over only when a checkpoint finishes while no commit comes, which on a
    busy machine happens when the writer is descheduled. The RESTART rounds make it start over
    whenever it passed restart_bytes, pause or not. So: wait for the WAL to start over 5 times
    with RESTART rounds, then write as many commits with PASSIVE alone: it starts over less often."""
    commits, restarting = wal_restarts(tmp_path / "b.db", restart_bytes=128 * 1024,
                                       until=lambda n, restarts: restarts >= 5)
    assert restarting >= 5, f"with RESTART rounds the WAL started over {restarting} times in {commits} commits"
    _, passive_only = wal_restarts(tmp_path / "a.db", restart_bytes=1 << 40, until=lambda n, _: n >= commits)
    assert passive_only < restarting, f"PASSIVE alone: {passive_only} restarts in {commits} commits"


def test_checkpointer_stop_returns_promptly(db: Path) -> None:
    SQLiteStore(db).close()
    cp = Checkpointer(db, interval=3600.0)
    cp.start()
    thread = cp._thread
    cp.stop(timeout=30)     # a bound, not a measurement: an unwoken thread would sleep for an hour
    assert thread is not None and not thread.is_alive()
    cp.stop()  # idempotent


def test_close_is_idempotent_and_truncates_wal(db: Path) -> None:
    s = SQLiteStore(db)
    s.add_conversation("all", "everyone", False, None, 1.0)
    fill(s, "all", 20)
    wal = Path(f"{db}-wal")
    assert wal.exists() and wal.stat().st_size > 0
    s.close()
    s.close()
    assert not wal.exists() or wal.stat().st_size == 0


def test_memory_store_works() -> None:
    with SQLiteStore(":memory:") as s:
        s.add_conversation("all", "everyone", False, None, 1.0)
        fill(s, "all", 3)
        assert s.append("all", 9, 1.0, "alice", "msg", "m1", "c1") is not None
        assert [c.head_seq for c in s.load_conversations()] == [3]
    cp = Checkpointer(":memory:")
    cp.start()
    cp.stop()


def test_a_version_1_database_is_migrated_with_each_key_as_its_accounts_first_device(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    raw = sqlite3.connect(db)
    raw.executescript("""
        CREATE TABLE users(key TEXT PRIMARY KEY, name TEXT NOT NULL, pubkey TEXT NOT NULL UNIQUE,
            created REAL NOT NULL) WITHOUT ROWID;
        CREATE TABLE conversations(key TEXT PRIMARY KEY, kind TEXT NOT NULL, private INTEGER NOT NULL,
            created_by TEXT, created REAL NOT NULL) WITHOUT ROWID;
        INSERT INTO users VALUES ('alice', 'Alice', 'KEY-A', 5.0), ('bob', 'bob', 'KEY-B', 6.0);
        PRAGMA user_version=1;""")
    raw.close()
    s = SQLiteStore(db)
    try:
        assert s.load_users() == [UserRow("Alice", 5.0, False), UserRow("bob", 6.0, False)]
        assert s.load_devices() == [DeviceRow("KEY-A", "alice", "device-1", 5.0, 5.0),
                                    DeviceRow("KEY-B", "bob", "device-1", 6.0, 6.0)]
    finally:
        s.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_link_code_is_good_once_for_its_account_until_it_expires(store: SQLiteStore) -> None:
    store.add_user("alice", 1.0)
    store.add_user("bob", 1.0)
    store.add_link_code("h1", "alice", 10.0, 610.0)
    store.add_link_code("h2", "alice", 10.0, 20.0)
    assert not store.take_link_code("h1", "bob", 100.0)      # another account's code
    assert store.take_link_code("h1", "alice", 100.0)
    assert not store.take_link_code("h1", "alice", 101.0)    # used
    assert not store.take_link_code("h2", "alice", 21.0)     # expired
