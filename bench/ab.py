"""A/B: the same zchat jobs of run_all.py in two source trees, interleaved, to measure what a change costs.

  git worktree add /tmp/base <commit> && (cd /tmp/base && python3 -m venv .venv && .venv/bin/pip install -e .)
  python bench/ab.py --a /tmp/base --b . --only P1,P2,P3 --repeats 4

Each tree runs its own code end to end: its own venv's python (`TREE/.venv/bin/python`, or
--python-a/--python-b), its own bench driver, client library and broker, with the working directory
in the tree. Within a repeat the order alternates (A B, then B A, ...), so a neighbour's load that
grows or shrinks during the run hits both sides alike. Prints one JSON line per job run (also appended
to --raw) and a markdown table: median [min-max] of each side and of the per-repeat ratio B / A. A run
whose JSON says "ok": false, or that prints nothing, is reported as FAILED and kept out of the figures.
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
    "P1": [("P1_zchat", "msgs_per_s", "high")],
    "P2": [("P2_zchat_s10", "deliveries_per_s", "high"), ("P2_zchat_s100", "deliveries_per_s", "high")],
    "P3": [("P3_zchat", "p50_us", "low"), ("P3_zchat", "p99_us", "low")],
    "P6": [(f"P6_zchat_thr_n{n}", "deliveries_others_per_s", "high") for n in (10, 50, 200)],
    "P7": [(f"P7_zchat_n{n}", "msgs_per_s", "high") for n in (10, 50, 200)],
}


def run(tree, python, job):
    spec = JOBS[job]
    cmd = [python, os.path.join(tree, "bench", spec["script"]), *spec["args"].split()]
    load = os.getloadavg()[0]
    try:
        p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=spec["timeout"])
        out = p.stdout.strip().splitlines()
        res = json.loads(out[-1]) if out else {"ok": False, "error": p.stderr[-500:]}
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        res = {"ok": False, "error": repr(e)[:500]}
    res["load1"] = round(load, 2)
    return res


def med(xs, f="{:,.0f}"):
    """median [min-max], or FAILED when no run of the pair counted."""
    if not xs:
        return "FAILED"
    return f"{f.format(statistics.median(xs))} [{f.format(min(xs))}-{f.format(max(xs))}]"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="tree A (the reference, e.g. the commit before a feature)")
    ap.add_argument("--b", required=True, help="tree B (the change)")
    ap.add_argument("--python-a", help="A's python (default: A/.venv/bin/python)")
    ap.add_argument("--python-b", help="B's python (default: B/.venv/bin/python)")
    ap.add_argument("--only", default="P1,P2,P3", help="rows, comma-separated: " + ",".join(ROWS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--raw", default=os.path.join(HERE, "results", "raw_ab.jsonl"))
    a = ap.parse_args()
    sides = {"A": (os.path.abspath(a.a), a.python_a or os.path.join(os.path.abspath(a.a), ".venv/bin/python")),
             "B": (os.path.abspath(a.b), a.python_b or os.path.join(os.path.abspath(a.b), ".venv/bin/python"))}
    rows = [r for r in a.only.split(",") if r]
    jobs = list(dict.fromkeys(j for r in rows for j, _k, _b in ROWS[r]))
    got = {(s, j): [] for s in sides for j in jobs}
    t0 = time.time()
    with open(a.raw, "a") as raw:
        for rep in range(a.repeats):
            for n, job in enumerate(jobs):
                order = ("A", "B") if (rep + n) % 2 == 0 else ("B", "A")
                for s in order:
                    res = run(*sides[s], job)
                    res.update(side=s, tree=sides[s][0], job=job, repeat=rep)
                    line = json.dumps(res, sort_keys=True)
                    print(line, flush=True)
                    raw.write(line + "\n")
                    got[(s, job)].append(res if res.get("ok") else None)
    print(f"\n{a.repeats} repeats, {time.time() - t0:.0f} s; A = {sides['A'][0]}, B = {sides['B'][0]}\n")
    print("| row | job | key | A | B | B / A per repeat | loss |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        for job, key, better in ROWS[r]:
            pairs = [(x[key], y[key]) for x, y in zip(got[("A", job)], got[("B", job)], strict=True) if x and y]
            ratios = [y / x for x, y in pairs]
            if ratios:
                m = statistics.median(ratios)
                loss = f"{(1 - m) * 100:+.1f} %" if better == "high" else f"{(m - 1) * 100:+.1f} %"
            else:
                loss = "FAILED"
            print(f"| {r} | {job} | {key} | {med([x for x, _ in pairs])} | {med([y for _, y in pairs])} "
                  f"| {med(ratios, '{:.3f}')} | {loss} |")
    loads = [x["load1"] for v in got.values() for x in v if x]
    print(f"\nload (1 min) at the job starts: {med(loads, '{:.2f}')}; failed runs: "
          f"{sum(1 for v in got.values() for x in v if x is None)}")


if __name__ == "__main__":
    main()
