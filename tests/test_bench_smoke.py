"""Smoke test of the benchmark drivers in bench/: each runs for a fraction of a second with tiny
counts and must print its JSON result line with no lost, duplicated or out-of-order message.
Every published frame a driver counts is sealed and must open with the keys the driver holds
(a frame that does not open is counted and fails the run), so a driver that stopped speaking
the broker's protocol fails here. A zchat frame may hold several messages (protocol 4): the
drivers count each one, and say how many a frame held on average ("msgs_per_frame").

The benchmarks themselves stay out of the test suite (`python bench/run_all.py`); this only keeps
the drivers from rotting as the protocol and the broker change.
"""
from __future__ import annotations

import importlib.util
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import zmq

from zchat import protocol as p
from zchat.seal import KeyChain, Keyring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")

CASES = {
    "thr_zchat": ["thr.py", "--target", "zchat", "--dealers", "2", "--subs", "2", "--seconds", "0.2"],
    "thr_drain_store": ["thr.py", "--target", "drain_store", "--dealers", "2", "--subs", "2", "--seconds", "0.2"],
    "thr_drain_fast": ["thr.py", "--target", "drain_fast", "--dealers", "2", "--subs", "2", "--seconds", "0.2"],
    "lat_zchat": ["lat.py", "--target", "zchat", "--clients", "6", "--group", "3", "--rate", "200",
                  "--seconds", "0.2"],
    "lat_drain_fast": ["lat.py", "--target", "drain_fast", "--clients", "6", "--group", "3", "--rate", "200",
                       "--seconds", "0.2"],
    "thr_drain_store_plain": ["thr.py", "--target", "drain_store", "--dealers", "2", "--subs", "2", "--seconds", "0.2",
                              "--broker-args=--no-seal --store-sync=NORMAL"],
    "thr_zchat_nofsync": ["thr.py", "--target", "zchat", "--dealers", "2", "--subs", "2", "--seconds", "0.2",
                          "--broker-args=--no-fsync"],
    "lat_drain_store": ["lat.py", "--target", "drain_store", "--clients", "6", "--group", "3", "--rate", "200",
                        "--seconds", "0.2"],
    "idle_zchat": ["idle.py", "--target", "zchat", "--clients", "20", "--extra", "2", "--timeout", "20"],
    "idle_raw": ["idle.py", "--target", "raw", "--clients", "20", "--timeout", "20"],
    "seal_cost": ["seal_cost.py", "--number", "200", "--repeats", "2"],
    "irc_thr": ["irc_load.py", "--clients", "3", "--rate", "0", "--window", "20", "--count", "300",
                "--max-seconds", "0.2"],
    "irc_lat": ["irc_load.py", "--clients", "3", "--rate", "100", "--seconds", "0.2"],
    "inflight_zchat": ["inflight.py", "--target", "zchat", "--users", "3", "--seconds", "0.2"],
    "inflight_tcp_relay": ["inflight.py", "--target", "tcp_relay", "--users", "3", "--seconds", "0.2"],
    "inflight_zchat_nosubs": ["inflight.py", "--target", "zchat", "--users", "3", "--receivers", "0",
                              "--seconds", "0.2"],
    "inflight_drain_store": ["inflight.py", "--target", "drain_store", "--users", "3", "--seconds", "0.2"],
    "inflight_drain_fast": ["inflight.py", "--target", "drain_fast", "--users", "3", "--seconds", "0.2"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_driver_runs_clean(case: str) -> None:
    args = CASES[case]
    if args[0] == "irc_load.py" and importlib.util.find_spec("miniircd") is None:
        pytest.skip("miniircd is not installed (pip install -r bench/requirements.txt)")
    cp = subprocess.run([sys.executable, os.path.join(BENCH, args[0]), *args[1:]], cwd=ROOT,
                        capture_output=True, text=True, timeout=90)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert cp.returncode == 0 and lines, f"no result line (rc {cp.returncode}): {cp.stderr[-2000:]}"
    res = json.loads(lines[-1])
    assert res["lost"] == 0 and res["dup"] == 0 and res["ooo"] == 0, res
    assert res["ok"] is True, res
    assert res.get("unopened", 0) == 0, res
    if "sealed" in res:     # what the driver counted was sealed unless the baseline was told not to seal
        assert res["sealed"] is ("--no-seal" not in " ".join(args)), res
    if res.get("frames"):   # thr, lat, inflight on a ZeroMQ target: the frames opened while measuring
        assert res["msgs_per_frame"] >= 1, res
        if "zchat" not in case:             # a baseline publishes one message per frame, never split
            assert res["msgs_per_frame"] == 1, res
    if res["bench"] == "inflight":
        assert_inflight_figures(res)


def assert_inflight_figures(res: dict) -> None:
    """inflight.py (row P7): every message sent was answered and reached every receiver, and the
    figures the row reads are there."""
    assert res["sent"] > 0 and res["answers"] == res["sent"], res
    assert res["delivered"] == res["expected"] == res["sent"] * res["receivers"], res
    assert res["answer_errors"] == [] and res["n"] == res["answers"], res
    assert res["msgs_per_s"] > 0 and (res["deliveries_per_s"] > 0) is (res["receivers"] > 0), res
    assert 0 < res["p50_us"] <= res["p99_us"], res
    assert res["driver_cpu_pct"] >= 0 and res["broker_cpu_pct"] >= 0, res
    # what the driver opened was sealed by every target but the plain TCP relay
    assert res.get("sealed") is (None if res["target"] == "tcp_relay" else True), res


def bench_module(name: str) -> Any:
    """bench/NAME.py, imported under a name of its own (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(BENCH, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_drivers_read_every_message_of_a_frame() -> None:
    """What the drivers read from a SUB: a zchat frame (protocol 4) opens to its messages, in order, one
    delivery each; a baseline's frame is one message, never split, even when its binary payload (drain_fast:
    HDR) holds the separator byte."""
    HDR = bench_module("_common").HDR
    sealing = bench_module("sealing")
    opener, sealer, unbundler = sealing.opener, sealing.sealer, sealing.unbundler
    ring, chain, topic = Keyring(), KeyChain(), b"g:bench|"
    epoch, key = ring.current("g:bench")
    chain.add("g:bench", epoch, key)
    parts = [p.encode(p.Message("g:bench", seq, 1.5, "u1", "line\nwith LF", "msg", f"m{seq}")) for seq in (1, 2, 3)]
    messages = unbundler(chain.open)
    assert messages(topic, ring.seal(topic, p.BUNDLE_SEP.join(parts))) == parts
    assert messages(topic, ring.seal(topic, parts[0])) == parts[:1]
    master = os.urandom(32)
    payload = HDR.pack(0, 10) + b"x" * 84          # index 10: a 0x0a byte in the header
    assert p.BUNDLE_SEP in payload
    assert opener(master, [b"g"])(b"g", sealer(master)(b"g", payload)) == [payload]
    assert opener(None, [b"g"])(b"g", payload) == [payload]


def test_drivers_read_every_reply_of_a_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the drivers read on a DEALER: the broker bundles a batch's replies and notices for one
    connection into one frame, and each part is one reply: every ok counted, a notice applied, anything
    else an error (zclient.drain_replies, on the hot path; zclient.User.replies, in set-up). A
    drain_store reply (one JSON object per frame, no raw LF) stays whole."""
    monkeypatch.syspath_prepend(BENCH)          # zclient imports sealing as the drivers do
    zc, store_ok = bench_module("zclient"), bench_module("_common").store_ok
    ctx = zmq.Context()
    try:
        user = zc.User(ctx, 0, "inproc://none", zmq.curve_keypair()[0], connect=False)
        tx, rx = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        tx.bind("inproc://replies")
        rx.connect("inproc://replies")
        key = os.urandom(32)
        oks = [p.encode(p.Ok(f"s{k}", "g:bench", k, 1.5, False)) for k in (1, 2, 3)]
        notice = p.encode(p.KeyChange("g:bench", 2, key.hex()))
        error = p.encode(p.Error("s4", "rate_limited", "slow down"))
        tx.send(p.BUNDLE_SEP.join([oks[0], notice, oks[1], error]))
        tx.send(oks[2])
        assert rx.poll(1000)          # inproc: every frame sent is queued by now
        others: list[bytes] = []
        assert zc.drain_replies(rx, zc.is_ok, user.notice, others.append) == (3, 2)
        assert others == [error]
        assert user.keys.newest("g:bench") == 2         # the notice in the middle of the frame was applied
        tx.send(p.BUNDLE_SEP.join([notice, oks[0], error]))
        assert user.replies(rx.recv()) == [p.decode_reply(oks[0]), p.decode_reply(error)]
        store = b'{"type": "ok", "id": "m7", "seq": 7}'
        tx.send(store)
        assert rx.poll(1000)          # inproc: every frame sent is queued by now
        assert zc.drain_replies(rx, store_ok, zc.ignore, others.append) == (1, 1) and others == [error]
        for s in (tx, rx, user.dealer):
            s.close(0)
    finally:
        ctx.term()


def test_ab_compares_trees_and_hub_cost_prints_its_figures(tmp_path: Path) -> None:
    """bench/ab.py (this tree against itself, one short P1) and bench/hub_cost.py (a few batches)."""
    raw = tmp_path / "raw.jsonl"
    side = f"{ROOT}={sys.executable}"
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "ab.py"), side, side, "--only", "P1", "--repeats", "1",
                         "--seconds", "0.2", "--raw", str(raw)], cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert cp.returncode == 0, cp.stderr[-2000:]
    runs = [json.loads(ln) for ln in raw.read_text().splitlines()]
    assert [r["job"] for r in runs] == ["P1_zchat", "P1_zchat"] and all(r["ok"] for r in runs), runs
    assert all(r["broker_us_per_msg"] > 0 for r in runs), runs
    assert "| P1 | P1_zchat | msgs_per_s | A |" in cp.stdout and "failed runs: 0" in cp.stdout, cp.stdout
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "hub_cost.py"), "--batch", "50", "--rounds", "2"],
                        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert cp.returncode == 0, cp.stderr[-2000:]
    res = json.loads(cp.stdout.splitlines()[-1])
    assert all(res[k] > 0 for k in ("handle_us", "decode_send_us", "encode_msg_us", "encode_ok_us", "new_msg_us"))
    assert res["msgs_per_frame"] >= 1, res       # every message of every batch was published (checked there)


