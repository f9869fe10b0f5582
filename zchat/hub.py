"""The broker's decisions, without sockets: who is who, who may read what, what gets stored,
which replies and publishes follow.

h11's rule applies: no I/O here. The loop in zchat.broker hands each request frame to
:meth:`Hub.handle` with the peer's routing id and CURVE key, and after the batch's
transaction commits it sends what :meth:`Hub.take_output` returns. The hub never trusts
a claim in a request: the sender of every message is the name bound to the key the
frame arrived with. State that must survive a restart goes through the store; the rest
(sessions, presence, rate buckets) is rebuilt as clients come back.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from zchat import protocol as p
from zchat.errors import ErrorCode, ProtocolError
from zchat.presence import Roster, Session

if TYPE_CHECKING:
    from zchat.store import SQLiteStore

log = logging.getLogger("zchat.hub")


@dataclass(frozen=True)
class HubConfig:
    """Tunables the broker's command line sets; all of them are announced to clients in ``welcome``."""
    pub_endpoint: str = ""
    max_clients: int = 1000
    history_page_max: int = 200
    heartbeat_interval: float = 2.0      # seconds between heartbeats (and client pings)
    heartbeat_timeout: float = 6.0       # silence after which a session counts as lost
    grace: float = 60.0                  # a lost session times out after this
    rate_burst: int = 20                 # messages to everyone: bucket size ...
    rate_per_sec: float = 5.0            # ... and refill rate
    presence_interval: float = 0.0       # committed presence changes are published at most this often

    def limits(self) -> p.Limits:
        return p.Limits(p.MAX_FRAME_BYTES, p.MAX_TEXT_BYTES, self.history_page_max,
                        int(self.heartbeat_interval * 1000), int(self.heartbeat_timeout * 1000),
                        int(self.grace * 1000), self.rate_burst, self.rate_per_sec, p.NAME_MAX, p.NAME_RULE)


FRAME_BUDGET = p.MAX_FRAME_BYTES - 1024   # room for the reply's own fields


def _fit(items: list[Any], keep_first: bool) -> list[Any]:
    """The longest run of ``items`` (from the front, or from the back) whose encoding fits one frame:
    every frame zchat sends stays under MAX_FRAME_BYTES, so clients can enforce it too."""
    total, n = 0, 0
    for item in (items if keep_first else reversed(items)):
        total += len(p.encode(item)) + 1
        if total > FRAME_BUDGET:
            break
        n += 1
    n = max(n, 1) if items else 0
    return items[:n] if keep_first else items[len(items) - n:]


class Conversation:
    __slots__ = ("key", "kind", "private", "head", "members", "invites", "topics")

    def __init__(self, key: str, kind: str, private: bool, head: int) -> None:
        self.key, self.kind, self.private, self.head = key, kind, private, head
        self.members: set[str] = set()
        self.invites: set[str] = set()
        # where its messages are published: a DM on both users' own topics, the rest on their own
        self.topics = [p.user_topic(u) for u in key.split(":")[1:]] if kind == "dm" else [p.topic(key)]


