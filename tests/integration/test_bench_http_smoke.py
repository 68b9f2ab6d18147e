"""The HTTP benchmark still runs end to end: a tiny seeded SQLite database, gunicorn,
a handful of requests and completions (no time is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MEASUREMENTS = (
    "queue_groups",
    "queue_all",
    "incident_open",
    "incident_closed",
    "complete_1",
    "complete_concurrent",
)


def test_the_http_benchmark_seeds_serves_and_completes_tasks(tmp_path):
    results = tmp_path / "http.json"
    command = [
        sys.executable,
        "-m",
        "bench.http",
        "--incidents",
        "200",
        "--open",
        "60",
        "--requests",
        "6",
        "--tasks",
        "4",
        "--clients",
        "2",
        "--tasks-per-client",
        "3",
        "--workers",
        "2",
        "--sqlite-only",
        "--cache-dir",
        str(tmp_path),
        "--json",
        str(results),
    ]
    env = {k: v for k, v in os.environ.items() if k != "DESKFLOW_BENCH_POSTGRES_URL"}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]

    report = json.loads(results.read_text())
    run = report["databases"]["SQLite"]
    assert set(report["databases"]) == {"SQLite"}
    seed = run["seed"]
    assert (seed["incidents"], seed["open"], seed["reused"]) == (200, 60, False)
    assert seed["chain_problems"] == []  # the clones' history chains hold
    measured = run["measurements"]
    assert set(MEASUREMENTS) <= set(measured)
    for name in MEASUREMENTS:
        assert {"p50_ms", "p95_ms", "p99_ms", "n", "errors"} <= set(measured[name]), name
        assert measured[name]["errors"] == 0, measured[name].get("first_error")
    assert measured["complete_1"]["n"] == 4  # every completion answered 302 to the queue
    assert measured["complete_concurrent"]["n"] == 6
    assert measured["queue_groups"]["rows_shown"] > 0
    assert [t["target"] for t in report["targets"]["SQLite"]] == [
        "queue page (q=groups) p95 < 100 ms",
        "queue page (q=all) p95 < 100 ms",
        "task completion, 1 client, p95 < 50 ms",
    ]
    assert "PASS" in done.stdout or "MISS" in done.stdout
