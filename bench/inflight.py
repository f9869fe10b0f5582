"""Row P7: N users, each with exactly one message in flight (send, wait for the answer, send the next).

--target zchat       python -m zchat.broker (rate limits lifted, fsync on unless --broker-args=--no-fsync):
                     N real users (own CURVE keys, hello) in one group; a user's answer is the `ok` of
                     its `send` (zchat acknowledges after the commit); every line is also delivered,
                     sealed, to all N members' SUBs, and the driver opens every delivery it counts
--target tcp_relay   bench/tcp_relay.py, the original chat's server (plain TCP, a thread per client,
                     TCP_NODELAY, each `name~text` line to everyone): a user's answer is its own line
                     coming back; every user receives everyone's lines, as in zchat

One driver process, one epoll over every socket (the ZMQ_FD of each DEALER and SUB, or each TCP
socket); no thread per user. Each user's k-th measured message carries the global index k * N + i,
so every delivery is accounted per receiver and per sender (lost / dup / out of order) and any of
them, a missing or failed `ok` or a frame that does not open fails the run ("ok": false).

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
from functools import partial

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zclient as zc  # noqa: E402
from _common import (  # noqa: E402
    Acct,
    Deadline,
    cpu_seconds,
    emit,
    lat_summary_us,
    raise_nofile,
    rss_kb,
    shutdown,
    start_relay,
    start_zchat,
    stop_broker,
)

from zchat import protocol as p  # noqa: E402
from zchat.seal import SealError  # noqa: E402

NOBLOCK, Again = int(zmq.NOBLOCK), zmq.Again


class Events:
    """What a target reports to the driver; the driver swaps these for the sync and the measurement."""

    def __init__(self) -> None:
        self.on_answer = self.on_delivery = self.on_probe = lambda *_: None
        self.unopened = 0
        self.errors: list[str] = []

    def error(self, what: str) -> None:
        self.errors.append(what[:200])


class ZchatTarget:
    """N zchat users in the group p7, each with a DEALER (requests, `ok`s) and a SUB on g:p7|."""

    def __init__(self, n: int, size: int, broker_args: str, timeout: float, sel, ev: Events, receivers: int) -> None:
        self.ev, self.n = ev, n
        self.ctx = zmq.Context()
        self.ctx.set(zmq.MAX_SOCKETS, 2 * n + 64)
        self.proc, connect, self.data_dir = start_zchat(broker_args.split(), max_seconds=timeout + 60)
        self.socks: list = []
        endpoint, skey = zc.server_of(connect)
        users = [zc.User(self.ctx, i, endpoint, skey) for i in range(n)]
        self.socks += [u.dealer for u in users]
        dl = time.monotonic() + 30
        errs = zc.hello_all(users, dl) or zc.setup_groups(users, [("p7", list(range(n)))], dl)
        if errs:
            raise SystemExit(f"setup failed: {errs[:3]}")
        self.users = users
        self.socks += [u.open_sub(self.ctx, skey, [b"g:p7|"]) for u in users[:receivers]]
        self.tmpl = zc.send_template("g:p7", size)
        for i, u in enumerate(users):
            sel.register(u.dealer.getsockopt(zmq.FD), selectors.EVENT_READ, (True, partial(self.on_dealer, i)))
            if u.sub is not None:
                sel.register(u.sub.getsockopt(zmq.FD), selectors.EVENT_READ, (False, partial(self.on_sub, i)))

    def send(self, i: int, g: int) -> None:
        self.users[i].dealer.send(self.tmpl % (g, b"0 ", g))
        self.on_dealer(i)     # a send may take the ZMQ_FD's wake-up with it: look for a reply now

    def probe(self, k: int) -> None:
        u = self.users[0]
        u.request(p.Send(u.next_id(), "g:p7", "probe", f"p0x{k}"))
        self.on_dealer(0)

    def on_dealer(self, i: int) -> None:
        u, ev = self.users[i], self.ev
        while True:
            try:
                r = u.dealer.recv(NOBLOCK)
            except Again:
                return
            if zc.is_ok(r):
                ev.on_answer(i)
            elif not u.notice(r):
                ev.error(f"{u.name}: {r.decode(errors='replace')}")

    def on_sub(self, r: int) -> None:
        u, ev = self.users[r], self.ev
        recv, open_, cmid_of = u.sub.recv, u.open, zc.cmid_of
        while True:
            try:
                topic = recv(NOBLOCK)
            except Again:
                return
            try:
                payload = open_(topic, recv())
            except SealError:
                ev.unopened += 1
                continue
            g = cmid_of(payload)
            if g >= 0:
                ev.on_delivery(r, g)
            elif b'"cmid":"p' in payload:
                ev.on_probe(r)

    def close(self) -> None:
        shutdown(self.proc, self.socks, self.ctx, self.data_dir)


class TcpTarget:
    """N plain TCP clients of tcp_relay.py (TCP_NODELAY, non-blocking); user i is named u<i>."""

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


def serve(events, after_answers=None) -> None:
    """Serve the ready sockets: those that carry answers first (a DEALER's `ok`s; a TCP client's lines),
    then after_answers() (the driver sends the next messages), then the rest (zchat's SUBs), so the
    broker has the next requests while the driver opens deliveries."""
    for key, _ in events:
        if key.data[0]:
            key.data[1]()
    if after_answers is not None:
        after_answers()
    for key, _ in events:
        if not key.data[0]:
            key.data[1]()


def pump(sel, seconds: float) -> None:
    """Serve every ready socket until nothing has been ready for `seconds`."""
    while events := sel.select(seconds):
        serve(events)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", default="zchat", choices=["zchat", "tcp_relay"])
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
    if a.target == "zchat":
        out["sealed"] = True
    ev = Events()
    sel = selectors.EpollSelector()
    t_setup = time.monotonic()
    kind = ZchatTarget if a.target == "zchat" else TcpTarget
    target = kind(n, a.size, a.broker_args, a.timeout, sel, ev, rcv)
    try:
        # --- sync: user 0 sends probes until every user has received one (a SUB whose subscription,
        # or a TCP client the relay has not yet listed, would miss measured lines)
        seen: set[int] = set()
        ev.on_probe = seen.add
        dl = Deadline(30)
        k = 0
        while len(seen) < rcv and not dl.expired():
            target.probe(k)
            k += 1
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                serve(sel.select(0.02))
        if len(seen) < rcv:
            raise SystemExit(f"sync failed: {len(seen)}/{rcv} users received a probe")
        pump(sel, 0.2)                    # the last probes and their answers
        out.update(probes=k, setup_s=round(time.monotonic() - t_setup, 2))
        del ev.errors[:]

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
        elapsed = (t_last - t0) / 1e9
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
    out.update(lat_summary_us(rtt))
    if answers[0] != total or ev.errors or ev.unopened:
        out["ok"] = False
    emit(out)


if __name__ == "__main__":
    main()
