"""What the PostgreSQL store keeps for protocol 3, with the SQLite store's behaviour
(zchat.store_features, zchat.store_search): lines as they read now, reactions, read receipts,
topics, roles, bans, and search.

A mixin of :class:`zchat.store_pg.PgStore` (which owns the connection and ``_x``), kept apart so
each module stays small. A change other brokers keep in memory (a topic, a role, a ban) is noted
in what the batch touched, so they reload that group (zchat.peers). Lines need no such note: an
edit, a deletion or a reaction is also a line of its own, which the others catch up with.

Search is PostgreSQL's full-text search with the ``simple`` configuration (no stemming, no stop
words: every word as written, lowercased). Each word a user typed becomes a phrase of the words
PostgreSQL's own parser makes of it (``zchat_term`` in the schema), so it matches exactly what the
parser made of the text; ``word*`` makes the last of them a prefix; every word must match. The
index is the database's (a GIN index the insert, the edit and the deletion keep up to date), so
there is nothing to index first and ``partial`` is never true. Newest first is ``gid``: a number
from one sequence, in the order lines were stored across conversations, which is also the cursor.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zchat.store import MessageRow
from zchat.store_search import search_terms

if TYPE_CHECKING:
    import psycopg

    from zchat.store_pg import Args

MSG_COLUMNS = "conv, seq, ts, sender, kind, text, cmid, ref, edited, deleted, mentions"


class PgFeatureStore:
    if TYPE_CHECKING:
        def _x(self, sql: str, args: Args = ()) -> psycopg.Cursor[Any]: ...
        def _sets(self, sql: str) -> dict[str, set[str]]: ...
        def _conv_changed(self, conv: str, sql: str, args: Args) -> None: ...

    # -- lines: edit, delete, reply quotes ------------------------------------------------

    def line(self, conv: str, seq: int) -> MessageRow | None:
        """The stored line ``seq`` of ``conv``, as it reads now (None if there is none)."""
        row = self._x(f"SELECT {MSG_COLUMNS} FROM messages WHERE conv = %s AND seq = %s", (conv, seq)).fetchone()
        return MessageRow(*row) if row else None

    def edit_line(self, conv: str, seq: int, text: str, mentions: list[str] | None, ts: float) -> None:
        self._x("UPDATE messages SET text = %s, mentions = %s, edited = %s WHERE conv = %s AND seq = %s",
                (text, " ".join(mentions) if mentions else None, ts, conv, seq))

    def delete_line(self, conv: str, seq: int) -> None:
        """Make the line a tombstone and erase what it said: its text, its edits' texts (which come after
        it), its mentions and its reactions; one statement."""
        self._x("WITH line AS (UPDATE messages SET text = '', mentions = NULL, deleted = true"
                " WHERE conv = %(c)s AND seq = %(s)s),"
                " edits AS (UPDATE messages SET text = '', mentions = NULL"
                " WHERE conv = %(c)s AND seq > %(s)s AND ref = %(s)s AND kind = 'edit')"
                " DELETE FROM reactions WHERE conv = %(c)s AND seq = %(s)s", {"c": conv, "s": seq})

    def quotes_of(self, conv: str, seqs: list[int]) -> dict[int, tuple[str, str, bool]]:
        """seq -> (sender, text, deleted) of the lines ``seqs`` of ``conv`` (those that exist)."""
        return {seq: (sender, text, deleted) for seq, sender, text, deleted in self._x(
            "SELECT seq, sender, text, deleted FROM messages WHERE conv = %s AND seq = ANY(%s)", (conv, seqs))}

    # -- reactions ----------------------------------------------------------------------

    def toggle_reaction(self, conv: str, seq: int, user: str, emoji: str, ts: float) -> bool:
        """Add ``user``'s ``emoji`` to the line, or take it back if it was there; True when added. One
        statement; two brokers adding the same one at once both answer True, and it is there once."""
        row = self._x("WITH gone AS (DELETE FROM reactions WHERE conv = %(c)s AND seq = %(s)s AND user_key = %(u)s"
                      " AND emoji = %(e)s RETURNING 1),"
                      " added AS (INSERT INTO reactions(conv, seq, user_key, emoji, ts)"
                      " SELECT %(c)s, %(s)s, %(u)s, %(e)s, %(t)s WHERE NOT EXISTS (SELECT 1 FROM gone)"
                      " ON CONFLICT DO NOTHING)"
                      " SELECT NOT EXISTS (SELECT 1 FROM gone)",
                      {"c": conv, "s": seq, "u": user, "e": emoji, "t": ts}).fetchone()
        return bool(row and row[0])

    def reactions_between(self, conv: str, low: int, high: int) -> dict[int, list[tuple[str, str]]]:
        """seq -> [(emoji, user)] for the lines of ``conv`` from ``low`` to ``high``, in the order made."""
        out: dict[int, list[tuple[str, str]]] = {}
        for seq, emoji, user in self._x("SELECT seq, emoji, user_key FROM reactions WHERE conv = %s AND seq"
                                        " BETWEEN %s AND %s ORDER BY seq, ts, user_key", (conv, low, high)):
            out.setdefault(seq, []).append((emoji, user))
        return out

    # -- read marks of a conversation (read receipts) --------------------------------------

    def read_marks_of(self, conv: str) -> dict[str, int]:
        """user -> read mark, for every user with a mark in ``conv``."""
        return dict(self._x("SELECT user_key, seq FROM read_marks WHERE conv = %s", (conv,)).fetchall())

    # -- groups: topics, roles, bans (the other brokers reload the group) -------------------

    def set_topic(self, conv: str, topic: str) -> None:
        self._conv_changed(conv, "UPDATE conversations SET topic = %s WHERE key = %s", (topic, conv))

    def load_topics(self) -> dict[str, str]:
        """conv -> topic, for the conversations that have one."""
        return dict(self._x("SELECT key, topic FROM conversations WHERE topic <> ''").fetchall())

    def set_role(self, conv: str, user: str, role: str) -> None:
        self._conv_changed(conv, "UPDATE members SET role = %s WHERE conv = %s AND user_key = %s", (role, conv, user))

    def load_roles(self) -> dict[str, dict[str, str]]:
        """conv -> {user: role} for the members who are owners or admins."""
        out: dict[str, dict[str, str]] = {}
        for conv, user, role in self._x("SELECT conv, user_key, role FROM members WHERE role <> 'member'"):
            out.setdefault(conv, {})[user] = role
        return out

    def successor(self, conv: str, leaving: str) -> str | None:
        """Who takes a group over when its owner ``leaving`` goes: its longest-standing admin, else its
        longest-standing member (None when nobody is left)."""
        row = self._x("SELECT user_key FROM members WHERE conv = %s AND user_key <> %s ORDER BY"
                      " CASE role WHEN 'admin' THEN 0 ELSE 1 END, joined, user_key LIMIT 1", (conv, leaving)).fetchone()
        return row[0] if row else None

    def add_ban(self, conv: str, user: str, by: str, ts: float) -> None:
        self._conv_changed(conv, "INSERT INTO bans(conv, user_key, by_user, ts) VALUES (%s, %s, %s, %s)"
                           " ON CONFLICT DO NOTHING", (conv, user, by, ts))

    def remove_ban(self, conv: str, user: str) -> None:
        self._conv_changed(conv, "DELETE FROM bans WHERE conv = %s AND user_key = %s", (conv, user))

    def load_bans(self) -> dict[str, set[str]]:
        return self._sets("SELECT conv, user_key FROM bans")

    def group_state(self, conv: str) -> tuple[str, dict[str, str], set[str]]:
        """One conversation's topic, owner and admins, and banned users, in one round trip (another
        broker changed one of them)."""
        row = self._x("SELECT c.topic, ARRAY(SELECT ARRAY[m.user_key, m.role] FROM members m WHERE m.conv = c.key"
                      " AND m.role <> 'member'), ARRAY(SELECT b.user_key FROM bans b WHERE b.conv = c.key)"
                      " FROM conversations c WHERE c.key = %s", (conv,)).fetchone()
        if row is None:
            return "", {}, set()
        return row[0], {user: role for user, role in row[1]}, set(row[2])

    # -- search ---------------------------------------------------------------------------

    def search(self, convs: Sequence[str], query: str, before: int | None, limit: int,
               heads: Mapping[str, int]) -> tuple[list[tuple[int, MessageRow]], bool, bool]:
        """The ``msg`` and ``me`` lines of ``convs`` that hold every word of ``query``, newest first, as
        they read now (never a deleted one) -> ([(cursor, row)], more follow, partial). A row's cursor,
        given as ``before``, continues after it. ``heads`` is not needed here: the index is always
        up to date, so ``partial`` is always False."""
        terms = search_terms(query)
        if not terms or not convs:
            return [], False, False
        match = " && ".join(["zchat_term(%s, %s)"] * len(terms))
        sql = (f"SELECT gid, {MSG_COLUMNS} FROM messages WHERE to_tsvector('simple', text) @@ ({match})"
               " AND kind IN ('msg', 'me') AND NOT deleted AND conv = ANY(%s)"
               + (" AND gid < %s" if before is not None else "") + " ORDER BY gid DESC LIMIT %s")
        args = [x for term in terms for x in term] + [list(convs), *((before,) if before is not None else ()),
                                                      limit + 1]
        found = self._x(sql, args).fetchall()
        return [(r[0], MessageRow(*r[1:])) for r in found[:limit]], len(found) > limit, False
