"""Shared helpers for the anchor benchmarks (stdlib + pyzmq only).

Every benchmark prints exactly one JSON object on its last stdout line so that
run_all.py can collect it.  Timestamps use time.monotonic_ns(), which on Linux is
CLOCK_MONOTONIC and therefore comparable across processes on the same machine.
"""
import json
import os
import resource
import struct
import sys
import time

HDR = struct.Struct("!QQ")  # send timestamp (monotonic ns), sequence number


def make_payload(size, seq=0, ts=None):
    """Payload of exactly `size` bytes whose first 16 bytes are (ts, seq)."""
    if ts is None:
        ts = time.monotonic_ns()
    head = HDR.pack(ts, seq)
    return head + b"x" * max(0, size - len(head))


def read_header(buf):
    return HDR.unpack_from(buf, 0)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def lat_summary_us(lat_ns):
    """p50/p90/p99/p99.9/max in microseconds from a list of ns latencies."""
    s = sorted(lat_ns)
    if not s:
        return {"n": 0}
    out = {"n": len(s)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        out[name + "_us"] = round(percentile(s, p) / 1000.0, 1)
    out["max_us"] = round(s[-1] / 1000.0, 1)
    return out


def rss_kb(pid="self"):
    """Resident set size (VmRSS) and peak (VmHWM) in KiB from /proc."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def fd_count(pid="self"):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def raise_nofile(want=65536):
    """Raise the soft RLIMIT_NOFILE as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def emit(result):
    """Print the result as the final JSON line."""
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


def frame_fill(frames, msgs):
    """How full the published frames a driver opened were (protocol 4 bundles a batch's run on one topic):
    {"frames": how many, "msgs_per_frame": messages each held on average}."""
    return {"frames": frames, "msgs_per_frame": round(msgs / frames, 2) if frames else None}


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def expired(self):
        return time.monotonic() >= self.end


# ---------------------------------------------------------------------------
# helpers for driving relay_broker.py (a process we start and stop by PID)

HERE = os.path.dirname(os.path.abspath(__file__))


def stop_broker(proc):
    """Stop the broker we started, by its PID (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except Exception:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pid="self"):
    """utime+stime of a whole process (all threads) in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# ---------------------------------------------------------------------------
# zchat-bench additions: CURVE keys for the baselines, the zchat broker, accounting

def server_keypair():
    """A fresh CURVE key pair (z85 bytes) for a baseline broker."""
    import zmq
    return zmq.curve_keypair()


def curve_client(sock, server_public, keypair=None):
    """Make `sock` a CURVE client of `server_public` (z85) with its own (or the given) key pair."""
    import zmq
    pub, sec = keypair or zmq.curve_keypair()
    sock.curve_serverkey = server_public
    sock.curve_publickey = pub
    sock.curve_secretkey = sec
    return pub, sec


def baseline_socket(ctx, kind, server_public, endpoint, keypair=None, subscribe=None, **options):
    """A CURVE client socket of a baseline broker: linger 0, ``options`` (such as rcvhwm) set
    before it connects, subscribed to ``subscribe`` when given -> (socket, its key pair)."""
    s = ctx.socket(kind)
    s.linger = 0
    for name, value in options.items():
        setattr(s, name, value)
    keypair = curve_client(s, server_public, keypair)
    if subscribe is not None:
        s.subscribe(subscribe)
    s.connect(endpoint)
    return s, keypair


PROBE = 2**63   # a baseline HDR "sequence" at or above this marks a probe (its ts field: the sender)


def store_index(payload, tag):
    """The number n of a drain_store message whose id is ``tag`` + n (b"m": measured, b"p": probe),
    or -1 when it has another id."""
    k = payload.find(b'"id": "' + tag)
    return -1 if k < 0 else int(payload[k + 8:payload.index(b'"', k + 8)])


def store_ok(reply):
    return reply.startswith(b'{"type": "ok"')


def probe_sender(target, payload):
    """The sender index a sync probe carries (-1 for anything else), for zchat's and the baselines'
    formats: zchat's cmid p<sender>x<k>, drain_store's id p<sender>, drain_fast's HDR."""
    if target == "zchat":
        k = payload.rfind(b'"cmid":"p')
        return -1 if k < 0 else int(payload[k + 9:payload.index(b"x", k + 9)])
    if target == "drain_store":
        return store_index(payload, b"p")
    ts, g = HDR.unpack_from(payload, 0)
    return ts if g == PROBE else -1


def start_relay(mode, max_seconds=120, extra=(), script="relay_broker.py"):
    """Start a CURVE baseline broker; -> (proc, router_port, pub_port, server_public_z85, master): master
    is the secret its topic keys derive from (bench/sealing.py), None when it does not seal."""
    import select
    import subprocess
    cmd = [sys.executable, os.path.join(HERE, script), "--mode", mode,
           "--max-seconds", str(max_seconds), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    r, _, _ = select.select([proc.stdout], [], [], 20)
    line = proc.stdout.readline() if r else ""
    if not line.startswith("READY"):
        stop_broker(proc)
        raise RuntimeError(f"broker did not start: {line!r}")
    _, rport, pport, key, master = line.split()
    return proc, int(rport), int(pport), key.encode(), None if master == "-" else bytes.fromhex(master)


# zchat's per-user rate limits, lifted: one benchmark user sends far more than a person could
BENCH_LIMITS = ("--limit", "message=1e9/1000000", "--limit", "history=1e9/1000000",
                "--limit", "create_group=1e9/1000000", "--limit", "invite=1e9/1000000",
                "--rate", "1e9", "--rate-burst", "1000000")


def start_zchat(extra=(), max_seconds=300, limits=False, prepare=None):
    """Start `python -m zchat.broker` on a random 127.0.0.1 port with a fresh data dir, its rate
    limits lifted (BENCH_LIMITS) unless ``limits``; ``extra`` comes last, so it can override them.

    -> (proc, connect_string, data_dir). Stop it with stop_zchat(proc, data_dir).
    The broker gets a hard --max-seconds equivalent: a timer here kills it by PID.
    """
    import subprocess
    import tempfile
    data_dir = tempfile.mkdtemp(prefix="zchat_bench_")
    if prepare:
        prepare(data_dir)            # e.g. the server key of the first broker of a cluster
    cmd = [sys.executable, "-m", "zchat.broker", "--bind", "tcp://127.0.0.1:*",
           "--data-dir", data_dir, "--log-level", "warning", *(() if limits else BENCH_LIMITS), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    import queue
    import threading
    lines = queue.Queue()

    def reader():  # a thread, so buffered lines are never missed by select()
        for ln in proc.stdout:
            lines.put(ln)
    threading.Thread(target=reader, daemon=True).start()
    dl = Deadline(30)
    connect = None
    while connect is None and not dl.expired():
        try:
            line = lines.get(timeout=max(0.01, dl.left()))
        except queue.Empty:
            break
        if line.startswith("connect string: "):
            connect = line.strip()
    if connect is None:
        stop_zchat(proc, data_dir)
        raise RuntimeError("zchat broker did not print its connect string")
    import threading
    t = threading.Timer(max_seconds, lambda: proc.poll() is None and proc.kill())
    t.daemon = True
    t.start()
    return proc, connect, data_dir


def stop_zchat(proc, data_dir):
    import shutil
    stop_broker(proc)
    shutil.rmtree(data_dir, ignore_errors=True)


def shutdown(proc, socks, ctx, data_dir=None):
    """End a run: stop the broker(s) under test (and remove a zchat data dir), close the driver's sockets."""
    if isinstance(proc, ZchatBrokers):
        proc.stop()
    elif data_dir is None:
        stop_broker(proc)
    else:
        stop_zchat(proc, data_dir)
    for s in socks:
        s.close()
    ctx.term()


class Acct:
    """Loss / duplicate / order accounting for a bench run.

    Every measured message has a global index g (0..M-1) and was sent by sender g % D, which
    sends its messages in increasing g. Each receiver r must see each expected g exactly once,
    and the g of one sender in increasing order (ZeroMQ keeps per-pipe order; the broker must too).
    """

    def __init__(self, receivers, count, senders):
        self.M, self.D = count, max(1, senders)
        self.seen = [bytearray(count) for _ in range(receivers)]
        self.last = [[-1] * self.D for _ in range(receivers)]  # per receiver, per sender
        self.got = 0
        self.dup = 0
        self.ooo = 0
        self.bad = 0

    def add(self, r, g, s=None):
        """Receiver r got message g, sent by sender s (default g % senders)."""
        if not 0 <= g < self.M:
            self.bad += 1
            return
        seen = self.seen[r]
        if seen[g]:
            self.dup += 1
            return
        seen[g] = 1
        self.got += 1
        last = self.last[r]
        if s is None:
            s = g % self.D
        if g < last[s]:
            self.ooo += 1
        else:
            last[s] = g

    def result(self, expected):
        return {"delivered": self.got, "expected": expected, "lost": expected - self.got,
                "dup": self.dup, "ooo": self.ooo, "bad": self.bad,
                "ok": self.got == expected and not (self.dup or self.ooo or self.bad)}


class ZchatBrokers:
    """The zchat side of a run: one broker on SQLite (``n == 1``, as start_zchat), or ``n`` brokers
    sharing one private PostgreSQL (the tests' recipe, tests/pgkit.py; fsync on, like SQLite's
    default) and one server key. Client ``i`` talks to broker ``i % n``. ``cpu()`` sums the
    brokers' CPU; ``db_cpu()`` PostgreSQL's own (every server process)."""

    def __init__(self, n, extra=(), max_seconds=300):
        import shutil
        self.cluster = None
        self.procs, self.dirs, self.endpoints = [], [], []
        url_args = ()
        if n > 1:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
            from tests.pgkit import PgCluster
            self.cluster = PgCluster(fsync=True)
            url_args = ("--store", self.cluster.url(self.cluster.fresh_db()))
        try:
            for _ in range(n):
                key_from = self.dirs[0] if self.dirs else None
                proc, connect, data_dir = start_zchat((*url_args, *extra), max_seconds,
                                                      prepare=key_from and (lambda d, src=key_from: shutil.copy(
                                                          os.path.join(src, "server.key"), d)))
                self.procs.append(proc)
                self.dirs.append(data_dir)
                endpoint, self.key = p_parse(connect)
                self.endpoints.append(endpoint)
        except BaseException:
            self.stop()
            raise

    def endpoint(self, i):
        return self.endpoints[i % len(self.endpoints)]

    def cpu(self):
        return sum(cpu_seconds(proc.pid) for proc in self.procs)

    def db_cpu(self):
        if self.cluster is None:
            return 0.0
        with open(self.cluster.data / "postmaster.pid") as f:
            master = int(f.readline())
        total = 0.0
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    if ppid == master or int(pid) == master:
                        total += cpu_seconds(pid)
                except (OSError, ValueError, IndexError):
                    pass
        return total

    def rss_kb(self):
        return sum(rss_kb(proc.pid).get("VmRSS", 0) for proc in self.procs)

    def stop(self):
        for proc, data_dir in zip(self.procs, self.dirs, strict=False):
            stop_zchat(proc, data_dir)
        if self.cluster is not None:
            self.cluster.destroy()


def p_parse(connect):
    from zchat import protocol as p
    return p.parse_connect_string(connect)
