"""A small zchat client for the bench drivers, built on zchat.protocol (the real wire protocol).

Each user has its own CURVE key pair, a unique name, a random 16-byte routing id on its DEALER
(requests, replies, notices) and, if it receives, one SUB with the same key. Its fan-out keys
(zchat.seal.KeyChain) come from the welcome, the ok of create_group / join_group and `key`
notices, as in any client; every published frame the drivers count is opened with them
(``User.open``: KeyChain.open, libsodium's XChaCha20-Poly1305 without PyNaCl's per-call
checks) and split into its messages (``User.messages``: protocol 4 bundles consecutive
publishes on one topic into one frame; each message is one delivery). Set-up requests are
encoded and decoded with zchat.protocol; the hot path sends pre-formatted `send` requests
(checked once against zchat.protocol.decode_request) and recognises `ok` replies and `msg`
payloads by bytes, so the driver's own cost per message stays small: one open per frame is
the part it cannot skip. The broker bundles a batch's replies and notices for one connection
too (one frame, or a few of at most p.BUNDLE_BYTES, joined by zchat.protocol.BUNDLE_SEP): every frame
read on a DEALER is split (``drain_replies`` on the hot path, ``User.replies`` in set-up) and
each part is one reply.

Everything is pipelined: a batch of users sends its requests, then the replies are gathered
with epoll on the sockets' ZMQ_FD (O(ready sockets) per wake-up), bounded by a deadline.
"""
from __future__ import annotations

import selectors
import time

import zmq
from sealing import unbundler

from zchat import protocol as p
from zchat.seal import KeyChain

NOBLOCK, Again = int(zmq.NOBLOCK), zmq.Again
SEP = p.BUNDLE_SEP       # between the replies of a DEALER frame, and the messages of an opened SUB frame
CMID = b'"cmid":"m'      # measured messages carry cmid "m<global index>"
TEXT = b'"text":"'


class User:
    __slots__ = ("i", "name", "pub", "sec", "dealer", "sub", "welcome", "rid", "keys", "open", "messages", "endpoint",
                 "connected")

    def __init__(self, ctx, i, endpoint, server_key, name=None, connect=True):
        """``connect=False``: the DEALER connects when hello_all reaches this user (a connection that
        holds no session for the broker's --login-timeout is cut, so it must not wait for its turn)."""
        self.i = i
        self.name = name or f"u{i}"
        self.pub, self.sec = zmq.curve_keypair()
        self.dealer = self._socket(ctx, zmq.DEALER, server_key)
        self.dealer.routing_id = p.new_routing_id()     # protocol 2: random, set before connecting
        self.endpoint, self.connected = endpoint, False
        if connect:
            self.connect()
        self.sub = None
        self.welcome = None
        self.rid = 0
        self.keys = KeyChain()
        self.open = self.keys.open       # (topic, sealed frame) -> payload; SealError if it does not open
        self.messages = unbundler(self.open)   # (topic, sealed frame) -> its messages, in order

    def connect(self):
        if not self.connected:
            self.dealer.connect(self.endpoint)
            self.connected = True

    def _socket(self, ctx, kind, server_key):
        s = ctx.socket(kind)
        s.linger = 0
        s.curve_serverkey, s.curve_publickey, s.curve_secretkey = server_key, self.pub, self.sec
        return s

    def request(self, msg) -> None:
        self.dealer.send(p.encode(msg))

    def next_id(self) -> str:
        self.rid += 1
        return f"s{self.rid}"

    def learn(self, reply) -> None:
        """Keep the fan-out keys a welcome, a conversations page, an ok or a `key` notice carries."""
        if isinstance(reply, p.KeyChange):
            self.keys.add(reply.scope, reply.epoch, bytes.fromhex(reply.key))
            return
        infos = list(getattr(reply, "keys", None) or ())
        if isinstance(reply, p.Ok) and reply.key is not None:
            infos.append(reply.key)
        for info in infos:
            self.keys.add(info.scope, info.epoch, bytes.fromhex(info.key))

    def replies(self, frame: bytes) -> list:
        """A frame read on the DEALER -> its replies, decoded and in order, without its notices (each
        one applied here, see notice): the broker bundles a batch's replies and notices for one
        connection into one frame (zchat.protocol.unbundle)."""
        return [p.decode_reply(raw) for raw in p.unbundle(frame) if not self.notice(raw)]

    def notice(self, raw: bytes) -> bool:
        """True if ``raw`` (one reply: a part of a frame read on the DEALER) is a notice, which is then
        applied: a `key` notice's key is kept, a `resubscribe` notice's topics are asked for again."""
        if not raw.endswith((b'"type":"key"}', b'"type":"resubscribe"}')):
            return False
        notice = p.decode_reply(raw)
        if isinstance(notice, p.Resubscribe):
            # a SUB sends a topic upstream once: cancel our count of one, then ask again
            for t in notice.topics if self.sub is not None else ():
                self.sub.unsubscribe(t.encode())
                self.sub.subscribe(t.encode())
        else:
            self.learn(notice)
        return True

    def open_sub(self, ctx, server_key, topics, rcvhwm=0):
        self.sub = self._socket(ctx, zmq.SUB, server_key)
        self.sub.rcvhwm = rcvhwm
        self.sub.setsockopt(zmq.METADATA, p.sub_metadata(self.welcome.sub_token))
        self.sub.connect(self.welcome.pub_endpoint)
        for t in topics:
            self.sub.subscribe(t)
        return self.sub


