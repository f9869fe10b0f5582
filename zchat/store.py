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
import threading
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["SCHEMA_VERSION", "Checkpointer", "ConversationRow", "MessageRow", "SQLiteStore",
           "StoreError", "UserRow"]

SCHEMA_VERSION = 1
WAL_SIZE_LIMIT = 64 * 1024 * 1024   # bytes the WAL file is cut back to when it starts over (Checkpointer)


class UserRow(NamedTuple):
    name: str  # as first claimed (display case); the key is name.lower()
    pubkey: str  # CURVE public key, z85 text
    created: float


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
    kind: str  # "msg" | "event"
    text: str
    cmid: str | None


class StoreError(Exception):
    """The store cannot be used as asked (unknown schema version, a name already claimed)."""


# Constant SQL strings: sqlite3 caches the prepared statements by text.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS users(
        key TEXT PRIMARY KEY, name TEXT NOT NULL, pubkey TEXT NOT NULL UNIQUE,
        created REAL NOT NULL) WITHOUT ROWID""",
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
_SELECT_MSG = "SELECT conv, seq, ts, sender, kind, text, cmid FROM messages"
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


def _is_memory(path: str) -> bool:
    return path in (":memory:", "") or path.startswith("file::memory:")


class SQLiteStore:
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
                for stmt in _SCHEMA:
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
        return [UserRow._make(r) for r in self._conn.execute(
            "SELECT name, pubkey, created FROM users ORDER BY created, key")]

    def add_user(self, name: str, pubkey: str, ts: float) -> None:
        """Bind `name` (case-insensitively) to `pubkey`.

        Raises StoreError if the name (in any case) or the key is already bound: the hub
        checks first, so this is a guard, and a backend-neutral error keeps SQLite's
        exception types out of the hub. Only the failed statement is undone, not the batch.
        """
        try:
            self._conn.execute(
                "INSERT INTO users(key, name, pubkey, created) VALUES (?, ?, ?, ?)",
                (name.lower(), name, pubkey, ts),
            )
        except sqlite3.IntegrityError as e:
            raise StoreError(f"cannot bind name {name!r}: name or key already bound ({e})") from e

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
        self, conv: str, seq: int, ts: float, sender: str, kind: str, text: str, cmid: str | None
    ) -> MessageRow | None:
        """Store a message; None when stored, else the existing row with this (sender, cmid).

        That makes a retried send idempotent: it is stored once and answered with the
        original seq and ts. The common path is a single INSERT. A (conv, seq) clash is a
        caller bug and raises sqlite3.IntegrityError.
        """
        cur = self._conn.execute(_APPEND, (conv, seq, ts, sender, kind, text, cmid))
        if cur.rowcount:
            return None
        row = self._conn.execute(_BY_CMID, (sender, cmid)).fetchone()
        return MessageRow._make(row)

    def find(self, sender: str, cmid: str) -> MessageRow | None:
        """The message ``sender`` stored with this client message id, if any."""
        row = self._conn.execute(_BY_CMID, (sender, cmid)).fetchone()
        return MessageRow._make(row) if row else None

    def after(self, conv: str, after_seq: int, limit: int) -> list[MessageRow]:
        """Messages with seq > after_seq, oldest first, at most `limit` (catch-up paging)."""
        return [MessageRow._make(r) for r in self._conn.execute(_AFTER, (conv, after_seq, limit))]

    def before(self, conv: str, before_seq: int, limit: int) -> list[MessageRow]:
        """The `limit` newest messages with seq < before_seq, oldest first (scroll-back)."""
        rows = [MessageRow._make(r) for r in self._conn.execute(_BEFORE, (conv, before_seq, limit))]
        rows.reverse()
        return rows

    # -- read marks ------------------------------------------------------------------

    def set_read(self, user: str, conv: str, seq: int) -> None:
        """Record that `user` has read `conv` up to `seq`; a lower seq never moves it back."""
        self._conn.execute(_SET_READ, (user, conv, seq))

    def load_read(self, user: str) -> dict[str, int]:
        return dict(self._conn.execute("SELECT conv, seq FROM read_marks WHERE user = ?", (user,)))


class Checkpointer:
    """Runs PRAGMA wal_checkpoint(PASSIVE) on its OWN connection in a daemon thread every
    `interval` seconds, so WAL checkpoints never run inside the broker's hot loop (they set
    p99 latency otherwise). PASSIVE never blocks the broker's writes; frames still in use
    are left for the next round.

    PASSIVE alone never lets the WAL start over while the broker writes without a pause: the
    next write restarts the WAL only if every frame has been copied back at that moment, and
    frames written during the checkpoint never are. Under steady load the WAL grew without
    bound (6 MB/s in bench P3: every commit appends whole pages). So once the WAL holds more
    than `restart_bytes` since it last started over, the round adds a RESTART checkpoint:
    it holds writers back (the broker's BEGIN waits) while it copies the few frames the
    PASSIVE left and syncs, and the next write starts the WAL over; the store's
    journal_size_limit then keeps the file at that size."""

    def __init__(self, path: str | os.PathLike[str], interval: float = 1.0,
                 restart_bytes: int = WAL_SIZE_LIMIT) -> None:
        self.path = os.fspath(path)
        self.interval = interval
        self.restart_bytes = restart_bytes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread; a no-op for in-memory databases (nothing to checkpoint)."""
        if self._thread is not None:
            raise RuntimeError("Checkpointer already started")
        if _is_memory(self.path):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="zchat-checkpointer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Wake the thread at once and join it."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            while not self._stop.wait(self.interval):
                try:
                    _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if frames * page > self.restart_bytes:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                except sqlite3.OperationalError:
                    pass  # busy or locked: try again next interval
        finally:
            conn.close()
