"""Who is connected, in what state, and how fast they may talk to everyone.

Pure code for the hub: sessions by routing id and by user, the online -> lost ->
timed-out life of a silent link, the per-user token bucket for messages to everyone, and
presence changes batched into one publish per drained batch (a connect storm of N users
costs N/batch publishes, not N). Nothing here survives a restart, and nothing needs to:
clients say hello again.
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Callable

from zchat import protocol as p

if TYPE_CHECKING:
    from zchat.hub import HubConfig

ONLINE, LOST, AWAY = p.PresenceState.ONLINE, p.PresenceState.LOST, p.PresenceState.AWAY
R = p.PresenceReason
PRESENCE_CHUNK = 500      # changes per publish (about 60 bytes each): every frame stays under MAX_FRAME_BYTES


class Session:
    """One user's live session; ``peer`` is the ROUTER routing id of its current connection."""
    __slots__ = ("user", "name", "peer", "state", "last_seen", "lost_at", "tokens", "tokens_at", "held_until",
                 "sub_token")

    def __init__(self, user: str, name: str, peer: bytes, now: float, burst: int) -> None:
        self.user, self.name, self.peer, self.state = user, name, peer, ONLINE
        self.sub_token = secrets.token_hex(16)     # lives as long as the session: a new session, a new token
        self.last_seen = self.lost_at = self.tokens_at = now
        self.tokens = float(burst)
        self.held_until = 0.0


class Roster:
    """Sessions and presence; changes go out as ``Presence`` publishes appended to ``out``."""

    def __init__(self, config: HubConfig, out: list[tuple[bytes, bytes]], clock: Callable[[], float]) -> None:
        self.config, self.out, self.clock = config, out, clock
        self.by_peer: dict[bytes, Session] = {}
        self.by_user: dict[str, Session] = {}
        self.by_sub_token: dict[str, Session] = {}
        self.changes: list[p.PresenceChange] = []
        self._arrived: list[Session] = []                # sessions new since the last flush
        self._next_sweep = clock()
        self._pending: list[p.PresenceChange] = []   # committed, waiting for the next publish
        self._next_flush = 0.0

    def arrive(self, peer: bytes, user: str, name: str) -> bool:
        """A hello succeeded; returns True when it resumes a session that was still alive."""
        now = self.clock()
        s = self.by_user.get(user)
        if s is None:
            s = self.by_user[user] = Session(user, name, peer, now, self.config.rate_burst)
            self.by_peer[peer] = s
            self.by_sub_token[s.sub_token] = s
            self._arrived.append(s)
            self.changes.append(p.PresenceChange(name, ONLINE, R.JOINED))
            return False
        if s.peer != peer:  # the same key on a new connection: the old one is dead or dying
            self.by_peer.pop(s.peer, None)
            s.peer = peer
            self.by_peer[peer] = s
        self.touch(s)
        return True

    def touch(self, s: Session) -> None:
        s.last_seen = self.clock()
        if s.state is LOST:
            s.state = ONLINE
            self.changes.append(p.PresenceChange(s.name, ONLINE, R.BACK))

    def depart(self, s: Session, reason: p.PresenceReason) -> None:
        """The session ends: ``left`` on purpose (bye) or ``timed_out`` after the grace period."""
        self.by_peer.pop(s.peer, None)
        self.by_user.pop(s.user, None)
        self.by_sub_token.pop(s.sub_token, None)
        s.state = AWAY
        self.changes.append(p.PresenceChange(s.name, AWAY, reason))

    def state_of(self, user: str) -> str:
        s = self.by_user.get(user)
        return s.state if s else AWAY

    def take_token(self, s: Session) -> int:
        """Spend one token of the everyone-rate bucket; returns 0, or the milliseconds to wait."""
        now = self.clock()
        if now < s.held_until:      # once refused, refused until then: what was sent after it waits too,
            return max(1, int((s.held_until - now) * 1000))   # so a client's retries keep their order
        rate = self.config.rate_per_sec
        s.tokens = min(float(self.config.rate_burst), s.tokens + (now - s.tokens_at) * rate)
        s.tokens_at = now
        if s.tokens >= 1.0:
            s.tokens -= 1.0
            return 0
        wait = max(0.05, (1.0 - s.tokens) / rate)
        s.held_until = now + wait
        return max(1, int(wait * 1000))

    def refund_token(self, s: Session) -> None:
        """Give back the token of a send that turned out to be a retry of a stored one."""
        s.tokens = min(float(self.config.rate_burst), s.tokens + 1.0)

    def sweep(self, now: float) -> bool:
        """Once per heartbeat interval: silent sessions become lost, lost ones past the grace time out.
        Returns True when an interval has passed (so the caller sends its heartbeats too)."""
        if now < self._next_sweep:
            return False
        self._next_sweep = now + self.config.heartbeat_interval
        timeout, grace = self.config.heartbeat_timeout, self.config.grace
        for s in list(self.by_user.values()):
            if s.state is ONLINE and now - s.last_seen > timeout:
                s.state, s.lost_at = LOST, now
                self.changes.append(p.PresenceChange(s.name, LOST, R.LOST))
            elif s.state is LOST and now - s.lost_at > grace:
                self.depart(s, R.TIMED_OUT)
        return True

    def next_due(self, now: float) -> float:
        due = self._next_sweep - now
        if self._pending:
            due = min(due, self._next_flush - now)
        return max(0.0, due)

    def undo_batch(self) -> None:
        """The batch failed: the sessions it started never happened, nor did its presence changes."""
        for s in self._arrived:
            self.by_peer.pop(s.peer, None)
            self.by_user.pop(s.user, None)
            self.by_sub_token.pop(s.sub_token, None)
        self._arrived.clear()
        self.changes.clear()

    def flush(self) -> None:
        """The batch committed: its changes join the pending ones, which are published at most once
        per config.presence_interval (a lone change goes out at once; a connect storm costs a few publishes
        a second to every subscriber of p|, not one per loop turn), in chunks that fit one frame."""
        self._arrived.clear()
        if self.changes:
            self._pending.extend(self.changes)
            self.changes = []
        now = self.clock()
        if not self._pending or now < self._next_flush:
            return
        self._next_flush = now + self.config.presence_interval
        pending, self._pending = self._pending, []
        for k in range(0, len(pending), PRESENCE_CHUNK):
            self.out.append((p.TOPIC_PRESENCE, p.encode(p.Presence(now, pending[k:k + PRESENCE_CHUNK]))))
