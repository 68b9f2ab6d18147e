"""`python -m bench.http`: the web UI over HTTP, on a database of 100,000 incidents.

    python -m bench.http [--incidents N] [--open M] [--requests R] [--postgres URL]
                         [--sqlite-only] [--reseed] [--workers W] [--threads T]

Seeds (or reuses) a database with N incidents, M open (see `bench.http.seed`), serves
Deskflow from it with gunicorn (`bench.http.server`) and measures the queue page, the
incident page and completing a task over HTTP (`bench.http.measure`), on SQLite and,
when a URL is given (or DESKFLOW_BENCH_POSTGRES_URL is set), on PostgreSQL, in a
database `deskflow_bench_http` on that server (created if missing; the database the URL
names is left alone). Prints the figures and the targets met or missed; exits 0 whatever
the numbers are.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from engine.store.db import Database

from . import measure, report, seed, server

DATABASE = "deskflow_bench_http"
RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


def say(message: str) -> None:
    sys.stderr.write(f"[bench.http {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def postgres_url(url: str) -> str:
    """The URL of `deskflow_bench_http` on the server of `url`; created if missing."""
    admin_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": DATABASE}
            ).first()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    finally:
        admin.dispose()
    return make_url(url).set(database=DATABASE).render_as_string(hide_password=False)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--incidents", type=int, default=100_000, help="default 100000")
    parser.add_argument("--open", type=int, default=10_000, help="open incidents (default 10000)")
    parser.add_argument(
        "--requests", type=int, default=300, help="GETs per page measured (default 300)"
    )
    parser.add_argument(
        "--tasks", type=int, default=200, help="completions by one client (default 200)"
    )
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument(
        "--tasks-per-client", type=int, default=50, help="completions per concurrent client"
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DESKFLOW_BENCH_POSTGRES_URL"),
        help="PostgreSQL server URL (default: $DESKFLOW_BENCH_POSTGRES_URL; none: SQLite only)",
    )
    parser.add_argument("--sqlite-only", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--reseed", action="store_true", help="seed again even if reusable")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (default 1: sync workers)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where the seeded SQLite file and the server log go (default bench/results)",
    )
    parser.add_argument(
        "--json", type=Path, default=report.RESULTS, help=f"default {report.RESULTS}"
    )
    return parser.parse_args(argv)


def run_one(name: str, url: str, args: argparse.Namespace, plan: measure.Plan) -> dict[str, Any]:
    """Seed (or reuse), serve, measure one database."""
    say(f"{name}: preparing {args.incidents:,} incidents ({args.open:,} open)")
    seeded = seed.prepare(
        url, args.incidents, args.open, plan.tasks_needed, args.reseed, args.seed, say
    )
    if seeded.reused:
        say(f"{name}: reusing the database seeded earlier (in {seeded.seconds:.0f}s)")
    else:
        say(f"{name}: seeded in {seeded.seconds:.1f}s")
    config = server.ServerConfig(args.workers, args.threads)
    db = Database(url)
    log = args.cache_dir / f"http-gunicorn-{name.lower()}.log"
    try:
        with server.serving(url, config, log) as served:
            say(f"{name}: {config.describe()} on {served.address}")
            measured = measure.measure(served, db, plan, random.Random(args.seed), say)
    finally:
        db.dispose()
    return {
        "database": make_url(url).render_as_string(hide_password=True),
        "server": config.describe(),
        "seed": seeded.as_dict(),
        "measurements": measured,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    gc.freeze()
    plan = measure.Plan(
        requests=args.requests,
        single_tasks=args.tasks,
        clients=args.clients,
        tasks_per_client=args.tasks_per_client,
        parallel_warmup=min(8, 2 * args.workers * args.threads),
    )
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "incidents": args.incidents,
            "open": args.open,
            "seed": args.seed,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": os.getloadavg()[0],
            "command": " ".join(
                ["python -m bench.http", *(sys.argv[1:] if argv is None else argv)]
            ),
            "json": str(args.json),
            "plan": plan.__dict__,
        },
        "databases": {},
    }
    runs = [("SQLite", seed.sqlite_url(args.cache_dir, args.incidents, args.open))]
    if args.postgres and not args.sqlite_only:
        runs.append(("PostgreSQL", postgres_url(args.postgres)))
    for name, url in runs:
        results["databases"][name] = run_one(name, url, args, plan)
    results["meta"]["total_s"] = time.perf_counter() - started
    results["meta"]["load_average_end"] = os.getloadavg()[0]
    results["targets"] = {
        name: [
            {"target": t, "p95_ms": p95, "met": met}
            for t, p95, met in report.targets(run["measurements"])
        ]
        for name, run in results["databases"].items()
    }
    report.write_json(results, args.json)
    print(report.render(results))
    say(f"done in {results['meta']['total_s']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
