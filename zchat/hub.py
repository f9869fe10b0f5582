"""The broker's decisions, without sockets: who is who, who may read what, what gets stored,
which replies, notices and (sealed) publishes follow.

h11's rule applies: no I/O here. The loop in zchat.broker hands each request frame to
:meth:`Hub.handle` with the peer's routing id and the CURVE key that frame arrived with,
and after the batch's transaction commits it sends what :meth:`Hub.take_output` returns.
The hub never trusts a claim in a request, nor a routing id: the sender of every message
is the name bound to the key of the frame, and a frame whose key is not its session's gets
nothing of that session. State that must survive a restart goes through the store; the rest
(sessions, presence, rate buckets, fan-out keys) is rebuilt as clients come back.
"""
from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from zchat import paging
from zchat import protocol as p
from zchat.access import PUBLIC_SCOPE, Access, user_scope
from zchat.accounts import AccountRequests
from zchat.awareness import AwarenessRequests
from zchat.deferred import DeferredOutput
from zchat.editing import LineRequests
from zchat.errors import ErrorCode, ProtocolError
from zchat.groups import GroupRequests
from zchat.hub_parts import Conversation
from zchat.moderation import ModerationRequests
from zchat.peers import PeerSync
from zchat.presence import Roster, Session
from zchat.reading import ReadRequests
from zchat.search import SearchRequests
from zchat.store_base import Line, line_message

if TYPE_CHECKING:
    from zchat.store import DeviceRow
    from zchat.store_base import SharedStore, Store

log = logging.getLogger("zchat.hub")
K = p.ConvKind
RK = p.RateKind
# an enum member looked up on its class costs about 0.1 us on Python 3.11; the send path uses these
EVERYONE_KIND, EVERYONE_RATE, MESSAGE_RATE, PLAIN_MSG = K.EVERYONE, RK.EVERYONE, RK.MESSAGE, p.MessageKind.MSG

DEFAULT_RATES: dict[str, p.RateLimit] = {
    RK.EVERYONE: p.RateLimit(5.0, 20),
    RK.MESSAGE: p.RateLimit(20.0, 100),
    RK.CREATE_GROUP: p.RateLimit(0.5, 10),
    RK.INVITE: p.RateLimit(5.0, 50),
    RK.HISTORY: p.RateLimit(50.0, 100),        # 100 pages of up to 64 KB: what waits unread stays small
    RK.LINK: p.RateLimit(5 / 600, 5),          # 5 per 10 minutes per account: a 60-bit code stays unguessable
    RK.TYPING: p.RateLimit(1.0, 5),            # a client sends one every 3 s while its user types
    RK.REACT: p.RateLimit(5.0, 30),
    RK.SEARCH: p.RateLimit(1.0, 10),           # a search may index what is new first (store.search)
    RK.STATUS: p.RateLimit(1.0, 10),           # each change is published to everyone
    RK.MODERATE: p.RateLimit(2.0, 20),
}


@dataclass(frozen=True)
class HubConfig:
    """Tunables the broker's command line sets; all of them are announced to clients in ``welcome``."""
    pub_endpoint: str = ""
    max_clients: int = 1000              # online sessions; lost ones do not hold a slot
    history_page_max: int = 200
    heartbeat_interval: float = 2.0      # seconds between heartbeats (and client pings)
    heartbeat_timeout: float = 6.0       # silence after which a session counts as lost
    grace: float = 60.0                  # a lost session times out after this
    rates: dict[str, p.RateLimit] = field(default_factory=lambda: {str(k): v for k, v in DEFAULT_RATES.items()})
    presence_interval: float = 0.0       # committed presence changes are published at most this often
    max_groups: int = 500                # groups one user may be in

    def limits(self) -> p.Limits:
        return p.Limits(p.MAX_FRAME_BYTES, p.MAX_TEXT_BYTES, self.history_page_max,
                        int(self.heartbeat_interval * 1000), int(self.heartbeat_timeout * 1000),
                        int(self.grace * 1000), p.NAME_MAX, p.NAME_RULE, self.max_groups,
                        {str(k): v for k, v in self.rates.items()}, p.MAX_TOPIC_BYTES, p.MAX_STATUS_BYTES,
                        p.MAX_REACTIONS, int(p.TYPING_TTL * 1000))


