"""The sealed fan-out's framing (zchat.seal): what a frame is, and that nothing else opens it."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zchat import seal


def test_a_frame_opens_under_its_key_and_topic_only() -> None:
    ring, chain = seal.Keyring(), seal.KeyChain()
    frame = ring.seal(b"g:dev|", b'{"type":"msg"}')
    epoch, key = ring.current("g:dev")
    assert frame[0] == seal.FORMAT and seal.epoch_of(frame) == epoch == 1
    assert len(frame) == len(b'{"type":"msg"}') + seal.OVERHEAD
    with pytest.raises(seal.SealError) as info:
        chain.open(b"g:dev|", frame)
    assert info.value.reason == "unknown_key"
    chain.add("g:dev", epoch, key)
    assert chain.open(b"g:dev|", frame) == b'{"type":"msg"}'
    with pytest.raises(seal.SealError):          # the same bytes replayed on another topic
        seal.open_frame(b"g:ops|", frame, key)
    tampered = frame[:-1] + bytes([frame[-1] ^ 1])
    with pytest.raises(seal.SealError) as info:
        chain.open(b"g:dev|", tampered)
    assert info.value.reason == "forged"
    with pytest.raises(seal.SealError) as info:  # the epoch is authenticated too
        chain.add("g:dev", 2, key)
        chain.open(b"g:dev|", frame[:1] + (2).to_bytes(4, "big") + frame[5:])
    assert info.value.reason == "forged"


def test_rotation_makes_a_new_key_under_the_next_epoch_and_old_holders_read_nothing() -> None:
    ring, old = seal.Keyring(), seal.KeyChain()
    old.add("g:dev", *ring.current("g:dev"))
    before = ring.seal(b"g:dev|", b"before")
    ring.rotate("g:dev")
    after = ring.seal(b"g:dev|", b"after")
    assert seal.epoch_of(after) == 2 and ring.current("g:dev")[1] != ring.current("g:ops")[1]
    assert old.open(b"g:dev|", before) == b"before"
    with pytest.raises(seal.SealError) as info:
        old.open(b"g:dev|", after)
    assert info.value.reason == "unknown_key"
    new = seal.KeyChain()
    new.add("g:dev", *ring.current("g:dev"))
    assert new.open(b"g:dev|", after) == b"after"


def test_the_public_scope_seals_everyone_presence_and_heartbeats() -> None:
    assert {seal.scope_of(t) for t in (b"all|", b"p|", b"hb|")} == {"all"}
    assert seal.scope_of(b"u:bob|") == "u:bob" and seal.scope_of(b"g:dev|") == "g:dev"


def test_a_client_keeps_a_few_old_epochs_for_frames_in_flight() -> None:
    chain = seal.KeyChain()
    for epoch in range(1, 10):
        chain.add("u:bob", epoch, bytes([epoch]) * 32)
    ring_frame = seal.seal(b"u:bob|", 9, bytes([9]) * 32, b"x", b"n" * 24)
    assert chain.open(b"u:bob|", ring_frame) == b"x"
    old = seal.seal(b"u:bob|", 1, bytes([1]) * 32, b"x", b"n" * 24)
    with pytest.raises(seal.SealError):
        chain.open(b"u:bob|", old)


@given(payload=st.binary(max_size=3000), topic=st.sampled_from([b"all|", b"p|", b"u:al|", b"g:x-1|"]))
def test_the_fast_libsodium_calls_equal_the_reference_ones(payload: bytes, topic: bytes) -> None:
    ring = seal.Keyring()
    frame = ring.seal(topic, payload)
    epoch, key = ring.current(seal.scope_of(topic))
    nonce = frame[seal.HEADER_BYTES:seal.HEADER_BYTES + seal.NONCE_BYTES]
    assert frame == seal.seal(topic, epoch, key, payload, nonce)
    assert seal._fast_open(topic, frame, key) == seal.open_frame(topic, frame, key) == payload
    chain = seal.KeyChain()                 # its reused output buffer: each payload is a copy of its own
    chain.add(seal.scope_of(topic), epoch, key)
    first = chain.open(topic, frame)
    other = ring.seal(topic, b"\xff" * 64)
    assert chain.open(topic, other) == b"\xff" * 64
    assert first == payload


def test_nonces_never_repeat_under_one_keyring() -> None:
    ring = seal.Keyring()
    nonces = {ring.seal(b"all|", b"x")[5:29] for _ in range(1000)}
    assert len(nonces) == 1000


def test_malformed_frames_are_refused_not_crashed_on() -> None:
    chain = seal.KeyChain()
    for frame in (b"", b"\x01", b"\x02" + bytes(60), b'{"type":"msg"}'):
        with pytest.raises(seal.SealError) as info:
            chain.open(b"all|", frame)
        assert info.value.reason == "malformed"
