"""The printed report (tables, ratios, targets) and the JSON written beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import sqlreport

RESULTS = Path(
    os.environ.get("DESKFLOW_BENCH_RESULTS")
    or Path(__file__).resolve().parent / "results" / "latest.json"
)

# The issue's targets.
B_OVER_A = 0.33
B_OVER_A_AIM = 0.5
B_OVER_D = 2.0
STATE_LIMIT = 10_000  # bytes: an instance row mid-lifecycle
SWEEP_LIMIT_MS = 20.0

KINDS = ("start_incident", "complete_task", "send_message", "fire_due_timers")


def _num(value: float | None, fmt: str = ".1f", missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def _kb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.1f} KB"


def variant_table(variants: dict[str, dict[str, Any]]) -> list[str]:
    head = (
        f"{'variant':<36}{'lifecycles/s':>13}{'cmds/lc':>8}{'mean ms':>9}{'p99 ms':>8}"
        f"{'state@diagnose':>16}{'(max)':>9}{'state@end':>11}{'history/inc':>12}"
    )
    lines = [head, "-" * len(head)]
    for v in variants.values():
        lines.append(
            f"{v['name']:<36}{_num(v['lifecycles_per_s']):>13}"
            f"{_num(v['commands_per_lifecycle']):>8}{_num(v['mean_ms'], '.2f'):>9}"
            f"{_num(v['p99_ms'], '.2f'):>8}{_kb(v['diagnose_bytes_mean']):>16}"
            f"{_kb(v['diagnose_bytes_max']):>9}{_kb(v['end_state_bytes']):>11}"
            f"{_num(v['history_rows_per_incident']):>12}"
        )
    return lines


def size_notes(variants: dict[str, dict[str, Any]]) -> list[str]:
    """Where the stored state is not the plain JSON (Deskflow deflates it), the JSON size."""
    notes = []
    for key, v in variants.items():
        json_mid, json_end = v.get("diagnose_json_bytes_mean"), v.get("end_json_bytes")
        if json_mid and v["diagnose_bytes_mean"] and json_mid != v["diagnose_bytes_mean"]:
            notes.append(
                f"  {key}: stored deflated; the JSON itself is {_kb(json_mid)} at "
                f"diagnose, {_kb(json_end)} at the end"
            )
    return notes


def kind_table(variants: dict[str, dict[str, Any]]) -> list[str]:
    keys = list(variants)
    head = f"{'mean / p99 ms per command':<28}" + "".join(f"{k:>16}" for k in keys)
    lines = [head, "-" * len(head)]
    for kind in KINDS:
        cells = []
        for key in keys:
            stats = variants[key]["by_kind"].get(kind)
            cells.append(f"{stats['mean_ms']:.2f} / {stats['p99_ms']:.1f}" if stats else "-")
        lines.append(f"{kind:<28}" + "".join(f"{c:>16}" for c in cells))
    lines.append(
        f"{'outside commands, ms/lc':<28}"
        + "".join(f"{_num(variants[k]['other_ms_per_lifecycle']):>16}" for k in keys)
        + "".join(_delivery(k, variants[k]) for k in keys)
    )
    return lines


def ratio_lines(
    ratios: dict[str, float | None], cpu: dict[str, float | None] | None = None
) -> list[str]:
    targets = {
        "b/a": f">= {B_OVER_A} (aim {B_OVER_A_AIM})",
        "c/a": "(none stated)",
        "b/d": f">= {B_OVER_D}",
    }
    lines = [f"{'ratio of lifecycles/s':<24}{'measured':>10}   {'target':<20}{'CPU time':>9}"]
    for name, value in ratios.items():
        cpu_value = _num((cpu or {}).get(name), ".2f")
        lines.append(f"{name:<24}{_num(value, '.2f'):>10}   {targets[name]:<20}{cpu_value:>9}")
    if cpu:
        lines.append(
            "  CPU time = the same ratio over this process's CPU seconds per lifecycle: "
            "less disturbed by other load, but without waits (fsync, PostgreSQL's own work)"
        )
    return lines


def sweep_lines(sweeps: dict[str, dict[str, Any]]) -> list[str]:
    head = (
        f"{'worker sweep, none due':<24}{'timers':>9}{'median ms':>11}{'min':>8}{'max':>8}"
        f"{'tracemalloc peak':>18}{'maxrss':>10}{'Δ maxrss':>10}"
    )
    lines = [head, "-" * len(head)]
    for name, s in sweeps.items():
        lines.append(
            f"{name:<24}{s['timers']:>9,}{s['median_ms']:>11.2f}{s['min_ms']:>8.2f}"
            f"{s['max_ms']:>8.2f}{s['tracemalloc_peak_kib']:>14.0f} KiB"
            f"{s['maxrss_kib'] / 1024:>6.0f} MiB{s['maxrss_delta_kib']:>6} KiB"
        )
    return lines


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, passed) for every target of the issue that was measured."""
    found: list[tuple[str, str, bool | None]] = []
    ratios, variants = results["ratios"], results["variants"]
    if ratios.get("b/a") is not None:
        found.append((f"b/a >= {B_OVER_A}", f"{ratios['b/a']:.2f}", ratios["b/a"] >= B_OVER_A))
        found.append(
            (f"b/a >= {B_OVER_A_AIM} (aim)", f"{ratios['b/a']:.2f}", ratios["b/a"] >= B_OVER_A_AIM)
        )
    if ratios.get("b/d") is not None:
        found.append((f"b/d >= {B_OVER_D}", f"{ratios['b/d']:.2f}", ratios["b/d"] >= B_OVER_D))
    for key in ("b", "c"):
        biggest = variants.get(key, {}).get("diagnose_bytes_max")
        if biggest is not None:
            found.append(
                (
                    f"{key}: instance row at diagnose < 10 KB (max)",
                    _kb(biggest),
                    biggest < STATE_LIMIT,
                )
            )
    for name, sweep in results["sweeps"].items():
        found.append(
            (
                f"sweep, {sweep['timers']:,} armed timers, {name} < "
                f"{SWEEP_LIMIT_MS:.0f} ms (median)",
                f"{sweep['median_ms']:.2f} ms",
                sweep["median_ms"] < SWEEP_LIMIT_MS,
            )
        )
    for key, v in variants.items():
        found.append(
            (
                f"{key}: every lifecycle ended as its path says",
                f"{len(v['problems'])} problem(s)",
                not v["problems"],
            )
        )
    return found


