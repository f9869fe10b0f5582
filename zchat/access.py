"""Who may read what on the fan-out: the keys that seal it, and the subscriptions it installs.

Pure code for the hub. Access is by key, not by subscription (docs/ARCHITECTURE.md, threat
model): every publish is sealed with its scope's current key (zchat.seal), keys go out only
over the key-checked request socket (welcome, ok, and ``key`` notices), and a scope's key is
replaced whenever a reader loses access, so nothing published afterwards opens with the old
one. The subscription check (``may_subscribe``) is a second line that only saves bandwidth.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from zchat import protocol as p
from zchat.seal import OVERHEAD, PUBLIC_SCOPE, Keyring

SEALED_BUNDLE_BYTES = p.BUNDLE_BYTES - OVERHEAD   # a sealed bundle stays within p.BUNDLE_BYTES


def user_scope(user: str) -> str:
    """The scope of a user's own topic (their DMs and notices)."""
    return "u:" + user


class Access:
    """The keyring and the notices that carry its changes. ``notify(user, frame)`` sends a notice to
    every live session of ``user``; ``readers(scope)`` lists the users who may read a scope now."""

    def __init__(self, notify: Callable[[str, bytes], None], readers: Callable[[str], Iterable[str]]) -> None:
        self.keys = Keyring()
        self.notify, self.readers = notify, readers
        self.rotated: set[str] = set()            # scopes rotated since the batch began

    def info(self, scope: str) -> p.KeyInfo:
        """The scope's current key, for a welcome or an ok."""
        epoch, key = self.keys.current(scope)
        return p.key_info(scope, epoch, key)

    def seal_runs(self, publishes: list[tuple[bytes, bytes, int, bytes]]) -> list[tuple[bytes, bytes]]:
        """(topic, payload, epoch, key) in publishing order -> (topic, sealed frame): one frame per run
        of consecutive publishes on one topic under one key (p.bundle), each within p.BUNDLE_BYTES.

        Only neighbours merge, so every subscriber still gets everything in the order it was decided
        (across topics too), and a rotation between two publishes splits the run: what follows it
        is sealed with the new key, which a removed reader never gets."""
        out: list[tuple[bytes, bytes]] = []
        seal_with, i, n = self.keys.seal_with, 0, len(publishes)
        while i < n:
            topic, payload, epoch, key = publishes[i]
            run = [payload]
            i += 1
            while i < n and publishes[i][0] == topic and publishes[i][2] == epoch:
                run.append(publishes[i][1])
                i += 1
            out += [(topic, seal_with(topic, frame, epoch, key)) for frame in p.bundle(run, SEALED_BUNDLE_BYTES)]
        return out

    def rotate(self, scope: str) -> None:
        """A reader of ``scope`` lost access: a new key, sent to everyone who may still read it."""
        self.keys.rotate(scope)
        self.rotated.add(scope)
        self.announce(scope)

    def announce(self, scope: str) -> None:
        info = self.info(scope)
        notice = p.encode(p.KeyChange(info.scope, info.epoch, info.key))
        for user in self.readers(scope):
            self.notify(user, notice)

    def batch_failed(self) -> None:
        """The batch's replies were dropped, notices with them, but its rotations stand (keys are not
        in the store): tell the readers of each again, as the reloaded state has them."""
        rotated, self.rotated = self.rotated, set()
        for scope in rotated:
            self.announce(scope)

    def batch_done(self) -> None:
        self.rotated.clear()

    @staticmethod
    def may_subscribe(user: str, topic: bytes, groups: Callable[[str], Iterable[str]]) -> bool:
        """The second line: ``user`` (whose session token the SUB presented) may subscribe to p|, hb|,
        all|, their own u:NAME| and the groups they are in; to nothing else."""
        if topic in (p.TOPIC_PRESENCE, p.TOPIC_HEARTBEAT, b"all|") or topic == p.user_topic(user):
            return True
        if topic.startswith(b"g:") and topic.endswith(b"|"):
            return topic[:-1].decode(errors="replace") in groups(user)
        return False


__all__ = ["PUBLIC_SCOPE", "Access", "user_scope"]
