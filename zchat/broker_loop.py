"""The broker's socket loop around zchat.hub (``python -m zchat.broker`` starts it: zchat.broker).

One thread owns every socket: a ROUTER for requests and replies, an XPUB (with XPUB_MANUAL)
for the sealed fan-out, the ZAP handler that gives each ROUTER connection its CURVE key as
User-Id (zchat.zap: rotated, so libzmq's ZAP pipe per connection ends), and a monitor on
each of the two that reports connections opening and closing.
The XPUB lives in a context of its own, without ZAP: a SUB proves whose it is with the
session token from its welcome (handshake metadata), and skipping ZAP there saves about
10 KB of libzmq pipes per connection (docs/ARCHITECTURE.md). Each wake-up drains the ROUTER
until EAGAIN, reading every frame's User-Id (identity is the key of *that* frame, never
the routing id), hands the frames to the hub inside ONE store transaction, and only after
the commit sends the replies and publishes. Decisions live in the hub; this module moves
bytes and guards the sockets against peers that break the rules.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import zmq
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from zchat import protocol as p
from zchat.broker_setup import (
    DataDirLock,
    StartupError,
    advertised,
    derive_pub_endpoint,
    load_server_key,
    prepare_data_dir,
)
from zchat.conns import ROUTER, XPUB, ConnTable, cut
from zchat.errors import ProtocolError
from zchat.hub import Hub, HubConfig
from zchat.peer_link import PeerLink
from zchat.store import Checkpointer, SQLiteStore, StoreError
from zchat.store_base import Store

if TYPE_CHECKING:
    from zchat.store_pg import PgStore
from zchat.sub_gate import SUB_FRAME_MAX, SUB_QUEUE, SUB_RCVBUF, SubscriptionGate, frame_property, srcfd
from zchat.zap import ZapHandler

log = logging.getLogger("zchat.broker")
BATCH = 1000                  # requests per transaction at most, so one batch cannot starve the XPUB side
BATCH_BYTES = 1 << 18         # ... and replies: past 256 KB (4 full history pages) the batch ends, so one user
                              # pipelining big requests delays the others' replies by one such batch, not 500
REPLY_QUEUE = 2000            # frames (a batch's replies each) waiting for one connection to read; beyond: "overloaded"
HANDSHAKE_MS = 5000           # a connection must finish its CURVE handshake within this
CONN_SLACK = 64               # connections beyond two per client, for handshakes in progress
REPORT_EVERY = 60.0           # seconds between the info lines that sum up what was refused
ADMIN_SOCKET = "admin.ipc"
STORE_FILE = "store"          # the --store in use, for the admin command (0600: it may hold a password)
MONITOR_EVENTS = zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED

def open_store(url: str | None, data_dir: Path, fsync: bool) -> Store:
    """The store ``--store`` names: PostgreSQL (several brokers may share it), or SQLite in the data dir."""
    try:
        if url and url.startswith(("postgresql://", "postgres://")):
            from zchat.store_pg import PgStore  # psycopg only when asked for: pip install 'zchat[pg]'
            return PgStore(url, fsync=fsync)
        return SQLiteStore(Path(url) if url else data_dir / "zchat.db", fsync=fsync)
    except StoreError as exc:
        raise StartupError(str(exc)) from None
    except ImportError:
        raise StartupError("--store postgresql://... needs psycopg: pip install 'zchat[pg]'") from None


def link_peers(hub: Hub, store: PgStore, heartbeat: float) -> PeerLink:
    """Several brokers on one PostgreSQL: a bus between them, and this broker's name on it."""
    from zchat.bus import PgBus
    hub.shared, hub.broker_id = store, secrets.token_hex(4)
    log.info("sharing %s with other brokers as broker %s", store._safe_url(), hub.broker_id)
    return PeerLink(hub, store, PgBus(store.url, store.notify), heartbeat)


_MORE, _NOBLOCK = int(zmq.SNDMORE | zmq.NOBLOCK), int(zmq.NOBLOCK)


