"""Broker persistence: users, conversations, membership, messages and read marks in SQLite.

This module's one job is storing and loading; it owns no sockets and makes no decisions
(the hub decides, then calls the store). SQLite runs in WAL mode with automatic
checkpoints off, so commits stay cheap on the broker's hot loop; :class:`Checkpointer`
moves the WAL back into the database from its own thread. The broker wraps each drained
batch of requests in one :meth:`SQLiteStore.transaction` and acks/publishes only after it
commits. The public methods are the narrow interface a PostgreSQL backend would mirror.

Keys: user keys are the lowercased names (``name.lower()``); conversation keys are strings
like ``"all"``, ``"dm:alice:bob"``, ``"g:team"``. A conversation must be added before
members, invites, messages or read marks refer to it (foreign keys are enforced).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from typing import NamedTuple

from zchat import store_search
from zchat.checkpoint import WAL_SIZE_LIMIT, Checkpointer, _is_memory
from zchat.store_base import Line
from zchat.store_features import FeatureStore, migrate_2_to_3
from zchat.store_search import SearchStore

__all__ = ["SCHEMA_VERSION", "Checkpointer", "ConversationRow", "DeviceRow", "MessageRow", "SQLiteStore",
           "StoreError", "UserRow"]

SCHEMA_VERSION = 3                # 3: edits, deletions, reactions, topics, roles, bans, search


class UserRow(NamedTuple):
    name: str  # as first claimed (display case); the key is name.lower()
    created: float
    banned: bool


class DeviceRow(NamedTuple):
    pubkey: str  # CURVE public key, z85 text: the device's identity
    user: str  # the account's user key
    name: str  # unique within the account
    created: float
    last_seen: float


class ConversationRow(NamedTuple):
    key: str
    kind: str  # "everyone" | "dm" | "group"
    private: bool
    created_by: str | None
    created: float
    head_seq: int  # highest seq stored in it, 0 if none


class MessageRow(NamedTuple):
    conv: str
    seq: int
    ts: float
    sender: str
    kind: str  # a MessageKind: "msg", "me", "event", "edit", "delete", "react", "unreact"
    text: str  # as it reads now ("" once deleted)
    cmid: str | None
    ref: int | None = None  # msg/me: the seq it replies to; edit/delete/react/unreact: the seq it changes
    edited: float | None = None  # msg/me: when last edited
    deleted: bool = False  # msg/me: a tombstone
    mentions: str | None = None  # the lowercased names it mentions, space-separated


class StoreError(Exception):
    """The store cannot be used as asked (unknown schema version, a name already claimed)."""


# Constant SQL strings: sqlite3 caches the prepared statements by text.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users(
        key TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL,
        banned INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS devices(
        pubkey TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(key), name TEXT NOT NULL,
        created REAL NOT NULL, last_seen REAL NOT NULL, UNIQUE (user, name)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS link_codes(
        hash TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(key), created REAL NOT NULL,
        expires REAL NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS admin_log(ts REAL NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS conversations(
        key TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('everyone', 'dm', 'group')),
        private INTEGER NOT NULL, created_by TEXT, created REAL NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS members(
        conv TEXT NOT NULL REFERENCES conversations(key), user TEXT NOT NULL,
        joined REAL NOT NULL, PRIMARY KEY (conv, user)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS invites(
        conv TEXT NOT NULL REFERENCES conversations(key), user TEXT NOT NULL,
        PRIMARY KEY (conv, user)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS messages(
        conv TEXT NOT NULL REFERENCES conversations(key), seq INTEGER NOT NULL,
        ts REAL NOT NULL, sender TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
        cmid TEXT, PRIMARY KEY (conv, seq)) WITHOUT ROWID""",
    """CREATE UNIQUE INDEX IF NOT EXISTS messages_sender_cmid
        ON messages(sender, cmid) WHERE cmid IS NOT NULL""",
    """CREATE TABLE IF NOT EXISTS read_marks(
        user TEXT NOT NULL, conv TEXT NOT NULL REFERENCES conversations(key),
        seq INTEGER NOT NULL, PRIMARY KEY (user, conv)) WITHOUT ROWID""",
)

