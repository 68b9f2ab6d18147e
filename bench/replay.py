"""`python -m bench.replay`: how fast `deskflow replay --all` re-runs recorded incidents.

    python -m bench.replay [--incidents 500] [--seed 7] [--jobs N] [--repeat 3]

Builds a `deskflow demo --incidents N` database on SQLite in a temporary folder (the
bundled process, the directory and knowledge base seeded, every demo path driven), then
replays every incident as `deskflow replay --all` does — with one process, and with
`--jobs` worker processes — and prints incidents per second (wall clock, best of
`--repeat`; for one process also per CPU second, which other load on the machine
disturbs less) against the target of 200 incidents/s. Every replay must be identical.
Exits 0 whatever the numbers are: a benchmark reports, it does not fail.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from engine.audit.replay import Replayer
from engine.desk import directory, knowledge_base
from engine.desk.demo import run_demo
from engine.instances.runtime import Runtime
from engine.process import definitions
from engine.store.db import Database
from engine.store.migrate import upgrade
from handlers.catalog import catalog

from . import databases

TARGET = 200.0  # incidents per second, SQLite (the target)
DEFAULT_INCIDENTS = 500
RESULTS = Path(__file__).resolve().parent / "results" / "replay-latest.json"


def say(message: str) -> None:
    sys.stderr.write(f"[bench.replay {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def demo_database(url: str, incidents: int, seed: int) -> Database:
    """What `deskflow init` then `deskflow demo --incidents N` leave behind."""
    db = Database(url)
    upgrade(db)
    Runtime(db).deploy(definitions.bundled(), deployed_by="bench", comment="bundled diagram")
    with db.writing() as session:
        directory.seed(session, catalog())
        knowledge_base.seed(session)
    summary = run_demo(Runtime(db), incidents, seed=seed)
    if not summary.adds_up():
        raise SystemExit("the demo does not add up:\n" + summary.table())
    return db


def measure(db: Database, jobs: int, repeat: int) -> dict[str, Any]:
    """Replay every incident `repeat` times; the best run, and whether all were identical."""
    best: dict[str, Any] | None = None
    for _ in range(repeat):
        replayer = Replayer(db, batch_mode=True)
        replayer.definition("service_desk:1")  # compiled once, as a long run would have it
        cpu = time.process_time()
        summary = replayer.many(jobs=jobs)
        cpu = time.process_time() - cpu
        run = {
            "jobs": jobs,
            "incidents": summary.total,
            "identical": summary.identical,
            "diverged": [str(v) for v in summary.diverged[:10]],
            "seconds": summary.seconds,
            "per_s": summary.rate,
            "per_cpu_s": summary.total / cpu if jobs == 1 and cpu > 0 else None,
        }
        if best is None or run["per_s"] > best["per_s"]:
            best = run
    assert best is not None
    return best


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"replay --all on SQLite: {meta['incidents']} demo incidents, "
        f"{meta['history_rows']:,} history rows; {meta['cpus']} CPU(s), "
        f"load average {meta['load_average']:.1f}",
        "",
        f"{'run':<22}{'incidents/s':>12}{'per CPU s':>11}{'identical':>11}   target",
        "-" * 66,
    ]
    for run in results["runs"]:
        cpu = f"{run['per_cpu_s']:.0f}" if run["per_cpu_s"] else "-"
        verdict = "PASS" if run["per_s"] >= TARGET else "MISS"
        lines.append(
            f"{'replay, ' + str(run['jobs']) + ' process(es)':<22}{run['per_s']:>12.0f}"
            f"{cpu:>11}{run['identical']:>7}/{run['incidents']:<4}  >= {TARGET:.0f}/s  {verdict}"
        )
    best = max(run["per_s"] for run in results["runs"])
    every = all(run["identical"] == run["incidents"] for run in results["runs"])
    lines += [
        "",
        "targets",
        "-------",
        f"  replay --all, SQLite >= {TARGET:.0f} incidents/s (best)"
        f"{best:>14.0f}/s   {'PASS' if best >= TARGET else 'MISS'}",
        f"  every demo incident replays identically"
        f"{'':>17}{'yes' if every else 'NO'}   {'PASS' if every else 'MISS'}",
    ]
    for run in results["runs"]:
        for line in run["diverged"]:
            lines.append(f"  diverged: {line}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__)
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for the second run (default: one per CPU)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs each; the best counts")
    parser.add_argument("--results", default=str(RESULTS), help="where the JSON goes")
    args = parser.parse_args(argv)
    folder = databases.temp_folder()
    try:
        url = databases.sqlite_url(Path(folder.name), "demo.db")
        say(f"deskflow demo --incidents {args.incidents} on {url}")
        started = time.perf_counter()
        db = demo_database(url, args.incidents, args.seed)
        say(f"demo done in {time.perf_counter() - started:.1f}s; replaying")
        with db.reading() as session:
            from sqlalchemy import func, select

            from engine.store.models import HistoryEvent

            rows = session.scalar(select(func.count()).select_from(HistoryEvent)) or 0
        runs = [measure(db, 1, args.repeat)]
        if args.jobs > 1:
            runs.append(measure(db, args.jobs, args.repeat))
        db.dispose()
    finally:
        folder.cleanup()
    results = {
        "meta": {
            "incidents": args.incidents,
            "seed": args.seed,
            "history_rows": rows,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
            "target_per_s": TARGET,
        },
        "runs": runs,
    }
    Path(args.results).parent.mkdir(parents=True, exist_ok=True)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
