"""zchat.store_pg on a real PostgreSQL: the store interface as the SQLite store keeps it (the same
behaviours tests/test_store.py holds for SQLite), and what only a shared database needs: seqs for
a whole batch at commit, exactly-once across two brokers racing, and what a batch touched."""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.pgkit import PgCluster
from zchat.store import ConversationRow, DeviceRow, MessageRow, SQLiteStore, StoreError, UserRow
from zchat.store_base import Line
from zchat.store_pg import PgStore
from zchat.store_pg_schema import MIGRATIONS, SCHEMA_VERSION


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


# ---------------------------------------------------------------- protocol 3 (schema 2)

def test_a_line_keeps_its_ref_and_mentions_and_reads_as_it_is_now(store: PgStore) -> None:
    store.add_conversation("g:team", "group", False, "alice", 1.0)
    first, reply = line("ship friday", "c1", "g:team"), Line("g:team", 0, 2.0, "bob", "msg", "ok @alice", "c2", 1,
                                                            ["alice"])
    batch(store, first, reply)
    edit = Line("g:team", 0, 3.0, "alice", "edit", "ship thursday", "c3", 1)
    store.begin_batch()
    store.edit_line("g:team", 1, "ship thursday", None, 3.0)
    store.commit_batch([edit])
    assert store.line("g:team", 2) == MessageRow("g:team", 2, 2.0, "bob", "msg", "ok @alice", "c2", 1, None, False,
                                                 "alice")
    assert store.line("g:team", 1)[5:10] == ("ship thursday", "c1", None, 3.0, False)
    assert store.line("g:team", 3)[4:8] == ("edit", "ship thursday", "c3", 1)
    assert store.line("g:team", 9) is None
    assert store.quotes_of("g:team", [1, 2, 7]) == {1: ("alice", "ship thursday", False),
                                                     2: ("bob", "ok @alice", False)}
    assert store.toggle_reaction("g:team", 1, "bob", "👍", 4.0)
    assert store.toggle_reaction("g:team", 1, "carol", "👍", 5.0)
    assert store.toggle_reaction("g:team", 1, "alice", "🎉", 3.5)
    assert not store.toggle_reaction("g:team", 1, "bob", "👍", 6.0)               # the second time takes it back
    assert store.reactions_between("g:team", 1, 2) == {1: [("🎉", "alice"), ("👍", "carol")]}   # in the order made
    store.delete_line("g:team", 1)              # a tombstone: its text, its edit's text and its reactions are gone
    assert store.line("g:team", 1)[5:10] == ("", "c1", None, 3.0, True)
    assert store.line("g:team", 3).text == "" and store.reactions_between("g:team", 0, 9) == {}
    assert store.quotes_of("g:team", [1]) == {1: ("alice", "", True)}
    assert store.line("g:team", 2).text == "ok @alice"                          # the reply to it stays
    store.set_read("bob", "g:team", 2)
    store.set_read("alice", "g:team", 1)
    assert store.read_marks_of("g:team") == {"bob": 2, "alice": 1}


def test_two_brokers_adding_the_same_reaction_at_once_keep_it_once(url: str, store: PgStore) -> None:
    batch(store, line("hi", "c1"))
    other = PgStore(url)
    try:
        store.begin_batch()
        assert store.toggle_reaction("all", 1, "bob", "👍", 1.0)                 # in flight, not committed
        result: list[bool] = []
        racer = threading.Thread(target=lambda: result.append(other.toggle_reaction("all", 1, "bob", "👍", 2.0)))
        racer.start()
        racer.join(0.3)
        assert racer.is_alive()                                                  # it waits for the first ...
        store.commit_batch([])
        racer.join(10)
        assert result == [True]                            # ... and then neither fails: it is there, once
        assert other.reactions_between("all", 1, 1) == {1: [("👍", "bob")]}
    finally:
        other.close()