def server_of(connect: str):
    endpoint, key = p.parse_connect_string(connect)
    return endpoint, key   # 32 raw bytes: libzmq takes them as the server key


def gather(socks, on_frame, deadline, first_all=True):
    """epoll on ZMQ_FD of `socks` until on_frame(i, sock) returned True for each of them or the
    deadline passes. on_frame is called once per readable message (it must recv all its frames)
    and returns True when that socket is done. Returns the number of sockets done."""
    sel = selectors.EpollSelector()
    pending = {}
    for i, s in enumerate(socks):
        fd = s.getsockopt(zmq.FD)
        pending[fd] = (i, s)
        sel.register(fd, selectors.EVENT_READ)
    done = 0
    first = first_all
    try:
        while pending and time.monotonic() < deadline:
            wait = min(0.2, max(0.0, deadline - time.monotonic()))
            ready = list(pending) if first else [k.fd for k, _ in sel.select(wait)]
            first = False
            for fd in ready:
                ent = pending.get(fd)
                if ent is None:
                    continue
                i, s = ent
                while True:
                    try:
                        if not s.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                            break
                    except zmq.ZMQError:
                        break
                    if on_frame(i, s):
                        done += 1
                        sel.unregister(fd)
                        del pending[fd]
                        break
    finally:
        sel.close()
    return done


def hello_all(users, deadline, batch=500):
    """Say hello for every user (pipelined in batches); returns the errors (empty if all welcome)."""
    errors = []

    def on_reply(i, s):
        u = users_b[i]
        replies = u.replies(s.recv())
        for r in replies:
            if isinstance(r, p.Welcome) and u.welcome is None:
                u.welcome = r
                u.learn(r)
            else:
                errors.append(f"{u.name}: {r}")
        return bool(replies)

    for k in range(0, len(users), batch):
        users_b = users[k:k + batch]
        for u in users_b:
            u.connect()
            u.request(p.Hello(u.next_id(), p.PROTOCOL_VERSION, u.name))
        n = gather([u.dealer for u in users_b], on_reply, deadline)
        if n < len(users_b):
            errors.append(f"only {n}/{len(users_b)} hello replies in time")
            break
    return errors


