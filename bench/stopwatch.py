"""Exclusive time per part of each labelled call, for `bench.breakdown`."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

OTHER = "other"  # a label's own time, and whatever no part inside it names


class Stopwatch:
    """Exclusive time per (label, part); `label`/`wrap` as `bench.sqlcount.SqlCounter`."""

    def __init__(self, clock=time.perf_counter) -> None:
        self.clock = clock  # time.perf_counter (wall), or time.thread_time (this thread's CPU)
        self.seconds: dict[str, Counter] = defaultdict(Counter)
        self.entries: dict[str, Counter] = defaultdict(Counter)  # calls of each part
        self.calls: Counter = Counter()
        self.samples: dict[str, list[Counter]] = defaultdict(list)  # label -> per-call parts
        self._stack: list[tuple[str, str]] = []  # (label, part)
        self._labels: list[str] = []
        self._last = 0.0

    def enter(self, part: str) -> None:
        now = self.clock()
        label = self._labels[-1] if self._labels else None
        if self._stack:
            self.seconds[self._stack[-1][0]][self._stack[-1][1]] += now - self._last
        self._stack.append((label or "(outside)", part))
        if label:
            self.entries[label][part] += 1
        self._last = self.clock()

    def leave(self) -> None:
        now = self.clock()
        label, part = self._stack.pop()
        self.seconds[label][part] += now - self._last
        self._last = self.clock()

    @contextmanager
    def label(self, name: str) -> Iterator[None]:
        before = Counter(self.seconds[name])
        self._labels.append(name)
        self.calls[name] += 1
        self.enter(OTHER)
        try:
            yield
        finally:
            self.leave()
            self._labels.pop()
            after = Counter(self.seconds[name])
            after.subtract(before)
            self.samples[name].append(after)

    def wrap(self, name, func):
        @wraps(func)
        def labelled(*args, **kwargs):
            with self.label(name(*args, **kwargs) if callable(name) else name):
                return func(*args, **kwargs)

        return labelled

    def part(self, part: str, func):
        @wraps(func)
        def timed(*args, **kwargs):
            if self._stack and self._stack[-1][1] == part:  # nested in itself: no clock reads
                return func(*args, **kwargs)
            self.enter(part)
            try:
                return func(*args, **kwargs)
            finally:
                self.leave()

        return timed

    def ms_per_call(self, keep: float = 0.9) -> dict[str, dict[str, float]]:
        """Mean ms per call of each part over the `keep` share of fastest calls (the slowest
        are those a busy machine preempted): the parts still add up to the total shown."""
        found = {}
        for label, calls in self.samples.items():
            kept = sorted(calls, key=lambda c: sum(c.values()))
            kept = kept[: max(1, round(len(kept) * keep))]
            total: Counter = Counter()
            for call in kept:
                total.update(call)
            found[label] = {part: 1000 * s / len(kept) for part, s in total.items()}
        return found