def _send_of(sock: zmq.Socket[bytes]) -> Callable[[bytes, int], object]:
    """``sock``'s send without pyzmq's Python layer over it (which only adds routing_id and group,
    drafts zchat does not use): 0.24 us a frame instead of 0.41, four frames per chat line."""
    return super(zmq.Socket, sock).send


def endpoint_of(sock: zmq.Socket[bytes]) -> str:
    """Where a socket is bound (its last endpoint, with a random port resolved)."""
    last = sock.getsockopt(zmq.LAST_ENDPOINT)
    return last.decode() if isinstance(last, bytes) else str(last)


class Broker:
    """Owns the sockets; ``run()`` must be called on the thread that called ``bind()``."""

    def __init__(self, args: argparse.Namespace, config: HubConfig) -> None:
        self.args, self.config = args, config
        self.data_dir = Path(args.data_dir)
        io_threads = getattr(args, "io_threads", 1)
        self.ctx = zmq.Context(io_threads)
        self.pub_ctx = zmq.Context(io_threads)     # no ZAP handler here: see the module docstring
        self.stopping = False
        self.store: Store | None = None
        self.checkpointer: Checkpointer | None = None
        self.peers: PeerLink | None = None            # other brokers on the same database
        self.lock: DataDirLock | None = None
        self.conns = ConnTable(2 * config.max_clients + CONN_SLACK, args.login_timeout, time.monotonic)
        self.congested: dict[bytes, int] = {}          # peer -> replies dropped since its queue filled
        self.counts = dict.fromkeys(("refused_subscriptions", "desync_frames", "dropped_replies",
                                     "connections_over_cap", "connections_reaped"), 0)
        self.next_housekeeping = time.monotonic() + 1.0
        self.poller = zmq.Poller()
        self.next_report = time.monotonic() + REPORT_EVERY

    def bind(self) -> str:
        """Lock and open the data dir, make the sockets and bind them; returns the connect string."""
        a = self.args
        prepare_data_dir(self.data_dir)
        self.lock = DataDirLock(self.data_dir)
        self.store = open_store(a.store, self.data_dir, a.fsync)
        store_file = self.data_dir / STORE_FILE
        if a.store:
            store_file.write_text(a.store + "\n")
        elif store_file.exists():
            store_file.unlink()
        if isinstance(self.store, SQLiteStore):
            os.chmod(self.store.path, 0o600)
            self.checkpointer = Checkpointer(self.store.path, interval=1.0)
        public, secret = load_server_key(self.data_dir)
        self.zap = ZapHandler(self.ctx, lambda s: self.poller.register(s, zmq.POLLIN), self.poller.unregister)
        self.router = self._server_socket(self.ctx, zmq.ROUTER, public, secret)
        self.router.zap_domain = b"zchat"
        self.router.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)   # no handler bound (a rotation's instant): refuse
        self.router.maxmsgsize = p.MAX_FRAME_BYTES + 1024
        # a full reply queue is reported (EAGAIN), not silently dropped: see _flush
        self.router.router_mandatory = 1
        self.router.sndhwm = REPLY_QUEUE
        self.xpub = self._server_socket(self.pub_ctx, zmq.XPUB, public, secret)
        self.xpub.setsockopt(zmq.XPUB_MANUAL, 1)
        self.xpub.sndhwm = a.pub_hwm
        self.xpub.maxmsgsize = SUB_FRAME_MAX
        # what one connection can push upstream before the loop reads it and cuts it off: a subscription
        # flood must open a new CURVE connection for every few hundred frames (the client side is not
        # slowed: a SUB sends a handful of subscriptions, and the rest waits in its own queue)
        self.xpub.rcvhwm = SUB_QUEUE
        self.xpub.rcvbuf = SUB_RCVBUF
        self.router_mon = self.router.get_monitor_socket(MONITOR_EVENTS)
        self.xpub_mon = self.xpub.get_monitor_socket(MONITOR_EVENTS)
        # the admin command's way in when the broker runs: a local socket in the 0700 data dir
        self.admin = self.pub_ctx.socket(zmq.REP)
        self.admin.linger = 0
        self.admin.bind(f"ipc://{self.data_dir / ADMIN_SOCKET}")
        router_ep = self._bind(self.router, a.bind)
        pub_ep = self._bind(self.xpub, a.pub_bind or derive_pub_endpoint(a.bind))
        self.hub = Hub(self.store, replace(self.config, pub_endpoint=advertised(pub_ep, a.advertise)))
        self.gate = SubscriptionGate(self.xpub, self.hub, self.conns, self.counts)
        if not isinstance(self.store, SQLiteStore):
            self.peers = link_peers(self.hub, self.store, a.heartbeat)   # type: ignore[arg-type]
        connect = p.format_connect_string(advertised(router_ep, a.advertise), z85.decode(public))
        connect_file = self.data_dir / "connect"
        connect_file.write_text(connect + "\n")
        os.chmod(connect_file, 0o644)     # not secret: clients of this user on this machine read it
        return connect

    def _server_socket(self, ctx: zmq.Context[zmq.Socket[bytes]], kind: int,
                       public: bytes, secret: bytes) -> zmq.Socket[bytes]:
        s = ctx.socket(kind)
        s.linger = 1000                       # on shutdown, give queued replies a second to leave
        s.curve_server = True
        s.curve_publickey, s.curve_secretkey = public, secret
        s.handshake_ivl = HANDSHAKE_MS
        # Dead TCP links are torn down by TCP keepalive, and silent clients found by the hub's
        # own pings. ZMTP heartbeats are opt-in (--zmtp-heartbeat): libzmq keeps per-link timers
        # in one tree per I/O thread and cancels them by a linear walk, so with them on, 9,900
        # idle clients kept the broker at 108 % CPU, even at a 30 s interval (bench P4; perf:
        # std::_Rb_tree_increment). See docs/ARCHITECTURE.md.
        s.tcp_keepalive, s.tcp_keepalive_idle, s.tcp_keepalive_intvl, s.tcp_keepalive_cnt = 1, 30, 10, 3
        if self.args.zmtp_heartbeat:
            hb = int(self.args.zmtp_heartbeat * 1000)
            s.heartbeat_ivl, s.heartbeat_timeout, s.heartbeat_ttl = hb, hb * 3, hb * 3
        s.setsockopt(zmq.BACKLOG, 1024)
        return s

    def _bind(self, sock: zmq.Socket[bytes], endpoint: str) -> str:
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            raise StartupError(f"cannot bind {endpoint}: {exc.strerror}") from None
        return endpoint_of(sock)

    # ---------------------------------------------------------------- the loop
    def run(self, wake_fd: int | None = None) -> None:
        """Serve until ``stopping`` is set (a byte on ``wake_fd`` wakes the poll for that)."""
        poller = self.poller
        for s in (self.router_mon, self.xpub_mon, self.router, self.xpub, self.zap.current, self.admin):
            poller.register(s, zmq.POLLIN)
        if wake_fd is not None:
            poller.register(wake_fd, zmq.POLLIN)
        peers = self.peers
        if peers is not None:
            poller.register(peers.bus.fileno(), zmq.POLLIN)
        if self.checkpointer is not None:
            self.checkpointer.start()
        hub = self.hub
        router, xpub, zap = self.router, self.xpub, self.zap
        more_subs = False
        while not self.stopping:
            try:
                # drain only what poll found readable: a recv that ends in zmq.Again costs an exception,
                # and at a light load (bench P3) the loop turns once per request
                due = min(hub.tick(), self.next_housekeeping - time.monotonic())
                ready = dict(poller.poll(0 if more_subs else max(1, int(due * 1000))))
                if wake_fd is not None and wake_fd in ready:
                    try:
                        os.read(wake_fd, 512)
                    except BlockingIOError:
                        pass
                if hub.stale:
                    self._recover()
                if peers is not None:
                    if peers.bus.fileno() in ready:
                        peers.readable()
                    peers.tick()
                if self.router_mon in ready or self.xpub_mon in ready:
                    self._drain_monitors()
                for sock in zap.sockets:
                    if sock in ready:
                        zap.answer(sock)
                if self.admin in ready:
                    self._admin_request()
                if xpub in ready or more_subs:
                    more_subs = self.gate.drain()
                if router in ready:
                    while self._drain_requests() == BATCH or hub.out_bytes >= BATCH_BYTES:
                        self._flush()
                self._flush()
                if time.monotonic() >= self.next_housekeeping:
                    self._housekeeping()
            except Exception:  # last resort: a bug costs the turn it happened in, not everyone's broker
                log.exception("broker loop turn failed; serving on")

    def _drain_requests(self) -> int:
        """Receive up to BATCH requests and decide them in one transaction; returns how many."""
        router, hub, conns, NOBLOCK = self.router, self.hub, self.conns, zmq.NOBLOCK
        getsockopt, RCVMORE = router.getsockopt, zmq.RCVMORE   # `router.rcvmore` costs ~1 us (attr lookup)
        by_peer, congested = hub.presence.by_peer, self.congested
        n = 0
        store = self.store
        assert store is not None
        if hub.stale:
            return self._refuse_all()
        try:
            store.begin_batch()
            try:
                while n < BATCH and hub.out_bytes < BATCH_BYTES:
                    try:
                        peer = router.recv(NOBLOCK)
                    except zmq.Again:
                        break
                    n += 1
                    frame = router.recv(NOBLOCK, copy=False)
                    if getsockopt(RCVMORE):
                        extra = 1
                        while getsockopt(RCVMORE):
                            router.recv(NOBLOCK)
                            extra += 1
                        hub.bad_frames(peer, extra)
                        continue
                    if peer in congested:      # it is not reading its replies: do nothing more for it
                        congested[peer] += 1
                        continue
                    if peer not in by_peer:    # a connection without a session: learn which one it is
                        conns.saw_peer(srcfd(frame), peer)
                    hub.handle(peer, frame_property(frame, "User-Id") or "", frame.bytes)
                store.commit_batch(hub.lines)     # one call: the lines get their seqs, the batch commits
            except BaseException:
                store.rollback()
                raise
        except Exception:
            log.exception("a batch of %d requests failed and was rolled back; nothing of it was acknowledged", n)
            hub.discard_output()
        else:
            if self.peers is not None:
                self.peers.committed(hub.lines)
        return n

    def _recover(self) -> bool:
        """The store was unreachable: catch up with it before deciding anything; False if it still is."""
        try:
            self.hub.resync() if self.hub.shared is not None else self.hub.reload()
        except Exception as exc:
            log.debug("the store is still unreachable: %s", exc)
            self.hub.stale = True
            return False
        log.info("the store is reachable again")
        self.hub.stale = False
        return True

    def _refuse_all(self) -> int:
        """Answer what waits with a retryable error, deciding nothing (the store is unreachable)."""
        n = 0
        while n < BATCH:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
            self.hub.refuse(frames[0], frames[-1])
        return n

    def _flush(self) -> None:
        replies, pubs = self.hub.take_output()
        rsend, psend, MORE, NOBLOCK = _send_of(self.router), _send_of(self.xpub), _MORE, _NOBLOCK
        congested = self.congested
        if congested:
            self._tell_congested()
        for peer, payload in replies:       # a frame: one or more replies and notices (p.bundle_each)
            if peer in congested:
                congested[peer] += payload.count(p.BUNDLE_SEP) + 1
                continue
            try:
                rsend(peer, MORE)
                rsend(payload, NOBLOCK)
            except zmq.Again:       # REPLY_QUEUE frames wait unread: hold the rest, say so when it reads
                congested[peer] = payload.count(p.BUNDLE_SEP) + 1
                self.counts["dropped_replies"] += congested[peer]
            except zmq.ZMQError:    # EHOSTUNREACH: the peer is gone; it will ask again on a new link
                pass
        for t, payload in pubs:
            try:
                psend(t, MORE)
                psend(payload, NOBLOCK)
            except zmq.ZMQError:
                pass

    def _tell_congested(self) -> None:
        """A peer whose reply queue filled up gets, as soon as it has room again, one error that says
        how many replies it lost (its requests were not carried out); then it is served again."""
        for peer, dropped in list(self.congested.items()):
            notice = p.encode(p.error(None, p.ErrorCode.OVERLOADED,
                                      f"{REPLY_QUEUE} replies were waiting unread on this connection, so "
                                      f"{dropped} requests or their replies were dropped; read your replies and "
                                      "send again what got no answer"))
            try:
                self.router.send(peer, zmq.SNDMORE | zmq.NOBLOCK)
                self.router.send(notice, zmq.NOBLOCK)
            except zmq.Again:
                continue
            except zmq.ZMQError:
                pass
            self.counts["dropped_replies"] += dropped
            del self.congested[peer]

    def _drain_monitors(self) -> None:
        """Connections opened and closed: cut those over the cap; a closed ROUTER link makes its session lost."""
        for mon, kind in ((self.router_mon, ROUTER), (self.xpub_mon, XPUB)):
            while True:
                try:
                    event = parse_monitor_message(mon.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
                fd = event["value"]
                if event["event"] == zmq.EVENT_ACCEPTED:
                    if not self.conns.opened(fd, kind):
                        self.counts["connections_over_cap"] += 1
                        cut(fd)
                else:
                    conn = self.conns.closed(fd)
                    if conn is not None and conn.peer is not None:
                        self.hub.link_closed(conn.peer)

    def _admin_request(self) -> None:
        """One command of ``python -m zchat.broker admin`` (zchat.admin), done by the hub in a transaction."""
        try:
            request = json.loads(self.admin.recv())
            with self.store.transaction():  # type: ignore[union-attr]
                answer = {"ok": True, "result": self.hub.admin(str(request["command"]), list(request["args"]))}
            if self.peers is not None:
                self.peers.committed([])
        except ProtocolError as exc:
            answer = {"ok": False, "error": exc.message}
        except (ValueError, KeyError, TypeError) as exc:
            answer = {"ok": False, "error": f"a malformed admin request: {exc}"}
        self.admin.send(json.dumps(answer).encode())
        self._flush()

    def _cut_ended(self) -> None:
        """Cut the connections of sessions the hub ended (revoked, banned, reset), once their "ended"
        notice had a moment to leave."""
        now = self.hub.clock()
        due = [item for item in self.hub.to_cut if item[0] <= now]
        self.hub.to_cut = [item for item in self.hub.to_cut if item[0] > now]
        for _, peer, token in due:
            for conn in list(self.conns.conns.values()):
                if (peer is not None and conn.peer == peer) or (token is not None and conn.token == token):
                    cut(conn.fd)

    def _housekeeping(self) -> None:
        """Once a second: cut connections that hold no live session; once a minute, sum up what was
        refused in one info line (one line per refusal would let a flood fill the log)."""
        now = time.monotonic()
        self.next_housekeeping = now + 1.0
        self.zap.tick()
        if self.hub.to_cut:
            self._cut_ended()
        presence = self.hub.presence
        for fd in list(self.conns.idle(lambda peer: peer in presence.by_peer,
                                        lambda token: token in presence.by_sub_token)):
            self.counts["connections_reaped"] += 1
            cut(fd)
        if now >= self.next_report:
            self.next_report = now + REPORT_EVERY
            noted = {k: v for k, v in self.counts.items() if v}
            if noted:
                log.info("in the last minute: %s; %d connections open",
                         ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in noted.items()), len(self.conns))
                self.counts.update(dict.fromkeys(self.counts, 0))   # shared with the gate: in place

    def close(self) -> None:
        """Flush what is queued, stop the checkpointer, close the store (a final checkpoint)."""
        if hasattr(self, "hub"):
            self._flush()
        if self.checkpointer is not None:
            self.checkpointer.stop()
        for name in ("router", "xpub"):
            if hasattr(self, name):
                getattr(self, name).disable_monitor()
        for name in ("router_mon", "xpub_mon", "router", "xpub", "zap", "admin"):
            if hasattr(self, name):
                getattr(self, name).close(0 if name.endswith("mon") else None)
        self.ctx.term()
        self.pub_ctx.term()
        if self.peers is not None:
            self.peers.bus.close()
        if self.store is not None:
            self.store.close()
        if self.lock is not None:
            self.lock.release()

