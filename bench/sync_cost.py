"""What the WAL sync costs one commit on this disk, in process: the floor under P3's latency.

BEGIN; INSERT n rows; COMMIT on drain_store's schema (bench/relay_broker.py), WAL mode, with
synchronous FULL (the WAL synced in the commit) and NORMAL (not synced) interleaved in blocks,
so a neighbour's load hits both alike. A broker that syncs before it publishes cannot answer
faster than FULL's figures, whatever it does besides (issue 12, row P3's info rows).

  python bench/sync_cost.py --blocks 5      # 5 x 200 commits per mode and batch size
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import tempfile
import time

SCHEMA = ("CREATE TABLE IF NOT EXISTS msg (conv BLOB, seq INTEGER, ts REAL, sender BLOB, cid TEXT, body TEXT,"
          " PRIMARY KEY (conv, seq))")


def commits(path: str, sync: str, rows: int, count: int) -> list[int]:
    """``count`` commits of ``rows`` rows each; each one's time in ns."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    db.execute("PRAGMA wal_autocheckpoint=1000")
    db.execute(SCHEMA)
    seq = db.execute("SELECT coalesce(max(seq), 0) FROM msg").fetchone()[0]
    out = []
    for _ in range(count):
        batch = [(b"p7", seq + i + 1, time.time(), b"u1", f"m{seq + i + 1}", "x" * 100) for i in range(rows)]
        seq += rows
        t = time.perf_counter_ns()
        db.execute("BEGIN")
        db.executemany("INSERT INTO msg VALUES (?, ?, ?, ?, ?, ?)", batch)
        db.execute("COMMIT")
        out.append(time.perf_counter_ns() - t)
    db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=5, help="blocks of 200 commits per mode and batch size")
    ap.add_argument("--dir", default=None, help="where the databases go (default: a temporary dir, on /tmp's disk)")
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="sync_cost_", dir=a.dir)
    try:
        times: dict[tuple[str, int], list[int]] = {(s, r): [] for s in ("FULL", "NORMAL") for r in (1, 10)}
        for _ in range(a.blocks):
            for sync, rows in times:
                times[(sync, rows)] += commits(os.path.join(d, f"{sync}.db"), sync, rows, 200)
        for (sync, rows), v in times.items():
            v.sort()

            def q(p: float, v: list[int] = v) -> float:
                return round(v[int(p * (len(v) - 1))] / 1000, 1)
            print(json.dumps({"bench": "sync_cost", "synchronous": sync, "rows_per_commit": rows, "n": len(v),
                              "min_us": q(0), "p50_us": q(0.5), "p90_us": q(0.9), "p99_us": q(0.99),
                              "load1": os.getloadavg()[0]}))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
