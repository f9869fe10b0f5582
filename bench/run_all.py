"""One command for zchat's benchmark: every goal row, zchat and its baselines in the same run.

  python bench/run_all.py              # all rows, 3 repeats (about 14 minutes on 2 cores)
  python bench/run_all.py --only P2    # one goal row (P1..P7), or F, S, A1; several: --only P1,P7
  python bench/run_all.py --only P7 --merge   # ... and keep the other rows of summary.md
  python bench/run_all.py --list       # the commands

The goals are issue 12's (they replaced issue 6's); a MISS is a figure, not a failure.

Every target seals what it publishes and its drivers open every frame they count (zchat:
protocol 2; the relay baselines: bench/sealing.py), and zchat and drain_store sync each
batch to disk before they acknowledge it. Rows F and S measure what those two cost (the same
jobs with --no-fsync / --store-sync=NORMAL / --no-seal, and seal_cost.py); row A1 what attacks
cost a healthy client (attack.py).

Each repeat runs every job once, zchat and its baseline back to back (interleaved, so a noisy
neighbour hits both sides alike). A job whose JSON line says "ok": false (lost, duplicated or
out-of-order messages, failed acks, set-up errors) or that prints nothing is a FAILURE, never a
figure. Writes bench/results/raw.jsonl (one line per job run) and bench/results/summary.md:
median [min-max] of each side and of the per-repeat ratio zchat/baseline, against the goal.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable


def J(script, args, timeout=240):
    return {"script": script, "args": args, "timeout": timeout}


# job id -> command (relative to bench/)
JOBS = {
    "P1_zchat": J("thr.py", "--target zchat --dealers 10 --subs 1 --seconds 2"),
    "P1_store": J("thr.py", "--target drain_store --dealers 10 --subs 1 --seconds 2"),
    "P2_zchat_s10": J("thr.py", "--target zchat --dealers 10 --subs 10 --seconds 2"),
    "P2_store_s10": J("thr.py", "--target drain_store --dealers 10 --subs 10 --seconds 2"),
    "P2_zchat_s100": J("thr.py", "--target zchat --dealers 10 --subs 100 --seconds 2"),
    "P2_fast_s100": J("thr.py", "--target drain_fast --dealers 10 --subs 100 --seconds 2"),
    "P3_zchat": J("lat.py", "--target zchat --clients 1000 --group 10 --rate 1000 --seconds 3"),
    "P3_fast": J("lat.py", "--target drain_fast --clients 1000 --group 10 --rate 1000 --seconds 3"),
    "P45_zchat": J("idle.py", "--target zchat --clients 9900 --extra 20 --timeout 90", timeout=240),
    "P45_raw": J("idle.py", "--target raw --clients 9900 --timeout 90", timeout=240),
    # what fsync and sealing cost: the same jobs without them (rows F and S)
    "F_P1_zchat_nofsync": J("thr.py", "--target zchat --dealers 10 --subs 1 --seconds 2 --broker-args=--no-fsync"),
    "F_P1_store_nosync": J("thr.py", "--target drain_store --dealers 10 --subs 1 --seconds 2 "
                                     "--broker-args=--store-sync=NORMAL"),
    "F_P3_zchat_nofsync": J("lat.py", "--target zchat --clients 1000 --group 10 --rate 1000 --seconds 3 "
                                      "--broker-args=--no-fsync"),
    "F_P3_store": J("lat.py", "--target drain_store --clients 1000 --group 10 --rate 1000 --seconds 3"),
    "F_P3_store_nosync": J("lat.py", "--target drain_store --clients 1000 --group 10 --rate 1000 --seconds 3 "
                                     "--broker-args=--store-sync=NORMAL"),
    "S_P1_store_noseal": J("thr.py", "--target drain_store --dealers 10 --subs 1 --seconds 2 --broker-args=--no-seal"),
    "S_P2_fast_s100_noseal": J("thr.py", "--target drain_fast --dealers 10 --subs 100 --seconds 2 "
                                         "--broker-args=--no-seal"),
    "S_P3_fast_noseal": J("lat.py", "--target drain_fast --clients 1000 --group 10 --rate 1000 --seconds 3 "
                                    "--broker-args=--no-seal"),
    "S_seal_cost": J("seal_cost.py", ""),
    "A1_attack": J("attack.py", "--seconds 4 --idle-seconds 12", timeout=400),
    # M1 (issue 16): two brokers on one PostgreSQL (fsync on, clients spread over both, so half of every
    # delivery crosses the bus) against one broker on SQLite, the same jobs in the same run
    "M1_sqlite_thr": J("thr.py", "--target zchat --dealers 10 --subs 10 --seconds 2"),
    "M1_pg2_thr": J("thr.py", "--target zchat --brokers 2 --dealers 10 --subs 10 --seconds 2"),
    "M1_sqlite_lat": J("lat.py", "--target zchat --clients 1000 --group 10 --rate 1000 --seconds 3"),
    "M1_pg2_lat": J("lat.py", "--target zchat --brokers 2 --clients 1000 --group 10 --rate 1000 --seconds 3"),
}
ATTACKS = ("sub_flood", "nonsub_flood", "big_frame", "idle_conns", "history_pipeline")
for n in (10, 50, 200):
    # one message in flight per user (row P7); _nosubs: zchat's request path alone, no SUB to open (info)
    JOBS[f"P7_zchat_n{n}"] = J("inflight.py", f"--target zchat --users {n} --seconds 2")
    JOBS[f"P7_tcp_n{n}"] = J("inflight.py", f"--target tcp_relay --users {n} --seconds 2")
    JOBS[f"P7_zchat_n{n}_nosubs"] = J("inflight.py", f"--target zchat --users {n} --receivers 0 --seconds 2")
    # not goals: the cheapest relays that do zchat's obligatory work under the same driver (its ceiling):
    # drain_store = CURVE, decode, SQLite insert synced (synchronous=FULL) before its ack and its sealed publish;
    # drain_fast = CURVE and a sealed publish only (no store, no ack: the answer is the sender's own line back)
    JOBS[f"P7_store_n{n}"] = J("inflight.py", f"--target drain_store --users {n} --seconds 2")
    JOBS[f"P7_fast_n{n}"] = J("inflight.py", f"--target drain_fast --users {n} --seconds 2")
for n in (10, 50, 200):
    JOBS[f"P6_zchat_thr_n{n}"] = J("thr.py", f"--target zchat --dealers {n} --subs {n} --window 200 --seconds 2")
    # not a goal: a minimal CURVE+seal relay under the same driver (a reference, not a ceiling: zchat bundles)
    JOBS[f"P6_fast_thr_n{n}"] = J("thr.py", f"--target drain_fast --dealers {n} --subs {n} --window 200 --seconds 2")
    JOBS[f"P6_irc_thr_n{n}"] = J("irc_load.py", f"--clients {n} --rate 0 --window 200 "
                                  f"--count {2000000 // n} --max-seconds 2")
    JOBS[f"P6_zchat_lat_n{n}"] = J("lat.py", f"--target zchat --clients {n} --group {n} --rate 100 --seconds 3")
    JOBS[f"P6_irc_lat_n{n}"] = J("irc_load.py", f"--clients {n} --rate 100 --seconds 3")
    JOBS[f"F_P6_zchat_thr_n{n}_nofsync"] = J("thr.py", f"--target zchat --dealers {n} --subs {n} --window 200 "
                                                     "--seconds 2 --broker-args=--no-fsync")
    JOBS[f"S_P6_fast_thr_n{n}_noseal"] = J("thr.py", f"--target drain_fast --dealers {n} --subs {n} --window 200 "
                                                   "--seconds 2 --broker-args=--no-seal")


def C(what, z, base, key, op=None, goal=None, bkey=None):
    """A check: ratio z[key] / base[bkey or key] (op '>=' or '<=' goal); base None: absolute z[key].
    op None: a figure for context ("info"), not a goal. base == z: two figures of one job (*)."""
    return {"what": what, "z": z, "base": base, "key": key, "bkey": bkey or key, "op": op, "goal": goal}


ROWS = [
    ("P1", "10 senders -> 1 group, 1 subscriber, 100 B, stored + acked", [
        C("msgs/s vs drain_store", "P1_zchat", "P1_store", "msgs_per_s", ">=", 1.0)]),
    ("P2", "fan-out deliveries, one group of 10 / 100 subscribers", [
        C("deliveries/s, 10 subs, vs drain_store", "P2_zchat_s10", "P2_store_s10", "deliveries_per_s", ">=", 0.8),
        C("deliveries/s, 100 subs, vs drain_fast", "P2_zchat_s100", "P2_fast_s100", "deliveries_per_s", ">=", 0.75)]),
    ("P3", "latency, 1,000 clients in groups of 10, 1,000 msgs/s", [
        C("p50 vs drain_fast", "P3_zchat", "P3_fast", "p50_us", "<=", 1.2),
        C("info: p99 vs drain_fast", "P3_zchat", "P3_fast", "p99_us"),
        C("info: p99 (us), absolute", "P3_zchat", None, "p99_us"),
        C("info: p50 of the synced relay (drain_store: JSON decode, SQLite insert, WAL fsync and its ack before the "
          "sealed publish) vs drain_fast (CURVE and the sealed publish only)", "F_P3_store", "P3_fast", "p50_us"),
        C("info: p50 of drain_store synced (FULL) vs not synced (NORMAL): the WAL sync alone", "F_P3_store",
          "F_P3_store_nosync", "p50_us")]),
    ("P4", "idle clients at the open-file limit (9,900)", [
        C("broker RSS vs raw idle broker", "P45_zchat", "P45_raw", "broker_rss_mb", "<=", 1.3),
        C("broker idle CPU %, absolute", "P45_zchat", None, "broker_idle_cpu_pct", "<=", 2.0),
        C("hellos past the cap refused (of 20)", "P45_zchat", None, "extra_refused", ">=", 20),
        C("broker CPU % after refusals (no spinning)", "P45_zchat", None, "broker_cpu_pct_after_cap", "<=", 2.0)]),
    ("P5", "one message to all 9,900; 9,900 joining at once", [
        C("broadcast fan-out time vs raw", "P45_zchat", "P45_raw", "bcast_fanout_ms", "<=", 2.0),
        C("connect storm, all ready, vs raw", "P45_zchat", "P45_raw", "sync_s", "<=", 3.0),
        C("presence publishes per join (batched)", "P45_zchat", "P45_zchat", "presence_msgs", "<=", 0.1,
          bkey="presence_changes")]),
    ("P6", "against stock miniircd, N users in one group", [
        *[C(f"deliveries/s to others, N={n}", f"P6_zchat_thr_n{n}", f"P6_irc_thr_n{n}",
            "deliveries_others_per_s", ">=", 1.0, bkey="deliveries_per_s")
          for n in (10, 50, 200)],
        *[C(f"p99 at 100 msgs/s, N={n}", f"P6_zchat_lat_n{n}", f"P6_irc_lat_n{n}", "p99_us", "<", 1.0)
          for n in (10, 50, 200)],
        *[C(f"info: the CURVE+seal relay (drain_fast: a message per frame, no store, no ack) vs miniircd, N={n}",
            f"P6_fast_thr_n{n}", f"P6_irc_thr_n{n}", "deliveries_others_per_s", None, None, bkey="deliveries_per_s")
          for n in (10, 50, 200)],
        *[C(f"info: zchat vs drain_fast, N={n}", f"P6_zchat_thr_n{n}", f"P6_fast_thr_n{n}",
            "deliveries_others_per_s", None, None) for n in (10, 50, 200)]]),
    ("P7", "N users, one message in flight each, vs the original chat's TCP relay (a thread per client)", [
        *[C(f"msgs/s completed, N={n}", f"P7_zchat_n{n}", f"P7_tcp_n{n}", "msgs_per_s", ">=", 1.0)
          for n in (10, 50, 200)],
        *[C(f"info: round trip p50, N={n}", f"P7_zchat_n{n}", f"P7_tcp_n{n}", "p50_us") for n in (10, 50, 200)],
        *[C(f"info: msgs/s, N={n}, zchat with no SUB (the request path; the driver opens nothing) vs the relay",
            f"P7_zchat_n{n}_nosubs", f"P7_tcp_n{n}", "msgs_per_s") for n in (10, 50, 200)],
        *[C(f"info: the CURVE+seal+fsync relay (drain_store) vs tcp_relay, msgs/s, N={n}", f"P7_store_n{n}",
            f"P7_tcp_n{n}", "msgs_per_s") for n in (10, 50, 200)],
        *[C(f"info: the CURVE+seal relay (drain_fast: no store, no ack) vs tcp_relay, msgs/s, N={n}",
            f"P7_fast_n{n}", f"P7_tcp_n{n}", "msgs_per_s") for n in (10, 50, 200)],
        *[C(f"info: zchat vs the CURVE+seal+fsync relay (drain_store), msgs/s, N={n}", f"P7_zchat_n{n}",
            f"P7_store_n{n}", "msgs_per_s") for n in (10, 50, 200)]]),
    ("F", "what fsync costs: the same job synced / not synced", [
        C("info: P1 msgs/s, zchat (fsync) vs zchat --no-fsync", "P1_zchat", "F_P1_zchat_nofsync", "msgs_per_s"),
        C("info: P1 msgs/s, drain_store FULL vs NORMAL", "P1_store", "F_P1_store_nosync", "msgs_per_s"),
        *[C(f"info: P6 deliveries/s to others, N={n}, zchat (fsync) vs zchat --no-fsync", f"P6_zchat_thr_n{n}",
            f"F_P6_zchat_thr_n{n}_nofsync", "deliveries_others_per_s") for n in (10, 50, 200)],
        C("info: P3 p50, zchat (fsync) vs zchat --no-fsync", "P3_zchat", "F_P3_zchat_nofsync", "p50_us"),
        C("info: P3 p99, zchat (fsync) vs zchat --no-fsync", "P3_zchat", "F_P3_zchat_nofsync", "p99_us"),
        C("info: P3 p50, zchat vs drain_store (both synced)", "P3_zchat", "F_P3_store", "p50_us"),
        C("info: P3 p99, zchat vs drain_store (both synced)", "P3_zchat", "F_P3_store", "p99_us")]),
    ("S", "what sealing costs: the same baseline sealed / plaintext, and one frame", [
        C("info: P1 msgs/s, drain_store sealed vs plaintext", "P1_store", "S_P1_store_noseal", "msgs_per_s"),
        C("info: P2 deliveries/s, 100 subs, drain_fast sealed vs plaintext", "P2_fast_s100", "S_P2_fast_s100_noseal",
          "deliveries_per_s"),
        *[C(f"info: P6 deliveries/s to others, N={n}, drain_fast sealed vs plaintext", f"P6_fast_thr_n{n}",
            f"S_P6_fast_thr_n{n}_noseal", "deliveries_others_per_s") for n in (10, 50, 200)],
        C("info: P3 p50, drain_fast sealed vs plaintext", "P3_fast", "S_P3_fast_noseal", "p50_us"),
        C("info: P3 p99, drain_fast sealed vs plaintext", "P3_fast", "S_P3_fast_noseal", "p99_us"),
        *[C(f"info: {op} one {n} B frame (us; {who})", "S_seal_cost", None, f"{op}_{n}_us")
          for n in (100, 2048) for op, who in (("seal", "the broker, per publish"),
                                                ("open", "each receiver, per delivery"))]]),
    ("M1", "two brokers on one PostgreSQL vs one broker on SQLite: 10 senders -> 10 subscribers; 1,000 clients "
           "in groups of 10 at 1,000 msgs/s", [
        C("info: stored msgs/s, 2 brokers on PostgreSQL vs 1 on SQLite", "M1_pg2_thr", "M1_sqlite_thr", "msgs_per_s"),
        C("info: deliveries/s across brokers vs 1 on SQLite", "M1_pg2_thr", "M1_sqlite_thr", "deliveries_per_s"),
        C("info: p50 (us), 2 brokers on PostgreSQL vs 1 on SQLite", "M1_pg2_lat", "M1_sqlite_lat", "p50_us"),
        C("info: p99 (us), 2 brokers on PostgreSQL vs 1 on SQLite", "M1_pg2_lat", "M1_sqlite_lat", "p99_us"),
        C("info: brokers' CPU % (both), throughput job", "M1_pg2_thr", "M1_sqlite_thr", "broker_cpu_pct"),
        C("info: PostgreSQL's CPU %, throughput job", "M1_pg2_thr", None, "db_cpu_pct")]),
    ("A1", "attacks: a healthy client's ping round trip and the broker's RSS, vs no attack in the same run", [
        C(f"info: {a}: {what}", "A1_attack", *base, f"{a}_{key}", bkey=f"none_{key}")
        for a in ATTACKS for what, key, base in (("ping p50 (us)", "ping_p50_us", ["A1_attack"]),
                                                 ("ping p99 (us)", "ping_p99_us", ["A1_attack"]),
                                                 ("broker RSS growth in the phase (MB)", "rss_grew_mb", [None]))]),
]


def judge(val, op, goal):
    """The verdict of a check's median against its goal (op None: a figure for context)."""
    if op is None:
        return "info"
    return "PASS" if {">=": val >= goal, "<=": val <= goal, "<": val < goal}[op] else "MISS"


