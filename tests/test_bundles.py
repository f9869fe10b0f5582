"""Protocol 4's bundled fan-out: a batch's consecutive publishes on one topic under one key are one
sealed frame (zchat.access.Access.seal_runs). What must hold: every message, in the order decided,
across topics too; a key rotation inside a batch splits the run, so a removed reader opens nothing
said after it; no frame over MAX_FRAME_BYTES."""
from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.hubkit import peer_of, record_keys
from tests.test_hub import CONFIG, Harness, V
from zchat import protocol as p
from zchat.hub import Hub, HubConfig
from zchat.seal import OVERHEAD, SealError, epoch_of, open_frame
from zchat.store_pg import PgStore

LIFTED = HubConfig(**{**CONFIG.__dict__, "rates": {k: p.RateLimit(1e9, 10**6) for k in p.RateKind}})


@pytest.fixture
def team() -> Any:
    """alice, bob and mallory in the public group team, with no rate limit in the way."""
    h = Harness(LIFTED)
    h.join("alice", "bob", "mallory")
    h.ask("alice", p.CreateGroup("r", "team"))
    h.ask("bob", p.JoinGroup("r", "team"))
    h.ask("mallory", p.JoinGroup("r", "team"))
    yield h
    h.store.close()


CMIDS = itertools.count()


def sends(*pairs: tuple[str, str], conv: str = "g:team") -> list[tuple[str, Any]]:
    return [(user, p.Send(f"r{i}", conv, text, f"c{next(CMIDS)}")) for i, (user, text) in enumerate(pairs)]


def texts(h: Harness) -> list[tuple[bytes, str]]:
    return [(t, m.text) for t, m in h.pubs if isinstance(m, p.Message)]


def test_a_batch_of_lines_to_one_group_goes_out_as_one_frame_in_seq_order(team: Harness) -> None:
    replies = team.batch(*sends(("alice", "one"), ("bob", "two"), ("mallory", "three"), ("alice", "four")))
    assert [(peer, r.seq) for peer, r in replies] == [(b"alice", 4), (b"alice", 7), (b"bob", 5), (b"mallory", 6)]
    assert len(team.reply_frames) == 3                 # one per connection: alice's two oks in one, in order
    assert [t for t, _ in team.frames] == [b"g:team|"]
    assert [(m.seq, m.text) for _, m in team.pubs] == [(4, "one"), (5, "two"), (6, "three"), (7, "four")]


def test_runs_break_where_the_topic_changes_so_the_order_holds_across_topics(team: Harness) -> None:
    team.batch(*sends(("alice", "a1"), ("bob", "a2")), *sends(("bob", "everyone"), conv="all"),
               *sends(("alice", "a3")))
    assert [t for t, _ in team.frames] == [b"g:team|", b"all|", b"g:team|"]
    assert texts(team) == [(b"g:team|", "a1"), (b"g:team|", "a2"), (b"all|", "everyone"), (b"g:team|", "a3")]


def test_a_rotation_inside_a_batch_splits_the_run_and_what_follows_is_closed_to_the_leaver(team: Harness) -> None:
    old_epoch, old_key = team.hub.access.keys.current("g:team")    # the key mallory holds
    team.batch(*sends(("alice", "before")), ("mallory", p.LeaveGroup("r", "team")), *sends(("alice", "after")))
    frames = [(t, f) for t, f in team.frames if t == b"g:team|"]
    assert len(frames) == 2
    first, second = ([p.decode_published(m).text for m in p.unbundle(team.keys.open(t, f))] for t, f in frames)
    assert first == ["before", "left"] and second == ["after"]
    assert epoch_of(frames[0][1]) == old_epoch and epoch_of(frames[1][1]) == old_epoch + 1
    assert p.unbundle(open_frame(b"g:team|", frames[0][1], old_key))[0].find(b'"before"') > 0
    with pytest.raises(SealError):
        open_frame(b"g:team|", frames[1][1], old_key)


def test_no_bundle_is_bigger_than_a_full_size_line_and_none_is_lost(team: Harness) -> None:
    """A queue bounded in frames (--pub-hwm) pins no more memory than before bundling: a bundle is at most
    BUNDLE_BYTES, about what a full-size line alone needs."""
    mid = "x" * 5000
    team.batch(*sends(*[(u, f"{i:02}{mid}") for i, u in enumerate(["alice", "bob", "mallory"] * 4)]),
               *sends(("bob", "y" * p.MAX_TEXT_BYTES), ("alice", "tail")))
    sizes = [len(f) for _, f in team.frames]
    assert len(sizes) == 5 and all(size <= p.BUNDLE_BYTES for size in sizes)    # the last: the full line + tail
    assert all(size > p.BUNDLE_BYTES - 5200 for size in sizes[:3])      # filled: three lines of 5 kB each
    assert [m.text[:3] for _, m in team.pubs] == [f"{i:02}x" for i in range(12)] + ["yyy", "tai"]