def test_attack_measures_every_phase() -> None:
    """attack.py: every attack ran against the broker (the attacker reports what it did) and the
    healthy client has figures for each phase, including the one after the attacks."""
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "attack.py"), "--seconds", "0.3", "--idle-seconds",
                         "0.5"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    res = json.loads([ln for ln in cp.stdout.splitlines() if ln.startswith("{")][-1])
    assert res["ok"] is True, res
    assert res["phases"] == ["none", "sub_flood", "nonsub_flood", "big_frame", "idle_conns", "history_pipeline",
                             "after"]
    for phase in res["phases"]:
        assert res[f"{phase}_ping_p50_us"] > 0 and res[f"{phase}_rss_mb_max"] > 0, phase
    assert res["sub_flood_attacker"]["frames_offered"] > 0
    assert res["big_frame_attacker"]["cut"] == 1          # the broker drops the link of an 8 MiB frame
    assert res["idle_conns_attacker"]["up"] == 600        # 600 idle connections, every one past its handshake
    assert res["idle_conns_fds_max"] >= 600
    replies = res["history_pipeline_attacker"]["replies"]
    assert sum(replies.values()) > 0, res


def test_zap_cost_measures_all_three_modes() -> None:
    """No handler, a handler, and zchat's rotated one; after the rotation every connection still
    sends, named by its own key (``ok`` checks 2 keyed frames per connection)."""
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "zap_cost.py"), "--connections", "20",
                         "--timeout", "20"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert [(r["mode"], r["connected"], r["sent_again"], r["keyed"], r["ok"]) for r in lines] == [
        ("nozap", 20, 20, 0, True), ("zap", 20, 20, 40, True), ("rotated", 20, 20, 40, True)]