class Hub:
    """Decides; the caller moves bytes. Output accumulates until :meth:`take_output`."""

    def __init__(self, store: SQLiteStore, config: HubConfig = HubConfig(),
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.replies: list[tuple[bytes, bytes]] = []      # (routing id, payload)
        self._answered: list[str | None] = []             # the request id of each reply, in step
        self.publishes: list[tuple[bytes, bytes]] = []    # (topic, payload)
        self.presence = Roster(config, self.publishes, clock)
        self._limits = config.limits()
        self._dirty: set[str] = set()                     # conversations changed since their last heartbeat
        self._active: set[str] = set()                    # ... of which changed since the previous tick
        self.reload()

    # ---------------------------------------------------------------- state
    def reload(self) -> None:
        """(Re)build users and conversations from the store: at start, and after a failed batch."""
        self.names: dict[str, str] = {}                   # user key -> display name
        self.owner: dict[str, str] = {}                   # CURVE key (z85) -> user key
        for row in self.store.load_users():
            self.names[p.canonical(row.name)] = row.name
            self.owner[row.pubkey] = p.canonical(row.name)
        self.pubkey_of = {u: k for k, u in self.owner.items()}
        with self.store.transaction():
            self.store.add_conversation(p.EVERYONE, "everyone", False, None, self.clock())
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
        for key, conv in self.convs.items():
            if conv.kind == "dm":
                for u in key.split(":")[1:]:
                    self.user_convs.setdefault(u, set()).add(key)

    def take_output(self) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
        """Hand over what to send; call only after the batch's transaction committed."""
        self.presence.flush()
        replies, pubs = self.replies, self.publishes
        self.replies, self.publishes = [], []
        self._answered.clear()
        self.presence.out = self.publishes
        return replies, pubs

    def discard_output(self) -> None:
        """The batch's transaction failed: nothing of it may be acknowledged or published, but every
        request still gets its one reply: a retryable ``internal`` error."""
        failed = [(peer, rid) for (peer, _), rid in zip(self.replies, self._answered)]
        self.replies.clear()
        self._answered.clear()
        self.publishes.clear()
        self.presence.undo_batch()
        self.reload()
        self._dirty &= self.convs.keys()   # earlier, committed changes still get their heartbeat
        self._active &= self._dirty
        for peer, rid in failed:
            self._reply(peer, p.error(rid, ErrorCode.INTERNAL, "the broker could not store this; try again"))

    # ---------------------------------------------------------------- requests
    def handle(self, peer: bytes, pubkey: str | None, data: bytes) -> None:
        """One request frame from ``peer``. ``pubkey`` is the CURVE key it arrived with (None if the
        caller knows the peer already has a session). Every request gets exactly one reply."""
        rid = None
        try:
            req = p.decode_request(data)
            rid = req.id
            if type(req) is p.Hello:
                self._reply(peer, self._hello(peer, pubkey, req))
                return
            session = self.presence.by_peer.get(peer)
            if session is None:
                raise ProtocolError(ErrorCode.NOT_JOINED, "say hello with a name first")
            self.presence.touch(session)
            self._reply(peer, getattr(self, "_on_" + req.TYPE)(session, req))
        except ProtocolError as exc:
            self._reply(peer, p.error(exc.request_id or rid, exc.code, exc.message, exc.retry_after_ms))
        except Exception:  # a bug must cost one reply, not the broker
            log.exception("request from %r failed", peer)
            self._reply(peer, p.error(rid, ErrorCode.INTERNAL, "internal error; try again"))

    def bad_frames(self, peer: bytes, count: int) -> None:
        self._reply(peer, p.error(None, ErrorCode.BAD_FRAMES, f"a request is one frame, not {count}"))

    def _reply(self, peer: bytes, msg: p.Reply) -> None:
        self.replies.append((peer, p.encode(msg)))
        self._answered.append(msg.id)

    def _hello(self, peer: bytes, pubkey: str | None, req: p.Hello) -> p.Welcome:
        if not p.MIN_VERSION <= req.version <= p.PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.VERSION_UNSUPPORTED, f"protocol version {req.version} is not supported; "
                                f"this broker speaks {p.MIN_VERSION} to {p.PROTOCOL_VERSION}", req.id)
        if not pubkey:
            session = self.presence.by_peer.get(peer)
            pubkey = self.pubkey_of.get(session.user) if session else None
        name, user = p.check_name(req.name), p.canonical(req.name)
        if not pubkey:
            raise ProtocolError(ErrorCode.INTERNAL, "no CURVE key on this connection", req.id)
        owner = self.owner.get(pubkey)
        if user in self.names and self.pubkey_of.get(user) != pubkey:
            raise ProtocolError(ErrorCode.NAME_TAKEN, f"the name {self.names[user]!r} belongs to another key", req.id)
        if owner is not None and owner != user:
            raise ProtocolError(ErrorCode.KEY_IN_USE, f"this key already owns the name {self.names[owner]!r}", req.id)
        if user not in self.presence.by_user and len(self.presence.by_user) >= self.config.max_clients:
            raise ProtocolError(ErrorCode.SERVER_FULL, f"the broker is full ({self.config.max_clients} users "
                                "connected); try again later", req.id)
        if user not in self.names:
            self.store.add_user(name, pubkey, self.clock())
            self.names[user], self.owner[pubkey], self.pubkey_of[user] = name, user, pubkey
            # a newcomer missed nothing: what was said to everyone before it existed is not "missed"
            self.store.set_read(user, p.EVERYONE, self.convs[p.EVERYONE].head)
        resumed = self.presence.arrive(peer, user, self.names[user])
        return p.Welcome(req.id, self.names[user], p.PROTOCOL_VERSION, self.config.pub_endpoint, self.clock(),
                         resumed, self._limits, self._conversations_of(user), self.presence.by_user[user].sub_token)

    def _conversations_of(self, user: str) -> list[p.ConversationInfo]:
        read = self.store.load_read(user)
        out = [p.ConversationInfo(p.EVERYONE, "everyone", "everyone", self.convs[p.EVERYONE].head,
                                  read.get(p.EVERYONE, 0))]
        for key in sorted(self.user_convs.get(user, ())):
            conv = self.convs[key]
            out.append(p.ConversationInfo(key, conv.kind, self._title(conv, user), conv.head,
                                          read.get(key, 0), conv.private))
        return out

    def _title(self, conv: Conversation, user: str) -> str:
        return p.conv_title(conv.key, user, lambda u: self.names.get(u, u))

    def _on_send(self, s: Session, req: p.Send) -> p.Ok:
        conv = self._readable(s, req.conv, create_dm=True)
        if conv.kind == "everyone":
            wait_ms = self.presence.take_token(s)
            if wait_ms:
                stored = self.store.find(s.name, req.cmid)   # a retry of a stored send is no new message
                if stored is None:
                    raise ProtocolError(ErrorCode.RATE_LIMITED, "too many messages to everyone; slow down",
                                        req.id, retry_after_ms=wait_ms)
                return p.Ok(req.id, stored.conv, stored.seq, stored.ts, True)
        key, seq, ts, duplicate = self._append(conv, s, "msg", req.text, req.cmid)
        if duplicate and conv.kind == "everyone":
            self.presence.refund_token(s)
        return p.Ok(req.id, key, seq, ts, duplicate)

    def _append(self, conv: Conversation, s: Session, kind: str, text: str,
                cmid: str | None = None) -> tuple[str, int, float, bool]:
        """Store one line and publish it -> (conv, seq, ts, duplicate). A retried (sender, cmid) is not
        stored or published again: it gets the first one's conversation, seq and ts."""
        seq, ts = conv.head + 1, self.clock()
        existing = self.store.append(conv.key, seq, ts, s.name, kind, text, cmid)
        if existing is not None:
            return existing.conv, existing.seq, existing.ts, True
        conv.head = seq
        self._dirty.add(conv.key)
        self._active.add(conv.key)
        payload = p.encode(p.Message(conv.key, seq, ts, s.name, text, kind, cmid))
        for t in conv.topics:
            self.publishes.append((t, payload))
        return conv.key, seq, ts, False

    def _readable(self, s: Session, key: str, create_dm: bool = False) -> Conversation:
        """The conversation ``key`` if ``s`` may read and write it; a first DM creates it."""
        conv = self.convs.get(key)
        if conv is None and key.startswith("dm:") and p.is_conversation_key(key):
            a, b = key.split(":")[1:]
            if key != p.dm_key(a, b) or a == b:
                raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"{key!r} is not a DM key: two different "
                                    "names, lowercased, in sorted order (dm:alice:bob)")
            if s.user not in (a, b):
                raise ProtocolError(ErrorCode.NOT_MEMBER, "a direct message must be between you and one other user")
            other = b if a == s.user else a
            if other not in self.names:
                raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {other!r}")
            if not create_dm:   # reading a DM nobody has written to yet: empty, and nothing stored
                return Conversation(key, "dm", True, 0)
            self.store.add_conversation(key, "dm", True, s.user, self.clock())
            conv = self.convs[key] = Conversation(key, "dm", True, 0)
            for u in (a, b):
                self.user_convs.setdefault(u, set()).add(key)
        if conv is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"no conversation {key!r}")
        if conv.kind != "everyone" and key not in self.user_convs.get(s.user, ()):
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"you are not in {self._title(conv, s.user)!r}")
        return conv

    def _group(self, name: str) -> Conversation:
        conv = self.convs.get(p.group_key(name))
        if conv is None or conv.kind != "group":
            raise ProtocolError(ErrorCode.NO_SUCH_CONVERSATION, f"no group named {name!r}")
        return conv

    def _on_create_group(self, s: Session, req: p.CreateGroup) -> p.Ok:
        key = p.group_key(p.check_name(req.group, "group name"))
        if key in self.convs:
            raise ProtocolError(ErrorCode.GROUP_EXISTS, f"a group named {req.group!r} exists already")
        self.store.add_conversation(key, "group", req.private, s.user, self.clock())
        conv = self.convs[key] = Conversation(key, "group", req.private, 0)
        self._add_member(conv, s.user)
        _, seq, ts, _ = self._append(conv, s, "event", "created")
        return p.Ok(req.id, key, seq, ts)

    def _add_member(self, conv: Conversation, user: str) -> None:
        self.store.add_member(conv.key, user, self.clock())
        conv.members.add(user)
        self.user_convs.setdefault(user, set()).add(conv.key)
        if user in conv.invites:
            self.store.remove_invite(conv.key, user)
            conv.invites.discard(user)

    def _on_join_group(self, s: Session, req: p.JoinGroup) -> p.Ok:
        conv = self._group(req.group)
        if s.user in conv.members:
            return p.Ok(req.id, conv.key, conv.head)
        if conv.private and s.user not in conv.invites:
            raise ProtocolError(ErrorCode.NOT_INVITED, f"{req.group!r} is private: a member must /invite you")
        self._add_member(conv, s.user)
        _, seq, ts, _ = self._append(conv, s, "event", "joined")
        return p.Ok(req.id, conv.key, seq, ts)

    def _on_leave_group(self, s: Session, req: p.LeaveGroup) -> p.Ok:
        conv = self._group(req.group)
        if s.user not in conv.members:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"you are not in {req.group!r}")
        _, seq, ts, _ = self._append(conv, s, "event", "left")
        self.store.remove_member(conv.key, s.user)
        conv.members.discard(s.user)
        self.user_convs[s.user].discard(conv.key)
        return p.Ok(req.id, conv.key, seq, ts)

    def _on_invite(self, s: Session, req: p.Invite) -> p.Ok:
        conv = self._group(req.group)
        if s.user not in conv.members:
            raise ProtocolError(ErrorCode.NOT_MEMBER, f"only members of {req.group!r} can invite")
        user = p.canonical(req.name)
        if user not in self.names:
            raise ProtocolError(ErrorCode.NO_SUCH_USER, f"no user named {req.name!r}")
        if user in conv.members or user in conv.invites:
            return p.Ok(req.id, conv.key, conv.head)
        self.store.add_invite(conv.key, user)
        conv.invites.add(user)
        _, seq, ts, _ = self._append(conv, s, "event", f"invited {self.names[user]}")
        self.publishes.append((p.user_topic(user), p.encode(p.Invited(self._title(conv, user), s.name))))
        return p.Ok(req.id, conv.key, seq, ts)

    def _on_groups(self, s: Session, req: p.ListGroups) -> p.Groups:
        mine = self.user_convs.get(s.user, set())
        return p.Groups(req.id, [
            p.GroupInfo(c.key[2:], c.private, len(c.members), c.key in mine)
            for c in sorted(self.convs.values(), key=lambda c: c.key)
            if c.kind == "group" and (not c.private or c.key in mine or s.user in c.invites)])

    def _on_who(self, s: Session, req: p.Who) -> p.Users:
        conv = self._readable(s, req.conv)
        if conv.kind == "everyone":
            users = list(self.names)
        elif conv.kind == "dm":
            users = conv.key.split(":")[1:]
        else:
            users = sorted(conv.members)
        infos = sorted((p.UserInfo(self.names[u], self.presence.state_of(u)) for u in users),
                       key=lambda i: (i.state == "away", i.name.lower()))
        return p.Users(req.id, conv.key, _fit(infos, keep_first=True), len(infos))

    def _on_history(self, s: Session, req: p.History) -> p.HistoryPage:
        conv = self._readable(s, req.conv)
        limit = min(req.limit or self.config.history_page_max, self.config.history_page_max)
        if req.after is not None and req.before is not None:
            raise ProtocolError(ErrorCode.BAD_FIELD, "give 'after' or 'before', not both")
        if req.after is not None:
            rows = self.store.after(conv.key, req.after, limit)
            complete = not rows or rows[-1].seq >= conv.head
        else:
            before = conv.head + 1 if req.before is None else req.before
            rows = self.store.before(conv.key, before, limit)
            complete = not rows or rows[0].seq <= 1
        messages = [p.Message(r.conv, r.seq, r.ts, r.sender, r.text, r.kind, r.cmid) for r in rows]
        fitting = _fit(messages, keep_first=req.after is not None)
        if len(fitting) < len(messages):
            complete = False
            rows = rows[:len(fitting)] if req.after is not None else rows[-len(fitting):]
            messages = fitting
        return p.HistoryPage(req.id, conv.key, messages, rows[0].seq if rows else 0,
                             rows[-1].seq if rows else 0, conv.head, complete)

    def _on_mark_read(self, s: Session, req: p.MarkRead) -> p.Ok:
        conv = self._readable(s, req.conv)
        self.store.set_read(s.user, conv.key, min(req.seq, conv.head))
        return p.Ok(req.id, conv.key, self.store.load_read(s.user).get(conv.key, 0))

    def _on_ping(self, s: Session, req: p.Ping) -> p.Pong:
        return p.Pong(req.id, self.clock())

    def _on_bye(self, s: Session, req: p.Bye) -> p.Ok:
        self.presence.depart(s, p.PresenceReason.LEFT)
        return p.Ok(req.id)

    # ---------------------------------------------------------------- subscriptions and time
    def may_subscribe(self, sub_token: str | None, topic: bytes) -> bool:
        """XPUB_MANUAL asks this for every subscription: only what the user whose live session
        issued ``sub_token`` (in its welcome) may read."""
        session = self.presence.by_sub_token.get(sub_token) if sub_token else None
        if session is None:
            return False
        user = session.user
        if topic in (p.TOPIC_PRESENCE, p.TOPIC_HEARTBEAT, b"all|") or topic == p.user_topic(user):
            return True
        if topic.startswith(b"g:") and topic.endswith(b"|"):
            return topic[:-1].decode(errors="replace") in self.user_convs.get(user, ())
        return False

    def tick(self) -> float:
        """Heartbeats and presence timeouts; returns seconds until the next call is due."""
        now = self.clock()
        if self.presence.sweep(now):
            heads = {p.EVERYONE: self.convs[p.EVERYONE].head}
            self.publishes.append((p.TOPIC_HEARTBEAT, p.encode(p.Heartbeat(now, heads))))
            # A lost message shows up as a head beyond what the client saw. While a conversation is
            # busy its next message reveals any gap, so only one that went quiet needs a beat: its
            # last message may be the lost one. (Beating every changed conversation at once made
            # each tick a burst of deliveries to all their members: the P3 p99 stalls.)
            for key in self._dirty - self._active:
                conv = self.convs[key]
                payload = p.encode(p.Heartbeat(now, {key: conv.head}))
                for t in conv.topics:
                    self.publishes.append((t, payload))
            self._dirty &= self._active
            self._active = set()
        return self.presence.next_due(now)
