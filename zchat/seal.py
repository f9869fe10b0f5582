"""The sealed fan-out: every payload on the XPUB is encrypted with its conversation's key.

Subscriptions are not access control (docs/ARCHITECTURE.md, threat model): libzmq cannot take
a subscription back from one subscriber, and in 4.3.5 one upstream frame that is not a
subscription puts XPUB_MANUAL's queues out of step. So each *scope* has a symmetric key and an
epoch, keys travel only over the key-authenticated request socket, and a key is replaced (the
epoch goes up) whenever a reader loses access. A frame is::

    0x01 | epoch (4 bytes, big-endian) | nonce (24 bytes) | XChaCha20-Poly1305 ciphertext + tag

with the topic and the first five bytes as associated data, so a frame cannot be replayed on
another topic or under another epoch. The AEAD is libsodium's
``crypto_aead_xchacha20poly1305_ietf`` (through PyNaCl): no hand-written crypto here, only
the framing. docs/PROTOCOL.md §6 describes this for implementers, with a worked example.

Scopes: ``all`` seals ``all|``, ``p|`` and ``hb|`` (readable by every user), ``u:NAME`` seals
a user's own topic (their DMs and notices), ``g:NAME`` a group's topic.

Pure code: no sockets. The broker seals (:class:`Keyring`, :meth:`Keyring.seal`); clients open
(:class:`KeyChain`).
"""
from __future__ import annotations

import itertools
import os
import secrets
from collections import OrderedDict
from typing import Any, cast

from nacl import bindings as _nacl
from nacl._sodium import ffi as _ffi  # the same libsodium calls without PyNaCl's
from nacl._sodium import lib as _lib

                                                     # per-call checks: 1.3 us a seal instead of 5.5

FORMAT = 1
HEADER_BYTES = 5                  # format byte + epoch
NONCE_BYTES = 24
TAG_BYTES = 16
OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES     # 45 bytes on every published frame
KEY_BYTES = 32
MAX_EPOCH = 2**32 - 1
PUBLIC_SCOPE = "all"
KEPT_EPOCHS = 4                   # a client keeps a few old keys for frames that were in flight
MEMO_MAX = 1 << 16                # entries in each of the Keyring's memos before it starts afresh


class SealError(Exception):
    """A frame that cannot be opened; ``reason`` says why ("unknown_key" may be fixed by a key
    that is on its way; the others never will be)."""

    def __init__(self, reason: str, scope: str = "", epoch: int = 0) -> None:
        super().__init__(f"{reason} ({scope} epoch {epoch})" if scope else reason)
        self.reason, self.scope, self.epoch = reason, scope, epoch


def scope_of(topic: bytes) -> str:
    """The key scope that seals ``topic``: ``all`` for all|, p| and hb|; else the topic without its |."""
    name = topic[:-1].decode("ascii", "replace") if topic.endswith(b"|") else topic.decode("ascii", "replace")
    return PUBLIC_SCOPE if name in ("all", "p", "hb") else name


def header(epoch: int) -> bytes:
    return bytes((FORMAT,)) + epoch.to_bytes(4, "big")


def seal(topic: bytes, epoch: int, key: bytes, payload: bytes, nonce: bytes) -> bytes:
    """The sealed frame of ``payload`` on ``topic`` (the reference form; Keyring uses a faster call)."""
    head = header(epoch)
    return head + nonce + _nacl.crypto_aead_xchacha20poly1305_ietf_encrypt(payload, topic + head, nonce, key)


def open_frame(topic: bytes, frame: bytes, key: bytes) -> bytes:
    """The payload of a sealed ``frame`` under ``key`` (the reference form; KeyChain uses a faster
    call); SealError("forged") if it fails to authenticate."""
    if len(frame) < OVERHEAD or frame[0] != FORMAT:
        raise SealError("malformed")
    try:
        return _nacl.crypto_aead_xchacha20poly1305_ietf_decrypt(
            frame[HEADER_BYTES + NONCE_BYTES:], topic + frame[:HEADER_BYTES],
            frame[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES], key)
    except Exception:   # nacl.exceptions.CryptoError: wrong key, another topic, or tampered
        raise SealError("forged", scope_of(topic), epoch_of(frame)) from None


