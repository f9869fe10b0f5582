"""What the store keeps for protocol 3's chat features: edited and deleted lines, reactions,
group topics, roles and bans, and where each reader has read up to; and the schema migration
from version 2 that adds them.

A mixin of :class:`zchat.store.SQLiteStore` (which owns ``_conn``), kept apart so each module
stays small. Every statement here is plain SQL that PostgreSQL runs as it is (no SQLite
functions, no ``INSERT OR``); search, which is SQLite's FTS5, lives behind the one method of
zchat.store_search.

An edit or a deletion is stored twice over, on purpose: as a new line (``append``, kind
"edit"/"delete", ``ref`` = the line, so seqs stay gap-free and catch-up brings it) and in the
line itself, so ``history`` reads every line as it reads now without replaying anything. A
deletion erases the text of the line and of its earlier edits: the broker keeps no copy.
"""
from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zchat.store import MessageRow

LINE_KINDS_SQL = "('msg', 'me')"

# Version 2 -> 3: new columns (every one nullable or with a default, so old rows stay valid) and
# tables. A fresh database is made as version 2 and then migrated, so this path always runs.
MIGRATE_2_TO_3 = (
    "ALTER TABLE messages ADD COLUMN ref INTEGER",              # edit/delete/react: the line; msg/me: reply_to
    "ALTER TABLE messages ADD COLUMN edited REAL",              # msg/me: when last edited
    "ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE messages ADD COLUMN mentions TEXT",            # lowercased names, space-separated
    "ALTER TABLE conversations ADD COLUMN topic TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE members ADD COLUMN role TEXT NOT NULL DEFAULT 'member'",
    """CREATE TABLE IF NOT EXISTS reactions(
        conv TEXT NOT NULL REFERENCES conversations(key), seq INTEGER NOT NULL, user TEXT NOT NULL,
        emoji TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY (conv, seq, user, emoji)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS bans(
        conv TEXT NOT NULL REFERENCES conversations(key), user TEXT NOT NULL, by TEXT NOT NULL,
        ts REAL NOT NULL, PRIMARY KEY (conv, user)) WITHOUT ROWID""",
    # lines whose text changed (edited, deleted) after search may have indexed them (store_search)
    """CREATE TABLE IF NOT EXISTS search_dirty(
        conv TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (conv, seq)) WITHOUT ROWID""",
)


def migrate_2_to_3(conn: sqlite3.Connection) -> None:
    """Add protocol 3's columns and tables; every group gets an owner: its creator if it is still a
    member, else its longest-standing member."""
    for stmt in MIGRATE_2_TO_3:
        conn.execute(stmt)
    groups = conn.execute("SELECT key, created_by FROM conversations WHERE kind = 'group'").fetchall()
    for key, creator in groups:
        members = [u for u, in conn.execute("SELECT user FROM members WHERE conv = ? ORDER BY joined, user", (key,))]
        if members:
            owner = creator if creator in members else members[0]
            conn.execute("UPDATE members SET role = 'owner' WHERE conv = ? AND user = ?", (key, owner))


