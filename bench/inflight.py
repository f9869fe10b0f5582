"""Row P7: N users, each with exactly one message in flight (send, wait for the answer, send the next).

--target zchat        python -m zchat.broker (rate limits lifted, fsync on unless --broker-args=--no-fsync):
                      N real users (own CURVE keys, hello) in one group; a user's answer is the `ok` of
                      its `send` (zchat acknowledges after the commit); every line is also delivered,
                      sealed, to all N members' SUBs, and the driver opens every delivery it counts
--target tcp_relay    bench/tcp_relay.py, the original chat's server (plain TCP, a thread per client,
                      TCP_NODELAY, each `name~text` line to everyone): a user's answer is its own line
                      coming back; every user receives everyone's lines, as in zchat
--target drain_store  relay_broker.py --mode drain_store, the minimal relay that does zchat's obligatory
                      work (CURVE on every socket, JSON decode, an SQLite insert per drained batch with
                      synchronous=FULL so the WAL is synced before any ack or publish, a sealed publish)
                      in one thread: a user's answer is its JSON `ok`; every user's SUB gets every line
--target drain_fast   relay_broker.py --mode drain_fast: CURVE and a sealed publish, nothing stored and
                      nothing acknowledged, so a user's answer is its own line back on its SUB

One driver process, one epoll over every socket (the ZMQ_FD of each DEALER and SUB, or each TCP
socket); no thread per user. Each user's k-th measured message carries the global index k * N + i,
so every delivery is accounted per receiver and per sender (lost / dup / out of order) and any of
them, a missing or failed `ok` or a frame that does not open fails the run ("ok": false). A zchat
frame may hold several messages (protocol 4), each one a delivery: "frames" and "msgs_per_frame"
say how many frames the SUBs opened while measuring and how many messages each held. The broker
bundles its replies too (a batch's replies for one connection in one frame): each `ok` of a frame
read on a DEALER is one answer ("reply_frames": the frames the answers came in).

Reports messages/s completed (answers; the row's figure), deliveries/s, the round trip of each
message (send -> answer: p50_us, p99_us, ...), and the broker's and the driver's CPU. Sending
stops after --seconds; the rates are over the time until the last answer and the last delivery
of what was sent (a delivery backlog is not left out of the figure).

  python bench/inflight.py --target zchat --users 50 --seconds 2
"""
from __future__ import annotations

import argparse
import gc
import os
import selectors
import socket
import sys
import time
from collections.abc import Callable
from functools import partial

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zclient as zc  # noqa: E402
from _common import (  # noqa: E402
    HDR,
    PROBE,
    Acct,
    Deadline,
    baseline_socket,
    cpu_seconds,
    emit,
    frame_fill,
    lat_summary_us,
    probe_sender,
    raise_nofile,
    rss_kb,
    shutdown,
    start_relay,
    start_zchat,
    stop_broker,
    store_index,
    store_ok,
)
from sealing import opener  # noqa: E402

from zchat import protocol as p  # noqa: E402
from zchat.seal import SealError  # noqa: E402

NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again
drain_replies = zc.drain_replies


class Events:
    """What a target reports to the driver; the driver swaps these for the sync and the measurement."""

    def __init__(self) -> None:
        self.on_answer = self.on_delivery = self.on_probe = lambda *_: None
        self.unopened = 0
        self.frames = self.msgs = 0            # published frames opened, the messages they held
        self.reply_frames = 0                  # frames read on the DEALERs, each one or more replies
        self.errors: list[str] = []

    def error(self, what: str) -> None:
        self.errors.append(what[:200])


