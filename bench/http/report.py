"""The HTTP benchmark's printed report (figures, targets met or missed) and its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[1] / "results" / "http-latest.json"

# The targets, in milliseconds.
QUEUE_P95_MS = 100.0
COMPLETE_P95_MS = 50.0

ROWS = (
    ("queue_groups", "queue ?q=groups (tina)"),
    ("queue_all", "queue ?q=all (sam, manager)"),
    ("incident_open", "incident page, open incidents"),
    ("incident_closed", "incident page, closed incidents"),
    ("complete_1", "complete a task, 1 client"),
    ("complete_concurrent", "complete a task, {clients} clients"),
)


def targets(measured: dict[str, Any]) -> list[tuple[str, float, bool]]:
    """(target, measured p95, met?) for each target the issue sets."""
    found = []
    for key, label in (("queue_groups", "q=groups"), ("queue_all", "q=all")):
        if key in measured:
            target = f"queue page ({label}) p95 < {QUEUE_P95_MS:.0f} ms"
            found.append(_verdict(target, measured[key], QUEUE_P95_MS))
    if "complete_1" in measured:
        target = f"task completion, 1 client, p95 < {COMPLETE_P95_MS:.0f} ms"
        found.append(_verdict(target, measured["complete_1"], COMPLETE_P95_MS))
    return found


def _verdict(target: str, measured: dict[str, Any], limit: float) -> tuple[str, float, bool]:
    """Met only if every request answered as it should and the p95 is under `limit`."""
    p95 = measured["p95_ms"]
    return target, p95, measured["n"] > 0 and not measured["errors"] and p95 < limit


def _table(name: str, run: dict[str, Any]) -> list[str]:
    measured = run["measurements"]
    clients = measured.get("complete_concurrent", {}).get("clients", "?")
    head = (
        f"{name + ' (' + run['server'] + ')':<46}{'p50':>8}{'p95':>8}{'p99':>8}{'mean':>8}"
        f"{'n':>6}{'errors':>8}{'per s':>8}{'cpu/req':>9}"
    )
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        m = measured.get(key)
        if not m:
            continue
        rate = f"{m['per_s']:.1f}" if "per_s" in m else ""
        cpu = f"{m['server_cpu_ms']:.1f}" if m.get("server_cpu_ms") is not None else "-"
        lines.append(
            f"{label.format(clients=clients):<46}{m['p50_ms']:>8.1f}{m['p95_ms']:>8.1f}"
            f"{m['p99_ms']:>8.1f}{m['mean_ms']:>8.1f}{m['n']:>6}{m['errors']:>8}{rate:>8}"
            f"{cpu:>9}"
        )
    for key in ("queue_groups", "queue_all"):
        m = measured.get(key, {})
        if m.get("rows_in_queue") is not None:
            lines.append(
                f"  {key}: {m['rows_in_queue']:,} open tasks in the queue, "
                f"{m['rows_shown']} rows shown"
            )
    lines.append(
        "  times in ms, client side (request sent to body read); per s = completions/s; "
        "cpu/req = the gunicorn workers' CPU ms per request (not the database server's)"
    )
    for key, m in measured.items():
        if m.get("first_error"):
            lines.append(f"  FIRST ERROR ({key}): {m['first_error'][:600]}")
    return lines


def _seed_lines(seed: dict[str, Any]) -> list[str]:
    how = (
        f"seeded in {seed['seconds']:.0f}s (templates {seed['templates_s']:.1f}s, "
        f"{seed['clones']:,} clones in {seed['clones_s']:.0f}s, "
        f"{seed['clones'] / max(seed['clones_s'], 1e-9):,.0f}/s)"
    )
    if seed["reused"]:
        how = f"reused, {how.replace('seeded', 'seeded earlier', 1)}"
    tasks = ", ".join(f"{k} {v:,}" for k, v in sorted(seed["open_tasks"].items()))
    lines = [
        f"  data: {seed['incidents']:,} incidents, {seed['open']:,} open; {how}",
        f"  open tasks: {tasks}; {seed['history_rows']:,} history rows",
    ]
    if seed.get("cloned"):
        lines.append(f"  cloned: {seed['cloned']}")
    if seed.get("chain_problems"):
        lines.append(f"  HISTORY CHAIN PROBLEMS: {seed['chain_problems'][:3]}")
    return lines


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Deskflow HTTP benchmark: {meta['incidents']:,} incidents ({meta['open']:,} open), "
        f"{meta['cpus']} CPUs (load {meta['load_average']:.2f} at start, "
        f"{meta.get('load_average_end', 0):.2f} at the end), "
        f"Python {meta['python']}, seed {meta['seed']}",
        f"command: {meta['command']}",
    ]
    if meta["load_average"] >= 0.5 * (meta["cpus"] or 1):
        lines.append(
            f"NOTE: the machine was busy when the run began (load {meta['load_average']:.1f} "
            f"on {meta['cpus']} CPUs): other processes may have slowed these figures"
        )
    verdicts = []
    for name, run in results["databases"].items():
        lines += ["", *_table(name, run), *_seed_lines(run["seed"])]
        for target, p95, met in targets(run["measurements"]):
            verdicts.append(
                f"  {name + ': ' + target:<60}{p95:>9.1f} ms   {'PASS' if met else 'MISS'}"
            )
    lines += ["", "targets", "-------", *verdicts, f"\nresults written to {meta['json']}"]
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
