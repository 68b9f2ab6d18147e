"""The demo's lifecycle mix, played against each variant by the demo's own `Driver`.

With one seed every variant sees the same paths, reports, form data, actors and clock
moves. A backend is an `engine.desk.demo.Desk` (the commands, the worker's pass after the
clock moved, the few reads a person makes on the way) plus what the report measures.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from engine import clock
from engine.desk.demo import Desk, Driver, Outcome, TaskRef, check, choose_paths

__all__ = ["Backend", "MixResult", "Outcome", "TaskRef", "run_mix"]

# Every variant starts its clock here, so SLA arithmetic is the same in each.
CLOCK_START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


class Backend(Desk, Protocol):
    """A variant of the benchmark: the demo's desk, plus what the report measures."""

    name: str

    def state_size(self, number: str) -> tuple[int, int] | None: ...  # (stored, JSON)
    def stats(self) -> dict[str, Any]: ...


@dataclass
class MixResult:
    paths: Counter = field(default_factory=Counter)
    numbers: list[tuple[str, str]] = field(default_factory=list)  # (path, number)
    diagnose_sizes: list[tuple[int, int]] = field(default_factory=list)  # (stored, JSON) bytes
    problems: list[str] = field(default_factory=list)


def run_mix(backend: Backend, count: int, seed: int, timer) -> MixResult:
    """Drive `count` incidents through the weighted path mix (as `engine.desk.demo.run_demo`).

    The clock is a fresh `FrozenClock` at `CLOCK_START`; the previous clock is restored.
    Checks how each incident ended (outside the timed loop).
    """
    rng = random.Random(seed)
    previous = clock.install(clock.FrozenClock(CLOCK_START))
    result = MixResult()

    def measure_state(number: str) -> None:  # a probe: not counted as lifecycle time
        with timer.probe():
            size = backend.state_size(number)
        if size is not None:
            result.diagnose_sizes.append(size)

    driver = Driver(backend, rng, on_categorized=measure_state)
    try:
        with timer.lifecycles():
            for path in choose_paths(count, rng):
                number = driver.drive(path)
                result.paths[path] += 1
                result.numbers.append((path, number))
        for path, number in result.numbers:
            result.problems += check(path, number, backend.outcome(number))
    finally:
        clock.install(previous)
    return result
