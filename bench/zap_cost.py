"""What a ZAP handler costs in memory per CURVE connection, and what rotating it gives back.

A CURVE ROUTER in this process; N DEALERs with their own keys in a child process connect and each
sends one frame. Once all N frames are in, the server's RSS growth per connection is printed as
one JSON line per mode:

  nozap    no ZAP handler (what zchat's XPUB does: a SUB proves itself with its session token)
  zap      a ZAP handler that names each client by its key (libzmq keeps each connection's ZAP
           pipe for the connection's life)
  rotated  zchat.zap.ZapHandler, as the broker runs it: after everyone is in, one rotation and its
           grace, which ends the pipes; then every DEALER sends again and each frame must still
           carry its own key as User-Id (the handshake's metadata outlives the pipe)

  python bench/zap_cost.py --connections 3000
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, raise_nofile, rss_kb

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from zchat.zap import GRACE, TRIM_AFTER, ZapHandler

MODES = ("nozap", "zap", "rotated")


def dealers(port, server_key, n, again, stop):
    raise_nofile()
    ctx = zmq.Context()
    ctx.set(zmq.MAX_SOCKETS, n + 64)
    socks = []
    for _ in range(n):
        d = ctx.socket(zmq.DEALER)
        d.linger = 0
        d.curve_serverkey = server_key
        d.curve_publickey, d.curve_secretkey = zmq.curve_keypair()
        d.connect(f"tcp://127.0.0.1:{port}")
        d.send(b"hi")
        socks.append(d)
    again.wait(120)
    for d in socks:
        d.send(b"again")
    stop.wait(120)
    for d in socks:
        d.close(0)
    ctx.term()


def measure(mode, n, timeout):
    ctx = zmq.Context()
    now = [time.monotonic()]
    handler = None
    if mode != "nozap":
        handler = ZapHandler(ctx, lambda s: None, lambda s: None, clock=lambda: now[0])
    public, secret = zmq.curve_keypair()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.curve_server = True
    router.curve_publickey, router.curve_secretkey = public, secret
    if handler:
        router.zap_domain = b"bench"
        router.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    end = time.monotonic() + timeout
    keyed = 0

    def take(want, until=None):
        """Answer ZAP and read the ROUTER until ``want`` frames are in (or the deadline)."""
        nonlocal keyed
        seen = 0
        while seen < want and time.monotonic() < (until or end):
            poller = zmq.Poller()
            poller.register(router, zmq.POLLIN)
            for sock in handler.sockets if handler else ():
                poller.register(sock, zmq.POLLIN)
            ready = dict(poller.poll(100))
            for sock in handler.sockets if handler else ():
                if sock in ready:
                    handler.answer(sock)
            if router in ready:
                while True:
                    try:
                        frames = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    except zmq.Again:
                        break
                    seen += 1
                    keyed += bool(frames[-1].get("User-Id")) if handler else 0
        return seen

    base = rss_kb()["VmRSS"]
    again, stop = mp.Event(), mp.Event()
    child = mp.Process(target=dealers, args=(port, public, n, again, stop))
    child.start()
    seen = take(n)
    if mode == "rotated":
        handler.rotate()
        now[0] += GRACE
        handler.tick()                  # closes the old handler: libzmq's I/O thread ends its pipes
        take(1, time.monotonic() + 0.5)   # (asynchronously; the broker trims a tick later)
        handler.freed = max(handler.freed, TRIM_AFTER)   # trim whatever N is
        handler.tick()
    grown = rss_kb()["VmRSS"] - base
    again.set()
    seen_again = take(n)
    stop.set()
    child.join(30)
    if child.is_alive():
        child.kill()
    router.close(0)
    if handler:
        handler.close(0)
    ctx.term()
    return {"bench": "zap_cost", "mode": mode, "connections": n, "connected": seen, "sent_again": seen_again,
            "keyed": keyed, "ok": seen == n and seen_again == n and keyed == (2 * n if handler else 0),
            "rss_kb_per_connection": round(grown / max(1, seen), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--one", choices=MODES, help="measure one mode in this process")
    a = ap.parse_args()
    raise_nofile()
    if a.one:
        emit(measure(a.one, a.connections, a.timeout))
        return
    # each mode in a fresh process: memory one run freed would hide the next run's growth
    for mode in MODES:
        cp = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", mode, "--connections",
                             str(a.connections), "--timeout", str(a.timeout)],
                            capture_output=True, text=True, timeout=a.timeout + 60)
        lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
        print(lines[-1] if lines else json.dumps({"bench": "zap_cost", "mode": mode, "ok": False,
                                                  "error": cp.stderr[-500:]}), flush=True)


if __name__ == "__main__":
    main()
