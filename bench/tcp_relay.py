"""The original chat's server shape, as a baseline (row P7): a plain TCP relay, one thread per client.

Every accepted socket gets TCP_NODELAY and a thread of its own that reads lines; each line a client
sends (``name~text\\n``: the client writes its own name, as the original chat's clients did) is
written, as it is, to ALL connected clients, the sender included (so a sender knows its line went
round), under one lock around the client list, so every client sees the lines in the same order.
No encryption, no storage, no protocol: this is what zchat replaced, not a like-for-like relay.

A client that stops reading must not wedge the others forever: every socket has a send timeout
(SO_SNDTIMEO, --send-timeout), and a client whose send times out or fails is cut (its stream is
no longer whole) and dropped from the list. A line longer than --max-line cuts its sender.

Prints "READY <port> 0 - -" once listening (the READY line of the other baselines: no PUB port,
no CURVE key, no sealing master), so _common.start_relay starts it and stop_broker stops it by
its PID; runs until SIGTERM or --max-seconds.

  python bench/tcp_relay.py --max-seconds 60
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import threading
import time

clients: list[socket.socket] = []
lock = threading.Lock()
stop = threading.Event()


def cut(conn: socket.socket) -> None:
    """Drop a client (the caller holds the lock); its own thread sees its recv end and closes it."""
    if conn in clients:
        clients.remove(conn)
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def broadcast(data: bytes) -> None:
    with lock:
        for conn in list(clients):
            try:
                conn.sendall(data)
            except OSError:          # timed out (BlockingIOError) or gone: cut, never retried
                cut(conn)


def serve(conn: socket.socket, max_line: int) -> None:
    """One client's thread: read, and broadcast every complete line as soon as it is in."""
    buf = b""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            buf += data
            end = buf.rfind(b"\n") + 1
            if end:
                broadcast(buf[:end])     # the complete lines of this read, in one write per client
                buf = buf[end:]
            if len(buf) > max_line:
                break
    except OSError:
        pass
    finally:
        with lock:
            cut(conn)
        conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", default="threads", choices=["threads"],
                    help="one thread per client (the only mode; the argument is what _common passes)")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--max-seconds", type=float, default=120.0, help="exit after this long in any case")
    ap.add_argument("--send-timeout", type=float, default=5.0,
                    help="seconds one send to a client may block before that client is cut (default: %(default)s)")
    ap.add_argument("--max-line", type=int, default=65536, help="longest line accepted, bytes")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    sec = int(a.send_timeout)
    sndtimeo = struct.pack("ll", sec, int((a.send_timeout - sec) * 1e6))
    listener = socket.create_server(("127.0.0.1", a.port), backlog=1024)
    listener.settimeout(0.2)
    print(f"READY {listener.getsockname()[1]} 0 - -", flush=True)
    deadline = time.monotonic() + a.max_seconds
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, sndtimeo)
        with lock:
            clients.append(conn)
        threading.Thread(target=serve, args=(conn, a.max_line), daemon=True).start()
    listener.close()
    os._exit(0)      # the client threads are blocked in recv: leave without waiting for them


if __name__ == "__main__":
    main()
