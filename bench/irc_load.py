"""(2) Peer: load driver for miniircd (copied from ../shared/bench-anchors/irc_load.py; adds
loss / duplicate / order accounting per receiver and sender, and --max-seconds for the
throughput mode).

Original description: load driver for miniircd (pip install miniircd), a small Python
IRC server, over 127.0.0.1.  Stdlib only (plus the miniircd it starts).

Starts miniircd on a free 127.0.0.1 port (a process we start and stop by PID),
connects N clients (NICK/USER, JOIN #test), then either
  --rate 0   throughput: closed loop, at most --window messages in flight (sent
             but not yet seen by every other member); clients take turns
             sending "PRIVMSG #test :<ts> <seq> <pad>"; reports messages/s
             accepted and deliveries/s (each message goes to the N-1 others)
  --rate R   latency at a fixed total rate R msg/s for --seconds: p50/p99 of
             delivery latency (receive time - timestamp in the text).

  python irc_load.py --clients 50 --rate 0 --count 20000
  python irc_load.py --clients 50 --rate 100 --seconds 5
"""
import argparse
import gc
import os
import selectors
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import Acct, Deadline, cpu_seconds, emit, lat_summary_us, raise_nofile, rss_kb

MARK = b" PRIVMSG #test :"
NODELAY_LAUNCHER = (
    "import socket, sys, miniircd\n"
    "_acc = socket.socket.accept\n"
    "def accept(self):\n"
    "    c, a = _acc(self)\n"
    "    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)\n"
    "    return c, a\n"
    "socket.socket.accept = accept\n"
    "sys.exit(miniircd.main())\n")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Client:
    __slots__ = ("i", "sock", "buf", "nick")

    def __init__(self, i, port):
        self.i = i
        self.nick = b"u%d" % i
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--size", type=int, default=100, help="message text bytes")
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--count", type=int, default=20000, help="messages (throughput mode)")
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration (latency mode)")
    ap.add_argument("--max-seconds", type=float, default=0.0,
                    help="throughput mode: stop sending after this long (0 = send --count)")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--nodelay", action="store_true",
                    help="start miniircd with TCP_NODELAY on accepted sockets (monkeypatch); "
                         "stock miniircd leaves Nagle on")
    a = ap.parse_args()
    raise_nofile()
    N = a.clients
    port = free_port()
    cmd = [sys.executable, "-m", "miniircd", "--listen", "127.0.0.1", "--ports", str(port)]
    if a.nodelay:
        cmd[1:3] = ["-c", NODELAY_LAUNCHER]
    if os.geteuid() == 0:  # miniircd refuses to run as root unless told so
        cmd += ["--setuid", "root"]
    srv = subprocess.Popen(cmd,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clients = []
    sel = selectors.EpollSelector()
    try:
        dl = Deadline(10)
        while True:  # wait for the listener
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if dl.expired():
                    raise SystemExit("miniircd did not start") from None
                time.sleep(0.05)
        time.sleep(0.2)
        srv_rss0 = rss_kb(srv.pid).get("VmRSS")
        stats = {"deliv": 0, "lat": [], "joined": 0}
        record = [False]
        total = a.count if a.rate <= 0 else int(a.rate * a.seconds)
        acct = Acct(N, total, N)

        def on_line(c, line):
            k = line.find(MARK)
            if k >= 0:
                if record[0]:
                    text = line[k + len(MARK):]
                    j = text.find(b" ")
                    stats["lat"].append(time.monotonic_ns() - int(text[:j]))
                    stats["deliv"] += 1
                    seq = int(text[j + 1:text.index(b" ", j + 1)])
                    acct.add(c.i, seq, seq % N)
            elif line.startswith(b"PING"):
                c.send(b"PONG" + line[4:] + b"\r\n")
            elif b" 366 " in line:  # end of NAMES: our JOIN is complete
                stats["joined"] += 1

        def pump(timeout):
            n = 0
            for key, _ in sel.select(timeout):
                c = key.data
                data = c.sock.recv(65536)
                if not data:
                    raise SystemExit(f"server closed connection of client {c.i}")
                c.buf += data
                *lines, c.buf = c.buf.split(b"\r\n")
                for line in lines:
                    on_line(c, line)
                n += 1
            return n

        t_conn = time.monotonic()
        batch = 4  # miniircd listens with backlog 5: connect a few at a time
        dl = Deadline(60)
        for i in range(N):
            c = Client(i, port)
            c.send(b"NICK %s\r\nUSER %s 0 * :bench\r\nJOIN #test\r\n" % (c.nick, c.nick))
            clients.append(c)
            sel.register(c.sock, selectors.EVENT_READ, c)
            if len(clients) % batch == 0:
                while stats["joined"] < len(clients) and not dl.expired():
                    pump(0.1)

        dl = Deadline(60)
        while stats["joined"] < N and not dl.expired():
            pump(0.1)
        if stats["joined"] < N:
            raise SystemExit(f"only {stats['joined']}/{N} joined")
        quiet = time.monotonic()
        while time.monotonic() - quiet < 0.3:  # drain JOIN notifications
            if pump(0.05):
                quiet = time.monotonic()
        connect_s = time.monotonic() - t_conn
        record[0] = True
        pad_len = max(1, a.size - 32)
        pad = b"x" * pad_len

        def line_for(seq):
            text = b"%d %d " % (time.monotonic_ns(), seq)
            return b"PRIVMSG #test :" + text + pad[: max(1, a.size - len(text))] + b"\r\n"

        s_cpu0 = cpu_seconds(srv.pid)
        gc.collect()
        gc.disable()         # as in lat.py: the driver's own collections stay out of the figures
        t0 = time.monotonic()
        sent = 0
        fan = N - 1
        if a.rate <= 0:
            M, W = a.count, a.window
            dl = Deadline(a.timeout)
            t_stop = time.monotonic() + (a.max_seconds or a.timeout)
            while stats["deliv"] < M * fan and not dl.expired():
                if sent < M and time.monotonic() >= t_stop:
                    M = sent
                can = min(M - sent, W - (sent - stats["deliv"] // fan))
                for _ in range(max(0, can)):
                    clients[sent % N].send(line_for(sent))
                    sent += 1
                pump(0 if can > 0 and sent < M else 0.005)
        else:
            count = int(a.rate * a.seconds)
            period = 1.0 / a.rate
            nxt = t0
            dl = Deadline(a.seconds + 10)
            while not dl.expired():
                now = time.monotonic()
                while sent < count and now >= nxt:
                    clients[sent % N].send(line_for(sent))
                    sent += 1
                    nxt += period
                if sent >= count and stats["deliv"] >= count * fan:
                    break
                pump(max(0.0, nxt - time.monotonic()) if sent < count else 0.05)
        wall = time.monotonic() - t0
        gc.enable()
        s_cpu = cpu_seconds(srv.pid) - s_cpu0
        srv_rss = rss_kb(srv.pid).get("VmRSS")
    finally:
        for c in clients:
            try:
                c.sock.close()
            except OSError:
                pass
        if srv.poll() is None:
            srv.terminate()
            try:
                srv.wait(5)
            except subprocess.TimeoutExpired:
                srv.kill()
                srv.wait(5)
    out = {"bench": "irc_load", "server": "miniircd" + ("+nodelay" if a.nodelay else ""),
           "clients": N, "size": a.size,
           "rate": a.rate, "sent": sent, "delivered": stats["deliv"],
           "expected": sent * (N - 1), "wall_s": round(wall, 3),
           "connect_join_s": round(connect_s, 2),
           "server_cpu_pct": round(100 * s_cpu / wall, 1),
           "server_rss_kb": srv_rss, "server_rss0_kb": srv_rss0}
    res = acct.result(sent * (N - 1))
    res.pop("delivered")
    out.update(res)
    if a.rate <= 0:
        out["window"] = a.window
        out["msgs_per_s"] = round(stats["deliv"] / fan / wall)
        out["deliveries_per_s"] = round(stats["deliv"] / wall)
    out.update(lat_summary_us(stats["lat"]))
    emit(out)


if __name__ == "__main__":
    main()
