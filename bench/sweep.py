"""(e) One worker sweep over 100,000 armed timers, none due; (f) the worker's memory then.

`populate` bulk-inserts minimal rows straight into the tables (one definition, instances
with three timers each, as `resolve_incident` arms three) with due times spread over the
next 30 days. On PostgreSQL it then runs ANALYZE, as autovacuum would within a minute of
such a load (SQLite never gathers statistics unless told, and Deskflow does not tell it).

`measure` runs in a fresh process (spawned, so its peak RSS is its own and not the
benchmark's): one warm-up sweep, then `Worker.sweep()` (fire_timers and
deliver_notifications) timed `sweeps` times; then a few more sweeps under tracemalloc for
the Python-level peak.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
import tracemalloc
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select

from engine import clock
from engine.store.db import Database
from engine.store.models import Definition, Instance, Timer

from .databases import reset_schema
from .lifecycle import CLOCK_START

TIMERS_PER_INSTANCE = 3
BATCH = 10_000


def populate(db: Database, timers: int) -> dict[str, Any]:
    """Fresh schema, then `timers` armed timers on `timers / 3` instances; returns timings."""
    started = time.perf_counter()
    reset_schema(db)
    now = CLOCK_START
    instances = -(-timers // TIMERS_PER_INSTANCE)
    with db.engine.begin() as conn:
        definition_id = conn.execute(
            insert(Definition).values(
                key="bench_sweep",
                version=1,
                sha256="0" * 64,
                bpmn_filename="none.bpmn",
                bundle="{}",
                deployed_at=now,
                deployed_by="bench",
                comment="",
            )
        ).inserted_primary_key[0]
    for first in range(0, instances, BATCH):
        rows = [
            {
                "id": i + 1,
                "definition_id": definition_id,
                "state": b"",
                "version": 1,
                "status": "running",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(first, min(first + BATCH, instances))
        ]
        with db.engine.begin() as conn:
            conn.execute(insert(Instance), rows)
    step = timedelta(days=30) / timers
    for first in range(0, timers, BATCH):
        rows = [
            {
                "instance_id": i // TIMERS_PER_INSTANCE + 1,
                "element": "sla_breach_timer",
                "due_at": now + timedelta(minutes=1) + step * i,
                "failed_at": None,
            }
            for i in range(first, min(first + BATCH, timers))
        ]
        with db.engine.begin() as conn:
            conn.execute(insert(Timer), rows)
    if not db.is_sqlite:  # what autovacuum does within a minute of such a load
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE timers")
            conn.exec_driver_sql("ANALYZE instances")
    with db.reading() as session:
        count = session.scalar(select(func.count()).select_from(Timer))
    return {"timers": count, "instances": instances, "populate_s": time.perf_counter() - started}


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _measure_here(url: str, sweeps: int, traced: int) -> dict[str, Any]:
    """Runs in the child process: time `sweeps` sweeps, then `traced` under tracemalloc."""
    from engine.instances.runtime import Runtime
    from engine.worker.scheduler import Worker

    clock.install(clock.FrozenClock(CLOCK_START))  # every timer is in the future
    db = Database(url)
    worker = Worker(Runtime(db))
    first = worker.sweep()
    rss_before = _maxrss_kib()
    times = []
    for _ in range(sweeps):
        started = time.perf_counter()
        result = worker.sweep()
        times.append((time.perf_counter() - started) * 1000)
        if result.timers_fired:
            raise RuntimeError("a timer fired; the sweep benchmark expects none due")
    rss_after = _maxrss_kib()
    tracemalloc.start()
    for _ in range(traced):
        worker.sweep()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    db.dispose()
    return {
        "sweeps": sweeps,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "first_fired": first.timers_fired,
        "maxrss_kib": rss_after,
        "maxrss_delta_kib": rss_after - rss_before,
        "tracemalloc_peak_kib": peak / 1024,
    }


def measure(url: str, sweeps: int = 20, traced: int = 5) -> dict[str, Any]:
    """`_measure_here` in a freshly spawned process (clean RSS, nothing cached)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure_here, url, sweeps, traced).result()


def run(url: str, timers: int = 100_000, sweeps: int = 20) -> dict[str, Any]:
    db = Database(url)
    try:
        result = populate(db, timers)
    finally:
        db.dispose()
    result.update(measure(url, sweeps))
    return result