def overall(verdicts):
    """One row's verdict from its checks' verdicts."""
    if all(x == "PASS" for x in verdicts):
        return "PASS"
    return "FAIL" if any(x.startswith("FAIL") for x in verdicts) else "MISS"


def run_job(jid, job):
    cmd = [PY, os.path.join(HERE, job["script"]), *job["args"].split()]
    load = os.getloadavg()[0]      # the machine is shared: how busy it was as the job began
    t = time.monotonic()
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=job["timeout"], cwd=os.path.dirname(HERE))
        lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
        res = json.loads(lines[-1]) if lines else {"ok": False, "error": (cp.stderr or cp.stdout)[-600:]}
    except subprocess.TimeoutExpired:
        res = {"ok": False, "error": "timeout"}
    res.setdefault("ok", False)
    res.update({"id": jid, "run_s": round(time.monotonic() - t, 1), "ts": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "load1": load})
    return res


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def stat(vals):
    if not vals:
        return "FAILED"
    return f"{fmt(statistics.median(vals))} [{fmt(min(vals))}–{fmt(max(vals))}]"


def load_range(results):
    loads = [r["load1"] for rs in results.values() for r in rs if r and "load1" in r]
    return f"{statistics.median(loads):.1f} [{min(loads):.1f}–{max(loads):.1f}]" if loads else "not recorded"


