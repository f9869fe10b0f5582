"""The attackers of attack.py (row A1), each run in a process of its own with its own CURVE key.

``attacker(kind, ...)`` sets its attack up, says "ready" on its pipe, waits for "go", attacks
until the parent says "stop", and sends back what it did (frames offered, how often the
broker cut it, the replies it finally read, its own CPU). attack.py's docstring lists the kinds.
"""
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zclient as zc
from _common import raise_nofile

from zchat import protocol as p

ATTACKS = ("sub_flood", "nonsub_flood", "big_frame", "idle_conns", "history_pipeline")
EXTRA_ATTACKS = ("sub_flood_unique",)     # on request only: it takes the broker down (results/notes.md)
BIG_FRAME = 8 * 1024 * 1024
IDLE_CONNS = 300
PIPELINED = 6000
HISTORY_FILL = 200


def _curve(ctx, kind, skey, **options):
    s = ctx.socket(kind)
    s.linger = 0
    for name, value in options.items():
        setattr(s, name, value)
    s.curve_serverkey = skey
    s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
    return s


class Link:
    """An attacking XSUB and what its monitor says: up (handshake done) or not, and how often the
    broker cut it. A cut link is replaced by a new socket at once (libzmq's own reconnect of an
    XSUB whose queue was full when it was cut sends nothing more)."""

    def __init__(self, ctx, skey, endpoint, reopen=True):
        self.ctx, self.skey, self.endpoint, self.reopen = ctx, skey, endpoint, reopen
        self.cuts, self.connects = 0, 0
        self._open()

    def _open(self):
        self.sock = _curve(self.ctx, zmq.XSUB, self.skey, reconnect_ivl=-1)
        self.monitor = self.sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self.sock.connect(self.endpoint)
        self.up = False

    def events(self, timeout_ms=0):
        from zmq.utils.monitor import recv_monitor_message
        while self.monitor.poll(timeout_ms):
            timeout_ms = 0
            if recv_monitor_message(self.monitor)["event"] == zmq.EVENT_DISCONNECTED:
                self.cuts, self.up = self.cuts + 1, False
                if self.reopen:
                    self.close()
                    self._open()
                return
            self.up, self.connects = True, self.connects + 1

    def wait_up(self, seconds=20):
        end = time.monotonic() + seconds
        while not self.up and time.monotonic() < end:
            self.events(100)
        if not self.up:
            raise RuntimeError("the attacker's XSUB never finished its handshake")

    def flood(self, frame, stop):
        """Send ``frame(i)`` for i = 0, 1, ... while the link is up, until ``stop``: an XSUB never blocks
        (frames over its high-water mark are dropped here), so this runs as fast as one core allows."""
        offered = 0
        while not stop.is_set():
            self.events(0 if self.up else 10)
            if self.up:
                send = self.sock.send
                for _ in range(1000):
                    send(frame(offered))
                    offered += 1
        return {"frames_offered": offered, "cut": self.cuts, "connects": self.connects}

    def close(self):
        self.sock.disable_monitor()
        self.monitor.close(0)
        self.sock.close(0)


class Stop:
    """The parent's "stop" on the pipe (not a multiprocessing.Event: setting one blocks for ever if the
    process waiting on it died)."""

    def __init__(self, conn):
        self.conn, self.set = conn, False

    def is_set(self):
        if not self.set and self.conn.poll(0):
            self.set = self.conn.recv() == "stop"
        return self.set

    def wait(self, seconds):
        if not self.set and self.conn.poll(seconds):
            self.set = self.conn.recv() == "stop"


