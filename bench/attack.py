"""What attacks cost a healthy client (row A1): its request round trips and the broker's memory,
with no attack and during each attack, against one zchat broker in one run.

The healthy client (alice: DEALER + SUB, zchat's protocol, in this process) pings every 10 ms and
sends a 100-byte message to her own group every 100 ms; per phase: the ping's and the send's
round trip (request -> its pong / ok), the send's delivery to her own SUB (opened with her
group's key; each message of a frame, as protocol 4 may bundle several), the broker's RSS
(sampled every 100 ms: at the start, the most, and how much it grew in the phase, as RSS
rarely shrinks), open files and CPU. Each attack runs in
a process of its own, with its own CURVE key, started before the phase and stopped after it
(bench/attackers.py):

  sub_flood         a raw XSUB with no session token floods the XPUB with subscription frames
                    (to 1,000 topics, over and over)
  sub_flood_unique  the same, every topic a new one (not in the default set: libzmq keeps every
                    topic, and the broker stalls when the flooder leaves; results/notes.md)
  nonsub_flood      a raw XSUB floods the XPUB with frames that are not subscriptions (the broker
                    cuts it; it reconnects at once with a new socket and goes on)
  big_frame         one 8 MiB frame sent to the XPUB
  idle_conns        300 DEALERs (no hello) on the ROUTER and 300 SUBs (no token) on the XPUB,
                    held open (the broker cuts them after --login-timeout; they reconnect)
  history_pipeline  a user with a session pipelines 6,000 `history` requests of a group with
                    200 messages (pages of up to 64 KB) without reading the replies

The phases run in that order after a phase "none" (no attack), and a last "none" phase
("after") shows whether the broker recovered; after each attack the client keeps pinging
until the broker's CPU is under 10 % again (``settle_s``: how long the attack's backlog took).
The broker runs with its default limits (rate limits included, fsync on) except messages,
lifted so the history can be filled quickly; --broker-args adds to them. Ratios are phase /
"none" of the same run. Every ping must get its pong and every send its ok and its delivery
("lost" otherwise). The attackers share the machine's cores with the broker and alice (their
CPU is in ``*_attacker``); a real attacker's would be elsewhere.

  python bench/attack.py --seconds 4
"""
import argparse
import multiprocessing as mp
import os
import sys
import time

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import zclient as zc  # noqa: E402
from _common import cpu_seconds, emit, fd_count, lat_summary_us, rss_kb, start_zchat, stop_zchat  # noqa: E402
from attackers import ATTACKS, EXTRA_ATTACKS, attacker  # noqa: E402

from zchat import protocol as p  # noqa: E402

# ---------------------------------------------------------------- the healthy client

