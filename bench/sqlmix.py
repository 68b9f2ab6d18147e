"""The SQL each kind of command sends, on SQLite and on PostgreSQL (`bench.sqlcount`).

A short, untimed pass of the lifecycle mix through Deskflow's runtime on a fresh
database, with claims (as the web UI does: a technician claims a task, then completes
it), every command counted under its kind: `start_incident`, `claim_task`,
`complete_task <element>` (one row per form), `send_message <message>`,
`fire_due_timers`; besides them the worker's poll and outbox delivery per sweep, and a
person's read on the way. Its own timings are not reported as throughput (the counting
listener runs on every statement); `sql_ms` is the time in the driver.

    python -m bench.sqlmix [--incidents N] [--postgres URL] [--detail] [--trace]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import databases, sqlreport
from .lifecycle import run_mix
from .persisted import Persisted
from .sqlcount import SqlCounter
from .timing import CommandTimer

DEFAULT_INCIDENTS = 16  # every path once, then the weighted mix
SEED = 7
POLL, DELIVERY, READ = "worker poll (per sweep)", "outbox delivery (per sweep)", "desk read (each)"
NOT_LIFECYCLE = ("(probe)", "(check)", SqlCounter.OUTSIDE)


class Counted(Persisted):
    """Deskflow's desk with claims, each command and read counted under its kind."""

    def __init__(self, db, counter: SqlCounter, timer: CommandTimer) -> None:
        super().__init__("sql", db, timer)
        self.claims = True
        self.counter = counter
        self._element = "?"
        runtime, wrap = self.runtime, counter.wrap
        runtime.start_incident = wrap("start_incident", runtime.start_incident)
        runtime.claim_task = wrap("claim_task", runtime.claim_task)
        runtime.complete_task = wrap(
            lambda *a, **k: f"complete_task {self._element}", runtime.complete_task
        )
        runtime.send_message = wrap(
            lambda number, message, *a, **k: f"send_message {message}", runtime.send_message
        )
        runtime.fire_due_timers = wrap("fire_due_timers", runtime.fire_due_timers)

    def complete(self, number, task, form, actor) -> None:
        self._element = task.element
        super().complete(number, task, form, actor)

    def sweep(self) -> None:
        with self.counter.label(POLL):  # the commands it runs count under their own kind
            self.worker.fire_timers()
        with self.counter.label(DELIVERY):
            self.worker.deliver_notifications()

    def open_task(self, number, element):
        with self.counter.label(READ):
            return super().open_task(number, element)

    def suggestion(self, number):
        with self.counter.label(READ):
            return super().suggestion(number)

    def resolution_due(self, number):
        with self.counter.label(READ):
            return super().resolution_due(number)

    def state_size(self, number):
        with self.counter.label("(probe)"):
            return super().state_size(number)

    def outcome(self, number):
        with self.counter.label("(check)"):
            return super().outcome(number)


def count(url: str, incidents: int, seed: int = SEED, trace: bool = False) -> dict[str, Any]:
    """Run the mix on a fresh Deskflow database at `url`; the tallies per label."""
    db = databases.deskflow_database(url)
    try:
        counter = SqlCounter(db.engine, trace=trace)
        desk = Counted(db, counter, CommandTimer())
        mix = run_mix(desk, incidents, seed, desk.timer)
    finally:
        db.dispose()
    labels = counter.summary()
    for key in NOT_LIFECYCLE:
        labels.pop(key, None)
    found = {"incidents": incidents, "labels": labels, "problems": mix.problems}
    if trace:
        found["trace"] = counter.trace
    return found


def run_all(
    sqlite_url: str, pg_url: str | None, incidents: int, trace: bool = False
) -> dict[str, Any]:
    found = {"SQLite": count(sqlite_url, incidents, trace=trace)}
    if pg_url:
        found["PostgreSQL"] = count(pg_url, incidents, trace=trace)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlmix", description=__doc__)
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS)
    parser.add_argument("--postgres", help="PostgreSQL URL (see bench.databases)")
    parser.add_argument("--detail", action="store_true", help="statements by verb and table")
    parser.add_argument("--trace", action="store_true", help="the statements of each kind")
    args = parser.parse_args(argv)
    folder = databases.temp_folder()
    try:
        pg_url = databases.postgres_bench_url(args.postgres) if args.postgres else None
        url = databases.sqlite_url(Path(folder.name), "sql.db")
        results = run_all(url, pg_url, args.incidents, trace=args.trace)
    finally:
        folder.cleanup()
    print("\n".join(sqlreport.table(results)))
    if args.detail:
        print("\n".join(sqlreport.detail(results)))
    if args.trace:
        print("\n".join(sqlreport.trace(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