class Hub(ReadRequests, GroupRequests, AccountRequests, LineRequests, ModerationRequests, AwarenessRequests,
          SearchRequests, DeferredOutput, PeerSync):
    """Decides; the caller moves bytes. Output accumulates until :meth:`take_output`."""

    _handlers: ClassVar[dict[str, Callable[[Any, Session, Any], p.Reply]]]   # request type -> _on_<type>

    def __init__(self, store: Store, config: HubConfig = HubConfig(),
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.replies: list[tuple[bytes, Any]] = []        # (routing id, payload): replies and notices (a reply
                                                          # object until its line is settled: zchat.deferred)
        self._answered: list[str | None] = []             # the request id of each reply (None: a notice)
        self.publishes: list[Any] = []                    # (topic, payload, epoch, key), or a Line not settled yet
        self.lines: list[Line] = []                       # this batch's lines the commit settles
        self._later_reply = False                         # the request being decided has such a line
        self.shared: SharedStore | None = None            # set when other brokers share the store (zchat.peers)
        self.broker_id = ""
        self.relays: list[tuple[bytes, bytes]] = []       # publishes the other brokers repeat
        self.relayed_notices: list[tuple[str, bytes]] = []   # (user, notice) the other brokers repeat
        self.removals: list[tuple[str, Line | int]] = []  # (conv, its last line) when a member left it (zchat.peers)
        self.stale = False                                # memory may disagree with the store: resync first
        self.access = Access(self._notify, self._readers)
        self.presence = Roster(config, self._publish, clock, on_end=self._session_ended)
        self._limits = config.limits()
        self._dirty: set[str] = set()                     # conversations changed since their last heartbeat
        self._active: set[str] = set()                    # ... of which changed since the previous tick
        self.to_cut: list[tuple[float, bytes | None, str | None]] = []   # (when, routing id, token) to cut
        self.out_bytes = 0                                # replies of this batch, in bytes (see broker_loop)
        self.reload()

    # ---------------------------------------------------------------- state
    def reload(self) -> None:
        """(Re)build users and conversations from the store: at start, and after a failed batch."""
        self.names: dict[str, str] = {}                   # user key -> display name
        self.banned: set[str] = set()
        for row in self.store.load_users():
            self.names[p.canonical(row.name)] = row.name
            if row.banned:
                self.banned.add(p.canonical(row.name))
        self.devices: dict[str, DeviceRow] = {d.pubkey: d for d in self.store.load_devices()}   # by CURVE key
        with self.store.transaction():
            self.store.add_conversation(p.EVERYONE, K.EVERYONE, False, None, self.clock())
        self.convs: dict[str, Conversation] = {}
        self.user_convs: dict[str, set[str]] = {}         # user key -> DMs and groups they are in
        for c in self.store.load_conversations():
            self.convs[c.key] = Conversation(c.key, c.kind, c.private, c.head_seq)
        for key, members in self.store.load_members().items():
            self.convs[key].members = members
            for u in members:
                self.user_convs.setdefault(u, set()).add(key)
        for key, invited in self.store.load_invites().items():
            self.convs[key].invites = invited
        for key, topic in self.store.load_topics().items():
            self.convs[key].topic = topic
        for key, roles in self.store.load_roles().items():
            self.convs[key].roles = roles
        for key, banned in self.store.load_bans().items():
            self.convs[key].bans = banned
        for key, conv in self.convs.items():
            if conv.kind == K.DM:
                for u in p.dm_users(key):
                    self.user_convs.setdefault(u, set()).add(key)

    def take_output(self) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """Hand over what to send; call only after the batch's transaction committed."""
        self._settle_output()
        self.presence.flush()
        self.access.batch_done()
        replies, pubs = p.bundle_each(self.replies), self.access.seal_runs(self.publishes)
        self.replies, self.publishes = [], []
        self._answered.clear()
        self.out_bytes = 0
        return replies, pubs

    def discard_output(self) -> None:
        """The batch's transaction failed: nothing of it may be acknowledged or published, but every
        request still gets its one reply: a retryable ``internal`` error."""
        failed = [(peer, rid) for (peer, _), rid in zip(self.replies, self._answered, strict=True) if rid is not None]
        self.replies.clear()
        self._answered.clear()
        self.publishes.clear()
        self.lines = []
        self.out_bytes = 0
        self.presence.undo_batch()
        self.relays, self.relayed_notices, self.removals = [], [], []
        try:
            self.resync() if self.shared is not None else self.reload()
        except Exception:
            log.exception("cannot reload from the store; every request is refused until it can")
            self.stale = True
        self.access.batch_failed()
        self._dirty &= self.convs.keys()   # earlier, committed changes still get their heartbeat
        self._active &= self._dirty
        for peer, rid in failed:
            self._reply(peer, p.error(rid, ErrorCode.INTERNAL, "the broker could not store this; try again"))

    # ---------------------------------------------------------------- output
    def _reply(self, peer: bytes, msg: p.Reply) -> None:
        if self._later_reply:               # its seq comes with the commit: encoded then (zchat.deferred)
            self._later_reply = False
            self.out_bytes += 100
            self.replies.append((peer, msg))
        else:
            payload = p.encode(msg)
            self.out_bytes += len(payload)
            self.replies.append((peer, payload))
        self._answered.append(getattr(msg, "id", None))     # notices answer no request

    def _publish(self, topic: bytes, payload: bytes) -> None:
        """Publish under the key the topic's scope has now; take_output seals (Access.seal_runs)."""
        self.publishes.append((topic, payload, *self.access.keys.key_for(topic)))

    def _notify(self, user: str, notice: bytes, but: Session | None = None) -> None:
        """A notice to every live session of ``user`` (but one)."""
        for s in self.presence.sessions_of(user):
            if s is not but:
                self._notice(s, notice)

    def _notice(self, s: Session | None, notice: bytes) -> None:
        """A notice (no id, no request) to a live session, over the request socket, never published:
        only to the routing id whose frames last carried the session's key."""
        if s is not None and self.presence.by_peer.get(s.peer) is s:
            self.replies.append((s.peer, notice))
            self._answered.append(None)

    def _readers(self, scope: str) -> Iterable[str]:
        if scope == PUBLIC_SCOPE:
            return list(self.presence.by_user)
        if scope.startswith("u:"):
            return [scope[2:]]
        conv = self.convs.get(scope)
        return sorted(conv.members) if conv is not None else []

    def _session_ended(self, s: Session) -> None:
        # whoever held the session's keys (a client that kept its SUB, a stolen subscription) reads
        # nothing sent to the user from now on: the user's other sessions get the new key in a
        # notice, its next session in its welcome
        self.store.device_seen(s.pubkey, self.clock())
        self.access.rotate(user_scope(s.user))

    # ---------------------------------------------------------------- requests
    def handle(self, peer: bytes, pubkey: str, data: bytes) -> None:
        """One request frame from ``peer``, which arrived with CURVE key ``pubkey`` (its ZAP User-Id).
        Every request gets exactly one reply."""
        rid = None
        self._later_reply = False
        try:
            session = self.presence.by_peer.get(peer)
            if session is not None and session.pubkey != pubkey:
                # the routing id is another key's now (a client may choose its id): that connection
                # gets nothing of the session, and the session gets nothing more through this id
                log.warning("routing id %s of %s's session arrived with another key; unbound", peer.hex()[:16],
                            session.name)
                self.presence.unbind(session)
                session = None
            req = p.decode_request(data)
            rid = req.id
            if type(req) is p.Hello:
                self._reply(peer, self._hello(peer, pubkey, req))
                return
            if session is None:
                raise ProtocolError(ErrorCode.NOT_JOINED, "this connection has no session: say hello first "
                                    "(after a dropped link, a reconnected socket must say hello again)")
            self.presence.touch(session)
            self._reply(peer, self._handlers[req.TYPE](self, session, req))
        except ProtocolError as exc:
            self._reply(peer, p.error(exc.request_id or rid, exc.code, exc.message, exc.retry_after_ms))
        except Exception:  # a bug must cost one reply, not the broker
            log.exception("request from %r failed", peer)
            self._reply(peer, p.error(rid, ErrorCode.INTERNAL, "internal error; try again"))

    def refuse(self, peer: bytes, data: bytes) -> None:
        """The store is unreachable: a retryable error, and nothing decided."""
        try:
            rid: str | None = p.decode_request(data).id
        except ProtocolError:
            rid = None
        self._reply(peer, p.error(rid, ErrorCode.INTERNAL, "the broker cannot reach its database; try again"))

    def bad_frames(self, peer: bytes, count: int) -> None:
        self._reply(peer, p.error(None, ErrorCode.BAD_FRAMES, f"a request is one frame, not {count}"))

    def ask_resubscribe(self, s: Session, topics: list[str]) -> None:
        """The broker skipped these subscriptions of ``s`` (it could not tell whose they were): a notice
        asks its client to send them again."""
        self._notice(s, p.encode(p.Resubscribe(topics)))

    def link_closed(self, peer: bytes) -> None:
        """The TCP connection behind ``peer`` closed: its session is lost now, not at its next silence,
        and nothing more goes to that routing id (another connection may take it); the client says
        hello again on its new connection."""
        s = self.presence.by_peer.get(peer)
        if s is not None:
            self.presence.unbind(s)

    def _hello(self, peer: bytes, pubkey: str, req: p.Hello) -> p.Welcome:
        if not p.MIN_VERSION <= req.version <= p.PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.VERSION_UNSUPPORTED, f"protocol version {req.version} is not supported; "
                                f"this broker speaks {p.MIN_VERSION} to {p.PROTOCOL_VERSION}", req.id)
        if not p.is_random_routing_id(peer):
            raise ProtocolError(ErrorCode.BAD_ROUTING_ID, f"set ZMQ_ROUTING_ID on the DEALER to "
                                f"{p.ROUTING_ID_BYTES} random bytes (the first not 0) before it connects", req.id)
        if not pubkey:
            raise ProtocolError(ErrorCode.INTERNAL, "no CURVE key on this connection", req.id)
        p.check_name(req.name)
        resuming = self.presence.resumes(peer, pubkey, req.resume)
        if not resuming and self.presence.online >= self.config.max_clients:
            raise ProtocolError(ErrorCode.SERVER_FULL, f"the broker is full ({self.config.max_clients} sessions "
                                "online); try again later", req.id)
        user, device = self._account_of(pubkey, req)
        s, resumed = self.presence.arrive(peer, user, self.names[user], pubkey, device, req.resume)
        base = [self.access.info(PUBLIC_SCOPE), self.access.info(user_scope(user))]
        welcome = p.Welcome(req.id, self.names[user], p.PROTOCOL_VERSION, self.config.pub_endpoint, self.clock(),
                            resumed, self._limits, [], s.sub_token, base, False, device)
        convs, keys, complete = self._conversations_page(user, None, paging.FRAME_BUDGET - len(p.encode(welcome)))
        chosen, status = self.presence.chosen.get(user, (p.ChosenState.ONLINE, ""))
        return p.Welcome(welcome.id, welcome.name, welcome.version, welcome.pub_endpoint, welcome.server_time,
                         resumed, self._limits, convs, s.sub_token, base + keys, not complete, device, chosen, status)

    def _new_conversation(self, key: str, kind: str, private: bool) -> Conversation:
        conv = self.convs[key] = Conversation(key, kind, private, 0)
        return conv

    def _title(self, conv: Conversation, user: str) -> str:
        return p.conv_title(conv.key, user, lambda u: self.names.get(u, u))

    def _limit(self, s: Session, kind: p.RateKind, req_id: str, what: str, cmid: str | None = None) -> None:
        wait_ms = self.presence.take(s.user, kind, cmid)
        if wait_ms:
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"too many {what}; slow down", req_id,
                                retry_after_ms=wait_ms)

    def _on_send(self, s: Session, req: p.Send) -> p.Ok:
        conv = self._readable(s, req.conv, create_dm=True)
        kind = EVERYONE_RATE if conv.kind == EVERYONE_KIND else MESSAGE_RATE
        try:
            self._limit(s, kind, req.id, "messages to everyone" if kind is EVERYONE_RATE else "messages", req.cmid)
        except ProtocolError:
            stored = self.store.find(s.name, req.cmid)   # a retry of a stored send is no new message
            if stored is None:
                raise
            return p.Ok(req.id, stored.conv, stored.seq, stored.ts, True)
        # a plain line (no reply, no "@") looks nothing up; a retry gives its token back
        quote = self._quote(self._line(conv, req.reply_to, req.id)) if req.reply_to is not None else None
        mentions = self._mentions(req.text) if "@" in req.text else None
        key, seq, ts, duplicate = self._append(conv, s, req.kind or PLAIN_MSG, req.text, req.cmid,
                                               ref=req.reply_to, mentions=mentions, quote=quote, refund=kind)
        return p.Ok(req.id, key, seq, ts, duplicate)

    def _append(self, conv: Conversation, s: Session, kind: str, text: str, cmid: str | None = None, *,
                ref: int | None = None, mentions: list[str] | None = None, quote: p.Quote | None = None,
                reactions: list[p.Reaction] | None = None,
                refund: p.RateKind | None = None) -> tuple[Any, Any, Any, Any]:
        """Store one line and publish it -> (conv, seq, ts, duplicate). A retried (sender, cmid) is not
        stored or published again: it gets the first one's conversation, seq and ts (and the sender gets
        back its token of ``refund``'s bucket). ``ref``: the line a msg/me replies to, or an edit/delete/react/
        unreact changes; ``mentions`` are stored with it; ``quote`` and ``reactions`` are only published
        (history works them out anew). When the store settles lines only at commit (several brokers
        on PostgreSQL), the four are zchat.deferred.Later values: put them in the reply as they are."""
        line = Line(conv.key, conv.head + 1, self.clock(), s.name, kind, text, cmid, ref, mentions)
        if not self.store.stage(line):
            # the refund waits for the commit too (only a send has one: no partial per plain line)
            on_duplicate = functools.partial(self.presence.refund, s.user, refund) if refund is not None else None
            return self._stage_later(line, conv, on_duplicate, quote, reactions)
        if line.duplicate:
            if refund is not None:
                self.presence.refund(s.user, refund)
            return line.conv, line.seq, line.ts, True
        conv.head = line.seq
        self._dirty.add(conv.key)
        self._active.add(conv.key)
        payload = p.encode(line_message(line, quote, reactions))
        for t in conv.topics:
            self._publish(t, payload)
        return conv.key, line.seq, line.ts, False

    def _on_ping(self, s: Session, req: p.Ping) -> p.Pong:
        return p.Pong(req.id, self.clock())

    def _on_bye(self, s: Session, req: p.Bye) -> p.Ok:
        self.presence.depart(s, p.PresenceReason.LEFT)
        return p.Ok(req.id)

    # ---------------------------------------------------------------- subscriptions and time
    def session_of_token(self, sub_token: str | None) -> Session | None:
        return self.presence.by_sub_token.get(sub_token) if sub_token else None

    def may_subscribe(self, sub_token: str | None, topic: bytes) -> bool:
        """XPUB_MANUAL asks this for every subscription: only what the user whose live session
        issued ``sub_token`` (in its welcome) may read."""
        session = self.session_of_token(sub_token)
        return session is not None and Access.may_subscribe(
            session.user, topic, lambda u: self.user_convs.get(u, ()))

    def tick(self) -> float:
        """Heartbeats and presence timeouts; returns seconds until the next call is due."""
        now = self.clock()
        if self.presence.sweep(now):
            heads = {p.EVERYONE: self.convs[p.EVERYONE].head}
            self._publish(p.TOPIC_HEARTBEAT, p.encode(p.Heartbeat(now, heads)))
            # A lost message shows up as a head beyond what the client saw. While a conversation is
            # busy its next message reveals any gap, so only one that went quiet needs a beat: its
            # last message may be the lost one. (Beating every changed conversation at once made
            # each tick a burst of deliveries to all their members: the P3 p99 stalls.)
            for key in self._dirty - self._active:
                conv = self.convs[key]
                payload = p.encode(p.Heartbeat(now, {key: conv.head}))
                for t in conv.topics:
                    self._publish(t, payload)
            self._dirty &= self._active
            self._active = set()
        return self.presence.next_due(now)


# each request type's handler, looked up once here rather than by name ("_on_" + type) per request
Hub._handlers = {t: getattr(Hub, "_on_" + t) for t in p.REQUEST_TYPES if t != p.Hello.TYPE}
