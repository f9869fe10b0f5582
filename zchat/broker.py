"""``python -m zchat.broker``: the socket loop around zchat.hub.

One thread owns every socket: a ROUTER for requests and replies, an XPUB (with
XPUB_MANUAL) for fan-out, and the ZAP handler that maps each ROUTER client's CURVE key to
a User-Id. The XPUB lives in a context of its own, without ZAP: a SUB proves whose it is
with the session token from its welcome (handshake metadata), and skipping ZAP there saves
about 10 KB of libzmq pipes per connection (docs/ARCHITECTURE.md). Each wake-up drains the
ROUTER until EAGAIN (per-frame ``recv``, which the
bench anchors showed to be 3x cheaper than ``recv_multipart``), hands the frames to the
hub inside ONE store transaction, and only after the commit sends the replies and
publishes. Decisions live in the hub; this module only moves bytes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import zmq
from zmq.utils import z85

from zchat import __version__
from zchat import protocol as p
from zchat.config import DEFAULT_ENDPOINT, default_data_dir, write_private
from zchat.hub import Hub, HubConfig
from zchat.store import Checkpointer, SQLiteStore, StoreError

log = logging.getLogger("zchat.broker")
BATCH = 1000                  # requests per transaction at most, so one batch cannot starve the XPUB side
FD_RESERVE = 200              # open files kept back for the database, logs and listeners
ZAP_ENDPOINT = "inproc://zeromq.zap.01"


class StartupError(Exception):
    """The broker cannot start as asked (port taken, bad endpoint, unusable data dir)."""


def load_server_key(data_dir: Path) -> tuple[bytes, bytes]:
    """The broker's CURVE key pair, made on first start and kept (0600) so restarts keep the connect string."""
    path = data_dir / "server.key"
    if path.exists():
        keys = json.loads(path.read_text())
        return keys["public"].encode(), keys["secret"].encode()
    public, secret = zmq.curve_keypair()
    write_private(path, json.dumps({"public": public.decode(), "secret": secret.decode()}) + "\n")
    return public, secret


def fd_capacity() -> int:
    """Raise the soft open-file limit to the hard one; return how many clients fit (two connections each)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return max(1, (soft - FD_RESERVE) // 2)


def derive_pub_endpoint(bind: str) -> str:
    """The XPUB goes on a free port of the ROUTER's host: clients learn it from ``welcome``, so it
    needs no fixed number (and a fixed "port + 1" could be taken); --pub-bind pins one."""
    if bind.startswith("ipc://"):
        return bind + ".pub"
    host, _, _ = bind.rpartition(":")
    return f"{host}:*"


def advertised(endpoint: str, advertise: str | None) -> str:
    """An endpoint as clients should dial it: a wildcard host becomes --advertise or this host's name."""
    if not endpoint.startswith("tcp://"):
        return endpoint
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if advertise or host in ("0.0.0.0", "*", "::", ""):
        host = advertise or socket.gethostname()
    return f"tcp://{host}:{parts.port}"


def _property(frame: zmq.Frame, name: str) -> str | None:
    """A ZMTP metadata property of the connection ``frame`` came on, or None if it has none."""
    try:
        return frame.get(name)
    except zmq.ZMQError:
        return None