def test_tcp_relay_cuts_a_client_that_stops_reading() -> None:
    """bench/tcp_relay.py (the P7 baseline): a client that never reads is cut once one send to it has
    blocked for --send-timeout, and the others keep getting every line meanwhile (nothing wedges)."""
    relay = subprocess.Popen([sys.executable, os.path.join(BENCH, "tcp_relay.py"), "--send-timeout", "0.3",
                              "--max-seconds", "60"], stdout=subprocess.PIPE, text=True)
    try:
        ready = relay.stdout.readline().split()      # READY <port> 0 - -
        assert ready[0] == "READY", ready
        stuck = socket.socket()
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", int(ready[1])))
        talker = socket.create_connection(("127.0.0.1", int(ready[1])), timeout=10)
        # the relay lists a client when it has accepted it: the talker's first line must come back first
        talker.sendall(b"talker~hello\n")
        assert talker.recv(100) == b"talker~hello\n"
        talker.setblocking(False)
        text = b"".join(b"talker~%05d " % k + b"x" * 990 + b"\n" for k in range(8000))  # 8 MB: past every buffer
        out, back, deadline = text, b"", time.monotonic() + 30
        while len(back) < len(text) and time.monotonic() < deadline:
            readable, writable, _ = select.select([talker], [talker] if out else [], [], 0.5)
            if writable:
                out = out[talker.send(out[:65536]):]
            if readable:
                back += talker.recv(1 << 20)
        assert back == text, f"the talker got {len(back)} of {len(text)} bytes back"
        stuck.settimeout(10)
        got = b""
        while chunk := stuck.recv(1 << 20):            # what was buffered for it, then the cut
            got += chunk
        assert len(got) < len(text), "the stuck client was never cut"
        talker.close()
        stuck.close()
    finally:
        relay.terminate()
        relay.wait(10)