def attacker(kind, connect, pub_endpoint, conn):
    """Set up, say "ready", wait for "go", attack until the parent says "stop", send back what it did."""
    stop = Stop(conn)
    raise_nofile()
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 6 * IDLE_CONNS + 64)      # each monitor is two more sockets
    endpoint, skey = zc.server_of(connect)
    socks, stats, link = [], {}, None
    c0 = time.process_time()
    try:
        if kind in ("sub_flood", "sub_flood_unique", "nonsub_flood", "big_frame"):
            # a flood reconnects at once when cut; the big frame is sent once (and its socket left alone
            # after the cut: libzmq 4.3.5 crashes closing an XSUB cut in the middle of an 8 MiB frame)
            link = Link(ctx, skey, pub_endpoint, reopen=kind != "big_frame")
            link.wait_up()
        elif kind == "idle_conns":
            for _ in range(IDLE_CONNS):
                socks.append(_curve(ctx, zmq.DEALER, skey, routing_id=p.new_routing_id()))
                socks[-1].connect(endpoint)
                socks.append(_curve(ctx, zmq.SUB, skey))
                socks[-1].connect(pub_endpoint)
            up = _handshaken(socks)
        elif kind == "history_pipeline":
            mallory = zc.User(ctx, 0, endpoint, skey, name="mallory")
            mallory.dealer.sndhwm = 0          # every request goes out, none waits in this process
            socks.append(mallory.dealer)
            errs = zc.hello_all([mallory], time.monotonic() + 20)
            errs += zc.setup_groups([mallory], [("big", [0])], time.monotonic() + 20)
            text = "h" * 300
            for k in range(HISTORY_FILL):
                mallory.request(p.Send(mallory.next_id(), "g:big", text, f"fill{k}"))
            oks = 0
            while oks < HISTORY_FILL and mallory.dealer.poll(10000):
                oks += sum(isinstance(r, p.Ok) for r in mallory.replies(mallory.dealer.recv()))
            if errs or oks < HISTORY_FILL:
                raise RuntimeError(f"history set-up: {errs[:2]}, {oks}/{HISTORY_FILL} messages stored")
        conn.send("ready")
        conn.recv()
        t0 = time.monotonic()
        if kind == "sub_flood":
            topics = [b"\x01g:flood%d|" % i for i in range(1000)]
            stats = link.flood(lambda i: topics[i % 1000], stop)
        elif kind == "sub_flood_unique":
            stats = link.flood(lambda i: b"\x01g:flood%012d|" % i, stop)
        elif kind == "nonsub_flood":
            frames = [b"\x02not a subscription %d" % i for i in range(1000)]
            stats = link.flood(lambda i: frames[i % 1000], stop)
        elif kind == "big_frame":
            link.sock.send(b"\x01" + b"x" * (BIG_FRAME - 1))
            while not link.cuts and time.monotonic() - t0 < 20:     # however long the phase is
                link.events(10)
            stats = {"frames_offered": 1, "cut": link.cuts}
            if link.cuts:
                stats["cut_after_ms"] = round((time.monotonic() - t0) * 1000)
            stop.wait(120)
        elif kind == "idle_conns":
            stop.wait(120)
            stats = {"connections": 2 * IDLE_CONNS, "up": up}
        else:
            for _ in range(PIPELINED):
                mallory.request(p.History(mallory.next_id(), "g:big"))
            stop.wait(120)
            stats = {"requests": PIPELINED, **_read_replies(mallory.dealer)}
        stats["attacker_cpu_pct"] = round(100 * (time.process_time() - c0) / (time.monotonic() - t0))
    except Exception as exc:   # report instead of hanging the parent
        stats = {"error": repr(exc)}
    finally:
        conn.send(stats)
        if kind != "big_frame":      # its socket is left to the process's exit: see Link
            if link is not None:
                link.close()
            for s in socks:
                s.close(0)
            ctx.term()


def _handshaken(socks, seconds=30):
    """How many of ``socks`` finish their CURVE handshake within ``seconds`` (so the phase measures
    connections held open, not the storm of making them)."""
    monitors = [s.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED) for s in socks]
    end, up = time.monotonic() + seconds, 0
    for m in monitors:
        if m.poll(max(0, int((end - time.monotonic()) * 1000))):
            up += 1
    for s, m in zip(socks, monitors, strict=True):
        s.disable_monitor()
        m.close(0)
    return up


def _read_replies(dealer, quiet_s=2.0):
    """What the pipelining user finally gets when it reads: replies by type / error code (each reply of
    a frame: the broker bundles a batch's replies for one connection), and the frames they came in."""
    got, frames = {}, 0
    while dealer.poll(int(quiet_s * 1000)):
        frames += 1
        for raw in p.unbundle(dealer.recv()):
            r = p.decode_reply(raw)
            k = r.code if isinstance(r, p.Error) else r.TYPE
            got[k] = got.get(k, 0) + 1
    return {"replies": got, "reply_frames": frames}
