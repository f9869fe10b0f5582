"""Smoke test of the benchmark drivers in bench/: each runs for a fraction of a second with tiny
counts and must print its JSON result line with no lost, duplicated or out-of-order message.
Every published frame a driver counts is sealed and must open with the keys the driver holds
(a frame that does not open is counted and fails the run), so a driver that stopped speaking
the broker's protocol fails here.

The benchmarks themselves stay out of the test suite (`python bench/run_all.py`); this only keeps
the drivers from rotting as the protocol and the broker change.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

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


def test_zap_cost_measures_both_modes() -> None:
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "zap_cost.py"), "--connections", "20",
                         "--timeout", "20"], cwd=ROOT, capture_output=True, text=True, timeout=90)
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert [(r["zap"], r["connected"], r["ok"]) for r in lines] == [(False, 20, True), (True, 20, True)]
