"""Merge a partial run's summary into the summary.md before it (run_all.py --only ROWS --merge).

A row the new run measured is taken whole from the new run (its checks are same-run ratios); every
other row is kept from the old summary, with its verdict judged again against the goal run_all.py
states now, from the median the old line shows (a goal can change between runs: issue 12 replaced
issue 6's). The jobs table keeps the old lines of the jobs not run; the header says which rows
come from which run.
"""
from __future__ import annotations

import re

CHECK = re.compile(r"^\| (\S+) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \| \*\*(.+?)\*\* \|$")
JOB = re.compile(r"^\| (\w+) \| `python bench/")
HEADER = "`python bench/run_all.py"


def _name(what: str) -> str:
    """A check's name without the "info: " that marks a check with no goal (a goal may come or go)."""
    return what.removeprefix("info: ")


def _checks(text: str) -> dict[tuple[str, str], list[str]]:
    return {(m[1], _name(m[2])): list(m.groups()) for m in map(CHECK.match, text.splitlines()) if m}


def _median(cell: str) -> float | None:
    head = cell.split(" [", 1)[0].replace(",", "")
    try:
        return float(head)
    except ValueError:           # FAILED, -
        return None


def _rejudge(cells: list[str], check: dict, judge) -> list[str]:
    """An old check line judged against the check's goal now."""
    rid, _, z, b, ratio, _, verdict = cells
    val = _median(ratio if check["base"] else z)
    if not verdict.startswith("FAIL") and val is not None:
        verdict = judge(val, check["op"], check["goal"])
    goal = f"{check['op']} {check['goal']}" if check["op"] else "-"
    return [rid, check["what"], z, b, ratio, goal, verdict]


def _replace_block(lines: list[str], start: int, new_block: list[str], keep) -> list[str]:
    """lines with the run of lines from `start` that satisfy keep() replaced by new_block."""
    end = start
    while end < len(lines) and keep(lines[end]):
        end += 1
    return lines[:start] + new_block + lines[end:]


def merge(old: str, new: str, rows, jobs, judge, overall) -> str:
    """old, new: summary.md texts; rows, jobs: run_all's ROWS and JOBS; judge, overall: its verdict rules."""
    old_checks, new_checks = _checks(old), _checks(new)
    fresh = {rid for rid, _ in new_checks}
    table, verdicts = [], {}
    for rid, _, checks in rows:
        for c in checks:
            key = (rid, _name(c["what"]))
            cells = new_checks.get(key) if rid in fresh else old_checks.get(key)
            if cells is None:
                continue
            if rid not in fresh:
                cells = _rejudge(cells, c, judge)
            table.append("| " + " | ".join(cells[:6]) + f" | **{cells[6]}** |")
            if c["op"] is not None:
                verdicts.setdefault(rid, []).append(cells[6])
    per_row = [f"- **{rid}** ({title}): {overall(verdicts[rid])}" for rid, title, _ in rows if rid in verdicts]
    old_jobs = {m[1]: ln for ln in old.splitlines() if (m := JOB.match(ln))}
    new_jobs = {m[1]: ln for ln in new.splitlines() if (m := JOB.match(ln))}
    job_lines = [new_jobs.get(j) or old_jobs[j] for j in jobs if j in new_jobs or j in old_jobs]

    lines = new.splitlines()
    kept = [rid for rid, _, _ in rows if rid not in fresh and any(k[0] == rid for k in old_checks)]
    old_header = next((ln for ln in old.splitlines() if ln.startswith(HEADER)), "(no header)")
    h = next(i for i, ln in enumerate(lines) if ln.startswith(HEADER))
    lines[h] += (f" **Rows measured in this run: {', '.join(sorted(fresh)) or 'none'}.** The other rows "
                 f"({', '.join(kept)}) are kept from the summary before it, their verdicts judged again against "
                 f"the goals now in run_all.py from the medians shown; that summary said: «{old_header}»")
    t = lines.index("|---|---|---|---|---|---|---|") + 1
    lines = _replace_block(lines, t, table, lambda ln: ln.startswith("| "))
    p = lines.index("## Per row") + 2
    lines = _replace_block(lines, p, per_row, lambda ln: ln.startswith("- **"))
    j = lines.index("|---|---|---|---|---|") + 1
    lines = _replace_block(lines, j, job_lines, lambda ln: ln.startswith("| "))
    return "\n".join(lines) + "\n"
