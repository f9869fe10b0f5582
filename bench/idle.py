"""Idle clients held by one broker (P4) and one message to all of them / a connect storm (P5).

--target zchat  python -m zchat.broker --max-clients N --heartbeat 30, rate limits lifted:
                N users (own CURVE keys, hello; SUB on p|, all| and u:NAME|), 1 of them in
                this process (the observer: counts presence publishes during the storm, sends
                the broadcast), N-1 in --procs client processes; then --extra more users say
                hello and must get server_full, and the broker must not spin afterwards
--target raw    idle_broker.py (CURVE): [hello] -> [welcome] on the ROUTER, [bcast, x] -> PUB "all"
                sealed as zchat seals (--broker-args=--no-seal: plaintext)

Every SUB opens (decrypts) each frame it looks for a marker in, and looks in each message of it
(protocol 4: a zchat frame may hold several; each is counted). A DEALER connects only when
its hello is about to go out: the broker cuts a connection that holds no session for its
--login-timeout (10 s), and a storm of 9,900 takes longer than that.

Clients live in several processes (about 4 open files per client; the limit is 20000 per
process). Steps: broker RSS at rest; all clients connect at once and say hello (connect_all_s:
until every client is welcomed); probes to everyone until every SUB has seen one (subscriptions
installed); broker RSS, fds, idle CPU over 3 s; (zchat) the cap test; one broadcast to everyone
(bcast_fanout_ms: until the last SUB has it). Every SUB must get the broadcast exactly once.

  python bench/idle.py --target zchat --clients 9900
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (  # noqa: E402
    baseline_socket,
    cpu_seconds,
    emit,
    fd_count,
    raise_nofile,
    rss_kb,
    shutdown,
    start_relay,
    start_zchat,
)
from sealing import opener  # noqa: E402

NOBLOCK, Again = int(zmq.NOBLOCK), zmq.Again
PROBE, BCAST = b"PROBE", b"BCAST"


def client_proc(idx, n, target, addr, conn, ends, presence=True):
    """addr: (router endpoint, pub endpoint or None, server key, raw: the sealing master or None);
    ends: (hello, sync) deadlines on the machine-wide monotonic clock."""
    raise_nofile()
    import zclient as zc

    from zchat import protocol as p
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, 2 * n + 64)
    socks = []
    try:
        endpoint, pub_ep, skey, master = addr
        t0 = time.monotonic()
        dl, end_sync = ends
        errs = []
        if target == "zchat":
            users = [zc.User(ctx, i, endpoint, skey, name=f"c{idx}x{i}", connect=False) for i in range(n)]
            socks += [u.dealer for u in users]
            errs = zc.hello_all(users, dl, batch=1000)
            welcomed = sum(1 for u in users if u.welcome)
            for u in users:
                if u.welcome:
                    socks.append(u.open_sub(ctx, skey, ([b"p|"] if presence else []) + [b"all|", p.user_topic(u.name)],
                                            rcvhwm=1000))
            subs = [u.sub for u in users if u.sub is not None]
            opens = [u.messages for u in users if u.sub is not None]
        else:
            dealers, subs = [], []
            for _ in range(n):
                d, kp = baseline_socket(ctx, zmq.DEALER, skey, endpoint)
                dealers.append(d)
                subs.append(baseline_socket(ctx, zmq.SUB, skey, pub_ep, kp, b"all")[0])
            socks += dealers + subs
            opens = [opener(master, [b"all"])] * n
            for d in dealers:
                d.send(b"hello")

            def on_welcome(i, s):
                s.recv()
                return True
            welcomed = zc.gather(dealers, on_welcome, dl)
        conn.send({"welcomed": welcomed, "connect_s": time.monotonic() - t0, "errors": errs[:3]})

        def waiter(marker):
            """on_msg for gather: a SUB is done at its first frame with ``marker`` in a message; got counts
            those SUBs, dup the messages with it past the first in that same frame."""
            t_last = [None]
            got, dup = [0], [0]

            def on_msg(i, s):
                topic = s.recv()
                k = sum(marker in payload for payload in opens[i](topic, s.recv()))
                if k:
                    got[0] += 1
                    dup[0] += k - 1
                    t_last[0] = time.monotonic_ns()
                    return True
                return False
            return on_msg, t_last, got, dup

        # phase 2: wait until every SUB has seen a probe (not if the connect storm failed)
        on_msg, _, got, _ = waiter(PROBE)
        if welcomed == n:
            zc.gather(subs, on_msg, end_sync)
        conn.send({"synced": got[0]})

        def queued(i):
            """The (opened) messages of the [topic, frame] pairs waiting on SUB ``i``, without blocking."""
            s = subs[i]
            while True:
                try:
                    topic = s.recv(NOBLOCK)
                except Again:
                    return
                yield from opens[i](topic, s.recv())

        def drain_quiet():
            """Read and drop whatever is queued (probes, presence) until 0.3 s pass without any."""
            end = time.monotonic() + 20
            quiet = time.monotonic()
            n_drop = 0
            while time.monotonic() - quiet < 0.3 and time.monotonic() < end:
                busy = False
                for i in range(len(subs)):
                    for _ in queued(i):
                        n_drop += 1
                        busy = True
                if busy:
                    quiet = time.monotonic()
                else:
                    time.sleep(0.02)
            return n_drop

        while True:
            cmd = conn.recv()
            if cmd == "drain":
                conn.send({"dropped": drain_quiet()})
            elif cmd == "bcast":
                drain_quiet()
                on_msg, t_last, got, dup = waiter(BCAST)
                conn.send({"ready": True})
                zc.gather(subs, on_msg, time.monotonic() + 20)
                # exactly once: nothing more with the marker may follow, in the same frame or after it
                extra = dup[0] + sum(BCAST in payload for i in range(len(subs)) for payload in queued(i))
                conn.send({"bcast_got": got[0], "bcast_dup": extra, "t_last": t_last[0], "rss": rss_kb(),
                           "fds": fd_count()})
            else:
                break
    except Exception as e:  # report instead of hanging the parent
        conn.send({"error": repr(e)})
    finally:
        for s in socks:
            s.close()
        ctx.term()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="zchat", choices=["zchat", "raw"])
    ap.add_argument("--clients", type=int, default=1000, help="clients in all (observer included)")
    ap.add_argument("--procs", type=int, default=0, help="client processes (0 = auto, 3400/proc)")
    ap.add_argument("--extra", type=int, default=20, help="zchat: users past the cap (must be refused)")
    ap.add_argument("--timeout", type=float, default=90.0,
                    help="budget: connect + hello within 60 %%, all SUBs ready within 85 %%")
    ap.add_argument("--broker-args", default="")
    ap.add_argument("--no-presence", action="store_true",
                    help="zchat: clients do not subscribe to p| (diagnosis: the cost of presence fan-out)")
    a = ap.parse_args()
    raise_nofile()
    Z = a.target == "zchat"
    n_procs_clients = a.clients - 1
    procs = a.procs or max(1, -(-n_procs_clients // 3400))
    import zclient as zc

    from zchat import protocol as p
    if Z:
        broker, connect, data_dir = start_zchat(
            ["--max-clients", str(a.clients), "--heartbeat", "30", *a.broker_args.split()],
            max_seconds=a.timeout * 3 + 60)
        endpoint, skey = zc.server_of(connect)
        pub_ep = master = None
    else:
        broker, rport, pport, skey, master = start_relay("idle", max_seconds=a.timeout * 3 + 60,
                                                         extra=a.broker_args.split(), script="idle_broker.py")
        endpoint, pub_ep = f"tcp://127.0.0.1:{rport}", f"tcp://127.0.0.1:{pport}"
    out = {"bench": "idle", "target": a.target, "clients": a.clients, "procs": procs,
           "broker_args": a.broker_args, "sealed": Z or master is not None}
    ctx = zmq.Context()
    socks = []
    ps, pipes = [], []
    try:
        time.sleep(0.3)
        rss0 = rss_kb(broker.pid).get("VmRSS", 0)
        # the orchestrator's own client: observer of presence (zchat) and broadcaster
        dl = time.monotonic() + 30
        if Z:
            obs = zc.User(ctx, 0, endpoint, skey, name="observer")
            socks.append(obs.dealer)
            errs = zc.hello_all([obs], dl)
            if errs:
                raise SystemExit(f"observer: {errs}")
            socks.append(obs.open_sub(ctx, skey, [b"p|"], rcvhwm=0))
            obs.sub.subscribe(b"hb|")   # wait for nothing: presence of the storm is counted below
            time.sleep(0.5)
        else:
            bd = baseline_socket(ctx, zmq.DEALER, skey, endpoint)[0]
            socks.append(bd)
            bd.send(b"hello")
            if not bd.poll(10000):
                raise SystemExit("broadcaster got no welcome")
            bd.recv()
        share = [n_procs_clients // procs + (1 if i < n_procs_clients % procs else 0) for i in range(procs)]
        mpc = mp.get_context("fork")
        t0 = time.monotonic()
        ends = (t0 + 0.6 * a.timeout, t0 + 0.85 * a.timeout)
        for i, n in enumerate(share):
            parent, child = mpc.Pipe()
            pr = mpc.Process(target=client_proc, args=(i, n, a.target, (endpoint, pub_ep, skey, master), child,
                                                       ends, not a.no_presence), daemon=True)
            pr.start()
            ps.append(pr)
            pipes.append(parent)
        reps = [c.recv() if c.poll(max(0.0, ends[0] - time.monotonic()) + 15) else {"error": "no reply"}
                for c in pipes]
        out["connect_all_s"] = round(time.monotonic() - t0, 2)
        errors = [r["error"] for r in reps if "error" in r] + [e for r in reps for e in r.get("errors", [])]
        out["welcomed"] = sum(r.get("welcomed", 0) for r in reps) + 1

        oversize = [0]

        def count_presence():
            """-> (presence messages, the changes they carry, the frames they came in), read so far."""
            msgs = changes = frames = 0
            while True:
                try:
                    t = obs.sub.recv(NOBLOCK)
                except Again:
                    return msgs, changes, frames
                frame = obs.sub.recv()
                parts = obs.messages(t, frame)
                if t != b"p|":
                    continue
                frames += 1
                msgs += len(parts)
                if len(frame) > p.MAX_FRAME_BYTES:   # a protocol violation by the broker: count it
                    oversize[0] += 1
                    changes += sum(part.count(b'"reason"') for part in parts)
                    continue
                for part in parts:
                    m = p.decode_published(part)
                    if isinstance(m, p.Presence):
                        changes += len(m.changes)

        # probes to everyone until every SUB has one (subscriptions installed)
        pending = set(range(len(pipes)))
        k = 0
        pres = [0, 0, 0]          # presence messages, changes, frames
        while pending and time.monotonic() < ends[1] + 5 and not errors:
            k += 1
            if Z:
                obs.request(p.Send(obs.next_id(), "all", "PROBE", f"p{k}"))
            else:
                bd.send_multipart([b"bcast", PROBE])
            end = time.monotonic() + min(2.0, 0.2 * k)   # back off: each probe goes to every SUB
            while time.monotonic() < end:
                for i in list(pending):
                    if pipes[i].poll(0):
                        r = pipes[i].recv()
                        if "error" in r:
                            errors.append(r["error"])
                        out.setdefault("synced", 0)
                        out["synced"] += r.get("synced", 0)
                        pending.discard(i)
                if Z:
                    pres = [x + y for x, y in zip(pres, count_presence(), strict=True)]
                    while obs.dealer.poll(0):
                        obs.replies(obs.dealer.recv())      # the probes' oks; its notices applied
                else:
                    while bd.poll(0):
                        bd.recv()
                time.sleep(0.01)
        out["probes"] = k
        out["sync_s"] = round(time.monotonic() - t0, 2)
        if pending:
            errors.append(f"{len(pending)} client processes did not sync")
        if not errors:   # let the clients read what is still queued (probes, presence) first
            for c in pipes:
                c.send("drain")
            out["dropped_after_sync"] = sum(c.recv().get("dropped", 0) if c.poll(30) else 0 for c in pipes)
        time.sleep(1.0)
        if Z:
            pres = [x + y for x, y in zip(pres, count_presence(), strict=True)]
            out["presence_msgs"], out["presence_changes"], out["presence_frames"] = pres
            out["presence_oversize_frames"] = oversize[0]
        rss1 = rss_kb(broker.pid).get("VmRSS", 0)
        out["broker_rss_mb_idle0"] = round(rss0 / 1024, 1)
        out["broker_rss_mb"] = round(rss1 / 1024, 1)
        out["broker_kb_per_client"] = round((rss1 - rss0) / a.clients, 1)
        out["broker_fds"] = fd_count(broker.pid)
        c0 = cpu_seconds(broker.pid)
        time.sleep(3.0)
        out["broker_idle_cpu_pct"] = round(100 * (cpu_seconds(broker.pid) - c0) / 3.0, 2)
        if Z and a.extra:   # past the cap: every extra hello must be refused, and no spinning after
            extra = [zc.User(ctx, i, endpoint, skey, name=f"extra{i}") for i in range(a.extra)]
            socks += [u.dealer for u in extra]
            replies = zc.call_all(extra, lambda u: p.Hello(u.next_id(), p.PROTOCOL_VERSION, u.name),
                                  time.monotonic() + 20)
            out["extra_refused"] = sum(1 for r in replies if isinstance(r, p.Error) and r.code == "server_full")
            out["extra_admitted"] = sum(1 for r in replies if isinstance(r, p.Welcome))
            c0 = cpu_seconds(broker.pid)
            time.sleep(2.0)
            out["broker_cpu_pct_after_cap"] = round(100 * (cpu_seconds(broker.pid) - c0) / 2.0, 2)
            for u in extra:
                u.dealer.close()
        if not errors:
            for c in pipes:
                c.send("bcast")
            ready = [c.recv() if c.poll(30) else {"error": "not ready for bcast"} for c in pipes]
            errors += [r["error"] for r in ready if "error" in r]
            tb = time.monotonic_ns()
            if Z:
                obs.request(p.Send(obs.next_id(), "all", "BCAST", "bcast1"))
            else:
                bd.send_multipart([b"bcast", BCAST])
            reps2 = [c.recv() if c.poll(30) else {"error": "no bcast reply"} for c in pipes]
            errors += [r["error"] for r in reps2 if "error" in r]
            out["bcast_got"] = sum(r.get("bcast_got", 0) for r in reps2)
            out["bcast_dup"] = sum(r.get("bcast_dup", 0) for r in reps2)
            tl = [r["t_last"] for r in reps2 if r.get("t_last")]
            if tl:
                out["bcast_fanout_ms"] = round((max(tl) - tb) / 1e6, 1)
            out["client_rss_mb_total"] = round(sum(r.get("rss", {}).get("VmRSS", 0) for r in reps2) / 1024, 1)
            out["client_fds_max"] = max((r.get("fds") or 0) for r in reps2)
            for c in pipes:
                try:
                    c.send("close")
                except Exception:
                    pass
    finally:
        for c in pipes:
            try:
                c.send("close")
            except Exception:
                pass
        for pr in ps:
            pr.join(30)
            if pr.is_alive():
                pr.kill()
                pr.join(5)
        shutdown(broker, socks, ctx, data_dir if Z else None)
    n = a.clients - 1
    out["lost"] = n - out.get("bcast_got", 0)
    out["dup"] = out.get("bcast_dup", 0)
    out["ooo"] = 0
    if errors:
        out["errors"] = [str(e)[:200] for e in errors[:5]]
    out["ok"] = not errors and out["lost"] == 0 and out["dup"] == 0 and out["welcomed"] == a.clients \
        and (not Z or not a.extra or out.get("extra_refused") == a.extra)
    emit(out)


if __name__ == "__main__":
    main()
