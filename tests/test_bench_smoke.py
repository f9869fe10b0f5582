"""Smoke test of the benchmark drivers in bench/: each runs for a fraction of a second with tiny
counts and must print its JSON result line with no lost, duplicated or out-of-order message.

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
    "idle_zchat": ["idle.py", "--target", "zchat", "--clients", "20", "--extra", "2", "--timeout", "20"],
    "idle_raw": ["idle.py", "--target", "raw", "--clients", "20", "--timeout", "20"],
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


def test_zap_cost_measures_both_modes() -> None:
    cp = subprocess.run([sys.executable, os.path.join(BENCH, "zap_cost.py"), "--connections", "20",
                         "--timeout", "20"], cwd=ROOT, capture_output=True, text=True, timeout=90)
    lines = [json.loads(ln) for ln in cp.stdout.splitlines() if ln.startswith("{")]
    assert cp.returncode == 0, cp.stderr[-2000:]
    assert [(r["zap"], r["connected"], r["ok"]) for r in lines] == [(False, 20, True), (True, 20, True)]