def _fast_open(topic: bytes, frame: bytes, key: bytes, out: Any = None) -> bytes:
    """open_frame's result through libsodium directly (tests hold the two equal): the frame is
    passed by pointer, not sliced, and ``out`` (a cffi buffer of at least len(frame) bytes, owned
    by the caller's thread) saves an allocation per frame."""
    n = len(frame) - HEADER_BYTES - NONCE_BYTES - TAG_BYTES
    if out is None or n > len(out):
        out = _ffi.new("unsigned char[]", max(n, 1))
    buf = _ffi.from_buffer(frame)
    ad = topic + frame[:HEADER_BYTES]
    if _lib.crypto_aead_xchacha20poly1305_ietf_decrypt(
            out, _ffi.NULL, _ffi.NULL, buf + HEADER_BYTES + NONCE_BYTES, n + TAG_BYTES, ad, len(ad),
            buf + HEADER_BYTES, key) != 0:
        raise SealError("forged", scope_of(topic), epoch_of(frame))
    return cast(bytes, _ffi.buffer(out, n)[:])


def epoch_of(frame: bytes) -> int:
    return int.from_bytes(frame[1:HEADER_BYTES], "big") if len(frame) >= HEADER_BYTES else 0


class Keyring:
    """The broker's keys: the current (epoch, key) of each scope, made on first use.

    ``rotate`` forgets a scope's key: the next use makes a fresh one under the next epoch, so
    whoever held the old key reads nothing sealed after that. Keys live in memory only: a
    restarted broker starts every scope afresh, and every client says hello again and gets
    the new keys in its welcome."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[int, bytes]] = {}
        self._epochs: dict[str, int] = {}          # the last epoch used per scope, kept after rotate
        # nonces: a random prefix per broker run and a counter, so none repeats under any key
        self._salt = os.urandom(NONCE_BYTES - 8)
        self._count = itertools.count(1)
        self._out = _ffi.new("unsigned char[]", 1 << 17)
        # memos for the hot path (one seal per published frame): each topic's scope, each epoch's header
        self._scope_of: dict[bytes, str] = {}
        self._headers: dict[int, bytes] = {}

    def current(self, scope: str) -> tuple[int, bytes]:
        found = self._keys.get(scope)
        if found is None:
            epoch = self._epochs.get(scope, 0) + 1
            if epoch > MAX_EPOCH:
                epoch = 1
            found = self._keys[scope] = (epoch, secrets.token_bytes(KEY_BYTES))
            self._epochs[scope] = epoch
        return found

    def rotate(self, scope: str) -> None:
        """Drop the scope's key because a reader lost access; ``current`` makes the next one."""
        self._keys.pop(scope, None)

    def forget(self, scope: str) -> None:
        """The scope is gone for good (a deleted group): no key, and no epoch to continue from."""
        self._keys.pop(scope, None)
        self._epochs.pop(scope, None)

    def key_for(self, topic: bytes) -> tuple[int, bytes]:
        """The current (epoch, key) of ``topic``'s scope (once per publish, hence the memo)."""
        scope = self._scope_of.get(topic)
        if scope is None:
            if len(self._scope_of) >= MEMO_MAX:
                self._scope_of.clear()
            scope = self._scope_of[topic] = scope_of(topic)
        return self._keys.get(scope) or self.current(scope)

    def seal(self, topic: bytes, payload: bytes, scope: str | None = None) -> bytes:
        """``payload`` sealed for ``topic`` with its scope's current key."""
        epoch, key = self.current(scope) if scope else self.key_for(topic)
        return self.seal_with(topic, payload, epoch, key)

    def seal_with(self, topic: bytes, payload: bytes, epoch: int, key: bytes) -> bytes:
        """``payload`` sealed for ``topic`` with a given key: one the scope had when a line was decided
        whose seq came later (zchat.deferred), even if the scope has rotated since."""
        head = self._headers.get(epoch)
        if head is None:
            if len(self._headers) >= MEMO_MAX:
                self._headers.clear()
            head = self._headers[epoch] = header(epoch)
        nonce = self._salt + next(self._count).to_bytes(8, "big")
        n = len(payload)
        out = self._out if n + TAG_BYTES <= len(self._out) else _ffi.new("unsigned char[]", n + TAG_BYTES)
        ad = topic + head
        _lib.crypto_aead_xchacha20poly1305_ietf_encrypt(out, _ffi.NULL, payload, n, ad, len(ad), _ffi.NULL,
                                                         nonce, key)
        return head + nonce + cast(bytes, _ffi.buffer(out, n + TAG_BYTES)[:])