def summarise(results, repeats, wall_s):
    """results: job id -> list of per-repeat dicts (None where not run)."""
    lines = ["# zchat benchmark summary", "",
             f"`python bench/run_all.py` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, {repeats} repeats "
             f"(zchat and baselines interleaved), {wall_s / 60:.1f} min. Figures: median [min–max]. "
             "Ratio: median [min–max] of the per-repeat ratio zchat / baseline, measured back to back. "
             "A run with lost, duplicated or out-of-order messages (or failed acks) is a FAILURE, not a figure. "
             f"Load average (1 min) as the jobs began: {load_range(results)}.", "",
             "| row | check | zchat | baseline | ratio | goal | verdict |", "|---|---|---|---|---|---|---|"]
    verdicts = {}
    for rid, _title, checks in ROWS:
        for c in checks:
            zr = results.get(c["z"], [])
            br = results.get(c["base"], []) if c["base"] else []
            if not zr or (c["base"] and not br):     # a job of this check was not run (--only)
                continue
            zvals = [r[c["key"]] for r in zr if r and r.get("ok") and isinstance(r.get(c["key"]), (int, float))]
            zfail = sum(1 for r in zr if r and not r.get("ok"))
            if c["base"]:
                bvals = [r[c["bkey"]] for r in br if r and r.get("ok") and isinstance(r.get(c["bkey"]), (int, float))]
                ratios = []
                for a, b in zip(zr, br, strict=False):     # a repeat the other side lacks has no ratio
                    if a and b and a.get("ok") and b.get("ok"):
                        x, y = a.get(c["key"]), b.get(c["bkey"])
                        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and y:
                            ratios.append(x / y)
                val = statistics.median(ratios) if ratios else None
                rtxt = stat(ratios) if ratios else "FAILED"
                btxt = stat(bvals) + (" *" if c["base"] == c["z"] else "")
            else:
                val = statistics.median(zvals) if zvals else None
                rtxt, btxt = "-", "-"
            if val is None or zfail:
                verdict = "FAIL" + (f" ({zfail} failed runs)" if zfail else "")
            else:
                verdict = judge(val, c["op"], c["goal"])
            if c["op"] is not None:
                verdicts.setdefault(rid, []).append(verdict)
            goal = f"{c['op']} {c['goal']}" if c["op"] else "-"
            lines.append(f"| {rid} | {c['what']} | {stat(zvals)} | {btxt} | {rtxt} | {goal} | **{verdict}** |")
    lines += ["", "\\* two figures of one job: P5's presence row, zchat's presence publishes / presence changes "
              "in the storm; A1, the figure during the attack / with no attack, in the same run.", "",
              "## Per row", ""]
    for rid, title, _ in ROWS:
        if rid in verdicts:
            lines.append(f"- **{rid}** ({title}): {overall(verdicts[rid])}")
    lines += ["", "## Jobs", "", "| job | command | runs ok | run time s | failures |", "|---|---|---|---|---|"]
    for jid, job in JOBS.items():
        rs = [r for r in results.get(jid, []) if r]
        if not rs:
            continue
        errs = [r.get("error") or {k: r[k] for k in ("errors", "lost", "dup", "ooo", "ack_errors", "welcomed", "synced",
                                                     "extra_refused") if r.get(k)}
                for r in rs if not r.get("ok")]
        lines.append(f"| {jid} | `python bench/{job['script']} {job['args']}` | {sum(1 for r in rs if r.get('ok'))}"
                     f"/{len(rs)} | {stat([r['run_s'] for r in rs])} | {json.dumps(errs)[:300] if errs else ''} |")
    return "\n".join(lines) + "\n"


