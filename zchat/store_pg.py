"""The PostgreSQL store (psycopg 3): what several brokers share (``--store postgresql://...``).

The same interface as the SQLite store (zchat.store_base), with two differences that make
several brokers possible. Seqs come from the database: a batch's lines are staged and settled
at commit by one call of ``zchat_append`` (zchat.store_pg_schema), sent with the COMMIT in one
pipeline, so a batch costs one round trip however many lines it holds. And the store notes what
each batch changed that other brokers keep in memory (:class:`zchat.store_base.Touched`), for the
loop to announce on the bus after the commit.

The connection lives on the broker's loop thread. When PostgreSQL goes away, the statement in
flight fails, the batch is rolled back (its requests get a retryable error: nothing is
acknowledged that is not committed), and the next batch dials again, at most every
RECONNECT_EVERY seconds, so a dead database costs the loop no more than a refused connect.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias

import psycopg

from zchat.store import ConversationRow, DeviceRow, MessageRow, StoreError, UserRow
from zchat.store_base import Line, Touched
from zchat.store_pg_features import MSG_COLUMNS, PgFeatureStore
from zchat.store_pg_schema import MIGRATIONS, SCHEMA_VERSION

RECONNECT_EVERY = 0.5         # seconds between attempts to dial a database that went away
CONNECT_TIMEOUT = 3           # seconds a dial may take
_MSG = f"SELECT {MSG_COLUMNS} FROM messages"
Args: TypeAlias = "tuple[Any, ...] | list[Any] | Mapping[str, Any]"


class PgStore(PgFeatureStore):
    """One connection, used from the broker's thread only; autocommit, with explicit batches."""

    def __init__(self, url: str, fsync: bool = True) -> None:
        self.url, self.fsync, self.path = url, fsync, url
        self._conn: psycopg.Connection[Any] | None = None
        self._next_dial = 0.0
        self._in_tx = False             # a batch is open ...
        self._began = False             # ... and its BEGIN went out (with its first statement)
        self._touched = Touched()       # what the open batch changed
        self._committed = Touched()     # what committed batches changed, until taken
        try:
            self._migrate(self._c())
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"cannot use the PostgreSQL database {self._safe_url()}: {exc}") from None

    def _safe_url(self) -> str:
        head, sep, tail = self.url.rpartition("@")
        return f"{head.split(':')[0]}:***@{tail}" if sep and ":" in head.split("//")[-1] else self.url

    # -- the connection ----------------------------------------------------------------

    def _c(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        if self._in_tx and self._began:        # what the batch wrote went with the connection: fail it whole
            raise StoreError("lost the connection to PostgreSQL in the middle of a batch")
        now = time.monotonic()
        if now < self._next_dial:
            raise StoreError("PostgreSQL is unreachable; trying again shortly")
        self._next_dial = now + RECONNECT_EVERY
        self._conn = conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        if not self.fsync:          # an ok survives a killed broker, not the database machine going down
            conn.execute("SET synchronous_commit = off")
        return conn

    def _x(self, sql: str, args: Args = ()) -> psycopg.Cursor[Any]:
        conn = self._c()
        if self._in_tx and not self._began:     # the batch's BEGIN goes out with its first statement
            self._began = True
            with conn.pipeline():
                conn.execute("BEGIN")
                return conn.execute(sql, args)
        return conn.execute(sql, args)

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('zchat-migrate'))")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version(version int NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self._safe_url()}: database schema version {version} is newer than this zchat "
                                 f"understands (schema version {SCHEMA_VERSION}); upgrade zchat")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[v]:
                    conn.execute(stmt)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    # -- batches and transactions ------------------------------------------------------

    def begin_batch(self) -> None:
        """Open the batch; nothing is sent yet (a batch of pings costs no round trip at all)."""
        self._c()
        self._in_tx, self._began = True, False

    def stage(self, line: Line) -> bool:
        return False            # the database gives the seq, at commit

    def commit_batch(self, lines: list[Line]) -> None:
        """One round trip: (BEGIN,) the lines' seqs and rows, COMMIT, in one pipeline."""
        conn = self._c()
        if lines:
            args = ([x.conv for x in lines], [x.ts for x in lines], [x.sender for x in lines],
                    [x.kind for x in lines], [x.text for x in lines], [x.cmid for x in lines],
                    [x.ref for x in lines], [" ".join(x.mentions) if x.mentions else None for x in lines])
            with conn.pipeline():
                if not self._began:
                    conn.execute("BEGIN")
                cur = conn.execute("SELECT * FROM zchat_append(%s, %s, %s, %s, %s, %s, %s::bigint[], %s::text[])",
                                   args)
                conn.execute("COMMIT")
            for line, (conv, seq, ts, dup) in zip(lines, cur.fetchall(), strict=True):
                line.settle(conv, seq, ts, dup)
        elif self._began:
            conn.execute("COMMIT")
        self._in_tx = self._began = False
        self._done()

    def _done(self) -> None:
        c, t = self._committed, self._touched
        c.users |= t.users
        c.convs |= t.convs
        c.reads |= t.reads
        self._touched = Touched()

    def rollback(self) -> None:
        self._touched = Touched()
        if self._in_tx:
            began, self._in_tx, self._began = self._began, False, False
            if not began:
                return
            conn = self._conn
            if conn is not None and not conn.closed and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT (ROLLBACK on exception); nested use joins the outer one."""
        if self._in_tx:
            yield
            return
        self.begin_batch()
        try:
            yield
            self.commit_batch([])
        except BaseException:
            self.rollback()
            raise

    @property
    def _t(self) -> Touched:
        """Where a write notes what it touched: the open batch's (told if it commits), or, outside a
        batch (autocommitted at once), what is told next."""
        return self._touched if self._in_tx else self._committed

    def take_touched(self) -> Touched:
        taken, self._committed = self._committed, Touched()
        return taken

    def notify(self, channel: str, payloads: list[str]) -> None:
        conn = self._c()
        with conn.pipeline():
            for payload in payloads:
                conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- users, devices, link codes, the admin log -------------------------------------

    def load_users(self) -> list[UserRow]:
        return [UserRow(*r) for r in self._x("SELECT name, created, banned FROM users ORDER BY created, key")]

    def load_user(self, user: str) -> UserRow | None:
        row = self._x("SELECT name, created, banned FROM users WHERE key = %s", (user,)).fetchone()
        return UserRow(*row) if row else None

    def add_user(self, name: str, ts: float) -> None:
        self._guarded(f"cannot create the account {name!r}", "INSERT INTO users(key, name, created) VALUES "
                      "(%s, %s, %s) ON CONFLICT DO NOTHING", (name.lower(), name, ts))
        self._t.users.add(name.lower())

    def set_banned(self, user: str, banned: bool) -> None:
        self._x("UPDATE users SET banned = %s WHERE key = %s", (banned, user))
        self._t.users.add(user)

    def load_devices(self) -> list[DeviceRow]:
        return [DeviceRow(*r) for r in self._x(
            "SELECT pubkey, user_key, name, created, last_seen FROM devices ORDER BY user_key, created, name")]

    def devices_of(self, user: str) -> list[DeviceRow]:
        return [DeviceRow(*r) for r in self._x("SELECT pubkey, user_key, name, created, last_seen FROM devices "
                                               "WHERE user_key = %s ORDER BY created, name", (user,))]

    def add_device(self, pubkey: str, user: str, name: str, ts: float) -> DeviceRow:
        self._guarded(f"cannot add the device {name!r}", "INSERT INTO devices(pubkey, user_key, name, created, "
                      "last_seen) VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", (pubkey, user, name, ts, ts))
        self._t.users.add(user)
        return DeviceRow(pubkey, user, name, ts, ts)

    def remove_device(self, pubkey: str) -> None:
        row = self._x("DELETE FROM devices WHERE pubkey = %s RETURNING user_key", (pubkey,)).fetchone()
        if row:
            self._t.users.add(row[0])

    def device_seen(self, pubkey: str, ts: float) -> None:
        self._x("UPDATE devices SET last_seen = %s WHERE pubkey = %s", (ts, pubkey))

    def add_link_code(self, code_hash: str, user: str, ts: float, expires: float) -> None:
        self._x("INSERT INTO link_codes(hash, user_key, created, expires) VALUES (%s, %s, %s, %s)",
                (code_hash, user, ts, expires))

    def take_link_code(self, code_hash: str, user: str, now: float) -> bool:
        self._x("DELETE FROM link_codes WHERE expires < %s", (now,))
        return self._x("DELETE FROM link_codes WHERE hash = %s AND user_key = %s", (code_hash, user)).rowcount > 0

    def remove_link_codes(self, user: str) -> None:
        self._x("DELETE FROM link_codes WHERE user_key = %s", (user,))

    def log_admin(self, ts: float, action: str, detail: str) -> None:
        self._x("INSERT INTO admin_log(ts, action, detail) VALUES (%s, %s, %s)", (ts, action, detail))

    def admin_log(self, limit: int = 100) -> list[tuple[float, str, str]]:
        return [tuple(r) for r in self._x("SELECT ts, action, detail FROM admin_log ORDER BY ts DESC LIMIT %s",
                                          (limit,))]

    def counts(self) -> dict[str, int]:
        out = {t: self._x(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # type: ignore[index]
               for t in ("users", "devices", "conversations", "messages")}
        out["bytes"] = self._x("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        return out

    def _guarded(self, what: str, sql: str, args: tuple[Any, ...]) -> None:
        """An insert that must be new: ON CONFLICT DO NOTHING keeps the batch's transaction alive (a
        failed statement would abort all of it), and no row means it exists already."""
        if self._x(sql, args).rowcount == 0:
            raise StoreError(f"{what}: it exists already")

    # -- conversations, members, invites -----------------------------------------------

    def load_conversations(self) -> list[ConversationRow]:
        return [ConversationRow(*r) for r in self._x(
            "SELECT key, kind, private, created_by, created, head FROM conversations ORDER BY created, key")]

    def load_conversation(self, key: str) -> ConversationRow | None:
        row = self._x("SELECT key, kind, private, created_by, created, head FROM conversations WHERE key = %s",
                      (key,)).fetchone()
        return ConversationRow(*row) if row else None

    def heads(self) -> dict[str, int]:
        return dict(self._x("SELECT key, head FROM conversations").fetchall())

    def add_conversation(self, key: str, kind: str, private: bool, created_by: str | None, ts: float) -> None:
        self._conv_changed(key, "INSERT INTO conversations(key, kind, private, created_by, created) VALUES (%s, %s, %s,"
                           " %s, %s) ON CONFLICT DO NOTHING", (key, kind, private, created_by, ts))

    def load_members(self) -> dict[str, set[str]]:
        return self._sets("SELECT conv, user_key FROM members")

    def members_of(self, conv: str) -> set[str]:
        return {r[0] for r in self._x("SELECT user_key FROM members WHERE conv = %s", (conv,))}

    def add_member(self, conv: str, user: str, ts: float) -> None:
        self._conv_changed(conv, "INSERT INTO members(conv, user_key, joined) VALUES (%s, %s, %s)"
                           " ON CONFLICT DO NOTHING", (conv, user, ts))

    def remove_member(self, conv: str, user: str) -> None:
        self._conv_changed(conv, "DELETE FROM members WHERE conv = %s AND user_key = %s", (conv, user))

    def load_invites(self) -> dict[str, set[str]]:
        return self._sets("SELECT conv, user_key FROM invites")

    def invites_of(self, conv: str) -> set[str]:
        return {r[0] for r in self._x("SELECT user_key FROM invites WHERE conv = %s", (conv,))}

    def add_invite(self, conv: str, user: str) -> None:
        self._conv_changed(conv, "INSERT INTO invites(conv, user_key) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                           (conv, user))

    def remove_invite(self, conv: str, user: str) -> None:
        self._conv_changed(conv, "DELETE FROM invites WHERE conv = %s AND user_key = %s", (conv, user))

    def _conv_changed(self, conv: str, sql: str, args: Args) -> None:
        """A write to what the brokers keep in memory of ``conv``: the others reload it after the commit."""
        self._x(sql, args)
        self._t.convs.add(conv)

    def _sets(self, sql: str) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for conv, user in self._x(sql):
            out.setdefault(conv, set()).add(user)
        return out

    # -- messages and read marks ---------------------------------------------------------

    def append(self, conv: str, seq: int, ts: float, sender: str, kind: str, text: str, cmid: str | None,
               ref: int | None = None, mentions: list[str] | None = None) -> MessageRow | None:
        """A line with a seq chosen by the caller (tests, imports): None when stored, else the stored
        row with this (sender, cmid). The broker's lines go through commit_batch instead."""
        cur = self._x("INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid, ref, mentions) VALUES (%s, %s, "
                      "%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (sender, cmid) WHERE cmid IS NOT NULL DO NOTHING",
                      (conv, seq, ts, sender, kind, text, cmid, ref, " ".join(mentions) if mentions else None))
        if cur.rowcount:
            self._x("UPDATE conversations SET head = GREATEST(head, %s) WHERE key = %s", (seq, conv))
            return None
        return self.find(sender, cmid or "")

    def find(self, sender: str, cmid: str) -> MessageRow | None:
        row = self._x(_MSG + " WHERE sender = %s AND cmid = %s", (sender, cmid)).fetchone()
        return MessageRow(*row) if row else None

    def after(self, conv: str, after_seq: int, limit: int) -> list[MessageRow]:
        return [MessageRow(*r) for r in self._x(_MSG + " WHERE conv = %s AND seq > %s ORDER BY seq LIMIT %s",
                                                (conv, after_seq, limit))]

    def before(self, conv: str, before_seq: int, limit: int) -> list[MessageRow]:
        rows = [MessageRow(*r) for r in self._x(_MSG + " WHERE conv = %s AND seq < %s ORDER BY seq DESC LIMIT %s",
                                                (conv, before_seq, limit))]
        rows.reverse()
        return rows

    def set_read(self, user: str, conv: str, seq: int) -> None:
        self._x("INSERT INTO read_marks(user_key, conv, seq) VALUES (%s, %s, %s) ON CONFLICT (user_key, conv) "
                "DO UPDATE SET seq = GREATEST(read_marks.seq, excluded.seq)", (user, conv, seq))
        self._t.reads.add((user, conv))

    def load_read(self, user: str) -> dict[str, int]:
        return dict(self._x("SELECT conv, seq FROM read_marks WHERE user_key = %s",
                            (user,)).fetchall())