class KeyChain:
    """A client's keys: for each scope the current epoch's key and a few older ones, so frames
    sealed just before a rotation still open.

    The new key of a rotation travels on the request socket and the frames sealed with it on the
    fan-out, so either may come first: ``open_or_keep`` keeps a frame whose key has not come yet
    (up to ``max_waiting``), and ``add`` hands back those that open with the new key."""

    def __init__(self, max_waiting: int = 1000) -> None:
        self._keys: dict[str, OrderedDict[int, bytes]] = {}
        self._scopes: dict[bytes, str] = {}                # topic -> scope, as scope_of says
        self._out = _ffi.new("unsigned char[]", 1 << 17)  # one open at a time: a KeyChain has one thread
        self.max_waiting = max_waiting
        self.waiting: list[tuple[bytes, bytes]] = []      # (topic, frame) sealed with a key not here yet
        self.unreadable = 0                                # frames dropped: forged, malformed, or never keyed

    def add(self, scope: str, epoch: int, key: bytes) -> list[tuple[bytes, bytes]]:
        """Keep a key; returns (topic, payload) for each waiting frame it opens, in arrival order."""
        if len(key) != KEY_BYTES:
            raise ValueError(f"a key is {KEY_BYTES} bytes")
        epochs = self._keys.setdefault(scope, OrderedDict())
        epochs[epoch] = key
        epochs.move_to_end(epoch)
        while len(epochs) > KEPT_EPOCHS:
            epochs.popitem(last=False)
        opened, still = [], []
        for topic, frame in self.waiting:
            if scope_of(topic) == scope and epoch_of(frame) == epoch:
                try:
                    opened.append((topic, _fast_open(topic, frame, key, self._out)))
                except SealError:
                    self.unreadable += 1
            else:
                still.append((topic, frame))
        self.waiting = still
        return opened

    def open_or_keep(self, topic: bytes, frame: bytes) -> bytes | None:
        """The payload, or None: kept for a key still on its way, or dropped (counted) if it never opens."""
        try:
            return self.open(topic, frame)
        except SealError as exc:
            if exc.reason == "unknown_key" and self.has(exc.scope) and exc.epoch > self.newest(exc.scope):
                self.waiting.append((topic, frame))
                if len(self.waiting) > self.max_waiting:
                    del self.waiting[0]
                    self.unreadable += 1
            else:
                self.unreadable += 1
            return None

    def newest(self, scope: str) -> int:
        epochs = self._keys.get(scope)
        return next(reversed(epochs)) if epochs else 0

    def drop(self, scope: str) -> None:
        self._keys.pop(scope, None)

    def clear(self) -> None:
        self._keys.clear()
        self.waiting.clear()

    def has(self, scope: str) -> bool:
        return scope in self._keys

    def open(self, topic: bytes, frame: bytes) -> bytes:
        """The payload of ``frame``; SealError("unknown_key") if its epoch's key is not (yet) here."""
        if len(frame) < OVERHEAD or frame[0] != FORMAT:
            raise SealError("malformed")
        scope = self._scopes.get(topic)
        if scope is None:
            if len(self._scopes) > 4096:      # a client reads a handful of topics; a bench driver, more
                self._scopes.clear()
            scope = self._scopes[topic] = scope_of(topic)
        epoch = int.from_bytes(frame[1:HEADER_BYTES], "big")
        epochs = self._keys.get(scope)
        key = epochs.get(epoch) if epochs is not None else None
        if key is None:
            raise SealError("unknown_key", scope, epoch)
        return _fast_open(topic, frame, key, self._out)