class Healthy:
    """alice: pings every 10 ms, sends to her group every 100 ms, and times the answers."""

    def __init__(self, ctx, connect, broker_pid):
        endpoint, skey = zc.server_of(connect)
        self.u = zc.User(ctx, 0, endpoint, skey, name="alice")
        dl = time.monotonic() + 20
        errs = zc.hello_all([self.u], dl) + zc.setup_groups([self.u], [("healthy", [0])], dl)
        if errs:
            raise SystemExit(f"healthy client set-up failed: {errs}")
        self.sub = self.u.open_sub(ctx, skey, [b"g:healthy|"])
        self.pid = broker_pid
        self.k = 0
        self._sync()

    def _sync(self):
        """Until one of her own messages comes back on her SUB (subscription installed)."""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r = self.phase(0.2)
            if r["deliver"]["n"]:
                return
        raise SystemExit("the healthy client's subscription was never installed")

    def settle(self, busy_pct=10.0, limit_s=30.0):
        """After an attack: keep pinging until the broker's CPU falls under ``busy_pct`` (what the
        attack left queued is worked off), so the next phase starts clean; -> seconds it took."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s and self.phase(0.5)["broker_cpu_pct"] > busy_pct:
            pass
        return round(time.monotonic() - t0, 1)

    def phase(self, seconds):
        u, poller = self.u, zmq.Poller()
        poller.register(u.dealer, zmq.POLLIN)
        poller.register(self.sub, zmq.POLLIN)
        pings, sends, pending = [], [], {}       # pending: request id -> (kind, sent ns)
        deliver, waiting = [], {}                 # waiting: cmid -> sent ns
        errors, rss, fds = [], [], []
        t0 = time.monotonic()
        c0 = cpu_seconds(self.pid)
        next_ping = next_send = next_sample = t0
        end = t0 + seconds
        while True:
            now = time.monotonic()
            if now >= end and not pending and not waiting or now >= end + 3:
                break
            if now < end and now >= next_ping:
                rid = u.next_id()
                pending[rid] = ("ping", time.monotonic_ns())
                u.request(p.Ping(rid))
                next_ping += 0.01
            if now < end and now >= next_send:
                rid, self.k = u.next_id(), self.k + 1
                cmid = f"h{self.k}"
                waiting[cmid] = time.monotonic_ns()
                pending[rid] = ("send", waiting[cmid])
                u.request(p.Send(rid, "g:healthy", "x" * 100, cmid))
                next_send += 0.1
            if now >= next_sample:
                rss.append(rss_kb(self.pid).get("VmRSS", 0))
                fds.append(fd_count(self.pid) or 0)
                next_sample += 0.1
            wait = max(0.0, min(next_ping, next_send, next_sample) - time.monotonic()) if now < end else 0.05
            for s, _ in poller.poll(wait * 1000):
                while s.poll(0):
                    t = time.monotonic_ns()
                    if s is self.sub:
                        topic = s.recv()
                        for part in u.messages(topic, s.recv()):
                            m = p.decode_published(part)
                            if isinstance(m, p.Message) and m.cmid in waiting:
                                deliver.append(t - waiting.pop(m.cmid))
                        continue
                    for r in u.replies(s.recv()):      # a frame: the broker bundles a batch's replies
                        kind, sent = pending.pop(r.id, (None, 0))
                        if isinstance(r, p.Pong) and kind == "ping":
                            pings.append(t - sent)
                        elif isinstance(r, p.Ok) and kind == "send":
                            sends.append(t - sent)
                        else:
                            errors.append(str(r)[:200])
        wall = time.monotonic() - t0
        return {"ping": lat_summary_us(pings), "send": lat_summary_us(sends), "deliver": lat_summary_us(deliver),
                "unanswered": len(pending), "undelivered": len(waiting), "errors": errors[:3],
                "rss_mb_start": round(rss[0] / 1024, 1), "rss_mb_max": round(max(rss) / 1024, 1),
                "rss_mb_end": round(rss[-1] / 1024, 1), "rss_grew_mb": round((max(rss) - rss[0]) / 1024, 1),
                "fds_max": max(fds), "broker_cpu_pct": round(100 * (cpu_seconds(self.pid) - c0) / wall, 1)}


def run_phase(kind, healthy, connect, pub_endpoint, seconds):
    """One attack (or none) while the healthy client measures; -> (its figures, the attacker's)."""
    if kind in ("none", "after"):
        return healthy.phase(seconds), {}
    mpc = mp.get_context("fork")
    parent, child = mpc.Pipe()
    pr = mpc.Process(target=attacker, args=(kind, connect, pub_endpoint, child), daemon=True)
    pr.start()
    try:
        ready = parent.recv() if parent.poll(60) else {"error": "attacker not ready"}
        if ready != "ready":
            return {"error": str(ready)}, {}
        parent.send("go")
        figures = healthy.phase(seconds)
        try:
            parent.send("stop")
            stats = parent.recv() if parent.poll(30) else {"error": "attacker did not report"}
        except (OSError, EOFError) as exc:
            stats = {"error": f"attacker gone (exit {pr.exitcode}): {exc!r}"}
    finally:
        pr.join(10)
        if pr.is_alive():
            pr.kill()
            pr.join(5)
    return figures, stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=4.0, help="length of each phase")
    ap.add_argument("--idle-seconds", type=float, default=12.0,
                    help="length of the idle_conns phase (longer than the broker's --login-timeout, 10 s, "
                         "so the cutting and reconnecting is in it)")
    ap.add_argument("--attacks", default=",".join(ATTACKS),
                    help=f"comma-separated, of {', '.join(ATTACKS + EXTRA_ATTACKS)} (default: all but the last)")
    ap.add_argument("--broker-args", default="", help="extra broker arguments")
    a = ap.parse_args()
    attacks = [x for x in a.attacks.split(",") if x]
    unknown = set(attacks) - set(ATTACKS) - set(EXTRA_ATTACKS)
    if unknown:
        ap.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    broker, connect, data_dir = start_zchat(["--limit", "message=1e9/1000000", *a.broker_args.split()],
                                            max_seconds=600, limits=True)
    out = {"bench": "attack", "broker_args": a.broker_args, "phases": ["none", *attacks, "after"]}
    ctx = zmq.Context()
    healthy = None
    lost = 0
    try:
        healthy = Healthy(ctx, connect, broker.pid)
        pub_endpoint = healthy.u.welcome.pub_endpoint
        for kind in out["phases"]:
            seconds = a.idle_seconds if kind == "idle_conns" else a.seconds
            figures, stats = run_phase(kind, healthy, connect, pub_endpoint, seconds)
            lost += figures.get("unanswered", 0) + figures.get("undelivered", 0)
            for what in ("ping", "send", "deliver"):
                for q in ("p50_us", "p99_us", "max_us"):
                    out[f"{kind}_{what}_{q}"] = figures.get(what, {}).get(q)
            for key in ("unanswered", "undelivered", "rss_mb_start", "rss_mb_max", "rss_mb_end", "rss_grew_mb",
                        "fds_max", "broker_cpu_pct", "errors", "error"):
                if figures.get(key) not in (None, []):
                    out[f"{kind}_{key}"] = figures[key]
            if stats:
                out[f"{kind}_attacker"] = stats
                out[f"{kind}_settle_s"] = healthy.settle()
            if broker.poll() is not None:
                out["error"] = f"the broker exited with {broker.returncode} during {kind}"
                break
    finally:
        if healthy is not None:
            healthy.u.dealer.close(0)
            healthy.sub.close(0)
        ctx.term()
        stop_zchat(broker, data_dir)
    for kind in out["phases"]:
        for key in ("ping_p50_us", "ping_p99_us", "send_p99_us"):
            x, base = out.get(f"{kind}_{key}"), out.get(f"none_{key}")
            if x is not None and base:
                out[f"{kind}_{key.replace('_us', '')}_ratio"] = round(x / base, 3)
    failed = [k for k in out if k.endswith(("_error", "_errors")) or
              (k.endswith("_attacker") and "error" in out[k])]
    out.update({"lost": lost, "dup": 0, "ooo": 0,
                "ok": lost == 0 and not failed and "error" not in out and
                all(out.get(f"{k}_ping_p50_us") is not None for k in out["phases"])})
    emit(out)


if __name__ == "__main__":
    main()
