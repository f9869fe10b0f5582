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
MEASURED = re.compile(r" \*\*Rows measured in this run: (.*?)\.\*\*$")
KEPT = re.compile(r"^- kept (.+?): «(.*)»$")


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


def _sources(old: str, rows, fresh: set[str]) -> list[tuple[list[str], str]]:
    """The runs the old summary's rows come from, as (rows still kept, that run's header line)."""
    lines = old.splitlines()
    sources = [(m[1].split(", "), m[2]) for m in map(KEPT.match, lines) if m]
    header = next((ln for ln in lines if ln.startswith(HEADER)), "(no header)")
    m = MEASURED.search(header)
    if m:
        measured = m[1].split(", ")
        header = header[:m.start()]
    else:        # a whole run: every row in its table that no "kept" line claims
        claimed = {r for rs, _ in sources for r in rs}
        measured = [r for r, _ in _checks(old) if r not in claimed]
    sources.insert(0, (measured, header))
    order = [rid for rid, _, _ in rows]
    out = []
    for rs, hdr in sources:
        left = sorted({r for r in rs if r not in fresh and r in order}, key=order.index)
        if left:
            out.append((left, hdr))
    return out


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
    h = next(i for i, ln in enumerate(lines) if ln.startswith(HEADER))
    lines[h] += f" **Rows measured in this run: {', '.join(r for r, _, _ in rows if r in fresh) or 'none'}.**"
    kept = [f"- kept {', '.join(rs)}: «{hdr}»" for rs, hdr in _sources(old, rows, fresh)]
    if kept:
        lines[h + 1:h + 1] = ["", "Kept from earlier runs, their verdicts judged again against the goals now in "
                                  "run_all.py from the medians shown:", *kept]
    t = lines.index("|---|---|---|---|---|---|---|") + 1
    lines = _replace_block(lines, t, table, lambda ln: ln.startswith("| "))
    p = lines.index("## Per row") + 2
    lines = _replace_block(lines, p, per_row, lambda ln: ln.startswith("- **"))
    j = lines.index("|---|---|---|---|---|") + 1
    lines = _replace_block(lines, j, job_lines, lambda ln: ln.startswith("| "))
    return "\n".join(lines) + "\n"