class ZmqTarget:
    """What the ZeroMQ targets share: per user a DEALER (requests, and the acknowledgements where the
    broker sends them) and a SUB (sealed deliveries, each opened here), every ZMQ_FD in the driver's
    epoll. A subclass sets the sockets and how its payloads read, and sends its own requests.

    ``names``: the routing id of each user's DEALER when the broker publishes it as a frame of its
    own ([topic, sender, sealed payload], the relays), checked against each delivery's sender;
    None when it publishes [topic, sealed payload] (zchat). ``acks``: the answer is a reply on the
    DEALER (zchat's `ok`, drain_store's JSON ok); else it is the sender's own delivery on its SUB,
    as with tcp_relay (drain_fast acknowledges nothing). ``sync_senders``: each user's DEALER must
    get a probe through before measuring (a relay's DEALER may still be handshaking; a zchat
    user's DEALER has carried its hello)."""

    acks = True
    sync_senders = False
    sealed: bool | None = True
    data_dir: str | None = None

    def __init__(self, n: int, ev: Events) -> None:
        self.ev, self.n = ev, n
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 2 * n + 64)
        self.dealers: list = []
        self.subs: list = []
        self.opens: list = []                  # per receiver: (topic, frame) -> its messages, SealError if it fails
        self.notices: list = []                # per user: one DEALER reply -> True if a notice (not an answer)
        self.others: list = []                 # per user: one DEALER reply that is neither: an error
        self.names: list[bytes] | None = None
        self.probed: set[int] = set()          # users whose probe reached a receiver
        self.is_ok: Callable[[bytes], bool] = lambda r: False
        self.index: Callable[[bytes], int] = lambda pl: -1        # a measured payload's global index, else -1
        self.probe_from: Callable[[bytes], int] = lambda pl: -1   # a probe's sender, else -1

    def register(self, sel) -> None:
        self.others = [partial(self.other, i) for i in range(len(self.dealers))]
        for i, d in enumerate(self.dealers if self.acks else ()):
            sel.register(d.getsockopt(zmq.FD), selectors.EVENT_READ, (True, partial(self.on_dealer, i)))
        for r, s in enumerate(self.subs):
            sel.register(s.getsockopt(zmq.FD), selectors.EVENT_READ, (False, partial(self.on_sub, r)))

    def senders_synced(self) -> bool:
        return not self.sync_senders or len(self.probed) == self.n

    def probe_senders(self) -> list[int]:
        """Who sends the next round of probes: user 0 (every receiver must see one) and each user whose
        probe has not come through yet (sync_senders)."""
        return [0, *(i for i in range(1, self.n) if i not in self.probed)] if self.sync_senders else [0]

    def on_dealer(self, i: int) -> None:
        ev = self.ev
        oks, frames = drain_replies(self.dealers[i], self.is_ok, self.notices[i], self.others[i])
        ev.reply_frames += frames
        for _ in range(oks):
            ev.on_answer(i)

    def other(self, i: int, reply: bytes) -> None:
        self.ev.error(f"u{i}: {reply.decode(errors='replace')}")

    def on_sub(self, r: int) -> None:
        ev, n, names, own_answer = self.ev, self.n, self.names, not self.acks
        recv, open_, index = self.subs[r].recv, self.opens[r], self.index
        sender = None
        frames = msgs = 0
        while True:
            try:
                topic = recv(NOBLOCK)
            except Again:
                ev.frames += frames
                ev.msgs += msgs
                return
            if names is not None:
                sender = recv()
            try:
                payloads = open_(topic, recv())
            except SealError:
                ev.unopened += 1
                continue
            frames += 1
            msgs += len(payloads)
            for payload in payloads:
                g = index(payload)
                if g < 0:
                    s = self.probe_from(payload)
                    if s >= 0:
                        self.probed.add(s)
                        ev.on_probe(r)
                elif names is not None and sender != names[g % n]:
                    ev.error(f"u{r} got m{g} from {sender!r}, not from its sender")
                else:
                    ev.on_delivery(r, g)
                    if own_answer and g % n == r:
                        ev.on_answer(r)

    def close(self) -> None:
        shutdown(self.proc, [*self.dealers, *self.subs], self.ctx, self.data_dir)


