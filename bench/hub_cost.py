"""Microbenchmark: what the broker's Python thread spends per plain `send`, in process, no sockets.

  python bench/hub_cost.py                 # us per request, best of --rounds, each step on its own
  python bench/hub_cost.py --profile       # ... and a cProfile of the whole request path

The same script runs in any tree since protocol 2 (bench/ab.py's A/B uses it on two trees): the
steps are the public calls the broker loop makes. `hub.handle` is measured as the loop drives it:
batches of --batch requests from 10 users into one group, one store transaction per batch (a
SQLite file in a temporary directory, fsync off, so the disk's noise stays out), then
`take_output`. Prints one JSON line: microseconds per request for each step. Each measured batch
must publish every one of its messages (checked after the timing: the frames are opened with the
group's key and split, as protocol 4 bundles a run on one topic into one frame; "msgs_per_frame")
and answer every request with an ok (the reply frames split too, as the broker bundles a batch's
replies for one connection into one frame; "replies_per_frame").
"""
import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from zchat import protocol as p  # noqa: E402
from zchat.hub import Hub, HubConfig  # noqa: E402
from zchat.seal import KeyChain  # noqa: E402
from zchat.store import SQLiteStore  # noqa: E402

USERS = 10
TEXT = "x" * 100      # the benchmarks' 100-byte plain line


def peer(i):
    return b"\x01" + f"u{i}".encode().ljust(15, b".")


def setup(data_dir):
    rates = {k: p.RateLimit(1e9, 1000000) for k in p.RateKind}
    hub = Hub(SQLiteStore(os.path.join(data_dir, "zchat.db"), fsync=False),
              HubConfig(pub_endpoint="tcp://127.0.0.1:5556", max_clients=100, rates=rates))
    with hub.store.transaction():
        for i in range(USERS):
            hub.handle(peer(i), f"key{i}", p.encode(p.Hello("h", p.PROTOCOL_VERSION, f"u{i}")))
        hub.handle(peer(0), "key0", p.encode(p.CreateGroup("c", "bench")))
        for i in range(1, USERS):
            hub.handle(peer(i), f"key{i}", p.encode(p.JoinGroup("j", "bench")))
    replies, _pubs = hub.take_output()
    chain = KeyChain()           # the group's key, from the ok of create_group: to open what is published
    for r in map(p.decode_reply, parts(replies)):
        assert not isinstance(r, p.Error), r
        if isinstance(r, p.Ok) and r.key is not None:
            chain.add(r.key.scope, r.key.epoch, bytes.fromhex(r.key.key))
    return hub, chain


def parts(frames):
    """The messages of (receiver, frame) pairs, in order: the broker joins what one frame carries with LF
    (zchat.protocol.unbundle: a run of publishes on one topic, a batch's replies for one connection; an
    older tree's frame holds one message, with no LF, and may have no unbundle)."""
    return [part for _receiver, frame in frames for part in frame.split(b"\n")]


def messages(chain, pubs):
    """How many messages the published (topic, sealed frame) pairs carry (see parts)."""
    return len(parts((topic, chain.open(topic, frame)) for topic, frame in pubs))


def oks(replies):
    """How many of the replies in (peer, frame) pairs are oks (see parts)."""
    return sum(isinstance(p.decode_reply(r), p.Ok) for r in parts(replies))


def frames(start, n):
    return [(peer(k % USERS), f"key{k % USERS}", p.encode(p.Send(f"r{k}", "g:bench", TEXT, f"m{k}")))
            for k in range(start, start + n)]


def best(fn, rounds):
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        n = fn()
        times.append((time.perf_counter() - t0) / n * 1e6)
    return round(min(times), 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of hub.handle + take_output")
    a = ap.parse_args()
    out = {"bench": "hub_cost", "zchat": os.path.dirname(p.__file__), "batch": a.batch}
    with tempfile.TemporaryDirectory(prefix="zchat_hub_cost_") as d:
        hub, chain = setup(d)
        k = [0]

        def batch():
            fr = frames(k[0], a.batch)
            k[0] += a.batch
            t0 = time.perf_counter()
            with hub.store.transaction():
                for pe, key, data in fr:
                    hub.handle(pe, key, data)
            replies, pubs = hub.take_output()
            batch.t = time.perf_counter() - t0
            batch.out = replies, pubs
            return a.batch

        def handle():                # only the handling, not the building of the frames
            times, frames, reply_frames = [], 0, 0
            for _ in range(a.rounds):
                batch()
                times.append(batch.t / a.batch * 1e6)
                replies, pubs = batch.out
                n, k = messages(chain, pubs), oks(replies)
                assert k == a.batch and n == a.batch, (k, len(replies), n, len(pubs))
                frames += len(pubs)
                reply_frames += len(replies)
            out["msgs_per_frame"] = round(a.batch * a.rounds / frames, 2)
            out["replies_per_frame"] = round(a.batch * a.rounds / reply_frames, 2)
            return round(min(times), 3)

        out["handle_us"] = handle()
        sample = frames(10**8, 1)[0][2]
        msg = p.Message("g:bench", 12345, 1764494400.123456, "u1", TEXT, "msg", "m12345")
        ok = p.Ok("r12345", "g:bench", 12345, 1764494400.123456, False)
        n = 20000
        out["decode_send_us"] = best(lambda: [p.decode_request(sample) for _ in range(n)] and n, a.rounds)
        out["encode_msg_us"] = best(lambda: [p.encode(msg) for _ in range(n)] and n, a.rounds)
        out["encode_ok_us"] = best(lambda: [p.encode(ok) for _ in range(n)] and n, a.rounds)
        out["new_msg_us"] = best(lambda: [p.Message("g:bench", 1, 1.5, "u1", TEXT, "msg", "m1")
                                          for _ in range(n)] and n, a.rounds)
        if a.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(5):
                batch()
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        hub.store.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
