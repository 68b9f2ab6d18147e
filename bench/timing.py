"""Per-command timings and the lifecycle stopwatch shared by every variant."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


class CommandTimer:
    """Collects the duration of every command by kind, and the time spent in probes.

    Probes (size measurements the benchmark makes for its own report) are excluded from
    the lifecycle time: `lifecycle_seconds` is the wall time minus the probe time, and
    `lifecycle_cpu_seconds` the same in this process's CPU time (what other load on the
    machine disturbs less; waiting for the disk, such as an fsync, is not in it).
    """

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.sections: dict[str, list[float]] = defaultdict(list)  # timed, not commands
        self.probe_seconds = 0.0
        self.probe_cpu_seconds = 0.0
        self._started = 0.0
        self._elapsed = 0.0
        self._cpu = 0.0

    @contextmanager
    def command(self, kind: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.samples[kind].append(time.perf_counter() - started)

    @contextmanager
    def section(self, kind: str) -> Iterator[None]:
        """Time work that is part of a lifecycle but not a command (the worker's poll)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.sections[kind].append(time.perf_counter() - started)

    def wrap(self, kind: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """`func` with each call recorded as one command of `kind`."""

        @wraps(func)
        def timed(*args, **kwargs):
            with self.command(kind):
                return func(*args, **kwargs)

        return timed

    @contextmanager
    def probe(self) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.probe_seconds += time.perf_counter() - started
            self.probe_cpu_seconds += time.process_time() - cpu

    @contextmanager
    def lifecycles(self) -> Iterator[None]:
        """Around the whole drive loop: its wall time, less probes, is the lifecycle time."""
        started, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self._elapsed += time.perf_counter() - started
            self._cpu += time.process_time() - cpu

    @property
    def lifecycle_seconds(self) -> float:
        return self._elapsed - self.probe_seconds

    @property
    def lifecycle_cpu_seconds(self) -> float:
        return self._cpu - self.probe_cpu_seconds

    def all_ms(self) -> list[float]:
        return [s * 1000 for values in self.samples.values() for s in values]

    def summary(self) -> dict[str, Any]:
        """Mean/p99 over all commands, and mean/count per kind, in milliseconds."""
        every = self.all_ms()
        return {
            "commands": len(every),
            "mean_ms": sum(every) / len(every) if every else 0.0,
            "p99_ms": percentile(every, 99),
            "by_kind": {
                kind: {
                    "count": len(v),
                    "mean_ms": 1000 * sum(v) / len(v),
                    "p99_ms": percentile([s * 1000 for s in v], 99),
                }
                for kind, v in sorted(self.samples.items())
                if v
            },
            "sections": {
                kind: {"count": len(v), "total_s": sum(v), "mean_ms": 1000 * sum(v) / len(v)}
                for kind, v in sorted(self.sections.items())
                if v
            },
        }
