"""(1b) The simplest possible ZeroMQ chat relay: ROUTER in, PUB out, both CURVE servers.

Adapted from ../shared/bench-anchors/relay_broker.py for zchat's bench: every socket is a
CURVE server with a fresh key pair (no ZAP handler, so any client key is accepted), and
drain_fast and drain_store seal every payload they publish as zchat does (bench/sealing.py:
zchat.seal's Keyring, one key per topic), so the baseline pays for encryption exactly as
zchat does (--no-seal: plaintext, to measure the cost). The READY line carries the server's
public key (z85) and the master secret the topic keys derive from (hex, "-" when not sealing):
"READY <router_port> <pub_port> <server_public_z85> <master_hex>".

Clients' DEALERs send [topic, payload]; the ROUTER yields [ident, topic, payload];
the relay publishes [topic, ident, payload] (so SUBs can filter on topic = group).

Modes (all single-threaded Python unless noted):
  poll1    zmq.Poller.poll() then ONE recv_multipart per wake-up (naive loop)
  poll1_fast  poll1 with the per-frame API of drain_fast (no batching)
  drain    poll(), then recv_multipart(NOBLOCK) until zmq.Again (batching)
  blocking no poller: blocking recv_multipart with RCVTIMEO (1 socket only)
  asyncio  zmq.asyncio: await recv_multipart / await send_multipart
  asyncio_drain  zmq.asyncio: await socket.poll(), then drain like drain_fast
           through a synchronous shadow of the same sockets
  drain_fast  like drain, but per-frame recv()/send() with int flags instead of
           recv_multipart/send_multipart (pyzmq 27 on Python 3.11 spends ~4 us per
           *_multipart call in IntFlag arithmetic); trusts the fixed 3-frame layout
  drain_store  zchat-shaped minimal broker: drain_fast + json.loads of the
           payload, a per-topic sequence number, one SQLite (WAL,
           synchronous=FULL: the WAL is synced at every commit, before any ack)
           transaction per drained batch (<= 1000 msgs), json.dumps of the
           published message, and a JSON "ok" ack to the sender on the ROUTER
           (every request gets one reply); --store-sync NORMAL: no sync per commit
  proxy    zmq.proxy(router, pub): C-level forwarding in libzmq, no Python per
           message (publishes [ident, topic, payload]: no topic filtering)

Only drain_fast (3 frames) and drain_store seal. Prints the READY line once bound, then runs
until SIGTERM or --max-seconds.

  python relay_broker.py --mode drain --max-seconds 60
"""
import argparse
import os
import signal
import sys
import threading
import time

import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sealing import new_master, sealer

SEALING_MODES = ("drain_fast", "drain_store")

stop = False


