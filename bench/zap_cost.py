"""What a ZAP handler costs in memory per CURVE connection (the reason zchat's XPUB has none).

A CURVE ROUTER in this process, with or without a ZAP handler in its context; N DEALERs with
their own keys in a child process connect and each sends one frame. Once all N frames are in,
the server's RSS growth per connection is printed as one JSON line per mode.

  python bench/zap_cost.py --connections 3000

On the machine of bench/results/notes.md: 28.3 KB per connection without ZAP, 38.9 KB with it
(libzmq keeps a ZAP pipe per connection for the connection's life).
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

import zmq
from zmq.utils import z85

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import emit, raise_nofile, rss_kb


def dealers(port, server_key, n, stop):
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
    stop.wait(120)
    for d in socks:
        d.close(0)
    ctx.term()


def measure(zap_on, n, timeout):
    ctx = zmq.Context()
    zap = None
    if zap_on:
        zap = ctx.socket(zmq.REP)
        zap.bind("inproc://zeromq.zap.01")
    public, secret = zmq.curve_keypair()
    router = ctx.socket(zmq.ROUTER)
    router.linger = 0
    router.curve_server = True
    router.curve_publickey, router.curve_secretkey = public, secret
    if zap_on:
        router.zap_domain = b"bench"
    port = router.bind_to_random_port("tcp://127.0.0.1")
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    if zap:
        poller.register(zap, zmq.POLLIN)
    base = rss_kb()["VmRSS"]
    stop = mp.Event()
    child = mp.Process(target=dealers, args=(port, public, n, stop))
    child.start()
    seen, end = 0, time.monotonic() + timeout
    while seen < n and time.monotonic() < end:
        ready = dict(poller.poll(100))
        if zap in ready:
            while True:
                try:
                    m = zap.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                zap.send_multipart([m[0], m[1], b"200", b"OK", z85.encode(m[6]), b""])
        if router in ready:
            while True:
                try:
                    router.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                seen += 1
    grown = rss_kb()["VmRSS"] - base
    stop.set()
    child.join(30)
    if child.is_alive():
        child.kill()
    router.close(0)
    if zap:
        zap.close(0)
    ctx.term()
    return {"bench": "zap_cost", "zap": zap_on, "connections": n, "connected": seen, "ok": seen == n,
            "rss_kb_per_connection": round(grown / max(1, seen), 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=3000)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--one", choices=["zap", "nozap"], help="measure one mode in this process")
    a = ap.parse_args()
    raise_nofile()
    if a.one:
        emit(measure(a.one == "zap", a.connections, a.timeout))
        return
    # each mode in a fresh process: memory one run freed would hide the next run's growth
    for mode in ("nozap", "zap"):
        cp = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", mode, "--connections",
                             str(a.connections), "--timeout", str(a.timeout)],
                            capture_output=True, text=True, timeout=a.timeout + 60)
        lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
        print(lines[-1] if lines else json.dumps({"bench": "zap_cost", "zap": mode == "zap", "ok": False,
                                                  "error": cp.stderr[-500:]}), flush=True)


if __name__ == "__main__":
    main()
