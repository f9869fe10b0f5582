"""Who is connected, in what state, and how fast each user may do what.

Pure code for the hub: sessions by routing id, by user and by token; the online -> lost ->
timed-out life of a silent link; per-user token buckets; and presence changes batched into
few publishes (a connect storm of N users costs N/500 publishes, not N).

A session belongs to one connection of one device (its CURVE key, ``pubkey``); the hub checks
every frame's key against it, so a routing id taken over by another key never speaks for the
session. An account may have several sessions at once (its devices, or one key twice), and
presence is the account's: offline when it has no session, lost while all are lost, and
otherwise what it chose (online, away, dnd: kept while it has a session), or away by itself while
every online session says it is idle; only the account's changes are published. Rate buckets belong to the user, not to
the session, so ``bye`` + ``hello`` does not refill them; idle full buckets are dropped.
Nothing here survives a restart, and nothing needs to: clients say hello again.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from zchat import protocol as p

if TYPE_CHECKING:
    from zchat.hub import HubConfig

ONLINE, AWAY, LOST, OFFLINE = (p.PresenceState.ONLINE, p.PresenceState.AWAY, p.PresenceState.LOST,
                               p.PresenceState.OFFLINE)
ACTIVE = frozenset((ONLINE, AWAY, p.PresenceState.DND))     # states of an account with a live session
R = p.PresenceReason
ORDER_HOLD = 10.0         # seconds a refused request keeps the ones after it waiting for its retry
PRESENCE_CHUNK = 500      # changes per publish (about 60 bytes each): every frame stays under MAX_FRAME_BYTES


class Session:
    """One live session of a device; ``peer`` is the ROUTER routing id of its current connection."""
    __slots__ = ("user", "name", "pubkey", "device", "peer", "state", "last_seen", "lost_at", "sub_token", "idle")

    def __init__(self, user: str, name: str, pubkey: str, device: str, peer: bytes, now: float) -> None:
        self.user, self.name, self.pubkey, self.device, self.peer = user, name, pubkey, device, peer
        self.state = ONLINE
        self.sub_token = secrets.token_hex(16)     # lives as long as the session: a new session, a new token
        self.last_seen = self.lost_at = now
        self.idle = False                          # its client says its user has been idle (status auto)


class Bucket:
    __slots__ = ("tokens", "at", "first_refused", "held_until")

    def __init__(self, burst: int, now: float) -> None:
        self.tokens, self.at = float(burst), now
        self.first_refused: str | None = None   # the request the others wait behind (see Roster.take)
        self.held_until = 0.0


class Roster:
    """Sessions, presence and rate buckets. Presence changes go out through ``publish(topic,
    payload)``; ``on_end(session)`` is told when a session ends (the hub rotates its keys)."""

    def __init__(self, config: HubConfig, publish: Callable[[bytes, bytes], None], clock: Callable[[], float],
                 on_end: Callable[[Session], None] = lambda s: None) -> None:
        self.config, self.publish, self.clock, self.on_end = config, publish, clock, on_end
        self.by_peer: dict[bytes, Session] = {}
        self.by_user: dict[str, list[Session]] = {}      # an account's live sessions (its devices)
        self.by_sub_token: dict[str, Session] = {}
        self.online = 0                                  # sessions that hold a --max-clients slot
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.changes: list[p.PresenceChange] = []
        self.chosen: dict[str, tuple[p.ChosenState, str]] = {}   # what an account chose, while it has a session
        self._arrived: list[Session] = []                # sessions new since the last flush
        self._next_sweep = clock()
        self._pending: list[p.PresenceChange] = []   # committed, waiting for the next publish
        self._next_flush = 0.0
        # several brokers on one database (zchat.peers): the account's state on each other broker, and
        # which accounts changed here since this broker last told the others
        self.remote: dict[str, dict[str, tuple[p.PresenceState, str]]] = {}
        self.touched: dict[str, tuple[str, p.PresenceReason]] = {}
        self.announced: dict[str, tuple[p.PresenceState, str]] = {}

    def arrive(self, peer: bytes, user: str, name: str, pubkey: str, device: str,
               resume: str | None = None) -> tuple[Session, bool]:
        """A hello succeeded -> (its session, resumed). ``resume`` names the session this client had
        (its token): that one goes on, on this connection, if it is still alive and of this key; so
        does the session this connection already has (a repeated hello). Otherwise the hello starts
        a new session beside the account's others."""
        old = self._resumable(peer, pubkey, resume)
        if old is not None:
            if old.peer != peer:
                if self.by_peer.get(old.peer) is old:
                    del self.by_peer[old.peer]
                old.peer = peer
            self.by_peer[peer] = old
            self.touch(old)
            return old, True
        before = self.shown(user)
        s = Session(user, name, pubkey, device, peer, self.clock())
        self.by_user.setdefault(user, []).append(s)
        self.by_peer[peer] = s
        self.by_sub_token[s.sub_token] = s
        self.online += 1
        self._arrived.append(s)
        self._changed(user, name, before, R.JOINED)
        return s, False

    def resumes(self, peer: bytes, pubkey: str, resume: str | None) -> bool:
        """Whether a hello with these would resume a live session (and so needs no new slot)."""
        return self._resumable(peer, pubkey, resume) is not None

    def _resumable(self, peer: bytes, pubkey: str, resume: str | None) -> Session | None:
        for s in (self.by_sub_token.get(resume) if resume else None, self.by_peer.get(peer)):
            if s is not None and s.pubkey == pubkey:
                return s
        return None

    def sessions_of(self, user: str) -> list[Session]:
        return self.by_user.get(user, [])

    def _changed(self, user: str, name: str, before: tuple[p.PresenceState, str], reason: p.PresenceReason) -> None:
        """Publish the account's change of state (or of its status text), if it changed: one device
        coming or going while another stays online is nobody else's business."""
        self.touched[user] = (name, reason)
        self._tell_if_changed(name, self.shown(user), before, reason)

    def _tell_if_changed(self, name: str, after: tuple[p.PresenceState, str], before: tuple[p.PresenceState, str],
                         reason: p.PresenceReason) -> None:
        if after != before:
            state, text = after
            self.changes.append(p.PresenceChange(name, state, reason if state is not LOST else R.LOST, text or None))

    def choose(self, s: Session, state: p.ChosenState, text: str) -> None:
        """The user chose a presence (/away, /back, /dnd), for every device of the account."""
        before = self.shown(s.user)
        if state == p.ChosenState.ONLINE and not text:
            self.chosen.pop(s.user, None)
        else:
            self.chosen[s.user] = (state, text)
        self._changed(s.user, s.name, before, R.SET)

    def set_idle(self, s: Session, idle: bool) -> None:
        """This session's idle timer spoke: the account is away by itself while all its sessions are idle."""
        before = self.shown(s.user)
        s.idle = idle
        self._changed(s.user, s.name, before, R.IDLE)

    def touch(self, s: Session) -> None:
        s.last_seen = self.clock()
        if s.state is LOST:
            before = self.shown(s.user)
            s.state = ONLINE
            self.online += 1
            self._changed(s.user, s.name, before, R.BACK)

    def lose(self, s: Session) -> None:
        """The session's link is gone (its TCP connection closed, or its routing id now belongs to
        another key): lost at once, and it no longer holds a --max-clients slot."""
        if s.state is ONLINE:
            before = self.shown(s.user)
            s.state, s.lost_at = LOST, self.clock()
            self.online -= 1
            self._changed(s.user, s.name, before, R.LOST)

    def unbind(self, s: Session) -> None:
        """Nothing more goes to the routing id ``s`` last used (another key holds it now)."""
        if self.by_peer.get(s.peer) is s:
            del self.by_peer[s.peer]
        self.lose(s)

    def depart(self, s: Session, reason: p.PresenceReason) -> None:
        """The session ends: ``left`` on purpose (bye) or ``timed_out`` after the grace period."""
        if s.state is OFFLINE:
            return
        before = self.shown(s.user)
        self._forget(s)
        self._changed(s.user, s.name, before, reason)
        self.on_end(s)

    def _forget(self, s: Session) -> None:
        if self.by_peer.get(s.peer) is s:
            del self.by_peer[s.peer]
        sessions = self.by_user.get(s.user, [])
        if s in sessions:
            sessions.remove(s)
        if not sessions:
            self.by_user.pop(s.user, None)
            self.chosen.pop(s.user, None)         # the next session starts online
        self.by_sub_token.pop(s.sub_token, None)
        if s.state is ONLINE:
            self.online -= 1
        s.state = OFFLINE

    def state_of(self, user: str) -> p.PresenceState:
        return self.shown(user)[0]

    def shown(self, user: str) -> tuple[p.PresenceState, str]:
        """The account's state and status text across brokers: what it shows here while a session here
        is online; else what another broker says it shows (online, away or dnd there before lost); else
        lost or offline. A chosen state is kept by the broker it was chosen on (docs/DEPLOY.md)."""
        here = self.local_shown(user)
        others = self.remote.get(user)
        if others and here[0] not in ACTIVE:
            for there in others.values():
                if there[0] in ACTIVE or (there[0] is LOST and here[0] is OFFLINE):
                    here = there
        return here

    def local_shown(self, user: str) -> tuple[p.PresenceState, str]:
        """The account's state and status text on this broker: offline with no session, lost while all
        its sessions are, else what it chose, else away while every online session is idle, else online."""
        sessions = self.by_user.get(user)
        if not sessions:
            return OFFLINE, ""
        online = [s for s in sessions if s.state is ONLINE]
        if not online:
            return LOST, ""
        state, text = self.chosen.get(user, (p.ChosenState.ONLINE, ""))
        if state != p.ChosenState.ONLINE or text:
            return p.PresenceState(state), text
        return (AWAY, "") if all(s.idle for s in online) else (ONLINE, "")

    # ---------------------------------------------------------------- other brokers
    def local_changes(self) -> list[tuple[str, str, str, str, str]]:
        """(user, name, state here, reason, status text) of each account whose state on this broker
        changed since the last call: what the other brokers are told."""
        out = []
        for user, (name, reason) in self.touched.items():
            shown = self.local_shown(user)
            if self.announced.get(user, (OFFLINE, "")) != shown:
                out.append((user, name, str(shown[0]), str(reason), shown[1]))
                if shown[0] is OFFLINE:
                    self.announced.pop(user, None)
                else:
                    self.announced[user] = shown
        self.touched.clear()
        return out

    def everyone_here(self) -> list[tuple[str, str, str, str, str]]:
        """Every account with a session here, as local_changes gives them (for a broker that just came)."""
        return [(u, ss[0].name, str(state), str(R.JOINED), text)
                for u, ss in self.by_user.items() if ss for state, text in [self.local_shown(u)]]

    def remote_state(self, broker: str, user: str, name: str, state: p.PresenceState,
                     reason: p.PresenceReason, text: str = "") -> None:
        """Another broker says where ``user`` stands there; a change of the account's state is published."""
        before = self.shown(user)
        there = self.remote.setdefault(user, {})
        if state is OFFLINE:
            there.pop(broker, None)
            if not there:
                del self.remote[user]
        else:
            there[broker] = (state, text)
        self._tell_if_changed(name, self.shown(user), before, reason)

    def forget_broker(self, broker: str, names: Callable[[str], str]) -> None:
        """A broker fell silent (killed, or cut off from the database): its sessions are gone."""
        for user in [u for u, there in self.remote.items() if broker in there]:
            self.remote_state(broker, user, names(user), OFFLINE, R.TIMED_OUT)

    # ---------------------------------------------------------------- rate limits, per user
    def take(self, user: str, kind: p.RateKind, request: str | None = None) -> int:
        """Spend one token of ``user``'s ``kind`` bucket; returns 0, or the milliseconds to wait.

        ``request`` names what is being sent (a cmid) when order matters: once one is refused, every
        other request waits behind it until it comes again (or ORDER_HOLD seconds pass), so that a
        client's pipelined sends are stored in the order it sent them, not in the order the bucket
        happened to refill."""
        limit = self.config.rates[kind]
        now = self.clock()
        b = self.buckets.get((user, kind))
        if b is None:
            b = self.buckets[(user, kind)] = Bucket(limit.burst, now)
        b.tokens = min(float(limit.burst), b.tokens + (now - b.at) * limit.per_sec)
        b.at = now
        wait = max(0.05, (1.0 - b.tokens) / limit.per_sec) if b.tokens < 1.0 else 0.0
        if b.first_refused is not None and now < b.held_until and request != b.first_refused:
            return max(1, int(max(wait, 0.05) * 1000))
        if not wait:
            b.tokens -= 1.0
            b.first_refused = None
            return 0
        if request is not None and (b.first_refused is None or now >= b.held_until):
            b.first_refused, b.held_until = request, now + wait + ORDER_HOLD
        return max(1, int(wait * 1000))

    def refund(self, user: str, kind: p.RateKind) -> None:
        """Give back the token of a request that turned out to be a retry of a stored one."""
        b = self.buckets.get((user, kind))
        if b is not None:
            b.tokens = min(float(self.config.rates[kind].burst), b.tokens + 1.0)

    def _drop_full_buckets(self, now: float) -> None:
        rates = self.config.rates
        for k, b in list(self.buckets.items()):
            limit = rates[k[1]]
            if b.first_refused is None and b.tokens + (now - b.at) * limit.per_sec >= limit.burst:
                del self.buckets[k]      # a fresh bucket would be the same: memory only for the busy

    # ---------------------------------------------------------------- time
    def sweep(self, now: float) -> bool:
        """Once per heartbeat interval: silent sessions become lost, lost ones past the grace time out.
        Returns True when an interval has passed (so the caller sends its heartbeats too)."""
        if now < self._next_sweep:
            return False
        self._next_sweep = now + self.config.heartbeat_interval
        timeout, grace = self.config.heartbeat_timeout, self.config.grace
        for s in [s for sessions in self.by_user.values() for s in sessions]:
            if s.state is ONLINE and now - s.last_seen > timeout:
                self.lose(s)
            elif s.state is LOST and now - s.lost_at > grace:
                self.depart(s, R.TIMED_OUT)
        self._drop_full_buckets(now)
        return True

    def next_due(self, now: float) -> float:
        due = self._next_sweep - now
        if self._pending:
            due = min(due, self._next_flush - now)
        return max(0.0, due)

    def undo_batch(self) -> None:
        """The batch failed: the sessions it started never happened, nor did its presence changes."""
        for s in self._arrived:
            if s.state is not OFFLINE:
                self._forget(s)
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
            self.publish(p.TOPIC_PRESENCE, p.encode(p.Presence(now, pending[k:k + PRESENCE_CHUNK])))