def call_all(users, make, deadline):
    """One request per user (make(u) -> message), pipelined; returns the list of replies (None = none)."""
    out = [None] * len(users)
    for u in users:
        u.request(make(u))

    def on_reply(i, s):
        u = users[i]
        for r in u.replies(s.recv()):
            if out[i] is None:          # one request, one reply: anything after it is not its answer
                out[i] = r
                u.learn(r)
        return out[i] is not None
    gather([u.dealer for u in users], on_reply, deadline)
    return out


def setup_groups(users, groups, deadline):
    """groups: list of (group name, member index list). The first member creates it, the others join.
    Returns a list of errors."""
    errs = []
    owners = [users[mem[0]] for _, mem in groups]
    names = {users[mem[0]].i: g for g, mem in groups}
    replies = call_all(owners, lambda u: p.CreateGroup(u.next_id(), names[u.i]), deadline)
    for u, r in zip(owners, replies, strict=True):
        if not isinstance(r, p.Ok):
            errs.append(f"create_group by {u.name}: {r}")
    joiners, jn = [], {}
    for g, mem in groups:
        for m in mem[1:]:
            joiners.append(users[m])
            jn[users[m].i] = g
    while joiners:
        again = []      # on another broker of a cluster, a group is known once that broker heard of it
        for k in range(0, len(joiners), 500):
            part = joiners[k:k + 500]
            for u, r in zip(part, call_all(part, lambda u: p.JoinGroup(u.next_id(), jn[u.i]), deadline), strict=True):
                if isinstance(r, p.Error) and r.code == "no_such_conversation" and time.monotonic() < deadline:
                    again.append(u)
                elif not isinstance(r, p.Ok):
                    errs.append(f"join_group by {u.name}: {r}")
        joiners = again
    return errs


def send_template(conv: str, size: int) -> bytes:
    """A `send` request as a %-template (request id, text prefix, global index) of about `size`
    bytes of text; verified once with zchat.protocol.decode_request."""
    tmpl = (b'{"type":"send","id":"%d","conv":"' + conv.encode() + b'","text":"%s'
            + b"x" * max(1, size - 24) + b'","cmid":"m%d"}')
    req = p.decode_request(tmpl % (1, b"123 ", 7))
    assert isinstance(req, p.Send) and req.cmid == "m7", req
    return tmpl


def drain_replies(sock, is_ok, notice, on_other) -> tuple[int, int]:
    """Read every frame queued on a DEALER without blocking (as ZMQ_FD requires) and sort each of its
    replies: -> (oks, frames read). The broker bundles a batch's replies and notices for one
    connection into one frame, joined by zchat.protocol.BUNDLE_SEP (zchat.protocol.unbundle), so
    each part counts: is_ok(reply) -> an ok; else notice(reply) -> True if it was a notice (applied
    there); else on_other(reply) (an error for the driver). Also for drain_store's DEALER: its
    replies come one per frame, JSON that never holds a raw LF, so the split leaves them whole."""
    recv, sep = sock.recv, SEP
    oks = frames = 0
    while True:
        try:
            frame = recv(NOBLOCK)
        except Again:
            return oks, frames
        frames += 1
        for reply in frame.split(sep):
            if is_ok(reply):
                oks += 1
            elif not notice(reply):
                on_other(reply)


def ignore(_reply: bytes) -> bool:
    """A notice test / on_other for drain_replies that takes nothing for a notice and drops the rest."""
    return False


def is_ok(reply: bytes) -> bool:
    return reply.endswith(b'"type":"ok"}') and b'"duplicate":false' in reply


def cmid_of(payload: bytes) -> int:
    """Global index of a measured `msg` publish, or -1 for anything else (hb, events, probes)."""
    k = payload.rfind(CMID)
    if k < 0:
        return -1
    k += len(CMID)
    return int(payload[k:payload.index(b'"', k)])


def text_ts(payload: bytes) -> int:
    """The send timestamp (ns) at the start of a measured message's text."""
    k = payload.index(TEXT) + len(TEXT)
    return int(payload[k:payload.index(b" ", k)])
