"""The PostgreSQL store's schema, as numbered migrations (zchat.store_pg runs those not yet applied).

The numbering follows the SQLite store's ``user_version``: a table ``schema_version`` holds the
version applied, each migration moves it up by one, and a database newer than this code is
refused. Migrations run under an advisory lock, so brokers that start together migrate once.

``conversations.head`` is the counter row of each conversation: ``zchat_append`` locks the
batch's counters in key order (two brokers never wait on each other in a cycle), gives each new
line ``head + 1``, and lets the unique ``(sender, cmid)`` index decide exactly-once: a line whose
``(sender, cmid)`` is stored already (by this broker or another, committed or still in flight:
the insert waits for it) takes no seq and answers with the stored one.
"""
from __future__ import annotations

SCHEMA_VERSION = 1

_V1 = (
    """CREATE TABLE users(
        key text PRIMARY KEY, name text NOT NULL, created float8 NOT NULL, banned boolean NOT NULL DEFAULT false)""",
    """CREATE TABLE devices(
        pubkey text PRIMARY KEY, user_key text NOT NULL REFERENCES users(key), name text NOT NULL,
        created float8 NOT NULL, last_seen float8 NOT NULL, UNIQUE (user_key, name))""",
    """CREATE TABLE link_codes(
        hash text PRIMARY KEY, user_key text NOT NULL REFERENCES users(key), created float8 NOT NULL,
        expires float8 NOT NULL)""",
    "CREATE TABLE admin_log(ts float8 NOT NULL, action text NOT NULL, detail text NOT NULL)",
    """CREATE TABLE conversations(
        key text PRIMARY KEY, kind text NOT NULL CHECK (kind IN ('everyone', 'dm', 'group')),
        private boolean NOT NULL, created_by text, created float8 NOT NULL, head bigint NOT NULL DEFAULT 0)""",
    """CREATE TABLE members(
        conv text NOT NULL REFERENCES conversations(key), user_key text NOT NULL, joined float8 NOT NULL,
        PRIMARY KEY (conv, user_key))""",
    """CREATE TABLE invites(
        conv text NOT NULL REFERENCES conversations(key), user_key text NOT NULL, PRIMARY KEY (conv, user_key))""",
    """CREATE TABLE messages(
        conv text NOT NULL REFERENCES conversations(key), seq bigint NOT NULL, ts float8 NOT NULL,
        sender text NOT NULL, kind text NOT NULL, text text NOT NULL, cmid text, PRIMARY KEY (conv, seq))""",
    "CREATE UNIQUE INDEX messages_sender_cmid ON messages(sender, cmid) WHERE cmid IS NOT NULL",
    """CREATE TABLE read_marks(
        user_key text NOT NULL, conv text NOT NULL REFERENCES conversations(key), seq bigint NOT NULL,
        PRIMARY KEY (user_key, conv))""",
    """CREATE FUNCTION zchat_append(p_conv text[], p_ts float8[], p_sender text[], p_kind text[], p_text text[],
                                    p_cmid text[])
    RETURNS TABLE (r_conv text, r_seq bigint, r_ts float8, r_dup boolean) LANGUAGE plpgsql AS $$
    DECLARE
        k int;
        s bigint;
    BEGIN
        PERFORM 1 FROM conversations c WHERE c.key = ANY(p_conv) ORDER BY c.key FOR NO KEY UPDATE;
        FOR k IN 1 .. coalesce(array_length(p_conv, 1), 0) LOOP
            SELECT c.head + 1 INTO s FROM conversations c WHERE c.key = p_conv[k];
            INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid)
                VALUES (p_conv[k], s, p_ts[k], p_sender[k], p_kind[k], p_text[k], p_cmid[k])
                ON CONFLICT (sender, cmid) WHERE cmid IS NOT NULL DO NOTHING;
            IF FOUND THEN
                UPDATE conversations SET head = s WHERE key = p_conv[k];
                r_conv := p_conv[k]; r_seq := s; r_ts := p_ts[k]; r_dup := false;
            ELSE
                SELECT m.conv, m.seq, m.ts INTO r_conv, r_seq, r_ts FROM messages m
                    WHERE m.sender = p_sender[k] AND m.cmid = p_cmid[k];
                r_dup := true;
            END IF;
            RETURN NEXT;
        END LOOP;
    END $$""",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1}
