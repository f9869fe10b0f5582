"""Helpers for tests that drive the hub without sockets: routing ids and the fan-out's keys.

The hub wants a random-looking 16-byte routing id per connection (``peer_of`` makes a fixed one
per name, so tests can read them) and seals every publish; ``RecordingKeyring`` remembers every
key the hub used, so a test can open what the hub published as a subscriber with the right keys
would.
"""
from __future__ import annotations

from zchat import seal


def peer_of(name: str) -> bytes:
    """A routing id the hub accepts (16 bytes or more, the first not 0), readable in test output."""
    return b"\x01" + name.encode().ljust(15, b".")


def name_of(peer: bytes) -> str:
    return peer[1:].rstrip(b".").decode()


class RecordingKeyring(seal.Keyring):
    """A Keyring that also keeps every key it hands out, to open its frames in tests."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = seal.KeyChain()

    def current(self, scope: str) -> tuple[int, bytes]:
        epoch, key = super().current(scope)
        if self.chain.newest(scope) != epoch:
            self.chain.add(scope, epoch, key)
        return epoch, key

    def open(self, topic: bytes, frame: bytes) -> bytes:
        return self.chain.open(topic, frame)


def record_keys(hub: object) -> RecordingKeyring:
    """Make ``hub`` seal with a RecordingKeyring (call before the hub publishes anything)."""
    ring = RecordingKeyring()
    hub.access.keys = ring       # type: ignore[attr-defined]
    return ring