def test_topics_roles_and_bans_are_kept_and_touch_their_group(store: PgStore) -> None:
    store.add_conversation("g:team", "group", False, "alice", 1.0)
    for user, joined in (("alice", 1.0), ("bob", 2.0), ("carol", 3.0), ("dave", 4.0)):
        store.add_member("g:team", user, joined)
    store.take_touched()
    with store.transaction():
        store.set_topic("g:team", "release on friday")
        store.set_role("g:team", "alice", "owner")
        store.set_role("g:team", "carol", "admin")
        store.add_ban("g:team", "mallory", "alice", 5.0)
        store.add_ban("g:team", "mallory", "carol", 6.0)                         # banned once
        store.add_ban("g:team", "eve", "alice", 7.0)
        store.remove_ban("g:team", "eve")
    assert store.take_touched().convs == {"g:team"}                     # the other brokers reload the group
    assert store.load_topics() == {"g:team": "release on friday"}
    assert store.load_roles() == {"g:team": {"alice": "owner", "carol": "admin"}}
    assert store.load_bans() == {"g:team": {"mallory"}}
    assert store.group_state("g:team") == ("release on friday", {"alice": "owner", "carol": "admin"}, {"mallory"})
    assert store.group_state("all") == ("", {}, set()) and store.group_state("g:none") == ("", {}, set())
    assert store.successor("g:team", "alice") == "carol"                # an admin first ...
    store.set_role("g:team", "carol", "member")
    assert store.successor("g:team", "alice") == "bob"                  # ... else the longest-standing member
    store.set_topic("g:team", "")
    assert store.load_topics() == {}
    assert store.successor("all", "alice") is None


def test_search_finds_every_word_newest_first_a_page_at_a_time_never_a_deleted_line(store: PgStore) -> None:
    store.add_conversation("g:team", "group", False, "alice", 1.0)
    store.add_conversation("g:other", "group", False, "alice", 1.0)
    lines = [line(f"report number {i}", f"c{i}", "all" if i % 2 else "g:team", ts=float(i)) for i in range(12)]
    batch(store, *lines, line("secret report", "s1", "g:other", ts=20.0), line("Reporting in, one", "c99", ts=21.0),
          Line("all", 0, 22.0, "bob", "edit", "report edited", "e1", 1))
    convs = ["all", "g:team"]
    rows, more, partial = store.search(convs, "REPORT", None, 5, {})
    assert [r.text for _, r in rows] == [f"report number {i}" for i in range(11, 6, -1)] and more and not partial
    rest, more, _ = store.search(convs, "report", rows[-1][0], 50, {})
    assert [r.text for _, r in rest] == [f"report number {i}" for i in range(6, -1, -1)] and not more
    assert [r.text for _, r in store.search(convs, "rep* one", None, 50, {})[0]] == ["Reporting in, one"]
    assert store.search(convs, "report 3", None, 50, {})[0][0][1].seq == lines[3].seq     # every word must match
    assert store.search(convs, "report nothing", None, 50, {})[0] == []
    assert store.search(["g:other"], "report", None, 50, {})[0][0][1].text == "secret report"   # only convs given
    assert store.search([], "report", None, 50, {}) == ([], False, False)
    store.edit_line(lines[4].conv, lines[4].seq, "summary instead", None, 30.0)
    store.delete_line(lines[5].conv, lines[5].seq)
    texts = [r.text for _, r in store.search(convs, "report", None, 50, {})[0]]
    assert "report number 4" not in texts and "report number 5" not in texts and len(texts) == 10
    assert [(r.seq, r.edited) for _, r in store.search(convs, "summary", None, 50, {})[0]] == [(lines[4].seq, 30.0)]
    assert store.search(convs, "edited", None, 50, {})[0] == []                  # an edit line is no chat line


@pytest.mark.parametrize("query", ['"', "report & !number", "report | x", "report:*", "<->", "'; DROP TABLE messages",
                                   "\\", "!!", "(report", "report) & (", "*", "_", "number:A", "ÑÉ"])
def test_a_query_is_only_ever_words_never_tsquery_syntax(store: PgStore, query: str) -> None:
    batch(store, line("report number one", "c1"))
    rows, more, partial = store.search(["all"], query, None, 10, {})
    assert all(r.text == "report number one" for _, r in rows) and not more and not partial
    assert store.after("all", 0, 10)[0].text == "report number one"