def _delivery(key: str, variant: dict[str, Any]) -> str:
    section = variant["sections"].get("delivery (not in lifecycle)")
    if not section:
        return ""
    per_incident = section["total_s"] * 1000 / variant["incidents"]
    return (
        f"\n  {key}: delivering the outbox (outside the lifecycle time): "
        f"{per_incident:.2f} ms per incident, {section['count']} rounds"
    )


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Deskflow benchmark: {meta['incidents']} incidents per variant, seed {meta['seed']}, "
        f"{meta['cpus']} CPUs (load {meta['load_average']:.2f} at start), "
        f"Python {meta['python']}, SpiffWorkflow {meta['spiff']}",
        f"databases: {', '.join(meta['databases'])}",
        "",
        *variant_table(results["variants"]),
        "  lifecycles/s = incidents driven start to close per second of wall time (sweeps and "
        "the desk's reads included)",
        "  cmds/lc = commands per lifecycle: the same engine commands in every variant "
        "(claiming a task is not an engine step, so it is not in the mix)",
        "  state = bytes stored per instance (d: JSON with the spec); "
        "history/inc = history rows per incident",
        *size_notes(results["variants"]),
        "",
        *kind_table(results["variants"]),
        "  outside commands = lifecycle time not spent in commands: worker polls/sweeps, "
        "the desk's reads",
        "",
        *ratio_lines(results["ratios"], results.get("cpu_ratios")),
    ]
    if results.get("sql"):
        lines += ["", *sqlreport.table(results["sql"])]
    if results["sweeps"]:
        lines += ["", *sweep_lines(results["sweeps"])]
    for key, v in results["variants"].items():
        for problem in v["problems"][:5]:
            lines.append(f"PROBLEM ({key}): {problem}")
    for db, counted in (results.get("sql") or {}).items():
        for problem in counted["problems"][:5]:
            lines.append(f"PROBLEM (SQL pass, {db}): {problem}")
    lines += ["", "targets", "-------"]
    for target, measured, passed in targets(results):
        verdict = "PASS" if passed else "MISS"
        lines.append(f"  {target:<54}{measured:>14}   {verdict}")
    lines.append(f"\nresults written to {RESULTS}")
    return "\n".join(lines)


def write_json(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