def _term(*_):
    global stop
    stop = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="drain",
                    choices=["poll1", "poll1_fast", "drain", "drain_fast", "drain_store", "blocking",
                             "asyncio", "asyncio_drain", "proxy"])
    ap.add_argument("--router-port", type=int, default=0)
    ap.add_argument("--pub-port", type=int, default=0)
    ap.add_argument("--pub-hwm", type=int, default=100000)
    ap.add_argument("--backlog", type=int, default=4096)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    ap.add_argument("--io-threads", type=int, default=1)
    ap.add_argument("--store-sync", default="FULL", choices=["NORMAL", "OFF", "FULL"],
                    help="drain_store: PRAGMA synchronous (WAL mode); FULL, as zchat's default, syncs every "
                         "commit before the batch is acknowledged (default: %(default)s)")
    ap.add_argument("--store-autocheckpoint", type=int, default=1000,
                    help="drain_store: PRAGMA wal_autocheckpoint pages (0 = never)")
    ap.add_argument("--frames", type=int, default=3, choices=[1, 3],
                    help="1: clients send one frame [topic+payload]; drain_fast then "
                         "publishes one frame [topic+payload+ident]")
    ap.add_argument("--no-curve", action="store_true", help="plaintext (for comparison with the anchors)")
    ap.add_argument("--no-seal", action="store_true",
                    help="drain_fast / drain_store: publish payloads as they are, not sealed (the cost of sealing)")
    a = ap.parse_args()
    if a.mode == "drain_fast" and a.frames == 1 and not a.no_seal:
        ap.error("--frames 1 publishes the topic inside its one frame: use --no-seal with it")
    master = new_master() if a.mode in SEALING_MODES and not a.no_seal else None
    seal = sealer(master)

    # hard safety net: never outlive max-seconds (+2 s grace), whatever the mode
    killer = threading.Timer(a.max_seconds + 2, lambda: os._exit(3))
    killer.daemon = True
    killer.start()
    signal.signal(signal.SIGTERM, _term)
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except Exception:
        pass

    if a.mode.startswith("asyncio"):
        import importlib
        ctx = importlib.import_module("zmq.asyncio").Context(io_threads=a.io_threads)
    else:
        ctx = zmq.Context(io_threads=a.io_threads)
    router = ctx.socket(zmq.ROUTER)
    pub = ctx.socket(zmq.PUB)
    public, secret = zmq.curve_keypair()
    for s in (router, pub):
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.BACKLOG, a.backlog)
        if not a.no_curve:
            s.curve_server = True
            s.curve_publickey, s.curve_secretkey = public, secret
    pub.setsockopt(zmq.SNDHWM, a.pub_hwm)

    def bind(sock, port):
        if port:
            sock.bind(f"tcp://127.0.0.1:{port}")
            return port
        return sock.bind_to_random_port("tcp://127.0.0.1")

    rport = bind(router, a.router_port)
    pport = bind(pub, a.pub_port)
    print(f"READY {rport} {pport} {public.decode()} {master.hex() if master else '-'}", flush=True)
    deadline = time.monotonic() + a.max_seconds
    forwarded = 0

    if a.mode == "poll1":
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        recv = router.recv_multipart
        send = pub.send_multipart
        while not stop:
            if poller.poll(100):
                ident, topic, payload = recv()
                send([topic, ident, payload])
                forwarded += 1
            elif time.monotonic() > deadline:
                break
    elif a.mode == "poll1_fast":
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        rrecv, psend = router.recv, pub.send
        SNDMORE = int(zmq.SNDMORE)
        while not stop:
            if poller.poll(100):
                ident = rrecv()
                topic = rrecv()
                payload = rrecv()
                psend(topic, SNDMORE)
                psend(ident, SNDMORE)
                psend(payload)
                forwarded += 1
            elif time.monotonic() > deadline:
                break
    elif a.mode == "drain":
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        recv = router.recv_multipart
        send = pub.send_multipart
        NOBLOCK, Again = zmq.NOBLOCK, zmq.Again
        while not stop and time.monotonic() < deadline:
            if not poller.poll(100):
                continue
            while True:
                try:
                    ident, topic, payload = recv(NOBLOCK)
                except Again:
                    break
                send([topic, ident, payload])
                forwarded += 1
    elif a.mode == "drain_fast":
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        rrecv = router.recv
        psend = pub.send
        NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again
        while not stop and time.monotonic() < deadline:
            if not poller.poll(100):
                continue
            while a.frames == 1:
                try:
                    ident = rrecv(NOBLOCK)
                except Again:
                    break
                psend(rrecv() + ident)
                forwarded += 1
            while a.frames == 3:
                try:
                    ident = rrecv(NOBLOCK)
                except Again:
                    break
                topic = rrecv()      # rest of a multipart message is already
                payload = rrecv()    # here (atomic delivery), so never blocks
                psend(topic, SNDMORE)
                psend(ident, SNDMORE)
                psend(seal(topic, payload))
                forwarded += 1
    elif a.mode == "drain_store":
        import json
        import shutil
        import sqlite3
        import tempfile
        tmpdir = tempfile.mkdtemp(prefix="relay_store_")
        try:
            db = sqlite3.connect(os.path.join(tmpdir, "store.db"), isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={a.store_sync}")
            db.execute(f"PRAGMA wal_autocheckpoint={a.store_autocheckpoint}")
            db.execute("CREATE TABLE msg (conv BLOB, seq INTEGER, ts REAL, sender BLOB, "
                       "cid TEXT, body TEXT, PRIMARY KEY (conv, seq))")
            poller = zmq.Poller()
            poller.register(router, zmq.POLLIN)
            rrecv, rsend, psend = router.recv, router.send, pub.send
            NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again
            loads, dumps = json.loads, json.dumps
            seqs = {}
            insert = "INSERT INTO msg VALUES (?,?,?,?,?,?)"
            while not stop and time.monotonic() < deadline:
                if not poller.poll(100):
                    continue
                batch = []
                while len(batch) < 1000:
                    try:
                        ident = rrecv(NOBLOCK)
                    except Again:
                        break
                    topic = rrecv()
                    payload = rrecv()
                    try:
                        obj = loads(payload)
                        body, cid = obj["body"], obj["id"]
                    except (ValueError, KeyError, TypeError):
                        rsend(ident, SNDMORE)
                        rsend(b'{"type":"error","code":"bad_request"}')
                        continue
                    seq = seqs.get(topic, 0) + 1
                    seqs[topic] = seq
                    batch.append((topic, seq, time.time(), ident, cid, body))
                if not batch:
                    continue
                db.execute("BEGIN")
                db.executemany(insert, batch)
                db.execute("COMMIT")
                for topic, seq, ts, ident, cid, body in batch:
                    rsend(ident, SNDMORE)
                    rsend(dumps({"type": "ok", "id": cid, "seq": seq}).encode())
                    psend(topic, SNDMORE)
                    psend(ident, SNDMORE)
                    psend(seal(topic, dumps({"type": "msg", "to": topic.decode(), "seq": seq, "ts": ts,
                                             "id": cid, "body": body}).encode()))
                forwarded += len(batch)
            db.close()
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    elif a.mode == "blocking":
        router.setsockopt(zmq.RCVTIMEO, 100)
        recv = router.recv_multipart
        send = pub.send_multipart
        Again = zmq.Again
        while not stop and time.monotonic() < deadline:
            try:
                ident, topic, payload = recv()
            except Again:
                continue
            send([topic, ident, payload])
            forwarded += 1
    elif a.mode == "asyncio":
        import asyncio
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # await may block forever

        async def loop():
            nonlocal forwarded
            recv = router.recv_multipart
            send = pub.send_multipart
            while True:
                ident, topic, payload = await recv()
                await send([topic, ident, payload])
                forwarded += 1

        asyncio.run(loop())
    elif a.mode == "asyncio_drain":
        import asyncio
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        srouter = zmq.Socket.shadow(router.underlying)
        spub = zmq.Socket.shadow(pub.underlying)

        async def loop():
            nonlocal forwarded
            rrecv, psend = srouter.recv, spub.send
            NOBLOCK, SNDMORE, Again = int(zmq.NOBLOCK), int(zmq.SNDMORE), zmq.Again
            while True:
                await router.poll(None, zmq.POLLIN)
                while True:
                    try:
                        ident = rrecv(NOBLOCK)
                    except Again:
                        break
                    topic = rrecv()
                    payload = rrecv()
                    psend(topic, SNDMORE)
                    psend(ident, SNDMORE)
                    psend(payload)
                    forwarded += 1

        asyncio.run(loop())
    elif a.mode == "proxy":
        # C-level forwarding; terminated by SIGTERM (default action restored)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            zmq.proxy(router, pub)
        except zmq.ZMQError:
            pass
    router.close()
    pub.close()
    ctx.term()
    print(f"FORWARDED {forwarded}", flush=True)


if __name__ == "__main__":
    main()
