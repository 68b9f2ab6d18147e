"""The one clock every part of Deskflow reads.

Production reads the wall clock in UTC. Tests, the demo and replay install a
`FrozenClock` and move it by hand, so SLA arithmetic, timers and history all
agree on what "now" is.
"""

from __future__ import annotations

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


def now() -> datetime:
    """Current time from the installed clock (timezone-aware UTC)."""
    return _clock.now()


def install(clock: WallClock | FrozenClock) -> WallClock | FrozenClock:
    """Make `clock` the process-wide clock; returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def current() -> WallClock | FrozenClock:
    return _clock
