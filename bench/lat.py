"""End-to-end latency sender -> broker -> group members at a fixed light rate.

C clients (each a DEALER + a SUB, in this process), in groups of G; messages are sent at a
fixed total --rate by members chosen round-robin over groups, to the sender's group, so each
is delivered to G subscribers (the sender's own SUB included). Latency = receive time - the
send timestamp carried in the message (same process clock). The driver waits with epoll on
the sockets' ZMQ_FD, so a wake-up costs O(ready sockets), not O(C).

--target zchat        python -m zchat.broker (rate limits lifted; fsync on unless
                      --broker-args=--no-fsync): real users (own CURVE keys, hello), groups made
                      with create_group / join_group, SUBs on g:NAME|, stored + acked sends
                      (acks drained and checked)
--target drain_fast   relay_broker.py --mode drain_fast (CURVE, sealed), topic per group
--target drain_store  relay_broker.py --mode drain_store (CURVE, sealed, synced before its acks)

Every published frame is sealed and opened by its receiver before it is timed (a client must
decrypt a message to show it); --broker-args=--no-seal makes a baseline publish plaintext.
A zchat frame may hold several messages (protocol 4): each is a delivery, timed when its frame
is opened; "frames" and "msgs_per_frame" say how many frames were opened and how full they were.
The broker bundles its replies too (a batch's replies for one connection in one frame): every
reply of a frame read on a DEALER counts ("acks": the oks; "reply_frames": the frames they came in).

Every delivery is accounted (lost / dup / out-of-order per sender); any of them makes the run
a failure ("ok": false).

  python bench/lat.py --target zchat --clients 1000 --group 10 --rate 1000 --seconds 3
"""
import argparse
import gc
import os
import selectors
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
    lat_summary_us,
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
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--group", type=int, default=10, help="members per group")
    ap.add_argument("--rate", type=float, default=1000.0, help="messages/s in total")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--broker-args", default="", help="extra broker arguments")
    ap.add_argument("--brokers", type=int, default=1, help="zchat: 1 broker on SQLite (default), or N brokers "
                                                           "on one private PostgreSQL, clients spread over them")
    ap.add_argument("--slow-us", type=float, default=0,
                    help="diagnosis: also report when (ms after the start, in 100 ms buckets) the "
                         "deliveries slower than this were sent: periodic stalls show as a pattern")
    a = ap.parse_args()
    C, G = a.clients, min(a.group, a.clients)
    ng = (C + G - 1) // G
    members = [list(range(g * G, min(C, (g + 1) * G))) for g in range(ng)]
    Z = a.target == "zchat"
    ACKS = a.target in ("zchat", "drain_store")
    raise_nofile()
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 2 * C + 64)
    socks = []
    out = {"bench": "lat", "target": a.target, "clients": C, "group": G, "rate": a.rate,
           "size": a.size, "broker_args": a.broker_args}
    t_setup = time.monotonic()
    if Z:
        from zchat import protocol as p
        broker = ZchatBrokers(a.brokers, a.broker_args.split(), max_seconds=a.timeout + 60)
        skey = broker.key
        out["brokers"] = a.brokers
        topics = [b"g:g%05d|" % g for g in range(ng)]
        convs = [f"g:g{g:05d}" for g in range(ng)]
        out["sealed"] = True
    else:
        broker, rport, pport, skey, master = start_relay(a.target, max_seconds=a.timeout + 60,
                                                         extra=a.broker_args.split())
        topics = [b"g%05d" % g for g in range(ng)]
        out["sealed"] = master is not None
    try:
        dl = time.monotonic() + 60
        if Z:
            users = [zc.User(ctx, i, broker.endpoint(i), skey) for i in range(C)]
            socks += [u.dealer for u in users]
            errs = zc.hello_all(users, dl)
            errs += zc.setup_groups(users, [(f"g{g:05d}", mem) for g, mem in enumerate(members)], dl)
            if errs:
                raise SystemExit(f"setup failed: {errs[:3]}")
            for i, u in enumerate(users):
                socks.append(u.open_sub(ctx, skey, [topics[i // G]]))
            dealers = [u.dealer for u in users]
            subs = [u.sub for u in users]
            opens = [u.messages for u in users]
            notices = [u.notice for u in users]
            FPM = 2
        else:
            dealers, subs = [], []
            for i in range(C):
                d, kp = baseline_socket(ctx, zmq.DEALER, skey, f"tcp://127.0.0.1:{rport}")
                dealers.append(d)
                subs.append(baseline_socket(ctx, zmq.SUB, skey, f"tcp://127.0.0.1:{pport}", kp, topics[i // G])[0])
            socks += dealers + subs
            opens = [opener(master, topics)] * C
            notices = [zc.ignore] * C
            FPM = 3
        unopened = [0]
        sel = selectors.EpollSelector()
        for i, s in enumerate(subs):
            sel.register(s.getsockopt(zmq.FD), selectors.EVENT_READ, i)
        if ACKS:
            for i, d in enumerate(dealers):
                sel.register(d.getsockopt(zmq.FD), selectors.EVENT_READ, -1 - i)

        acks, ack_err, nmeas = [0], [], [0]
        reply_frames = [0]               # frames read on the DEALERs: one holds one or more replies
        opened = [0, 0]                  # frames opened (got is not None), the messages they held
        if Z:
            def measured(payload):
                return b'"cmid":"m' in payload
        elif a.target == "drain_store":
            def measured(payload):
                return b'"id": "m' in payload
        else:
            def measured(payload):
                return HDR.unpack_from(payload, 0)[1] < PROBE
        is_ok = zc.is_ok if Z else store_ok

        def ack_error(r):
            if len(ack_err) < 5:
                ack_err.append(r[:200].decode(errors="replace"))
        drain_replies = zc.drain_replies

        def drain_dealer(k):
            oks, nf = drain_replies(dealers[k], is_ok, notices[k], ack_error)
            acks[0] += oks
            reply_frames[0] += nf

        def drain_sub(i, got):
            """Drain one SUB completely (required by ZMQ_FD semantics)."""
            s = subs[i]
            recv, open_ = s.recv, opens[i]
            while True:
                try:
                    topic = recv(NOBLOCK)
                except Again:
                    return
                if FPM == 3:
                    recv()
                try:
                    payloads = open_(topic, recv())
                except SealError:
                    unopened[0] += 1
                    continue
                if got is not None:
                    t = time.monotonic_ns()
                    opened[0] += 1
                    opened[1] += len(payloads)
                    for payload in payloads:
                        got.append((t, i, payload))
                        if measured(payload):
                            nmeas[0] += 1

        def send(g_idx, sender, probe=False):
            """A measured message g_idx (or a probe carrying the sender's index) from `sender`."""
            d = dealers[sender]
            ts = time.monotonic_ns()
            gi = sender // G
            if Z:
                if probe:
                    d.send(p.encode(p.Send("p", convs[gi], "probe", f"p{sender}x{g_idx}")))
                else:
                    d.send(tmpl % (g_idx, b"%d " % ts, g_idx))
                return
            d.send(topics[gi], SNDMORE)
            if a.target == "drain_store":
                d.send(b'{"type":"send","to":"%s","id":"%s%d","body":"%d %s"}'
                       % (topics[gi], b"p" if probe else b"m", sender if probe else g_idx, ts, jpad))
            else:
                d.send(HDR.pack(sender, PROBE) + pad if probe else HDR.pack(ts, g_idx) + pad)

        pad = b"x" * max(0, a.size - HDR.size)
        jpad = b"x" * max(1, a.size - 70)
        if Z:
            tmpl = zc.send_template("g:g00000", a.size).replace(b"g:g00000", b"%s")
            tmpl_convs = [c.encode() for c in convs]
            base_tmpl = tmpl

            def _fmt(g_idx, tsb, gi):
                return base_tmpl % (g_idx, tmpl_convs[gi], tsb, g_idx)

        # --- sync: every DEALER's probe must arrive somewhere and every SUB must see a probe
        # (CURVE handshakes take ~1.6 ms of CPU each: a DEALER still handshaking would hold
        # its messages back and spoil the measurement)
        seen_sub, seen_dealer = set(), set()
        sdl = Deadline(60)
        k = 0
        while (len(seen_sub) < C or len(seen_dealer) < C) and not sdl.expired():
            for i in range(C):
                if i not in seen_dealer or (len(seen_sub) < C and i % G == 0):
                    send(k, i, probe=True)
                    k += 1
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                for key, _ in sel.select(0.02):
                    if key.data < 0:
                        drain_dealer(-1 - key.data)
                    else:
                        tmp = []
                        drain_sub(key.data, tmp)
                        for _, i, pl in tmp:
                            seen_sub.add(i)
                            s_ = probe_sender(a.target, pl)
                            if s_ >= 0:
                                seen_dealer.add(s_)
        if len(seen_sub) < C or len(seen_dealer) < C:
            raise SystemExit(f"sync failed: {len(seen_sub)}/{C} SUBs, {len(seen_dealer)}/{C} DEALERs")
        out["probes"] = k
        quiet = time.monotonic()
        while time.monotonic() - quiet < 0.3:
            if sel.select(0.05):
                quiet = time.monotonic()
            for i in range(C):
                drain_sub(i, None)
            for k in range(C) if ACKS else ():
                drain_dealer(k)
        acks[0] = reply_frames[0] = 0
        nmeas[0] = 0
        opened[:] = [0, 0]
        del ack_err[:]
        out["setup_s"] = round(time.monotonic() - t_setup, 2)

        # --- measured phase
        count = int(a.rate * a.seconds)
        sender_of = [members[g % ng][(g // ng) % len(members[g % ng])] for g in range(count)]
        expected = sum(len(members[g % ng]) for g in range(count))
        period = 1.0 / a.rate
        got = []
        sent = 0
        b_cpu0, c_cpu0 = (broker.cpu() if Z else cpu_seconds(broker.pid)), cpu_seconds()
        db_cpu0 = broker.db_cpu() if Z else 0.0
        # the driver's own garbage collections (`got` grows by 10,000 tuples a second) would stall
        # every receiver at once and land in the broker's p99: no collections while measuring
        gc.collect()
        gc.disable()
        t0 = time.monotonic()
        nxt = t0
        dl = Deadline(a.seconds + 10)
        while not dl.expired():
            now = time.monotonic()
            while sent < count and now >= nxt:
                s = sender_of[sent]
                if Z:
                    dealers[s].send(_fmt(sent, b"%d " % time.monotonic_ns(), s // G))
                else:
                    send(sent, s)
                sent += 1
                nxt += period
            if sent >= count and nmeas[0] >= expected and (not ACKS or acks[0] >= count):
                break
            wait = max(0.0, nxt - time.monotonic()) if sent < count else 0.05
            for key, _ in sel.select(wait):
                if key.data < 0:
                    drain_dealer(-1 - key.data)
                else:
                    drain_sub(key.data, got)
        wall = time.monotonic() - t0
        gc.enable()
        b_cpu = (broker.cpu() if Z else cpu_seconds(broker.pid)) - b_cpu0
        db_cpu = (broker.db_cpu() if Z else 0.0) - db_cpu0
        c_cpu = cpu_seconds() - c_cpu0
        out["broker_rss_kb"] = broker.rss_kb() if Z else rss_kb(broker.pid).get("VmRSS")
        if Z and a.brokers > 1:
            out["db_cpu_pct"] = round(100 * db_cpu / max(1e-9, wall))
    finally:
        shutdown(broker, socks, ctx)
    acct = Acct(C, count, C)
    lat = []
    slow = {}
    t0_ns = int(t0 * 1e9)   # time.monotonic() and monotonic_ns() share one clock
    for t, i, payload in got:
        if Z:
            g = zc.cmid_of(payload)
            if g < 0:
                continue
            ts = zc.text_ts(payload)
        elif a.target == "drain_store":
            g = store_index(payload, b"m")
            if g < 0:
                continue
            k = payload.index(b'"body": "') + 9
            ts = int(payload[k:payload.index(b" ", k)])
        else:
            ts, g = HDR.unpack_from(payload, 0)
            if g >= PROBE:
                continue
        acct.add(i, g, sender_of[g] if 0 <= g < count else 0)
        lat.append(t - ts)
        if a.slow_us and t - ts > a.slow_us * 1000:
            bucket = int((ts - t0_ns) / 1e8) * 100
            slow[bucket] = slow.get(bucket, 0) + 1
    out.update(acct.result(expected))
    out["unopened"] = unopened[0]      # published frames that did not open: a failure
    if unopened[0]:
        out["ok"] = False
    out.update(frame_fill(*opened))
    out.update({"sent": sent, "wall_s": round(wall, 3),
                "broker_cpu_pct": round(100 * b_cpu / wall, 1),
                "driver_cpu_pct": round(100 * c_cpu / wall, 1)})
    if ACKS:
        out["acks"] = acks[0]
        out["ack_errors"] = ack_err
        out["reply_frames"] = reply_frames[0]
        if acks[0] != sent or ack_err:
            out["ok"] = False
    out.update(lat_summary_us(lat))
    if a.slow_us:
        out["slow_by_send_ms"] = dict(sorted(slow.items()))
    emit(out)


if __name__ == "__main__":
    main()