_APPEND = (
    "INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid) VALUES (?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(sender, cmid) WHERE cmid IS NOT NULL DO NOTHING"
)
_APPEND_FULL = (   # a line with a reference or mentions (the plain statement above stays the common one)
    "INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid, ref, mentions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(sender, cmid) WHERE cmid IS NOT NULL DO NOTHING"
)
_SELECT_MSG = "SELECT conv, seq, ts, sender, kind, text, cmid, ref, edited, deleted, mentions FROM messages"
_BY_SEQ = _SELECT_MSG + " WHERE conv = ? AND seq = ?"
_BY_CMID = _SELECT_MSG + " WHERE sender = ? AND cmid = ?"
_AFTER = _SELECT_MSG + " WHERE conv = ? AND seq > ? ORDER BY seq LIMIT ?"
_BEFORE = _SELECT_MSG + " WHERE conv = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
_SET_READ = (
    "INSERT INTO read_marks(user, conv, seq) VALUES (?, ?, ?)"
    " ON CONFLICT(user, conv) DO UPDATE SET seq = MAX(seq, excluded.seq)"
)
_LOAD_CONVERSATIONS = (
    "SELECT c.key, c.kind, c.private, c.created_by, c.created,"
    " COALESCE((SELECT MAX(m.seq) FROM messages m WHERE m.conv = c.key), 0)"
    " FROM conversations c ORDER BY c.created, c.key"
)


# Version 1 kept one key per user in users.pubkey: each becomes that account's first device.
_MIGRATE_1_TO_2 = (
    "ALTER TABLE users RENAME TO users_v1",
    _SCHEMA[0], _SCHEMA[1], _SCHEMA[2], _SCHEMA[3],
    "INSERT INTO users(key, name, created) SELECT key, name, created FROM users_v1",
    "INSERT INTO devices(pubkey, user, name, created, last_seen) SELECT pubkey, key, 'device-1', created, created"
    " FROM users_v1",
    "DROP TABLE users_v1",
)