def write_summary(a, text):
    """Write summary.md (with --merge: into the rows of the one before it that this run did not measure)."""
    path = os.path.join(a.out, "summary.md")
    if a.merge and os.path.exists(path):
        from summary_merge import merge
        with open(path) as f:
            text = merge(f.read(), text, ROWS, JOBS, judge, overall)
    with open(path, "w") as f:
        f.write(text)
    print(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", default="", help="a row (P1..P7, F, S, A1: every job it needs) or a substring of "
                                               "job ids; several, comma-separated")
    ap.add_argument("--merge", action="store_true", help="keep the rows of summary.md this run does not measure "
                                                         "(judged again against the goals here: summary_merge.py)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--summarise", action="store_true", help="only rewrite summary.md from raw.jsonl")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    rows = {rid: {j for c in checks for j in (c["z"], c["base"]) if j} for rid, _, checks in ROWS}
    only = [w for w in a.only.split(",") if w]
    jobs = {k: v for k, v in JOBS.items() if not only or any(k in rows.get(w, ()) or (w not in rows and w in k)
                                                             for w in only)}
    if a.list:
        for k, j in jobs.items():
            print(f"{k:22s} python bench/{j['script']} {j['args']}")
        return
    os.makedirs(a.out, exist_ok=True)
    if a.summarise:
        results, reps = {}, 0
        with open(os.path.join(a.out, "raw.jsonl")) as raw:
            for ln in raw:
                r = json.loads(ln)
                results.setdefault(r["id"], []).append(r)
                reps = max(reps, r.get("rep", 0) + 1)
        write_summary(a, summarise(results, reps, sum(r.get("run_s", 0) for rs in results.values() for r in rs)))
        return
    results = {k: [] for k in jobs}
    t0 = time.monotonic()
    with open(os.path.join(a.out, "raw.jsonl"), "w") as raw:
        for rep in range(a.repeats):
            for jid, job in jobs.items():
                res = run_job(jid, job)
                res["rep"] = rep
                raw.write(json.dumps(res, sort_keys=True) + "\n")
                raw.flush()
                results[jid].append(res)
                bad = "" if res["ok"] else f"FAILED {str(res.get('error') or res.get('errors') or '')[:120]}"
                keys = [k for k in ("msgs_per_s", "deliveries_per_s", "deliveries_others_per_s", "p50_us", "p99_us",
                                    "broker_rss_mb", "bcast_fanout_ms", "sync_s", "open_100_us",
                                    *(f"{x}_ping_p99_us" for x in ATTACKS)) if k in res]
                print(f"[{rep}] {jid:20s} {res['run_s']:6.1f}s {bad} {({k: res[k] for k in keys})}", flush=True)
    write_summary(a, summarise(results, a.repeats, time.monotonic() - t0))


if __name__ == "__main__":
    main()
