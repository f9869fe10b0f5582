"""Schema 3 from a real version 2 database: tests/data/v2.db was written by the version 2 store
(main's zchat/store.py before protocol 3: users, devices, a group whose creator had left, a DM,
lines and read marks). The migration keeps every row, adds protocol 3's columns and tables, and
gives each group an owner; a real broker then serves the old data with the new features."""
from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.conftest import BrokerProcess
from tests.rawclient import RawClient
from zchat import protocol as p
from zchat.store import SCHEMA_VERSION, SQLiteStore

V2 = Path(__file__).parent / "data" / "v2.db"


def copy_of_v2(tmp_path: Path) -> Path:
    db = tmp_path / "zchat.db"
    shutil.copy(V2, db)
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone()[0] == 2
    return db


def test_a_version_2_database_is_migrated_and_keeps_every_row(tmp_path: Path) -> None:
    db = copy_of_v2(tmp_path)
    before = {t: sqlite3.connect(db).execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("users", "devices", "conversations", "members", "messages", "read_marks")}
    with SQLiteStore(db) as s:
        assert [(r.seq, r.text, r.ref, r.edited, r.deleted, r.mentions) for r in s.after("all", 0, 10)] == [
            (1, "hello from protocol 2, @bob", None, None, False, None), (2, "hi Alice", None, None, False, None)]
        assert s.load_roles() == {"g:team": {"bob": "owner"}, "g:open": {"carol": "owner"}}   # alice had left
        assert s.load_topics() == {} and s.load_bans() == {}
        assert s.read_marks_of("all") == {"bob": 2}
        # the new columns and tables work on the old rows
        s.edit_line("g:team", 4, "the new plan", None, 30.0)
        s.toggle_reaction("g:team", 4, "bob", "👍", 31.0)
        assert s.line("g:team", 4)[5:9] == ("the new plan", "a-2", None, 30.0)
        rows, more, partial = s.search(["all", "dm:alice:bob"], "plan", None, 10, {"all": 2, "dm:alice:bob": 1,
                                                                                    "g:team": 5, "g:open": 1})
        assert [r.text for _, r in rows] == ["a secret plan"] and not more and not partial
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    after = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in before}
    assert after == before
    assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_broker_on_a_migrated_database_serves_the_old_lines_with_the_new_features(
        broker_factory: Callable[..., BrokerProcess], ctx: object, tmp_path: Path) -> None:
    broker = broker_factory(name="migrated")
    broker.stop()
    copy_of_v2(tmp_path)
    shutil.copy(tmp_path / "zchat.db", broker.data_dir / "zchat.db")
    for suffix in ("-wal", "-shm"):
        (broker.data_dir / f"zchat.db{suffix}").unlink(missing_ok=True)
    broker.start()
    bob = RawClient(ctx, broker.connect, keypair=None)        # bob's v2 key is a made-up one: link it anew
    try:
        # the old accounts are there: bob's name is taken by the v2 device key
        assert bob.hello("bob", subscribe=False).code == "name_taken"
        dave = RawClient(ctx, broker.connect)
        try:
            assert isinstance(dave.hello("dave", subscribe=False), p.Welcome)
            page = dave.call(p.History, conv="all")
            assert [(m.sender, m.text, m.mentions) for m in page.messages] == [
                ("Alice", "hello from protocol 2, @bob", None), ("bob", "hi Alice", None)]
            assert isinstance(dave.call(p.React, conv="all", seq=1, emoji="👋"), p.Ok)
            assert dave.call(p.History, conv="all").messages[0].reactions == [p.Reaction("👋", ["dave"])]
            assert dave.call(p.JoinGroup, group="team").code == "not_invited"
            assert [g.name for g in dave.call(p.ListGroups).groups] == ["open"]
            assert isinstance(dave.call(p.JoinGroup, group="open"), p.Ok)
            roles = {u.name: u.role for u in dave.call(p.Who, conv="g:open").users}
            assert roles == {"carol": "owner", "dave": ""}
            assert [m.text for m in dave.call(p.Search, query="protocol").results] == ["hello from protocol 2, @bob"]
        finally:
            dave.close()
    finally:
        bob.close()
