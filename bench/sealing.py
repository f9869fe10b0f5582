"""The baselines seal what they publish exactly as zchat does (zchat.seal: XChaCha20-Poly1305
through libsodium, 0x01 | epoch | nonce | ciphertext+tag, the topic and header as associated
data), with one key per topic, so a ratio zchat / baseline compares like with like.

zchat hands its keys out over the request socket; a baseline has no such step, so its keys
are derived from one random master secret that it prints on its READY line (a BLAKE2b keyed
hash of the key scope): the drivers derive the same keys and open every frame they count.
``--no-seal`` on a baseline (and on the drivers) publishes plaintext instead, to measure what
sealing costs.

What a driver reads from a SUB goes through one callable per receiver, (topic, frame) -> the
messages in the frame, in order: ``unbundler`` for zchat (protocol 4: an opened frame holds one
or more messages joined by zchat.protocol.BUNDLE_SEP), ``opener`` for a baseline (one message
per frame, never split: drain_fast's payload is binary and may hold that byte).
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable

from zchat.protocol import BUNDLE_SEP
from zchat.seal import KEY_BYTES, KeyChain, Keyring, scope_of

EPOCH = 1


def new_master() -> bytes:
    return os.urandom(32)


def topic_key(master: bytes, scope: str) -> bytes:
    return hashlib.blake2b(scope.encode(), key=master, digest_size=KEY_BYTES).digest()


class TopicKeyring(Keyring):
    """zchat's Keyring (the same seal call, nonces and framing) whose key for a scope is derived
    from ``master`` rather than drawn at random, under epoch 1."""

    def __init__(self, master: bytes) -> None:
        super().__init__()
        self.master = master
        self._derived: dict[str, tuple[int, bytes]] = {}

    def current(self, scope: str) -> tuple[int, bytes]:
        found = self._derived.get(scope)
        if found is None:
            found = self._derived[scope] = (EPOCH, topic_key(self.master, scope))
        return found


def sealer(master: bytes | None) -> Callable[[bytes, bytes], bytes]:
    """(topic, payload) -> what the baseline publishes: sealed under the topic's key, or as is."""
    return TopicKeyring(master).seal if master else (lambda topic, payload: payload)


def opener(master: bytes | None, topics: Iterable[bytes]) -> Callable[[bytes, bytes], list[bytes]]:
    """(topic, frame) -> [payload] for a driver of a baseline: KeyChain.open with the keys of ``topics``
    (SealError if a frame does not open), or the frame as is when the baseline does not seal. A
    baseline publishes one message per frame: the payload is not split (drain_fast's is binary)."""
    if not master:
        return lambda topic, frame: [frame]
    keys = KeyChain()
    for scope in {scope_of(t) for t in topics}:
        keys.add(scope, EPOCH, topic_key(master, scope))
    open_ = keys.open
    return lambda topic, frame: [open_(topic, frame)]


def unbundler(open_: Callable[[bytes, bytes], bytes]) -> Callable[[bytes, bytes], list[bytes]]:
    """(topic, frame) -> the messages of a zchat published frame, in order: ``open_`` (a KeyChain's
    open: SealError if the frame does not open), then split as zchat.protocol.unbundle does
    (protocol 4 bundles a batch's run of publishes on one topic into one frame; a frame of one
    message gives a list of one). Each message is one delivery to count."""
    sep = BUNDLE_SEP

    def messages(topic: bytes, frame: bytes) -> list[bytes]:
        return open_(topic, frame).split(sep)
    return messages
