"""The one clock every part of Deskflow reads.

Production reads the wall clock in UTC. Tests, the demo and replay install a
`FrozenClock` and move it by hand, so SLA arithmetic, timers and history all
agree on what "now" is.

A command reads the clock once: inside `held()`, the first reading on that thread is the
one every later reading returns until the block ends. So the timers a command finds due,
the SLA it computes and the time its history rows carry are one recorded value that
replay feeds back exactly; and a command that waited for a lock reads the clock after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta


class WallClock:
    """The real time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start time")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now = self._now + delta
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("clock time must be timezone-aware")
        self._now = moment


_clock: WallClock | FrozenClock = WallClock()
_held = threading.local()


def now() -> datetime:
    """Current time (timezone-aware UTC): inside `held()` the block's one reading, else
    the installed clock's."""
    if getattr(_held, "active", False):
        if _held.moment is None:
            _held.moment = _clock.now()
        return _held.moment
    return _clock.now()


@contextmanager
def held() -> Iterator[None]:
    """Hold this thread's clock at its first reading inside the block (see the module
    docstring). Nested blocks keep the outer one's moment."""
    if getattr(_held, "active", False):
        yield
        return
    _held.active, _held.moment = True, None
    try:
        yield
    finally:
        _held.active, _held.moment = False, None


def install(clock: WallClock | FrozenClock) -> WallClock | FrozenClock:
    """Make `clock` the process-wide clock; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def current() -> WallClock | FrozenClock:
    return _clock
