"""The baselines seal what they publish exactly as zchat does (zchat.seal: XChaCha20-Poly1305
through libsodium, 0x01 | epoch | nonce | ciphertext+tag, the topic and header as associated
data), with one key per topic, so a ratio zchat / baseline compares like with like.

zchat hands its keys out over the request socket; a baseline has no such step, so its keys
are derived from one random master secret that it prints on its READY line (a BLAKE2b keyed
hash of the key scope): the drivers derive the same keys and open every frame they count.
``--no-seal`` on a baseline (and on the drivers) publishes plaintext instead, to measure what
sealing costs.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable

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


def opener(master: bytes | None, topics: Iterable[bytes]) -> Callable[[bytes, bytes], bytes]:
    """(topic, frame) -> payload for a driver of a baseline: KeyChain.open with the keys of ``topics``
    (SealError if a frame does not open), or the frame as is when the baseline does not seal."""
    if not master:
        return lambda topic, frame: frame
    keys = KeyChain()
    for scope in {scope_of(t) for t in topics}:
        keys.add(scope, EPOCH, topic_key(master, scope))
    return keys.open
