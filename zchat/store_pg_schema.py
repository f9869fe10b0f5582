"""The PostgreSQL store's schema, as numbered migrations (zchat.store_pg runs those not yet applied).

The numbering follows the SQLite store's ``user_version``: a table ``schema_version`` holds the
version applied, each migration moves it up by one, and a database newer than this code is
refused. Migrations run under an advisory lock, so brokers that start together migrate once.

``conversations.head`` is the counter row of each conversation: ``zchat_append`` locks the
batch's counters in key order (two brokers never wait on each other in a cycle), gives each new
line ``head + 1``, and lets the unique ``(sender, cmid)`` index decide exactly-once: a line whose
``(sender, cmid)`` is stored already (by this broker or another, committed or still in flight:
the insert waits for it) takes no seq and answers with the stored one.

Version 2 is protocol 3 (the SQLite store's version 3): edited and deleted lines, a line's ``ref``
and mentions, reactions, topics, roles and bans, and search. Search is PostgreSQL's full-text
search, kept up to date by the database itself: a GIN index on ``to_tsvector('simple', text)`` of
the chat lines that are not deleted (an edit or a deletion updates it with the row), and ``gid``,
a number from one sequence in the order lines were stored across conversations, for "newest
first" and the search cursor (zchat.store_pg_features). Every statement of version 2 keeps the
old rows valid, and version 1's ``zchat_append`` stays, so a broker still running the old code
keeps working while the others are upgraded.
"""
from __future__ import annotations

SCHEMA_VERSION = 2

def _append_function(params: str = "", cols: str = "", vals: str = "") -> str:
    """``zchat_append``: version 1's, or with more columns (version 2: a line's ref and mentions)."""
    return ("""CREATE FUNCTION zchat_append(p_conv text[], p_ts float8[], p_sender text[], p_kind text[], p_text text[],
                                    p_cmid text[]{params})
    RETURNS TABLE (r_conv text, r_seq bigint, r_ts float8, r_dup boolean) LANGUAGE plpgsql AS $$
    DECLARE
        k int;
        s bigint;
    BEGIN
        PERFORM 1 FROM conversations c WHERE c.key = ANY(p_conv) ORDER BY c.key FOR NO KEY UPDATE;
        FOR k IN 1 .. coalesce(array_length(p_conv, 1), 0) LOOP
            SELECT c.head + 1 INTO s FROM conversations c WHERE c.key = p_conv[k];
            INSERT INTO messages(conv, seq, ts, sender, kind, text, cmid{cols})
                VALUES (p_conv[k], s, p_ts[k], p_sender[k], p_kind[k], p_text[k], p_cmid[k]{vals})
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
    END $$"""
            .replace("{params}", params).replace("{cols}", cols).replace("{vals}", vals))


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
    _append_function(),

)

_V2 = (
    """ALTER TABLE messages ADD COLUMN ref bigint, ADD COLUMN edited float8,
        ADD COLUMN deleted boolean NOT NULL DEFAULT false, ADD COLUMN mentions text, ADD COLUMN gid bigint""",
    # the lines stored so far get their gid in the order they were stored (by time), the new ones from the sequence
    "CREATE SEQUENCE messages_gid AS bigint OWNED BY messages.gid",
    """UPDATE messages m SET gid = o.n FROM (SELECT conv, seq, row_number() OVER (ORDER BY ts, conv, seq) AS n
        FROM messages) o WHERE m.conv = o.conv AND m.seq = o.seq""",
    "SELECT setval('messages_gid', (SELECT COALESCE(MAX(gid), 0) + 1 FROM messages), false)",
    "ALTER TABLE messages ALTER COLUMN gid SET DEFAULT nextval('messages_gid'), ALTER COLUMN gid SET NOT NULL",
    # a pending list of 256 kB, not 4 MB: a search scans what is not merged yet (docs/DEPLOY.md has the figures)
    """CREATE INDEX messages_search ON messages USING gin (to_tsvector('simple', text))
        WITH (gin_pending_list_limit = 256) WHERE kind IN ('msg', 'me') AND NOT deleted""",
    "ALTER TABLE conversations ADD COLUMN topic text NOT NULL DEFAULT ''",
    "ALTER TABLE members ADD COLUMN role text NOT NULL DEFAULT 'member'",
    """CREATE TABLE reactions(
        conv text NOT NULL REFERENCES conversations(key), seq bigint NOT NULL, user_key text NOT NULL,
        emoji text NOT NULL, ts float8 NOT NULL, PRIMARY KEY (conv, seq, user_key, emoji))""",
    """CREATE TABLE bans(
        conv text NOT NULL REFERENCES conversations(key), user_key text NOT NULL, by_user text NOT NULL,
        ts float8 NOT NULL, PRIMARY KEY (conv, user_key))""",
    # every group gets an owner: its creator if still a member, else its longest-standing member
    """UPDATE members m SET role = 'owner' FROM (
        SELECT DISTINCT ON (c.key) c.key, x.user_key FROM conversations c JOIN members x ON x.conv = c.key
        WHERE c.kind = 'group' ORDER BY c.key, (x.user_key IS NOT DISTINCT FROM c.created_by) DESC, x.joined,
        x.user_key) o WHERE m.conv = o.key AND m.user_key = o.user_key""",
    # one word of a search as a tsquery: the words PostgreSQL's parser makes of it, in a row (a phrase), the
    # last one a prefix when asked; what the user typed is only ever text here, never tsquery syntax
    """CREATE FUNCTION zchat_term(word text, prefix boolean) RETURNS tsquery LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN prefix AND numnode(q) > 0 THEN (q::text || ':*')::tsquery ELSE q END
        FROM phraseto_tsquery('simple', word) AS q $$""",
    _append_function(", p_ref bigint[], p_mentions text[]", ", ref, mentions", ", p_ref[k], p_mentions[k]"),

)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1, 2: _V2}
