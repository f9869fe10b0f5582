"""Search over stored lines with SQLite's FTS5, behind one store method: :meth:`SearchStore.search`.

Everything SQLite-specific about search is here, so a PostgreSQL store ports one method (with
a tsvector column, say) and nothing else changes.

Why lines are indexed when someone searches, not when they are stored: an FTS5 insert costs
about 10 us, a third of what the broker spends on a whole chat line (bench P1), and most lines
are never searched. So ``search`` first indexes what is new since the last search, in every
conversation and in the order the lines were stored, and only then asks FTS5. Rowids therefore
follow the order lines were stored in, across conversations, and "newest first" is FTS5's cheap
``ORDER BY rowid DESC``. A line edited or deleted after it was indexed is in ``search_dirty``
(written by the portable edit/delete methods): it is indexed again, or dropped, first.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from zchat.store_features import LINE_KINDS_SQL

if TYPE_CHECKING:
    from zchat.store import MessageRow

INDEX_BUDGET = 100_000     # lines indexed by one search at most (about 1 s), so one search cannot stall the broker

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS search_progress(conv TEXT PRIMARY KEY, upto INTEGER NOT NULL) WITHOUT ROWID",
    # one row per indexed line; its id is the line's rowid in search_index
    """CREATE TABLE IF NOT EXISTS search_rows(id INTEGER PRIMARY KEY, conv TEXT NOT NULL, seq INTEGER NOT NULL,
        UNIQUE (conv, seq))""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(text, tokenize='unicode61 remove_diacritics 2')",
)

_WORD = re.compile(r"\w", re.UNICODE)


def search_terms(query: str) -> list[tuple[str, bool]]:
    """The words of what a user typed that have a letter or digit to look for, each with whether it
    is a prefix (``word*``); every one of them must match (both stores)."""
    terms = []
    for word in query.split():
        stem = word.rstrip("*")
        if _WORD.search(stem):
            terms.append((stem, stem != word))
    return terms


def fts_query(query: str) -> str | None:
    """The FTS5 expression for what a user typed: every word quoted as a string (so nothing in it
    is FTS5 syntax: quotes, NEAR(, AND, OR, -, :, ^ are text) and all of them required; a word
    ending in ``*`` is a prefix. None when no word has a letter or digit to look for."""
    terms = ['"' + word.replace('"', '""') + '"' + ("*" if prefix else "") for word, prefix in search_terms(query)]
    return " AND ".join(terms) if terms else None


class SearchStore:
    if TYPE_CHECKING:
        _conn: sqlite3.Connection

        def _rows(self, sql: str, args: tuple[object, ...]) -> list[MessageRow]: ...

    def search(self, convs: Sequence[str], query: str, before: int | None, limit: int,
               heads: Mapping[str, int]) -> tuple[list[tuple[int, MessageRow]], bool, bool]:
        """The ``msg`` and ``me`` lines of ``convs`` that hold every word of ``query``, newest first, as
        they read now (never a deleted one) -> ([(cursor, row)], more follow, partial). A row's cursor,
        given as ``before``, continues after it.

        ``before`` is a cursor from an earlier page; ``heads`` are the conversations' newest seqs
        (the hub knows them), so finding what is new to index costs nothing where nothing is.
        ``partial``: more than INDEX_BUDGET lines were waiting to be indexed; the newest may be missing."""
        partial = self._index(heads)
        expr = fts_query(query)
        if expr is None or not convs:
            return [], False, partial
        sql = ("SELECT r.id, m.conv, m.seq, m.ts, m.sender, m.kind, m.text, m.cmid, m.ref, m.edited, m.deleted,"
               " m.mentions FROM search_index JOIN search_rows r ON r.id = search_index.rowid"
               " JOIN messages m ON m.conv = r.conv AND m.seq = r.seq"
               " WHERE search_index MATCH ? AND r.conv IN (SELECT value FROM json_each(?)) AND m.deleted = 0"
               + (" AND search_index.rowid < ?" if before is not None else "") +
               " ORDER BY search_index.rowid DESC LIMIT ?")
        args: tuple[object, ...] = (expr, json.dumps(list(convs)), *((before,) if before is not None else ()),
                                    limit + 1)
        try:
            found = self._conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:    # fts_query quotes everything; this is a guard, not a path
            raise ValueError(f"cannot search for {query!r}: {exc}") from None
        from zchat.store import MessageRow
        rows = [(rowid, MessageRow(conv, seq, ts, sender, kind, text, cmid, ref, edited, bool(deleted), mentions))
                for rowid, conv, seq, ts, sender, kind, text, cmid, ref, edited, deleted, mentions in found[:limit]]
        return rows, len(found) > limit, partial

    def _index(self, heads: Mapping[str, int]) -> bool:
        """Index what was stored since the last search (oldest first, across conversations, so rowids
        keep the order lines were stored in), then what changed; True if over the budget."""
        c = self._conn
        done = dict(c.execute("SELECT conv, upto FROM search_progress"))
        waiting: list[tuple[float, str, int, str]] = []
        for conv, head in heads.items():
            upto = done.get(conv, 0)
            if head > upto:
                waiting += [(ts, conv, seq, text) for seq, ts, text in c.execute(
                    f"SELECT seq, ts, text FROM messages WHERE conv = ? AND seq > ? AND kind IN {LINE_KINDS_SQL}"
                    " AND deleted = 0 ORDER BY seq LIMIT ?", (conv, upto, INDEX_BUDGET))]
                done[conv] = head
        waiting.sort()
        partial = len(waiting) > INDEX_BUDGET
        if partial:
            done = {}
            for _ts, conv, seq, _ in waiting[:INDEX_BUDGET]:     # each conversation up to what was indexed
                done[conv] = max(done.get(conv, 0), seq)
            waiting = waiting[:INDEX_BUDGET]
        for _, conv, seq, text in waiting:
            rowid = c.execute("INSERT INTO search_rows(conv, seq) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id",
                              (conv, seq)).fetchone()
            if rowid is not None:
                c.execute("INSERT INTO search_index(rowid, text) VALUES (?, ?)", (rowid[0], text))
        c.executemany("INSERT INTO search_progress(conv, upto) VALUES (?, ?) ON CONFLICT(conv) DO UPDATE SET"
                      " upto = MAX(upto, excluded.upto)", list(done.items()))
        for conv, seq in c.execute("DELETE FROM search_dirty RETURNING conv, seq").fetchall():
            row = c.execute("SELECT id FROM search_rows WHERE conv = ? AND seq = ?", (conv, seq)).fetchone()
            if row is None:
                continue             # not indexed yet: it will be, as it reads then
            c.execute("DELETE FROM search_index WHERE rowid = ?", row)
            text, deleted = c.execute("SELECT text, deleted FROM messages WHERE conv = ? AND seq = ?",
                                      (conv, seq)).fetchone()
            if not deleted:
                c.execute("INSERT INTO search_index(rowid, text) VALUES (?, ?)", (row[0], text))
        return partial