class ZchatTarget(ZmqTarget):
    """N zchat users in the group p7, each with a DEALER (requests, `ok`s) and a SUB on g:p7|."""

    def __init__(self, n: int, size: int, broker_args: str, timeout: float, sel, ev: Events, receivers: int) -> None:
        super().__init__(n, ev)
        self.proc, connect, self.data_dir = start_zchat(broker_args.split(), max_seconds=timeout + 60)
        endpoint, skey = zc.server_of(connect)
        users = [zc.User(self.ctx, i, endpoint, skey) for i in range(n)]
        self.dealers = [u.dealer for u in users]
        dl = time.monotonic() + 30
        errs = zc.hello_all(users, dl) or zc.setup_groups(users, [("p7", list(range(n)))], dl)
        if errs:
            raise SystemExit(f"setup failed: {errs[:3]}")
        self.users = users
        self.subs = [u.open_sub(self.ctx, skey, [b"g:p7|"]) for u in users[:receivers]]
        self.opens = [u.messages for u in users[:receivers]]
        self.notices = [u.notice for u in users]
        self.is_ok, self.index, self.probe_from = zc.is_ok, zc.cmid_of, partial(probe_sender, "zchat")
        self.tmpl = zc.send_template("g:p7", size)
        self.register(sel)

    def send(self, i: int, g: int) -> None:
        self.dealers[i].send(self.tmpl % (g, b"0 ", g))
        self.on_dealer(i)     # a send may take the ZMQ_FD's wake-up with it: look for a reply now

    def probe(self, k: int) -> None:
        u = self.users[0]
        u.request(p.Send(u.next_id(), "g:p7", "probe", f"p0x{k}"))
        self.on_dealer(0)


class RelayTarget(ZmqTarget):
    """N users of relay_broker.py (CURVE, sealed publishes; the wire format is its docstring's): user i's
    DEALER (routing id u<i>) sends [p7, payload] and its SUB (the same key pair) subscribes to p7.

    drain_store: the payload is a JSON `send` with id m<index>; the answer is the relay's JSON `ok`,
    sent once the batch is committed (synchronous=FULL: the WAL synced) and before the publish.
    drain_fast: the payload is HDR (0, index) + padding; it acknowledges nothing, so the answer is
    the sender's own delivery coming back, as with tcp_relay."""

    sync_senders = True
    TOPIC = b"p7"

    def __init__(self, mode: str, n: int, size: int, broker_args: str, timeout: float, sel, ev: Events,
                 receivers: int) -> None:
        super().__init__(n, ev)
        self.acks = mode == "drain_store"
        self.proc, rport, pport, skey, master = start_relay(mode, max_seconds=timeout + 60, extra=broker_args.split())
        self.sealed = master is not None
        self.names = [b"u%d" % i for i in range(n)]
        for name in self.names:
            d, kp = baseline_socket(self.ctx, zmq.DEALER, skey, f"tcp://127.0.0.1:{rport}", routing_id=name)
            self.dealers.append(d)      # every user receives (the answer of drain_fast is on the SUB)
            self.subs.append(baseline_socket(self.ctx, zmq.SUB, skey, f"tcp://127.0.0.1:{pport}", kp,
                                             subscribe=self.TOPIC, rcvhwm=0)[0])
        self.opens = [opener(master, [self.TOPIC])] * n
        self.notices = [zc.ignore] * n
        self.probe_from = partial(probe_sender, mode)
        if self.acks:
            self.is_ok, self.index = store_ok, partial(store_index, tag=b"m")
            self.msg = b'{"type":"send","to":"p7","id":"m%d","body":"' + b"x" * max(1, size) + b'"}'
        else:
            self.index = self.fast_index
            self.pad = b"x" * max(0, size - HDR.size)
        self.register(sel)

    @staticmethod
    def fast_index(payload: bytes) -> int:
        g = HDR.unpack_from(payload, 0)[1]
        return -1 if g >= PROBE else g

    def _request(self, i: int, payload: bytes) -> None:
        d = self.dealers[i]
        d.send(self.TOPIC, SNDMORE)
        d.send(payload)
        if self.acks:
            self.on_dealer(i)     # as ZchatTarget.send: a send may take the ZMQ_FD's wake-up with it

    def send(self, i: int, g: int) -> None:
        self._request(i, self.msg % g if self.acks else HDR.pack(0, g) + self.pad)

    def probe(self, k: int) -> None:
        for i in self.probe_senders():
            self._request(i, b'{"type":"send","to":"p7","id":"p%d","body":"probe"}' % i if self.acks
                          else HDR.pack(i, PROBE) + self.pad)