def test_a_single_publish_is_sealed_alone_as_in_protocol_3(team: Harness) -> None:
    team.batch(*sends(("alice", "solo")))
    [(topic, frame)] = team.frames
    payload = team.keys.open(topic, frame)
    assert p.BUNDLE_SEP not in payload and len(frame) == len(payload) + OVERHEAD


def test_hello_of_protocol_3_is_told_the_range() -> None:
    h = Harness()
    err = h.fails("alice", p.Hello("r1", 3, "alice"), p.ErrorCode.VERSION_UNSUPPORTED)
    assert "speaks 4 to 4" in err.message and V == 4


no_surrogates = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))


@given(lines=st.lists(st.tuples(no_surrogates, no_surrogates.filter(bool)), min_size=1, max_size=5))
def test_any_published_messages_join_and_split_back_unchanged(lines: list[tuple[str, str]]) -> None:
    """The separator is safe: an encoded message never holds a raw LF, whatever its text (newlines,
    CR, U+2028, control characters ...), so splitting a bundle gives back each message whole."""
    msgs = [p.Message("g:team", i + 1, 1.5, "alice", text, cmid=cmid[:64]) for i, (text, cmid) in enumerate(lines)]
    payloads = [p.encode(m) for m in msgs]
    assert not any(p.BUNDLE_SEP in x for x in payloads)
    assert [p.decode_published(x) for x in (x for frame in p.bundle(payloads) for x in p.unbundle(frame))] == msgs


@given(sizes=st.lists(st.integers(1, 300), max_size=40), cap=st.integers(1, 1000))
def test_bundle_packs_in_order_within_the_cap_and_alone_only_when_too_large(sizes: list[int], cap: int) -> None:
    payloads = [bytes([65 + i % 26]) * n for i, n in enumerate(sizes)]
    frames = p.bundle(payloads, cap)
    assert [x for f in frames for x in p.unbundle(f)] == payloads
    assert all(len(f) <= cap or p.BUNDLE_SEP not in f for f in frames)
    assert all(len(a) + 1 + len(p.unbundle(b)[0]) > cap for a, b in itertools.pairwise(frames))   # greedy


def test_a_bundle_is_as_big_as_a_full_size_line_needs() -> None:
    assert p.BUNDLE_BYTES == p.MAX_TEXT_BYTES + 1024


def test_requests_stay_one_per_frame() -> None:
    ping = p.encode(p.Ping("a"))
    with pytest.raises(p.ProtocolError) as exc:
        p.decode_request(ping + p.BUNDLE_SEP + ping)
    assert exc.value.code == "bad_json"


def test_on_postgresql_lines_settled_at_commit_go_out_bundled_in_seq_order(pg_cluster: Any) -> None:
    """Several brokers on PostgreSQL: a line's seq comes only with the commit (zchat.deferred), and its
    publish carries the key of when it was decided; the batch's lines are still one frame, in order."""
    db = pg_cluster.fresh_db()
    store = PgStore(pg_cluster.url(db))
    try:
        hub = Hub(store, LIFTED)
        keys = record_keys(hub)
        store.begin_batch()
        hub.handle(peer_of("alice"), "key-alice", p.encode(p.Hello("h", V, "alice")))
        for i in range(3):
            hub.handle(peer_of("alice"), "key-alice", p.encode(p.Send(f"r{i}", "all", f"line {i}", f"c{i}")))
        store.commit_batch(hub.lines)
        replies, pubs = hub.take_output()
        [(topic, frame)] = [(t, f) for t, f in pubs if t == b"all|"]
        lines = [p.decode_published(m) for m in p.unbundle(keys.open(topic, frame))]
        assert [(m.seq, m.text) for m in lines] == [(1, "line 0"), (2, "line 1"), (3, "line 2")]
        assert len(replies) == 1                   # the welcome and the three oks: one frame to alice
        assert [type(p.decode_reply(r)).__name__ for r in p.unbundle(replies[0][1])] == ["Welcome", "Ok", "Ok", "Ok"]
    finally:
        store.close()
        pg_cluster.drop_db(db)
