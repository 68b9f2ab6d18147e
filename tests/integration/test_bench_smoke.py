"""The benchmark still runs end to end (a handful of incidents; no time is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_drives_every_variant_without_problems(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--only",
            "abd",
            "--incidents",
            "10",
            "--timers",
            "50",
            "--sweeps",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={
            **os.environ,
            "TMPDIR": str(tmp_path),
            "DESKFLOW_BENCH_RESULTS": str(tmp_path / "results.json"),
        },
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for variant in "abd":
        assert f"{variant}: every lifecycle ended as its path says" in result.stdout
    assert "PASS" in result.stdout and "problem(s)   MISS" not in result.stdout