def test_search_gives_what_the_sqlite_store_gives(store: PgStore, tmp_path: Path) -> None:
    """The same lines, edits and deletions in both stores; every query, paged, finds the same lines."""
    sqlite = SQLiteStore(tmp_path / "zchat.db")
    words = ["alpha", "beta", "gamma", "delta", "alphabet", "betamax", "zeta"]
    rnd = random.Random(7)
    convs = ["all", "g:a", "g:b"]
    try:
        sqlite.add_conversation("all", "everyone", False, None, 1.0)
        for s in (store, sqlite):
            for key in convs[1:]:
                s.add_conversation(key, "group", False, "alice", 1.0)
        heads = dict.fromkeys(convs, 0)
        for i in range(240):
            conv = rnd.choice(convs)
            heads[conv] += 1
            text = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 4)))
            kind = rnd.choice(["msg", "msg", "me", "event"])
            for s in (store, sqlite):
                s.append(conv, heads[conv], float(i), "alice", kind, text, f"c{i}")
        for conv, head in heads.items():
            for seq in rnd.sample(range(1, head + 1), 6):
                edit = rnd.choice([None, "zeta edited " + rnd.choice(words)])
                for s in (store, sqlite):
                    if edit:
                        s.edit_line(conv, seq, edit, None, 500.0)
                    else:
                        s.delete_line(conv, seq)
        queries = words + [w[:3] + "*" for w in words] + ["alpha beta", "al* ga*", "zeta edited", "nothing", "a*"]
        for query in queries:
            for where in (convs, ["g:a"], ["all", "g:b"]):
                found = []
                for s in (store, sqlite):
                    got, cursor, more = [], None, True
                    while more:
                        page, more, _ = s.search(where, query, cursor, 7, heads)
                        got += [(r.conv, r.seq, r.text) for _, r in page]
                        cursor = page[-1][0] if page else None
                    found.append(got)
                assert found[0] == found[1], (query, where)
    finally:
        sqlite.close()


def test_a_version_1_database_is_migrated_and_keeps_every_row(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("CREATE TABLE schema_version(version int NOT NULL)")
            for stmt in MIGRATIONS[1]:
                conn.execute(stmt)
            conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("INSERT INTO conversations(key, kind, private, created_by, created, head) VALUES"
                     " ('all', 'everyone', false, NULL, 1, 2), ('g:team', 'group', true, 'alice', 1, 1),"
                     " ('g:open', 'group', false, 'carol', 1, 0)")
        conn.execute("INSERT INTO members(conv, user_key, joined) VALUES ('g:team', 'bob', 3), ('g:team', 'dave', 2),"
                     " ('g:open', 'carol', 5), ('g:open', 'erin', 4)")        # alice left her group; carol did not
        conn.execute("INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid) VALUES"
                     " ('all', 1, 10, 'alice', 'msg', 'an old plan', 'a1'), ('g:team', 1, 11, 'bob', 'msg', 'a secret"
                     " plan', 'b1'), ('all', 2, 12, 'carol', 'msg', 'the plan, later', 'c1')")
        count = conn.execute("SELECT COUNT(*) FROM messages").fetchone()
    s = PgStore(url)
    try:
        assert s.load_roles() == {"g:team": {"dave": "owner"}, "g:open": {"carol": "owner"}}
        assert s.load_topics() == {} and s.load_bans() == {}
        assert [(r.text, r.ref, r.edited, r.deleted, r.mentions) for r in s.after("all", 0, 10)] == [
            ("an old plan", None, None, False, None), ("the plan, later", None, None, False, None)]
        assert [r.text for _, r in s.search(["all", "g:team"], "plan", None, 10, {})[0]] == [
            "the plan, later", "a secret plan", "an old plan"]           # the old lines, newest first
        batch(s, Line("all", 0, 13.0, "bob", "msg", "a new plan @alice", "n1", 1, ["alice"]))
        assert s.search(["all"], "plan", None, 1, {})[0][0][1].text == "a new plan @alice"   # after the old ones
        s.edit_line("g:team", 1, "the new plan", None, 30.0)
        assert s.toggle_reaction("g:team", 1, "bob", "👍", 31.0)
    finally:
        s.close()
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)] == [(2,)]
        assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == count[0] + 1   # type: ignore[index]
        # a broker still running version 1's code keeps storing lines while the others are upgraded
        assert conn.execute("SELECT r_seq, r_dup FROM zchat_append(ARRAY['all'], ARRAY[14.0::float8], ARRAY['old'],"
                            " ARRAY['msg'], ARRAY['from an old broker'], ARRAY['o1'])").fetchall() == [(4, False)]