class TcpTarget:
    """N plain TCP clients of tcp_relay.py (TCP_NODELAY, non-blocking); user i is named u<i>."""

    sealed = None

    def __init__(self, n: int, size: int, broker_args: str, timeout: float, sel, ev: Events, receivers: int) -> None:
        self.ev, self.n = ev, n
        self.proc, port, *_ = start_relay("threads", max_seconds=timeout + 60, extra=broker_args.split(),
                                          script="tcp_relay.py")
        self.socks: list[socket.socket] = []
        self.names = [b"u%d" % i for i in range(n)]
        self.line = b"u%d~m%d " + b"x" * max(1, size - 10) + b"\n"
        self.bufs = [b""] * n
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            self.socks.append(s)
            sel.register(s, selectors.EVENT_READ, (True, partial(self.on_readable, i)))

    def senders_synced(self) -> bool:
        return True           # connected: the relay's kernel holds a client's lines until its thread reads them

    def _write(self, i: int, line: bytes) -> None:
        # one short line into a socket that has at most this one line unanswered: the kernel takes it whole
        if self.socks[i].send(line) != len(line):
            raise SystemExit(f"u{i}: short send to the relay")

    def send(self, i: int, g: int) -> None:
        self._write(i, self.line % (i, g))

    def probe(self, k: int) -> None:
        self._write(0, b"u0~p%d probe\n" % k)

    def on_readable(self, r: int) -> None:
        data = self.socks[r].recv(1 << 18)
        if not data:
            raise SystemExit(f"the relay closed u{r}'s connection")
        lines = (self.bufs[r] + data).split(b"\n")
        self.bufs[r] = lines.pop()
        ev, n, names = self.ev, self.n, self.names
        for ln in lines:
            k = ln.find(b"~m")
            if k < 0:
                if b"~p" in ln:
                    ev.on_probe(r)
                else:
                    ev.error(f"u{r} got {ln[:80]!r}")
                continue
            g = int(ln[k + 2:ln.index(b" ", k)])
            if ln[:k] != names[g % n]:
                ev.error(f"u{r} got {ln[:80]!r}: not its sender's name")
                continue
            ev.on_delivery(r, g)
            if g % n == r:
                ev.on_answer(r)

    def close(self) -> None:
        stop_broker(self.proc)
        for s in self.socks:
            s.close()


TARGETS: dict[str, Callable] = {"zchat": ZchatTarget, "tcp_relay": TcpTarget,
                                "drain_store": partial(RelayTarget, "drain_store"),
                                "drain_fast": partial(RelayTarget, "drain_fast")}


def serve(events, after_answers=None) -> None:
    """Serve the ready sockets: first those that carry answers (a DEALER's `ok`s; a TCP client's lines),
    then after_answers() (the driver sends the next messages), then the SUBs, each followed by
    after_answers() again (drain_fast's answers are the senders' own lines on them), so the broker
    has the next requests while the driver opens deliveries."""
    for key, _ in events:
        if key.data[0]:
            key.data[1]()
    if after_answers is not None:
        after_answers()
    for key, _ in events:
        if not key.data[0]:
            key.data[1]()
            if after_answers is not None:
                after_answers()