class SQLiteStore(FeatureStore, SearchStore):
    """The embedded default store: one connection, used from the broker's thread only."""

    def __init__(self, path: str | os.PathLike[str], fsync: bool = True) -> None:
        self.path: str = os.fspath(path)
        self.fsync = fsync
        self._file = not _is_memory(self.path)
        if self._file:
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        self._closed = False
        try:
            self._setup()
        except BaseException:
            self._conn.close()
            self._closed = True
            raise

    def _setup(self) -> None:
        conn = self._conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: database schema version {version} is newer than this "
                f"zchat understands (schema version {SCHEMA_VERSION}); upgrade zchat"
            )
        conn.execute("PRAGMA journal_mode=WAL")  # ":memory:" stays "memory": fine
        # FULL: every COMMIT (one per drained batch: a group commit) syncs the WAL before the broker
        # acknowledges anything in it, so an ok survives a power cut. NORMAL (fsync=False) syncs only at
        # checkpoints: an ok survives a killed broker, but the last second of them may not survive
        # the machine going down.
        conn.execute(f"PRAGMA synchronous={'FULL' if self.fsync else 'NORMAL'}")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # Checkpointer does it off the hot loop
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # the WAL file shrinks back to this
        conn.execute("PRAGMA foreign_keys=ON")
        if version < SCHEMA_VERSION:
            with self.transaction():
                if version == 1:          # a database an older zchat made: migrate it in place
                    for stmt in _MIGRATE_1_TO_2:
                        conn.execute(stmt)
                for stmt in _SCHEMA:      # version 2's tables (a fresh database starts here) ...
                    conn.execute(stmt)
                migrate_2_to_3(conn)      # ... and version 3's additions, for old and new alike
                for stmt in store_search.SCHEMA:
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on exception); nested use joins the outer one.

        IMMEDIATE takes the write lock up front, so a batch never fails halfway on an
        upgrade from reader to writer.
        """
        conn = self._conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            # Also after a failed COMMIT: never leave a transaction open that the next
            # batch would mistake for an outer one.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- the batch (zchat.store_base): one writer, so a line is settled the moment it is staged ------

    def begin_batch(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def stage(self, line: Line) -> bool:
        """Store ``line`` now, inside the open batch, with the seq the hub chose (its head + 1: this
        broker is the only writer), and settle it; a retried (sender, cmid) settles as a duplicate."""
        existing = self.append(line.conv, line.seq, line.ts, line.sender, line.kind, line.text, line.cmid,
                               line.ref, line.mentions)
        if existing is None:
            line.settle(line.conv, line.seq, line.ts, False)
        else:
            line.settle(existing.conv, existing.seq, existing.ts, True)
        return True

    def commit_batch(self, lines: list[Line]) -> None:
        """Every line was settled when staged: what is left is the commit (and its sync)."""
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        """Checkpoint the WAL into the database (and truncate it), then close; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if self._file:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- users -----------------------------------------------------------------------

    def load_users(self) -> list[UserRow]:
        return [UserRow(n, c, bool(b)) for n, c, b in self._conn.execute(
            "SELECT name, created, banned FROM users ORDER BY created, key")]

    def add_user(self, name: str, ts: float) -> None:
        """Create the account ``name`` (its key is ``name.lower()``).

        Raises StoreError if the name, in any case, exists: the hub checks first, so this is a
        guard, and a backend-neutral error keeps SQLite's exception types out of the hub. Only
        the failed statement is undone, not the batch.
        """
        self._guarded(f"cannot create the account {name!r}", "INSERT INTO users(key, name, created) VALUES (?, ?, ?)",
                      (name.lower(), name, ts))

    def set_banned(self, user: str, banned: bool) -> None:
        self._conn.execute("UPDATE users SET banned = ? WHERE key = ?", (int(banned), user))

    # -- devices, link codes, the admin log --------------------------------------------

    def load_devices(self) -> list[DeviceRow]:
        return [DeviceRow._make(r) for r in self._conn.execute(
            "SELECT pubkey, user, name, created, last_seen FROM devices ORDER BY user, created, name")]

    def add_device(self, pubkey: str, user: str, name: str, ts: float) -> DeviceRow:
        """Bind the key ``pubkey`` to account ``user`` as device ``name``; StoreError if either is taken."""
        self._guarded(f"cannot add the device {name!r}", "INSERT INTO devices(pubkey, user, name, created, last_seen)"
                      " VALUES (?, ?, ?, ?, ?)", (pubkey, user, name, ts, ts))
        return DeviceRow(pubkey, user, name, ts, ts)

    def remove_device(self, pubkey: str) -> None:
        self._conn.execute("DELETE FROM devices WHERE pubkey = ?", (pubkey,))

    def device_seen(self, pubkey: str, ts: float) -> None:
        self._conn.execute("UPDATE devices SET last_seen = ? WHERE pubkey = ?", (ts, pubkey))

    def add_link_code(self, code_hash: str, user: str, ts: float, expires: float) -> None:
        self._conn.execute("INSERT INTO link_codes(hash, user, created, expires) VALUES (?, ?, ?, ?)",
                           (code_hash, user, ts, expires))

    def take_link_code(self, code_hash: str, user: str, now: float) -> bool:
        """Use up a live link code of ``user``: True once, when it exists and has not expired (expired
        codes are deleted on the way)."""
        self._conn.execute("DELETE FROM link_codes WHERE expires < ?", (now,))
        return self._conn.execute("DELETE FROM link_codes WHERE hash = ? AND user = ?", (code_hash, user)).rowcount > 0

    def remove_link_codes(self, user: str) -> None:
        self._conn.execute("DELETE FROM link_codes WHERE user = ?", (user,))

    def log_admin(self, ts: float, action: str, detail: str) -> None:
        self._conn.execute("INSERT INTO admin_log(ts, action, detail) VALUES (?, ?, ?)", (ts, action, detail))

    def admin_log(self, limit: int = 100) -> list[tuple[float, str, str]]:
        return list(self._conn.execute("SELECT ts, action, detail FROM admin_log ORDER BY ts DESC LIMIT ?",
                                       (limit,)))

    def counts(self) -> dict[str, int]:
        """Rows per table, and the database's size in bytes (admin stats)."""
        out = {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
               for t in ("users", "devices", "conversations", "messages")}
        page, pages = (self._conn.execute(f"PRAGMA {p}").fetchone()[0] for p in ("page_size", "page_count"))
        out["bytes"] = page * pages
        return out

    def _guarded(self, what: str, sql: str, args: tuple[object, ...]) -> None:
        try:
            self._conn.execute(sql, args)
        except sqlite3.IntegrityError as e:
            raise StoreError(f"{what}: it exists already ({e})") from e

    # -- conversations, members, invites ---------------------------------------------

    def load_conversations(self) -> list[ConversationRow]:
        return [ConversationRow(k, kind, bool(p), by, ts, head)
                for k, kind, p, by, ts, head in self._conn.execute(_LOAD_CONVERSATIONS)]

    def add_conversation(
        self, key: str, kind: str, private: bool, created_by: str | None, ts: float
    ) -> None:
        """Idempotent: adding an existing key keeps the original row."""
        self._conn.execute(
            "INSERT OR IGNORE INTO conversations(key, kind, private, created_by, created)"
            " VALUES (?, ?, ?, ?, ?)",
            (key, kind, int(private), created_by, ts),
        )

    def load_members(self) -> dict[str, set[str]]:
        """conv key -> member user keys; conversations without members are absent."""
        return self._load_sets("SELECT conv, user FROM members")

    def add_member(self, conv: str, user: str, ts: float) -> None:
        self._conn.execute("INSERT OR IGNORE INTO members(conv, user, joined) VALUES (?, ?, ?)",
                           (conv, user, ts))

    def remove_member(self, conv: str, user: str) -> None:
        self._conn.execute("DELETE FROM members WHERE conv = ? AND user = ?", (conv, user))

    def load_invites(self) -> dict[str, set[str]]:
        """conv key -> invited user keys; conversations without invites are absent."""
        return self._load_sets("SELECT conv, user FROM invites")

    def add_invite(self, conv: str, user: str) -> None:
        self._conn.execute("INSERT OR IGNORE INTO invites(conv, user) VALUES (?, ?)", (conv, user))

    def remove_invite(self, conv: str, user: str) -> None:
        self._conn.execute("DELETE FROM invites WHERE conv = ? AND user = ?", (conv, user))

    def _load_sets(self, sql: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for conv, user in self._conn.execute(sql):
            out.setdefault(conv, set()).add(user)
        return out

    # -- messages --------------------------------------------------------------------

    def append(
        self, conv: str, seq: int, ts: float, sender: str, kind: str, text: str, cmid: str | None,
        ref: int | None = None, mentions: list[str] | None = None,
    ) -> MessageRow | None:
        """Store a message; None when stored, else the existing row with this (sender, cmid).

        That makes a retried send idempotent: it is stored once and answered with the
        original seq and ts. The common path is a single INSERT. A (conv, seq) clash is a
        caller bug and raises sqlite3.IntegrityError. ``ref``: the line replied to or changed;
        ``mentions``: the users it names.
        """
        if ref is None and not mentions:
            cur = self._conn.execute(_APPEND, (conv, seq, ts, sender, kind, text, cmid))
        else:
            cur = self._conn.execute(_APPEND_FULL, (conv, seq, ts, sender, kind, text, cmid, ref,
                                                    " ".join(mentions) if mentions else None))
        if cur.rowcount:
            return None
        return self.find(sender, cmid or "")

    def find(self, sender: str, cmid: str) -> MessageRow | None:
        """The message ``sender`` stored with this client message id, if any."""
        rows = self._rows(_BY_CMID, (sender, cmid))
        return rows[0] if rows else None

    def after(self, conv: str, after_seq: int, limit: int) -> list[MessageRow]:
        """Messages with seq > after_seq, oldest first, at most `limit` (catch-up paging)."""
        return self._rows(_AFTER, (conv, after_seq, limit))

    def before(self, conv: str, before_seq: int, limit: int) -> list[MessageRow]:
        """The `limit` newest messages with seq < before_seq, oldest first (scroll-back)."""
        rows = self._rows(_BEFORE, (conv, before_seq, limit))
        rows.reverse()
        return rows

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[MessageRow]:
        return [MessageRow._make((*r[:9], bool(r[9]), r[10])) for r in self._conn.execute(sql, args)]

    def _row(self, conv: str, seq: int) -> MessageRow | None:
        rows = self._rows(_BY_SEQ, (conv, seq))
        return rows[0] if rows else None

    # -- read marks ------------------------------------------------------------------

    def set_read(self, user: str, conv: str, seq: int) -> None:
        """Record that `user` has read `conv` up to `seq`; a lower seq never moves it back."""
        self._conn.execute(_SET_READ, (user, conv, seq))

    def load_read(self, user: str) -> dict[str, int]:
        return dict(self._conn.execute("SELECT conv, seq FROM read_marks WHERE user = ?", (user,)))