class FeatureStore:
    if TYPE_CHECKING:
        _conn: sqlite3.Connection

        def _row(self, conv: str, seq: int) -> MessageRow | None: ...

    # -- lines: edit, delete, reply quotes ------------------------------------------------

    def line(self, conv: str, seq: int) -> MessageRow | None:
        """The stored line ``seq`` of ``conv``, as it reads now (None if there is none)."""
        return self._row(conv, seq)

    def edit_line(self, conv: str, seq: int, text: str, mentions: list[str] | None, ts: float) -> None:
        self._conn.execute("UPDATE messages SET text = ?, mentions = ?, edited = ? WHERE conv = ? AND seq = ?",
                           (text, " ".join(mentions) if mentions else None, ts, conv, seq))
        self._dirty(conv, seq)

    def delete_line(self, conv: str, seq: int) -> None:
        """Make the line a tombstone and erase what it said: its text, its edits' texts, its mentions
        and its reactions."""
        c = self._conn
        c.execute("UPDATE messages SET text = '', mentions = NULL, deleted = 1 WHERE conv = ? AND seq = ?", (conv, seq))
        c.execute("UPDATE messages SET text = '', mentions = NULL WHERE conv = ? AND ref = ? AND kind = 'edit'",
                  (conv, seq))
        c.execute("DELETE FROM reactions WHERE conv = ? AND seq = ?", (conv, seq))
        self._dirty(conv, seq)

    def _dirty(self, conv: str, seq: int) -> None:
        self._conn.execute("INSERT INTO search_dirty(conv, seq) VALUES (?, ?) ON CONFLICT DO NOTHING", (conv, seq))

    def quotes_of(self, conv: str, seqs: list[int]) -> dict[int, tuple[str, str, bool]]:
        """seq -> (sender, text, deleted) of the lines ``seqs`` of ``conv`` (those that exist)."""
        marks = ", ".join("?" * len(seqs))
        return {seq: (sender, text, bool(deleted)) for seq, sender, text, deleted in self._conn.execute(
            f"SELECT seq, sender, text, deleted FROM messages WHERE conv = ? AND seq IN ({marks})", (conv, *seqs))}

    # -- reactions ----------------------------------------------------------------------

    def toggle_reaction(self, conv: str, seq: int, user: str, emoji: str, ts: float) -> bool:
        """Add ``user``'s ``emoji`` to the line, or take it back if it was there; True when added."""
        removed = self._conn.execute("DELETE FROM reactions WHERE conv = ? AND seq = ? AND user = ? AND emoji = ?",
                                     (conv, seq, user, emoji)).rowcount
        if removed:
            return False
        self._conn.execute("INSERT INTO reactions(conv, seq, user, emoji, ts) VALUES (?, ?, ?, ?, ?)",
                           (conv, seq, user, emoji, ts))
        return True

    def reactions_between(self, conv: str, low: int, high: int) -> dict[int, list[tuple[str, str]]]:
        """seq -> [(emoji, user)] for the lines of ``conv`` from ``low`` to ``high``, in the order made."""
        out: dict[int, list[tuple[str, str]]] = {}
        for seq, emoji, user in self._conn.execute(
                "SELECT seq, emoji, user FROM reactions WHERE conv = ? AND seq BETWEEN ? AND ? ORDER BY seq, ts, user",
                (conv, low, high)):
            out.setdefault(seq, []).append((emoji, user))
        return out

    # -- read marks of a conversation (read receipts) --------------------------------------

    def read_marks_of(self, conv: str) -> dict[str, int]:
        """user -> read mark, for every user with a mark in ``conv``."""
        return dict(self._conn.execute("SELECT user, seq FROM read_marks WHERE conv = ?", (conv,)))

    # -- groups: topics, roles, bans ----------------------------------------------------

    def set_topic(self, conv: str, topic: str) -> None:
        self._conn.execute("UPDATE conversations SET topic = ? WHERE key = ?", (topic, conv))

    def load_topics(self) -> dict[str, str]:
        """conv -> topic, for the conversations that have one."""
        return dict(self._conn.execute("SELECT key, topic FROM conversations WHERE topic <> ''"))

    def set_role(self, conv: str, user: str, role: str) -> None:
        self._conn.execute("UPDATE members SET role = ? WHERE conv = ? AND user = ?", (role, conv, user))

    def load_roles(self) -> dict[str, dict[str, str]]:
        """conv -> {user: role} for the members who are owners or admins."""
        out: dict[str, dict[str, str]] = {}
        for conv, user, role in self._conn.execute("SELECT conv, user, role FROM members WHERE role <> 'member'"):
            out.setdefault(conv, {})[user] = role
        return out

    def successor(self, conv: str, leaving: str) -> str | None:
        """Who takes a group over when its owner ``leaving`` goes: its longest-standing admin, else its
        longest-standing member (None when nobody is left)."""
        row = self._conn.execute(
            "SELECT user FROM members WHERE conv = ? AND user <> ? ORDER BY CASE role WHEN 'admin' THEN 0 ELSE 1 END,"
            " joined, user LIMIT 1", (conv, leaving)).fetchone()
        return row[0] if row else None

    def add_ban(self, conv: str, user: str, by: str, ts: float) -> None:
        self._conn.execute("INSERT INTO bans(conv, user, by, ts) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           (conv, user, by, ts))

    def remove_ban(self, conv: str, user: str) -> None:
        self._conn.execute("DELETE FROM bans WHERE conv = ? AND user = ?", (conv, user))

    def load_bans(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for conv, user in self._conn.execute("SELECT conv, user FROM bans"):
            out.setdefault(conv, set()).add(user)
        return out