def pump(sel, seconds: float) -> None:
    """Serve every ready socket until nothing has been ready for `seconds`."""
    while events := sel.select(seconds):
        serve(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="zchat", choices=sorted(TARGETS))
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--size", type=int, default=100, help="message text bytes")
    ap.add_argument("--seconds", type=float, default=2.0, help="stop sending after this long")
    ap.add_argument("--count", type=int, default=200000,
                    help="at most this many messages in all (each user sends at most count / users)")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--broker-args", default="", help="extra arguments for the broker or the relay")
    ap.add_argument("--receivers", type=int, default=None,
                    help="zchat: only the first R users have a SUB (default: all). A diagnosis, not the row: "
                         "R=0 measures the request path without the driver's opening of N deliveries per message")
    a = ap.parse_args()
    raise_nofile()
    n = a.users
    rcv = n if a.receivers is None else a.receivers
    if not 0 <= rcv <= n or (rcv < n and a.target != "zchat"):
        ap.error("--receivers: 0..users, and only for --target zchat (every relay client receives every line)")
    cap = a.count // n                    # messages per user; user i's k-th has the global index k * n + i
    out = {"bench": "inflight", "target": a.target, "users": n, "receivers": rcv, "size": a.size,
           "broker_args": a.broker_args}
    ev = Events()
    sel = selectors.EpollSelector()
    t_setup = time.monotonic()
    target = TARGETS[a.target](n, a.size, a.broker_args, a.timeout, sel, ev, rcv)
    if target.sealed is not None:
        out["sealed"] = target.sealed
    try:
        # --- sync: user 0 sends probes until every user has received one (a SUB whose subscription,
        # or a TCP client the relay has not yet listed, would miss measured lines), and on a relay
        # every user sends them until its own has come through (its DEALER's handshake is done)
        seen: set[int] = set()
        ev.on_probe = seen.add
        dl = Deadline(30)
        k = 0
        while (len(seen) < rcv or not target.senders_synced()) and not dl.expired():
            target.probe(k)
            k += 1
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                serve(sel.select(0.02))
        if len(seen) < rcv or not target.senders_synced():
            raise SystemExit(f"sync failed: {len(seen)}/{rcv} users received a probe; senders synced: "
                             f"{target.senders_synced()}")
        pump(sel, 0.2)                    # the last probes and their answers
        out.update(probes=k, setup_s=round(time.monotonic() - t_setup, 2))
        del ev.errors[:]
        ev.frames = ev.msgs = ev.reply_frames = 0

        # --- measured phase
        acct = Acct(rcv, cap * n, n)
        sent = [0] * n                    # per user: messages sent
        ts = [0] * n                      # per user: when its message in flight was sent (ns)
        rtt: list[int] = []
        ready: list[int] = []             # users whose answer came and who may send again
        answers = [0]
        sending = [True]
        now = time.monotonic_ns

        def answered(i: int) -> None:
            rtt.append(now() - ts[i])
            answers[0] += 1
            if sending[0] and sent[i] < cap:
                ready.append(i)

        def send(i: int) -> None:
            ts[i] = now()
            sent[i] += 1
            target.send(i, (sent[i] - 1) * n + i)

        ev.on_answer, ev.on_delivery = answered, acct.add
        b_cpu0, c_cpu0 = cpu_seconds(target.proc.pid), cpu_seconds()
        gc.collect()
        gc.disable()          # as in lat.py: the driver's own collections stay out of the round trips
        t0 = t_last = now()
        t_stop = time.monotonic() + a.seconds
        dl = Deadline(a.seconds + a.timeout)
        def send_ready() -> None:
            while ready:
                send(ready.pop())

        ready.extend(range(n))
        backlog = None
        while True:
            send_ready()
            total = sum(sent)
            if sending[0] and time.monotonic() >= t_stop:
                sending[0] = False
                backlog = total * rcv - acct.got
            if not sending[0] and answers[0] >= total and acct.got >= total * rcv:
                break
            progress = answers[0] + acct.got
            serve(sel.select(0.05), send_ready)
            if answers[0] + acct.got != progress:
                t_last = now()
            elif dl.expired() or now() - t_last > 5e9:
                break
        elapsed = max(1e-6, (t_last - t0) / 1e9)     # nothing answered at all: a failure, not a division by 0
        gc.enable()
        b_cpu, c_cpu = cpu_seconds(target.proc.pid) - b_cpu0, cpu_seconds() - c_cpu0
        out["broker_rss_kb"] = rss_kb(target.proc.pid).get("VmRSS")
    finally:
        target.close()
        sel.close()
    total = sum(sent)
    out.update(acct.result(total * rcv))
    out.update({"sent": total, "answers": answers[0], "elapsed_s": round(elapsed, 4),
                "msgs_per_s": round(answers[0] / elapsed), "deliveries_per_s": round(acct.got / elapsed),
                "backlog_at_stop": backlog, "users_at_cap": sum(1 for s in sent if s >= cap),
                "broker_cpu_pct": round(100 * b_cpu / elapsed), "driver_cpu_pct": round(100 * c_cpu / elapsed),
                "unopened": ev.unopened, "answer_errors": ev.errors[:5]})
    if isinstance(target, ZmqTarget):
        out.update(frame_fill(ev.frames, ev.msgs))
        if target.acks:
            out["reply_frames"] = ev.reply_frames
    out.update(lat_summary_us(rtt))
    if answers[0] != total or ev.errors or ev.unopened:
        out["ok"] = False
    emit(out)


if __name__ == "__main__":
    main()