class Broker:
    """Owns the sockets; ``run()`` must be called on the thread that called ``bind()``."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir = Path(args.data_dir)
        self.ctx = zmq.Context()
        self.pub_ctx = zmq.Context()     # no ZAP handler here: see the module docstring
        self.stopping = False
        self.store: SQLiteStore | None = None

    def bind(self) -> str:
        """Open the store, make the sockets and bind them; returns the connect string."""
        a = self.args
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.store = SQLiteStore(self.data_dir / "zchat.db")
        except StoreError as exc:
            raise StartupError(str(exc)) from None
        public, secret = load_server_key(self.data_dir)
        self.zap = self.ctx.socket(zmq.REP)
        self.zap.linger = 0
        self.zap.bind(ZAP_ENDPOINT)
        self.router = self._server_socket(self.ctx, zmq.ROUTER, public, secret)
        self.router.zap_domain = b"zchat"
        self.router.maxmsgsize = p.MAX_FRAME_BYTES + 1024
        # a ROUTER silently drops replies to a peer whose queue is full; replies are small and a
        # peer only gets as many as it sent requests, so let a busy client's acks queue deeply
        self.router.sndhwm = 100_000
        self.xpub = self._server_socket(self.pub_ctx, zmq.XPUB, public, secret)
        self.xpub.setsockopt(zmq.XPUB_MANUAL, 1)
        self.xpub.sndhwm = a.pub_hwm
        router_ep = self._bind(self.router, a.bind)
        pub_ep = self._bind(self.xpub, a.pub_bind or derive_pub_endpoint(a.bind))
        config = HubConfig(pub_endpoint=advertised(pub_ep, a.advertise), max_clients=a.max_clients,
                           history_page_max=a.history_page_max, heartbeat_interval=a.heartbeat,
                           heartbeat_timeout=a.heartbeat * 3, grace=a.grace,
                           rate_burst=a.rate_burst, rate_per_sec=a.rate,
                           presence_interval=a.presence_interval)
        self.hub = Hub(self.store, config)
        self.checkpointer = Checkpointer(self.store.path, interval=1.0)
        connect = p.format_connect_string(advertised(router_ep, a.advertise), z85.decode(public))
        (self.data_dir / "connect").write_text(connect + "\n")  # public: clients on this machine read it
        return connect

    def _server_socket(self, ctx: zmq.Context, kind: int, public: bytes, secret: bytes) -> zmq.Socket:
        s = ctx.socket(kind)
        s.linger = 1000                       # on shutdown, give queued replies a second to leave
        s.curve_server = True
        s.curve_publickey, s.curve_secretkey = public, secret
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

    def _bind(self, sock: zmq.Socket, endpoint: str) -> str:
        try:
            sock.bind(endpoint)
        except zmq.ZMQError as exc:
            raise StartupError(f"cannot bind {endpoint}: {exc.strerror}") from None
        return sock.last_endpoint.decode()

    # ---------------------------------------------------------------- the loop
    def run(self, wake_fd: int | None = None) -> None:
        """Serve until ``stopping`` is set (a byte on ``wake_fd`` wakes the poll for that)."""
        poller = zmq.Poller()
        for s in (self.router, self.xpub, self.zap):
            poller.register(s, zmq.POLLIN)
        if wake_fd is not None:
            poller.register(wake_fd, zmq.POLLIN)
        self.checkpointer.start()
        hub = self.hub
        router, xpub, zap = self.router, self.xpub, self.zap
        while not self.stopping:
            try:
                # drain only what poll found readable: a recv that ends in zmq.Again costs an exception,
                # and at a light load (bench P3) the loop turns once per request
                ready = dict(poller.poll(max(1, int(hub.tick() * 1000))))
                if wake_fd in ready:
                    try:
                        os.read(wake_fd, 512)
                    except BlockingIOError:
                        pass
                if zap in ready:
                    self._drain_zap()
                if xpub in ready:
                    self._drain_subscriptions()
                if router in ready:
                    while self._drain_requests() == BATCH:
                        self._flush()
                self._flush()
            except Exception:  # last resort: a bug costs the turn it happened in, not everyone's broker
                log.exception("broker loop turn failed; serving on")

    def _drain_requests(self) -> int:
        """Receive up to BATCH requests and decide them in one transaction; returns how many."""
        router, hub, NOBLOCK = self.router, self.hub, zmq.NOBLOCK
        getsockopt, RCVMORE = router.getsockopt, zmq.RCVMORE   # `router.rcvmore` costs ~1 us (attr lookup)
        n = 0
        try:
            with self.store.transaction():  # type: ignore[union-attr]
                while n < BATCH:
                    try:
                        peer = router.recv(NOBLOCK)
                    except zmq.Again:
                        break
                    n += 1
                    if peer in hub.presence.by_peer:
                        data, pubkey = router.recv(NOBLOCK), None
                    else:  # only a new connection needs its CURVE key read off the frame
                        frame = router.recv(NOBLOCK, copy=False)
                        data, pubkey = frame.bytes, frame.get("User-Id")
                    if getsockopt(RCVMORE):
                        extra = 1
                        while getsockopt(RCVMORE):
                            router.recv(NOBLOCK)
                            extra += 1
                        hub.bad_frames(peer, extra)
                    else:
                        hub.handle(peer, pubkey, data)
        except Exception:
            log.exception("a batch of %d requests failed and was rolled back; nothing of it was acknowledged", n)
            hub.discard_output()
        return n

    def _flush(self) -> None:
        replies, pubs = self.hub.take_output()
        rsend, psend, MORE, NOBLOCK = self.router.send, self.xpub.send, zmq.SNDMORE | zmq.NOBLOCK, zmq.NOBLOCK
        for peer, payload in replies:
            try:
                rsend(peer, MORE)
                rsend(payload, NOBLOCK)
            except zmq.ZMQError:   # a peer that stopped reading: its reply is dropped, it will ask again
                pass
        for t, payload in pubs:
            try:
                psend(t, MORE)
                psend(payload, NOBLOCK)
            except zmq.ZMQError:
                pass

    def _drain_subscriptions(self) -> None:
        """XPUB_MANUAL: install a subscription only if the hub says the user whose session token the
        SUB presented may read the topic."""
        xpub, hub = self.xpub, self.hub
        while True:
            try:
                frame = xpub.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            body = frame.bytes
            if not body or body[0] not in (0, 1):
                continue
            t = body[1:]
            if body[0] == 0:
                xpub.setsockopt(zmq.UNSUBSCRIBE, t)
            elif hub.may_subscribe(_property(frame, p.SUB_TOKEN_PROPERTY), t):
                xpub.setsockopt(zmq.SUBSCRIBE, t)
            else:
                log.info("refused subscription to %r", t[:80])

    def _drain_zap(self) -> None:
        """Accept every CURVE client and name it by its public key (z85): identity is the key."""
        while True:
            try:
                msg = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            version, request_id = msg[0], msg[1]
            mechanism, credentials = msg[5], msg[6:]
            if mechanism == b"CURVE" and credentials and len(credentials[0]) == 32:
                user_id, status, text = z85.encode(credentials[0]), b"200", b"OK"
            else:
                user_id, status, text = b"", b"400", b"CURVE required"
            self.zap.send_multipart([version, request_id, status, text, user_id, b""])

    def close(self) -> None:
        """Flush what is queued, stop the checkpointer, close the store (a final checkpoint)."""
        if hasattr(self, "hub"):
            self._flush()
            self.checkpointer.stop()
        for name in ("router", "xpub", "zap"):
            if hasattr(self, name):
                getattr(self, name).close()
        self.ctx.term()
        self.pub_ctx.term()
        if self.store is not None:
            self.store.close()


def _positive(kind: type) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m zchat.broker",
        description="The zchat broker: takes joins, commands and direct messages on a ZeroMQ ROUTER, fans "
                    "everyone and group traffic out over an XPUB, keeps history in SQLite, and encrypts every "
                    "socket with CURVE. On start it prints a 'connect string: ' line (endpoint and server key) "
                    "and writes the same string to DATA_DIR/connect; clients take exactly that string.",
        epilog="Stop it with Ctrl-C or SIGTERM: it flushes and exits with status 0. A restart on the same "
               "data dir keeps users, groups, history and the server key.")
    ap.add_argument("--bind", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                    help="where clients connect (ROUTER): tcp://HOST:PORT, tcp://HOST:* for a random port, or "
                         "ipc://PATH (default: %(default)s)")
    ap.add_argument("--pub-bind", metavar="ENDPOINT",
                    help="where clients subscribe (XPUB), announced to them in welcome; default: a free port on "
                         "the --bind host (set one for firewalls)")
    ap.add_argument("--advertise", metavar="HOST",
                    help="host name put in the connect string and welcome (default: the bound host, or this "
                         "machine's name when bound to 0.0.0.0)")
    ap.add_argument("--data-dir", default=str(default_data_dir()), metavar="DIR",
                    help="database, server key and connect file (default: %(default)s; env ZCHAT_DATA_DIR)")
    ap.add_argument("--max-clients", type=_positive(int), metavar="N",
                    help="users connected at once; more are refused with 'server_full' (default and maximum: "
                         "what the open-file limit allows, two connections per client)")
    ap.add_argument("--heartbeat", type=_positive(float), default=2.0, metavar="SECONDS",
                    help="heartbeat interval; a client silent for 3 intervals counts as lost (default: %(default)s)")
    ap.add_argument("--zmtp-heartbeat", type=float, default=0.0, metavar="SECONDS",
                    help="also send ZMTP heartbeats on every link at this interval (default: off: TCP "
                         "keepalive closes dead links, and ZMTP heartbeats cost a CPU core at ~10,000 links)")
    ap.add_argument("--grace", type=_positive(float), default=60.0, metavar="SECONDS",
                    help="how long a lost client may come back before it times out (default: %(default)s)")
    ap.add_argument("--rate", type=_positive(float), default=5.0, metavar="PER_SEC",
                    help="messages to everyone per user per second, sustained (default: %(default)s)")
    ap.add_argument("--rate-burst", type=_positive(int), default=20, metavar="N",
                    help="messages to everyone a user may send at once (default: %(default)s)")
    ap.add_argument("--presence-interval", type=float, default=0.2, metavar="SECONDS",
                    help="publish presence changes at most this often, batched (a connect storm of N users "
                         "would otherwise cost one publish to every user per loop turn; default: %(default)s)")
    ap.add_argument("--history-page-max", type=_positive(int), default=200, metavar="N",
                    help="most messages one history reply carries (default: %(default)s)")
    ap.add_argument("--pub-hwm", type=_positive(int), default=10000, metavar="N",
                    help="messages queued per subscriber before a slow one starts missing live ones (it "
                         "catches up from history; default: %(default)s)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                    help="how much to log to stderr (default: %(default)s)")
    ap.add_argument("--version", action="version", version=f"zchat {__version__}")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    capacity = fd_capacity()
    if args.max_clients is None:
        args.max_clients = capacity
    elif not 1 <= args.max_clients <= capacity:
        ap.error(f"--max-clients must be from 1 to {capacity}: each client needs two open files and the "
                 f"open-file limit is {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    broker = Broker(args)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)

    def stop(signum: int, _frame: object) -> None:
        broker.stopping = True
        log.info("%s: stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.set_wakeup_fd(wake_w)
    try:
        connect = broker.bind()
    except (StartupError, OSError) as exc:
        print(f"zchat broker: error: {exc}", file=sys.stderr)
        broker.close()
        return 2
    print(f"zchat broker {__version__}: data in {broker.data_dir}, up to {args.max_clients} clients", flush=True)
    print(f"{p.CONNECT_PREFIX}{connect}", flush=True)
    log.info("requests on %s, fan-out on %s", broker.router.last_endpoint.decode(),
             broker.xpub.last_endpoint.decode())
    started = time.monotonic()
    try:
        broker.run(wake_r)
    finally:
        broker.close()
    log.info("stopped after %.0f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
