"""Business calendars: which instants are working time, and arithmetic on working time.

The definition every function here agrees with (and the property tests check by brute
force): an instant counts as working time when, read as wall-clock time in the calendar's
time zone, it falls on a working weekday that is not a holiday, at or after that day's
opening time and before its closing time. Daylight-saving changes follow from that: the
spring-forward hour does not exist on the wall clock, so it is never worked; the
fall-back hour is lived twice, so it is worked twice when it lies in working hours.

Times go in and out as timezone-aware datetimes (any zone); durations are timedeltas.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_SEARCH_DAYS = 3 * 366  # `add` gives up (with an error) after this much calendar time


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday (0 = Monday) in a time zone, less holidays.

    `hours` maps a weekday to (opening, closing) wall-clock times, opening < closing;
    weekdays not in `hours` are days off. `holidays` is any container of local dates
    (a `holidays` library calendar, or a set). `always` makes it a 24x7 calendar.
    """

    name: str
    zone: ZoneInfo
    hours: dict[int, tuple[time, time]] = field(default_factory=dict)
    holidays: object = frozenset()
    always: bool = False

    def __post_init__(self) -> None:
        if self.always:
            return
        if not self.hours:
            raise ValueError(f"calendar {self.name!r} has no working day")
        for weekday, (opening, closing) in self.hours.items():
            if not 0 <= weekday <= 6:
                raise ValueError(f"calendar {self.name!r}: weekday {weekday} is not 0..6")
            if not opening < closing:
                raise ValueError(
                    f"calendar {self.name!r}: opening {opening} is not before closing {closing}"
                )

    # --- what is working time ---------------------------------------------------------

    def is_working(self, instant: datetime) -> bool:
        """Whether `instant` is working time (the definition above)."""
        if self.always:
            return True
        local = instant.astimezone(self.zone)
        hours = self.hours.get(local.weekday())
        if hours is None or local.date() in self.holidays:  # type: ignore[operator]
            return False
        return hours[0] <= local.time().replace(tzinfo=None) < hours[1]

    def windows(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The working intervals [from, to) within [start, end), in UTC, in order."""
        start, end = _utc(start), _utc(end)
        if end <= start:
            return
        if self.always:
            yield start, end
            return
        day = start.astimezone(self.zone).date() - timedelta(days=1)
        last = end.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last:
            for opened, closed in self._day_windows(day):
                lo, hi = max(opened, start), min(closed, end)
                if lo < hi:
                    yield lo, hi
            day += timedelta(days=1)

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC intervals whose wall-clock time is within `day`'s working hours."""
        hours = self.hours.get(day.weekday())
        if hours is None or day in self.holidays:  # type: ignore[operator]
            return []
        wall_open = datetime.combine(day, hours[0])
        wall_close = datetime.combine(day, hours[1])
        found = []
        # Local wall time is UTC plus an offset that is constant between transitions; on
        # each stretch of constant offset, the working window is one UTC interval.
        span_start = datetime.combine(day, time(0), UTC) - timedelta(hours=30)
        span_end = datetime.combine(day, time(0), UTC) + timedelta(hours=54)
        for seg_start, seg_end, offset in _offset_segments(self.zone, span_start, span_end):
            lo = max(seg_start, (wall_open - offset).replace(tzinfo=UTC))
            hi = min(seg_end, (wall_close - offset).replace(tzinfo=UTC))
            if lo < hi:
                found.append((lo, hi))
        return found

    # --- arithmetic -------------------------------------------------------------------

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two instants (zero when `end` is not after `start`)."""
        return sum((hi - lo for lo, hi in self.windows(start, end)), timedelta())

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant at which `amount` of working time has passed since `start`.

        Returned in UTC. With `amount` zero, `start` itself.
        """
        start = _utc(start)
        if amount < timedelta():
            raise ValueError("cannot add a negative amount of working time")
        if amount == timedelta() or self.always:
            return start + amount
        left = amount
        horizon = start + timedelta(days=MAX_SEARCH_DAYS)
        chunk = start
        while chunk < horizon:
            chunk_end = chunk + timedelta(days=14)
            for lo, hi in self.windows(chunk, chunk_end):
                if hi - lo >= left:
                    return lo + left
                left -= hi - lo
            chunk = chunk_end
        raise ValueError(
            f"calendar {self.name!r}: {amount} of working time does not fit in "
            f"{MAX_SEARCH_DAYS} days from {start.isoformat()}"
        )


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business time needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _offset_segments(
    zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime, timedelta]]:
    """Split [start, end) (UTC, a few days at most) into stretches of constant UTC offset.

    Zones change offset at most once in a few days, so comparing the ends finds the
    change, and halving the interval finds where it is (to the second).
    """
    first, last = _offset(zone, start), _offset(zone, end - timedelta(seconds=1))
    if first == last:
        yield start, end, first
        return
    lo, hi = start, end
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if _offset(zone, mid) == first:
            lo = mid
        else:
            hi = mid
    change = hi.replace(microsecond=0)
    yield start, change, first
    yield change, end, last


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta()


def with_holidays(country: str | None, subdivision: str | None, extra: Iterable[date]):
    """Holidays from the maintained `holidays` library for a country (and subdivision),
    plus extra dates (company days off). Years are filled in as they are asked for.

    Raises NotImplementedError for a country or subdivision the library does not know.
    """
    extra_days = frozenset(extra)
    if not country:
        return extra_days
    holidays = Holidays(country, subdivision, extra_days)
    holidays.official  # noqa: B018 - fail now, not at the first date asked
    return holidays


@dataclass(frozen=True)
class Holidays:
    """A country's public holidays and extra days off; equal when configured alike."""

    country: str
    subdivision: str | None
    extra: frozenset[date]

    @functools.cached_property
    def official(self):
        import holidays

        return holidays.country_holidays(self.country, subdiv=self.subdivision)

    def __contains__(self, day: object) -> bool:
        return day in self.extra or day in self.official
