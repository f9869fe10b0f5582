"""Closed-loop throughput: D senders -> broker -> N subscribers in one group, 100 B messages.

--target zchat        python -m zchat.broker (rate limits lifted; fsync on unless --broker-args=--no-fsync);
                      D+N users (user i sends if i < D, receives if i < N), real CURVE keys, hello,
                      create_group/join_group, SUB on g:bench|; every `send` is stored and
                      acknowledged (acks are drained and checked)
--target drain_fast   relay_broker.py --mode drain_fast (CURVE, sealed): the Python ceiling
--target drain_store  relay_broker.py --mode drain_store (CURVE, sealed): JSON + seq + SQLite batch
                      synced before its acks (--broker-args=--store-sync=NORMAL: not synced)

Every published frame is sealed (zchat.seal; the baselines as bench/sealing.py says) and every
receiver opens each one it counts (--broker-args=--no-seal: a baseline publishes plaintext).
A zchat frame may hold several messages (protocol 4): each one is a delivery; "frames" and
"msgs_per_frame" say how many frames the receivers opened and how many messages each held.
The broker bundles its replies too (a batch's replies for one connection in one frame): every
reply of a frame read on a DEALER counts ("acks": the oks; "reply_frames": the frames they came in).

Closed loop with a window (at most --window messages sent but not yet delivered to the average
subscriber), like the anchors' relay_thr.py. Sending stops after --count messages or --seconds,
whichever first; then the driver waits for every sent message to arrive. Every delivery is
accounted (lost / dup / out-of-order per sender); any of them, or a missing or failed ack,
makes the run a failure ("ok": false), not a figure.

  python bench/thr.py --target zchat --dealers 10 --subs 1 --seconds 2
"""
import argparse
import os
import sys
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zclient as zc  # noqa: E402
from _common import (  # noqa: E402
    HDR,
    PROBE,
    Acct,
    Deadline,
    ZchatBrokers,
    baseline_socket,
    cpu_seconds,
    emit,
    frame_fill,
    probe_sender,
    raise_nofile,
    rss_kb,
    shutdown,
    start_relay,
    store_index,
    store_ok,
)
from sealing import opener  # noqa: E402

from zchat.seal import SealError  # noqa: E402

NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="zchat", choices=["zchat", "drain_fast", "drain_store"])
    ap.add_argument("--subs", type=int, default=1)
    ap.add_argument("--dealers", type=int, default=10)
    ap.add_argument("--size", type=int, default=100, help="message text bytes")
    ap.add_argument("--count", type=int, default=1000000, help="at most this many messages")
    ap.add_argument("--seconds", type=float, default=2.0, help="stop sending after this long")
    ap.add_argument("--window", type=int, default=2000)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--broker-args", default="", help="extra broker arguments")
    ap.add_argument("--brokers", type=int, default=1, help="zchat: 1 broker on SQLite (default), or N brokers "
                                                           "on one private PostgreSQL, clients spread over them")
    a = ap.parse_args()
    raise_nofile()
    D, N, W = a.dealers, a.subs, a.window
    Z = a.target == "zchat"
    ACKS = a.target in ("zchat", "drain_store")
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 2 * (D + N) + 64)
    socks = []
    out = {"bench": "thr", "target": a.target, "subs": N, "dealers": D, "size": a.size, "window": W,
           "broker_args": a.broker_args}
    t_setup = time.monotonic()
    if Z:
        from zchat import protocol as p
        broker = ZchatBrokers(a.brokers, a.broker_args.split(), max_seconds=a.timeout + 60)
        skey = broker.key
        out["brokers"] = a.brokers
        out["sealed"] = True
    else:
        broker, rport, pport, skey, master = start_relay(a.target, max_seconds=a.timeout + 60,
                                                         extra=a.broker_args.split())
        out["sealed"] = master is not None
    try:
        dl = time.monotonic() + 30
        if Z:
            users = [zc.User(ctx, i, broker.endpoint(i), skey) for i in range(max(D, N))]
            socks += [u.dealer for u in users]
            errs = zc.hello_all(users, dl)
            errs += zc.setup_groups(users, [("bench", list(range(len(users))))], dl)
            if errs:
                raise SystemExit(f"setup failed: {errs[:3]}")
            for u in users[:N]:
                socks.append(u.open_sub(ctx, skey, [b"g:bench|"]))
            dealers = [u.dealer for u in users[:D]]
            subs = [u.sub for u in users[:N]]
            opens = [u.messages for u in users[:N]]
            notice = {u.dealer: u.notice for u in users[:D]}
            is_ok = zc.is_ok
            FPM = 2
        else:
            dealers = [baseline_socket(ctx, zmq.DEALER, skey, f"tcp://127.0.0.1:{rport}")[0] for _ in range(D)]
            subs = [baseline_socket(ctx, zmq.SUB, skey, f"tcp://127.0.0.1:{pport}", subscribe=b"g", rcvhwm=0)[0]
                    for _ in range(N)]
            socks += dealers + subs
            opens = [opener(master, [b"g"])] * N
            notice = dict.fromkeys(dealers, zc.ignore)
            is_ok = store_ok
            FPM = 3
        unopened = [0]
        sub_idx = {s: i for i, s in enumerate(subs)}
        dealer_set = set(dealers)
        poller = zmq.Poller()
        for s in subs:
            poller.register(s, zmq.POLLIN)
        if ACKS:
            for d in dealers:
                poller.register(d, zmq.POLLIN)

        # --- sync: every DEALER's probe must arrive and every SUB must see one (CURVE
        # handshakes take ~1.6 ms of CPU each; a DEALER still handshaking would skew the start)
        def probe(i, k):
            if Z:
                u = users[i]
                u.request(p.Send(u.next_id(), "g:bench", "probe", f"p{i}x{k}"))
            elif a.target == "drain_store":
                dealers[i].send(b"g", SNDMORE)
                dealers[i].send(b'{"type":"send","to":"g","id":"p%d","body":"p"}' % i)
            else:
                dealers[i].send(b"g", SNDMORE)
                dealers[i].send(HDR.pack(i, PROBE) + b"probe")
        seen, seen_d = set(), set()
        sdl = Deadline(30)
        k = 0
        while (len(seen) < N or len(seen_d) < D) and not sdl.expired():
            for i in range(D):
                if i not in seen_d or (i == 0 and len(seen) < N):
                    probe(i, k)
                    k += 1
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                for s, _ in poller.poll(20):
                    if s in dealer_set:      # the probes' oks; a notice is applied
                        zc.drain_replies(s, is_ok, notice[s], zc.ignore)
                        continue
                    while True:
                        try:
                            f = s.recv(NOBLOCK)
                        except Again:
                            break
                        if FPM == 3:
                            s.recv()
                        seen.add(s)
                        for payload in opens[sub_idx[s]](f, s.recv()):
                            ps = probe_sender(a.target, payload)
                            if ps >= 0:
                                seen_d.add(ps)
        if len(seen) < N or len(seen_d) < D:
            raise SystemExit(f"sync failed: {len(seen)}/{N} subscribers, {len(seen_d)}/{D} senders")
        quiet = time.monotonic()
        while time.monotonic() - quiet < 0.2:
            if poller.poll(50):
                quiet = time.monotonic()
                for s in dealers if ACKS else ():
                    zc.drain_replies(s, is_ok, notice[s], zc.ignore)
                for s in subs:
                    while True:
                        try:
                            s.recv(NOBLOCK)
                        except Again:
                            break
        out["setup_s"] = round(time.monotonic() - t_setup, 2)

        # --- measured phase
        M = a.count
        acct = Acct(N, M, D)
        add = acct.add
        acks, ack_err = [0], []
        reply_frames = [0]               # frames read on the DEALERs: one holds one or more replies
        opened = [0, 0]                  # frames the receivers opened, messages they held
        if Z:
            tmpl = zc.send_template("g:bench", a.size)
            cmid_of = zc.cmid_of

            def msg(g):
                return tmpl % (g, b"0 ", g)
        elif a.target == "drain_store":
            head = b'{"type":"send","to":"g","id":"m%d","body":"'
            pad = b"x" * max(1, a.size - 50)

            def msg(g):
                return (head % g) + pad + b'"}'

            def cmid_of(payload):
                return store_index(payload, b"m")
        else:
            pad = b"x" * max(0, a.size - HDR.size)

            def msg(g):
                return HDR.pack(0, g) + pad

            def cmid_of(payload):
                g = HDR.unpack_from(payload, 0)[1]
                return -1 if g >= PROBE else g

        def ack_error(r):
            ack_err.append(r[:200].decode(errors="replace") if len(ack_err) < 5 else "...")

        drain_replies = zc.drain_replies

        def drain(timeout_ms):
            for s, _ in poller.poll(timeout_ms):
                recv = s.recv
                if s in dealer_set:
                    oks, nf = drain_replies(s, is_ok, notice[s], ack_error)
                    acks[0] += oks
                    reply_frames[0] += nf
                    continue
                r = sub_idx[s]
                open_ = opens[r]
                frames = msgs = 0
                while True:
                    try:
                        topic = recv(NOBLOCK)
                    except Again:
                        break
                    if FPM == 3:
                        recv()
                    try:
                        payloads = open_(topic, recv())
                    except SealError:
                        unopened[0] += 1
                        continue
                    frames += 1
                    msgs += len(payloads)
                    for payload in payloads:
                        g = cmid_of(payload)
                        if g >= 0:
                            add(r, g)
                opened[0] += frames
                opened[1] += msgs

        sent = 0
        b_cpu0, c_cpu0 = (broker.cpu() if Z else cpu_seconds(broker.pid)), cpu_seconds()
        db_cpu0 = broker.db_cpu() if Z else 0.0
        t0 = time.monotonic_ns()
        t_stop = time.monotonic() + a.seconds
        t_last = t0
        dl = Deadline(a.timeout)
        stall = time.monotonic()
        while True:
            if sent < M and time.monotonic() >= t_stop:
                M = sent          # sending time is up: what was sent is what must arrive
            target = M * N
            if acct.got >= target and (not ACKS or acks[0] + len(ack_err) >= M):
                break
            # in flight = sent but not yet delivered, or (zchat) not yet acknowledged: a ROUTER drops
            # replies to a peer whose queue is full, so unacknowledged sends must be bounded too
            done = min(acct.got // N, acks[0]) if ACKS else acct.got // N
            can = min(M - sent, W - (sent - done))
            i = 0
            while i < can:
                d = dealers[sent % D]
                try:
                    if Z:
                        d.send(msg(sent), NOBLOCK)
                    else:
                        d.send(b"g", SNDMORE | NOBLOCK)
                        d.send(msg(sent), NOBLOCK)
                except Again:
                    break
                sent += 1
                i += 1
            before = acct.got + acks[0]
            drain(0 if can > 0 and sent < M else 5)
            if acct.got + acks[0] != before:
                t_last = time.monotonic_ns()
                stall = time.monotonic()
            elif dl.expired() or time.monotonic() - stall > 5:
                break
        elapsed = (t_last - t0) / 1e9
        b_cpu = (broker.cpu() if Z else cpu_seconds(broker.pid)) - b_cpu0
        db_cpu = (broker.db_cpu() if Z else 0.0) - db_cpu0
        c_cpu = cpu_seconds() - c_cpu0
        out["broker_rss_kb"] = broker.rss_kb() if Z else rss_kb(broker.pid).get("VmRSS")
        if Z and a.brokers > 1:
            out["db_cpu_pct"] = round(100 * db_cpu / max(1e-9, elapsed))
    finally:
        shutdown(broker, socks, ctx)
    res = acct.result(sent * N)
    out.update(res)
    out["unopened"] = unopened[0]      # published frames that did not open: a failure
    if unopened[0]:
        out["ok"] = False
    out.update(frame_fill(*opened))
    out.update({"count": M, "sent": sent, "elapsed_s": round(elapsed, 4),
                "msgs_per_s": round(acct.got / N / elapsed),
                "deliveries_per_s": round(acct.got / elapsed),
                "broker_cpu_pct": round(100 * b_cpu / elapsed),
                "driver_cpu_pct": round(100 * c_cpu / elapsed)})
    if D == N and N > 1:   # the same users send and receive: deliveries to the others only (as IRC)
        out["deliveries_others_per_s"] = round(acct.got * (N - 1) / N / elapsed)
    if ACKS:
        out["acks"] = acks[0]
        out["ack_errors"] = ack_err
        out["reply_frames"] = reply_frames[0]
        if acks[0] != sent or ack_err:
            out["ok"] = False
    emit(out)


if __name__ == "__main__":
    main()
