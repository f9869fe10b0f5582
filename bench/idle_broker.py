"""Minimal raw chat broker used by idle.py: ROUTER + PUB, one Python loop, both CURVE servers
(fresh key pair, no ZAP handler). Adapted from ../shared/bench-anchors/idle_broker.py.

  [ident, b"hello"]          -> reply [ident, b"welcome"] on the ROUTER (DM path)
  [ident, b"bcast", payload] -> publish [b"all", payload sealed] on the PUB (group path)
What it publishes is sealed as zchat seals (bench/sealing.py; --no-seal: plaintext).
Prints "READY <router_port> <pub_port> <server_public_z85> <master_hex or ->"; exits on
SIGTERM or --max-seconds.
"""
import argparse
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import raise_nofile
from sealing import new_master, sealer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="idle")  # accepted for start_broker()
    ap.add_argument("--max-seconds", type=float, default=300)
    ap.add_argument("--backlog", type=int, default=4096)
    ap.add_argument("--no-seal", action="store_true", help="publish broadcasts as they are, not sealed")
    a = ap.parse_args()
    master = None if a.no_seal else new_master()
    seal = sealer(master)
    raise_nofile()
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    pub = ctx.socket(zmq.PUB)
    public, secret = zmq.curve_keypair()
    for s in (router, pub):
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.BACKLOG, a.backlog)
        s.curve_server = True
        s.curve_publickey, s.curve_secretkey = public, secret
    rport = router.bind_to_random_port("tcp://127.0.0.1")
    pport = pub.bind_to_random_port("tcp://127.0.0.1")
    print(f"READY {rport} {pport} {public.decode()} {master.hex() if master else '-'}", flush=True)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again
    end = time.monotonic() + a.max_seconds
    while time.monotonic() < end:
        if not poller.poll(200):
            continue
        while True:
            try:
                frames = router.recv_multipart(NOBLOCK)
            except Again:
                break
            if frames[1] == b"hello":
                router.send(frames[0], SNDMORE)
                router.send(b"welcome")
            elif frames[1] == b"bcast":
                pub.send(b"all", SNDMORE)
                pub.send(seal(b"all", frames[2]))


if __name__ == "__main__":
    main()
