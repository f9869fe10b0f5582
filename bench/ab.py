"""A/B: the same zchat jobs of run_all.py in several source trees, interleaved, to measure what a change costs.

  git worktree add /tmp/base <commit> && (cd /tmp/base && python3 -m venv .venv && .venv/bin/pip install -e .)
  python bench/ab.py /tmp/base . --only P1,P2,P3 --repeats 4      # A = /tmp/base, B = this tree
  python bench/ab.py /tmp/base /tmp/other . --repeats 5            # A, B and C: B and C against A

Each tree runs its own code end to end: its own venv's python (`TREE/.venv/bin/python`, or
TREE=PYTHON), its own bench driver, client library and broker, with the working directory in the
tree. Within a repeat each job runs once per tree, each tree going first in turn, so a neighbour's
load that grows or shrinks during the run hits all sides alike. Prints one JSON line per job run
(also appended to --raw) and a markdown table (with the broker's CPU per message, the steadiest figure on
a busy machine): median [min-max] of each tree's figure and of its
per-repeat ratio to A. A run whose JSON says "ok": false, or that prints nothing, is FAILED and kept
out of the figures (with the runs it would be compared with).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run_all import JOBS  # noqa: E402

# row -> [(job, key, better)]: better "high" (throughput) or "low" (latency)
ROWS = {
    "P1": [("P1_zchat", "msgs_per_s", "high"), ("P1_zchat", "broker_us_per_msg", "low")],
    "P2": [("P2_zchat_s10", "deliveries_per_s", "high"), ("P2_zchat_s10", "broker_us_per_msg", "low"),
           ("P2_zchat_s100", "deliveries_per_s", "high"), ("P2_zchat_s100", "broker_us_per_msg", "low")],
    "P3": [("P3_zchat", "p50_us", "low"), ("P3_zchat", "p99_us", "low"), ("P3_zchat", "broker_us_per_msg", "low")],
    "P6": [(f"P6_zchat_thr_n{n}", "deliveries_others_per_s", "high") for n in (10, 50, 200)],
    "P7": [(f"P7_zchat_n{n}", "msgs_per_s", "high") for n in (10, 50, 200)],
}


def run(tree, python, job, seconds=None):
    spec = JOBS[job]
    args = spec["args"].split()
    if seconds is not None and "--seconds" in args:       # a shorter run, to try the set-up
        args[args.index("--seconds") + 1] = str(seconds)
    cmd = [python, os.path.join(tree, "bench", spec["script"]), *args]
    load = os.getloadavg()[0]
    try:
        p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=spec["timeout"])
        out = p.stdout.strip().splitlines()
        res = json.loads(out[-1]) if out else {"ok": False, "error": p.stderr[-500:]}
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        res = {"ok": False, "error": repr(e)[:500]}
    res["load1"] = round(load, 2)
    rate = res.get("msgs_per_s") or res.get("rate")     # thr.py / lat.py (its fixed rate)
    if res.get("ok") and rate and "broker_cpu_pct" in res:
        # the broker's CPU (every thread: CURVE runs on libzmq's) per message: what a change costs,
        # far steadier on a loaded machine than a throughput or a latency
        res["broker_us_per_msg"] = round(res["broker_cpu_pct"] * 1e4 / rate, 2)
    return res


def med(xs, f="{:,.0f}"):
    """median [min-max], or FAILED when no run of the pair counted."""
    if not xs:
        return "FAILED"
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}-{f.format(max(xs))}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("trees", nargs="+", metavar="TREE",
                    help="source trees, the reference first (e.g. the commit before a feature); each runs "
                         "TREE/.venv/bin/python, or PYTHON given as TREE=PYTHON")
    ap.add_argument("--only", default="P1,P2,P3", help="rows, comma-separated: " + ",".join(ROWS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, help="each job's --seconds instead of run_all.py's (a quick try)")
    ap.add_argument("--raw", default=os.path.join(HERE, "results", "raw_ab.jsonl"))
    a = ap.parse_args()
    sides = []
    for t in a.trees:
        tree, _, python = t.partition("=")
        tree = os.path.abspath(tree)
        sides.append((tree, python or os.path.join(tree, ".venv", "bin", "python")))
    rows = [r for r in a.only.split(",") if r]
    jobs = list(dict.fromkeys(j for r in rows for j, _k, _b in ROWS[r]))
    got: dict[tuple[int, str], list] = {(s, j): [] for s in range(len(sides)) for j in jobs}
    t0 = time.time()
    with open(a.raw, "a") as raw:
        for rep in range(a.repeats):
            for n, job in enumerate(jobs):
                shift = (rep + n) % len(sides)         # each tree goes first in turn
                for s in [*range(shift, len(sides)), *range(shift)]:
                    res = run(*sides[s], job, a.seconds)
                    res.update(tree=sides[s][0], job=job, repeat=rep)
                    line = json.dumps(res, sort_keys=True)
                    print(line, flush=True)
                    raw.write(line + "\n")
                    got[(s, job)].append(res if res.get("ok") else None)
    print(f"\n{a.repeats} repeats, {time.time() - t0:.0f} s; trees: "
          + ", ".join(f"{chr(65 + s)} = {tree}" for s, (tree, _py) in enumerate(sides)) + "\n")
    print("| row | job | key | tree | figure | ratio to A, per repeat | loss vs A |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for job, key, better in ROWS[r]:
            base = got[(0, job)]
            print(f"| {r} | {job} | {key} | A | {med([x[key] for x in base if x])} | | |")
            for s in range(1, len(sides)):
                pairs = [(x[key], y[key]) for x, y in zip(base, got[(s, job)], strict=True) if x and y]
                ratios = [y / x for x, y in pairs]
                loss = "FAILED"
                if ratios:
                    m = statistics.median(ratios)
                    loss = f"{(1 - m) * 100:+.1f} %" if better == "high" else f"{(m - 1) * 100:+.1f} %"
                print(f"| | | | {chr(65 + s)} | {med([y for _, y in pairs])} | {med(ratios, '{:.3f}')} | {loss} |")
    loads = [x["load1"] for v in got.values() for x in v if x]
    print(f"\nload (1 min) at the job starts: {med(loads, '{:.2f}')}; failed runs: "
          f"{sum(1 for v in got.values() for x in v if x is None)}")


if __name__ == "__main__":
    main()
