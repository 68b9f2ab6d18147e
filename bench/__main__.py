"""`python -m bench`: the lifecycle mix on every variant, the sweep, the report.

    python -m bench [--incidents N] [--seed S] [--postgres URL] [--timers N] [--sweeps N]
                    [--only abcd] [--sql-incidents N]

After the timed variants, a short untimed pass counts the SQL statements and round trips
of each kind of command on SQLite and on PostgreSQL (`bench.sqlmix`).

PostgreSQL runs only when a URL is given (or DESKFLOW_BENCH_POSTGRES_URL is set); the
benchmark then works in the URL's database if its name starts with `bench`, else in a
database `deskflow_bench` on that server. Exits 0 whatever the numbers are: a benchmark
reports, it does not fail.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import SpiffWorkflow

from engine.process.definitions import bundled, compile_bundle

from . import databases, report, sqlmix, sweep
from .inmemory import InMemory
from .lifecycle import Backend, run_mix
from .naive import Naive
from .persisted import Persisted
from .timing import CommandTimer

DEFAULT_INCIDENTS = 200  # the whole run, PostgreSQL included, in about a minute
DEFAULT_SEED = 7


def say(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def run_variant(
    name: str, make: Callable[[CommandTimer], Backend], count: int, seed: int
) -> dict[str, Any]:
    """Drive the mix on one backend; its measurements as a dict for the report."""
    timer = CommandTimer()
    backend = make(timer)
    try:
        mix = run_mix(backend, count, seed, timer)
        stats = backend.stats()
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    summary = timer.summary()
    lifecycle_s = timer.lifecycle_seconds
    command_s = sum(timer.all_ms()) / 1000
    sizes = mix.diagnose_sizes
    return {
        "name": name,
        "incidents": count,
        "lifecycle_s": lifecycle_s,
        "lifecycles_per_s": count / lifecycle_s,
        "lifecycle_cpu_s": timer.lifecycle_cpu_seconds,
        "cpu_lifecycles_per_s": count / max(timer.lifecycle_cpu_seconds, 1e-9),
        "commands_per_lifecycle": summary["commands"] / count,
        "mean_ms": summary["mean_ms"],
        "p99_ms": summary["p99_ms"],
        "by_kind": summary["by_kind"],
        "sections": summary["sections"],
        "other_ms_per_lifecycle": 1000 * (lifecycle_s - command_s) / count,
        "diagnose_bytes_mean": sum(s for s, _ in sizes) / len(sizes) if sizes else None,
        "diagnose_bytes_max": max(s for s, _ in sizes) if sizes else None,
        "diagnose_json_bytes_mean": sum(j for _, j in sizes) / len(sizes) if sizes else None,
        "end_state_bytes": stats["end_state_bytes"],
        "end_json_bytes": stats["end_json_bytes"],
        "history_rows_per_incident": stats["history_rows_per_incident"],
        "paths": dict(mix.paths),
        "problems": mix.problems,
    }


def ratio(
    results: dict[str, Any], top: str, bottom: str, key: str = "lifecycles_per_s"
) -> float | None:
    variants = results["variants"]
    if top not in variants or bottom not in variants:
        return None
    return variants[top][key] / variants[bottom][key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--incidents",
        type=int,
        default=DEFAULT_INCIDENTS,
        help=f"lifecycles per variant (default {DEFAULT_INCIDENTS})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DESKFLOW_BENCH_POSTGRES_URL"),
        help="PostgreSQL URL, e.g. postgresql://postgres@127.0.0.1:5432/test "
        "(default: $DESKFLOW_BENCH_POSTGRES_URL; none: skip PostgreSQL)",
    )
    parser.add_argument(
        "--timers",
        type=int,
        default=100_000,
        help="armed timers for the sweep measurement (default 100000)",
    )
    parser.add_argument("--sweeps", type=int, default=20, help="sweeps timed (default 20)")
    parser.add_argument(
        "--only",
        default="abcd",
        help="variants to run, e.g. 'ad' (default abcd; c needs --postgres)",
    )
    parser.add_argument(
        "--sql-incidents",
        type=int,
        default=sqlmix.DEFAULT_INCIDENTS,
        help="incidents of the untimed pass that counts SQL per command, on SQLite with b "
        f"and on PostgreSQL with c (default {sqlmix.DEFAULT_INCIDENTS}, at most --incidents; "
        "0: skip)",
    )
    args = parser.parse_args(argv)
    gc.freeze()  # as `deskflow serve` and `worker` do: start-up objects leave the GC's scans
    only = set(args.only)
    count, seed = args.incidents, args.seed

    definition = compile_bundle(bundled())  # parsed once, as the in-memory ceiling needs
    folder = databases.temp_folder()
    tmp = Path(folder.name)
    pg_url = databases.postgres_bench_url(args.postgres) if args.postgres else None
    results: dict[str, Any] = {
        "meta": {
            "incidents": count,
            "seed": seed,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "spiff": _spiff_version(),
            "sqlite": sqlite3.sqlite_version,
            "load_average": os.getloadavg()[0],
            "databases": [f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=FULL, temp file)"]
            + ([f"PostgreSQL {databases.describe(pg_url)}"] if pg_url else []),
        },
        "variants": {},
        "sweeps": {},
        "sql": {},
    }
    variants = results["variants"]
    started = time.perf_counter()
    try:
        if "a" in only:
            say(f"a: SpiffWorkflow in memory, {count} incidents")
            variants["a"] = run_variant(
                InMemory.name, lambda t: InMemory(definition, t), count, seed
            )
        if "b" in only:
            say("b: Deskflow on SQLite")
            db = databases.deskflow_database(databases.sqlite_url(tmp, "deskflow.db"))
            variants["b"] = run_variant(
                "b  Deskflow on SQLite (WAL)", lambda t: Persisted("b", db, t), count, seed
            )
            db.dispose()
        if pg_url and "c" in only:
            say("c: Deskflow on PostgreSQL")
            db = databases.deskflow_database(pg_url)
            variants["c"] = run_variant(
                "c  Deskflow on PostgreSQL", lambda t: Persisted("c", db, t), count, seed
            )
            db.dispose()
        if "d" in only:
            say("d: naive store (whole JSON with the spec, per command)")
            naive_url = databases.sqlite_url(tmp, "naive.db")
            variants["d"] = run_variant(
                Naive.name, lambda t: Naive(naive_url, definition, t), count, seed
            )
        results["ratios"] = {
            "b/a": ratio(results, "b", "a"),
            "c/a": ratio(results, "c", "a"),
            "b/d": ratio(results, "b", "d"),
        }
        results["cpu_ratios"] = {
            name: ratio(results, name[0], name[2], "cpu_lifecycles_per_s")
            for name in results["ratios"]
        }
        sql_count = min(args.sql_incidents, count)  # every path comes in the first eight
        if sql_count > 0 and only & {"b", "c"}:
            say(f"SQL per command: {sql_count} incidents, untimed")
            results["sql"] = sqlmix.run_all(
                databases.sqlite_url(tmp, "sql.db"), pg_url if "c" in only else None, sql_count
            )
        if args.timers > 0:
            say(f"sweep: {args.timers:,} armed timers on SQLite")
            results["sweeps"]["SQLite"] = sweep.run(
                databases.sqlite_url(tmp, "sweep.db"), args.timers, args.sweeps
            )
            if pg_url:
                say(f"sweep: {args.timers:,} armed timers on PostgreSQL")
                results["sweeps"]["PostgreSQL"] = sweep.run(pg_url, args.timers, args.sweeps)
    finally:
        folder.cleanup()
    results["meta"]["total_s"] = time.perf_counter() - started
    report.write_json(results)
    print(report.render(results))
    say(f"done in {results['meta']['total_s']:.1f}s")
    return 0


def _spiff_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("SpiffWorkflow")
    except PackageNotFoundError:
        return getattr(SpiffWorkflow, "__version__", "?")


if __name__ == "__main__":
    sys.exit(main())
