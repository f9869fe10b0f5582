"""zchat.store_pg on a real PostgreSQL: the store interface as the SQLite store keeps it (the same
behaviours tests/test_store.py holds for SQLite), and what only a shared database needs: seqs for
a whole batch at commit, exactly-once across two brokers racing, and what a batch touched."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.pgkit import PgCluster
from zchat.store import ConversationRow, DeviceRow, MessageRow, StoreError, UserRow
from zchat.store_base import Line
from zchat.store_pg import PgStore
from zchat.store_pg_schema import SCHEMA_VERSION


@pytest.fixture
def url(pg_cluster: PgCluster) -> Iterator[str]:
    db = pg_cluster.fresh_db()
    yield pg_cluster.url(db)
    pg_cluster.drop_db(db)


@pytest.fixture
def store(url: str) -> Iterator[PgStore]:
    s = PgStore(url)
    s.add_conversation("all", "everyone", False, None, 1.0)
    yield s
    s.close()


def batch(store: PgStore, *lines: Line) -> list[tuple[str, int, float, bool]]:
    store.begin_batch()
    store.commit_batch(list(lines))
    return [(x.conv, x.seq, x.ts, x.duplicate) for x in lines]


def line(text: str, cmid: str | None, conv: str = "all", sender: str = "alice", ts: float = 1.0) -> Line:
    return Line(conv, 0, ts, sender, "msg", text, cmid)


def test_the_schema_is_versioned_and_a_newer_one_is_refused(url: str) -> None:
    PgStore(url).close()
    PgStore(url).close()                            # migrating twice is a no-op
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreError, match="newer"):
        PgStore(url)


def test_an_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot use the PostgreSQL database"):
        PgStore("postgresql://zchat@127.0.0.1:1/nothing")


def test_a_batch_gets_its_seqs_at_commit_and_a_retried_cmid_its_first_line(store: PgStore) -> None:
    store.add_conversation("g:team", "group", False, "alice", 2.0)
    got = batch(store, line("a", "c1"), line("b", "c2", "g:team", ts=2.0), line("c", "c3"),
                line("a again", "c1", ts=9.0), line("event", None, "g:team"))
    assert got == [("all", 1, 1.0, False), ("g:team", 1, 2.0, False), ("all", 2, 1.0, False),
                   ("all", 1, 1.0, True), ("g:team", 2, 1.0, False)]
    assert batch(store, line("later", "c1", "g:team")) == [("all", 1, 1.0, True)]   # a cmid is its line's
    assert [m.text for m in store.after("all", 0, 10)] == ["a", "c"]
    assert store.find("alice", "c2") == MessageRow("g:team", 1, 2.0, "alice", "msg", "b", "c2")
    assert [c.head_seq for c in store.load_conversations()] == [2, 2]


def test_two_brokers_racing_with_the_same_cmid_store_it_once(url: str, store: PgStore) -> None:
    """A retry that went through another broker while the first was still in flight: one stored line,
    one seq, and both answered with it."""
    other = PgStore(url)
    try:
        store.begin_batch()
        first = line("hi", "c1")
        store._x("SELECT 1 FROM conversations WHERE key = 'all' FOR NO KEY UPDATE")   # the first is in flight
        results: list[Line] = []

        def retry() -> None:
            other.begin_batch()
            second = line("hi", "c1", ts=5.0)
            other.commit_batch([second])           # waits on the first batch's counter lock
            results.append(second)
        t = threading.Thread(target=retry)
        t.start()
        with psycopg.connect(url, autocommit=True) as watch:
            deadline = time.monotonic() + 10
            while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                    " AND datname = current_database()").fetchone()[0]:
                assert time.monotonic() < deadline, "the retry never waited for the first batch"
                time.sleep(0.01)                   # polling PostgreSQL's view: no event to wait on
        store.commit_batch([first])
        t.join(10)
        assert not t.is_alive() and results
        assert (first.seq, first.duplicate) == (1, False)
        assert (results[0].seq, results[0].ts, results[0].duplicate) == (1, 1.0, True)
        assert len(store.after("all", 0, 10)) == 1
    finally:
        other.close()


def test_a_taken_name_or_device_is_refused_without_losing_the_batch(store: PgStore) -> None:
    store.add_user("alice", 1.0)
    with store.transaction():
        with pytest.raises(StoreError):
            store.add_user("ALICE", 2.0)
        store.add_user("bob", 3.0)
        store.add_device("KEY-A", "alice", "laptop", 1.0)
        with pytest.raises(StoreError):
            store.add_device("KEY-A", "bob", "phone", 3.0)
        with pytest.raises(StoreError):
            store.add_device("KEY-B", "alice", "laptop", 3.0)
    assert store.load_users() == [UserRow("alice", 1.0, False), UserRow("bob", 3.0, False)]
    assert store.load_devices() == [DeviceRow("KEY-A", "alice", "laptop", 1.0, 1.0)]
    assert store.devices_of("alice") == store.load_devices() and store.devices_of("bob") == []


def test_a_failed_batch_keeps_nothing(store: PgStore) -> None:
    store.take_touched()                           # the fixture's own conversation
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.add_user("alice", 1.0)
            store.add_conversation("g:x", "group", False, "alice", 1.0)
            raise RuntimeError("the batch failed")
    assert store.load_users() == [] and [c.key for c in store.load_conversations()] == ["all"]
    assert not store.take_touched()                # nothing to tell the other brokers
    assert batch(store, line("kept", "c1")) == [("all", 1, 1.0, False)]


def test_what_a_committed_batch_touched_is_told_once(store: PgStore) -> None:
    store.take_touched()                           # the fixture's own conversation
    with store.transaction():
        store.add_user("alice", 1.0)
        store.add_conversation("g:team", "group", True, "alice", 2.0)
        store.add_member("g:team", "alice", 2.0)
        store.set_read("alice", "all", 0)
    touched = store.take_touched()
    assert (touched.users, touched.convs, touched.reads) == ({"alice"}, {"g:team"}, {("alice", "all")})
    assert not store.take_touched()


def test_conversations_members_invites_and_read_marks(store: PgStore) -> None:
    store.add_conversation("g:team", "group", True, "alice", 2.0)
    store.add_conversation("g:team", "dm", False, "zed", 9.0)           # idempotent
    for _ in range(2):
        store.add_member("g:team", "alice", 3.0)
        store.add_member("g:team", "bob", 3.0)
        store.add_invite("g:team", "carol")
        store.add_invite("g:team", "dave")
    store.remove_member("g:team", "bob")
    store.remove_invite("g:team", "dave")
    assert store.load_members() == {"g:team": {"alice"}} and store.members_of("g:team") == {"alice"}
    assert store.load_invites() == {"g:team": {"carol"}} and store.invites_of("g:team") == {"carol"}
    assert store.load_conversation("g:team") == ConversationRow("g:team", "group", True, "alice", 2.0, 0)
    store.set_read("alice", "all", 5)
    store.set_read("alice", "all", 3)
    assert store.load_read("alice") == {"all": 5}


def test_history_pages_and_a_link_code_good_once(store: PgStore) -> None:
    batch(store, *[line(f"m{i}", f"c{i}", ts=float(i)) for i in range(1, 11)])
    assert [m.seq for m in store.after("all", 0, 3)] == [1, 2, 3]
    assert [m.seq for m in store.after("all", 8, 5)] == [9, 10]
    assert [m.seq for m in store.before("all", 11, 3)] == [8, 9, 10]
    assert [m.seq for m in store.before("all", 3, 5)] == [1, 2]
    assert store.heads() == {"all": 10}
    store.add_user("alice", 1.0)
    store.add_user("bob", 1.0)
    store.add_link_code("h1", "alice", 10.0, 610.0)
    store.add_link_code("h2", "alice", 10.0, 20.0)
    assert not store.take_link_code("h1", "bob", 100.0)
    assert store.take_link_code("h1", "alice", 100.0)
    assert not store.take_link_code("h1", "alice", 101.0)
    assert not store.take_link_code("h2", "alice", 21.0)
