"""Business time and SLA clocks, checked against a brute-force count of working minutes.

Random calendars (time zones with and without daylight saving, half-hour offsets, working
days and hours, holidays), random spans across DST changes, random pauses and priority
changes: the fast arithmetic must equal counting minute by minute.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.business_time import BusinessCalendar, with_holidays
from handlers.sla_clock import ClockEvent, clock_state

MINUTE = timedelta(minutes=1)
ZONES = [
    "UTC",
    "Europe/Berlin",  # DST at 02:00 local
    "America/New_York",
    "Australia/Lord_Howe",  # a half-hour DST shift
    "Asia/Kolkata",  # +05:30, no DST
    "America/St_Johns",  # -03:30 with DST
    "Pacific/Chatham",  # +12:45 / +13:45
]
# Spans start near DST changes (spring and autumn, both hemispheres) and ordinary weeks.
ANCHORS = [
    datetime(2026, 3, 6, tzinfo=UTC),
    datetime(2026, 3, 26, tzinfo=UTC),
    datetime(2026, 4, 2, tzinfo=UTC),
    datetime(2026, 9, 24, tzinfo=UTC),
    datetime(2026, 10, 22, tzinfo=UTC),
    datetime(2026, 10, 29, tzinfo=UTC),
    datetime(2026, 12, 22, tzinfo=UTC),
]


@st.composite
def calendars(draw) -> BusinessCalendar:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    days = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    hours = {}
    for day in days:
        opening = draw(st.integers(0, 22 * 4)) * 15  # quarter hours; at least 1 h a day
        closing = draw(st.integers(opening // 15 + 4, 24 * 4 - 1)) * 15
        hours[day] = (time(opening // 60, opening % 60), time(closing // 60, closing % 60))
    holidays = draw(st.sets(st.dates(date(2026, 3, 1), date(2027, 1, 10)), max_size=6))
    return BusinessCalendar("random", zone, hours, frozenset(holidays))


@st.composite
def spans(draw, days: int = 6) -> tuple[datetime, datetime]:
    anchor = draw(st.sampled_from(ANCHORS))
    start = anchor + draw(st.integers(0, days * 24 * 60)) * MINUTE
    end = start + draw(st.integers(0, days * 24 * 60)) * MINUTE
    return start, end


def brute_force(calendar: BusinessCalendar, start: datetime, end: datetime, paused=()) -> int:
    """Working minutes in [start, end), minute by minute, skipping paused intervals."""
    count, moment = 0, start
    while moment < end:
        if calendar.is_working(moment) and not any(a <= moment < b for a, b in paused):
            count += 1
        moment += MINUTE
    return count


@settings(max_examples=60, deadline=None)
@given(calendars(), spans())
def test_elapsed_equals_a_minute_by_minute_count(calendar, span):
    start, end = span
    assert calendar.elapsed(start, end) == brute_force(calendar, start, end) * MINUTE


@settings(max_examples=60, deadline=None)
@given(calendars(), spans(), st.integers(0, 3 * 24 * 60))
def test_elapsed_never_decreases_and_adds_up(calendar, span, more_minutes):
    start, middle = span
    end = middle + more_minutes * MINUTE
    first, second = calendar.elapsed(start, middle), calendar.elapsed(middle, end)
    assert calendar.elapsed(start, end) == first + second >= first


@settings(max_examples=60, deadline=None)
@given(calendars(), spans(), st.integers(1, 4 * 24 * 60))
def test_add_is_the_earliest_instant_with_that_much_working_time(calendar, span, minutes):
    start, _ = span
    due = calendar.add(start, minutes * MINUTE)
    assert calendar.elapsed(start, due) == minutes * MINUTE
    assert calendar.elapsed(start, due - MINUTE) < minutes * MINUTE
    assert calendar.is_working(due - MINUTE)


@st.composite
def clock_histories(draw):
    """A started clock with alternating pauses and resumes, maybe a priority change."""
    start, _ = draw(spans(days=3))
    target = draw(st.integers(30, 3 * 24 * 60)) * MINUTE
    events = [ClockEvent(start, "start", target)]
    moment, paused, pauses = start, False, []
    for _ in range(draw(st.integers(0, 6))):
        moment += draw(st.integers(1, 24 * 60)) * MINUTE
        kind = draw(st.sampled_from(["toggle", "toggle", "target"]))
        if kind == "target":
            events.append(ClockEvent(moment, "target", draw(st.integers(30, 4 * 24 * 60)) * MINUTE))
        elif paused:
            events.append(ClockEvent(moment, "resume"))
            pauses[-1] = (pauses[-1][0], moment)
            paused = False
        else:
            events.append(ClockEvent(moment, "pause"))
            pauses.append((moment, datetime.max.replace(tzinfo=UTC)))
            paused = True
    now = moment + draw(st.integers(0, 24 * 60)) * MINUTE
    return events, pauses, now


@settings(max_examples=60, deadline=None)
@given(calendars(), clock_histories())
def test_used_time_counts_only_working_unpaused_minutes(calendar, history):
    events, pauses, now = history
    state = clock_state(calendar, events, now)
    start = events[0].at
    assert state.used == brute_force(calendar, start, now, pauses) * MINUTE
    assert state.target == [e for e in events if e.target][-1].target
    if state.state == "paused":
        assert state.due is None


@settings(max_examples=40, deadline=None)
@given(calendars(), clock_histories(), st.integers(1, 48 * 60))
def test_used_time_never_decreases_as_time_passes(calendar, history, later_minutes):
    events, _, now = history
    before = clock_state(calendar, events, now)
    after = clock_state(calendar, events, now + later_minutes * MINUTE)
    assert after.used >= before.used
    if before.state == "paused":
        assert after.used == before.used  # a paused clock does not move


@settings(max_examples=40, deadline=None)
@given(calendars(), clock_histories())
def test_a_running_clock_breaches_exactly_at_its_due_time(calendar, history):
    events, _, now = history
    state = clock_state(calendar, events, now)
    if state.due is None:
        return
    at_due = clock_state(calendar, events, state.due)
    just_before = clock_state(calendar, events, state.due - MINUTE)
    assert at_due.state == "breached" and at_due.breached_at == state.due
    assert just_before.state != "breached"


# --- examples a practitioner checks by hand ----------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessCalendar(
    "office", BERLIN, {d: (time(8), time(18)) for d in range(5)}, with_holidays("DE", "BY", [])
)


def test_friday_afternoon_plus_four_hours_is_monday_morning_across_dst():
    friday = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)  # DST starts Sunday 29 March
    assert OFFICE.add(friday, timedelta(hours=4)) == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)


def test_easter_holidays_come_from_the_holidays_library():
    maundy_thursday = datetime(2026, 4, 2, 17, 0, tzinfo=BERLIN)
    # Good Friday and Easter Monday are public holidays in Bavaria
    due = OFFICE.add(maundy_thursday, timedelta(hours=2))
    assert due == datetime(2026, 4, 7, 9, 0, tzinfo=BERLIN)


def test_the_lived_twice_hour_counts_twice_and_the_skipped_hour_not_at_all():
    night = BusinessCalendar("night shift", BERLIN, {6: (time(0), time(4))})
    spring = datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)
    autumn = datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN)
    assert night.elapsed(spring, spring + timedelta(days=1)) == timedelta(hours=3)
    assert night.elapsed(autumn, autumn + timedelta(days=1)) == timedelta(hours=5)


def test_a_paused_clock_does_not_breach_and_resumes_where_it_stopped():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)  # Monday
    events = [
        ClockEvent(start, "start", timedelta(hours=8)),
        ClockEvent(start + timedelta(hours=2), "pause"),  # waiting for the user
        ClockEvent(start + timedelta(days=3), "resume"),  # Thursday 09:00
    ]
    paused = clock_state(OFFICE, events, start + timedelta(days=2))
    assert (paused.state, paused.used, paused.due) == ("paused", timedelta(hours=2), None)
    running = clock_state(OFFICE, events, start + timedelta(days=3))
    assert running.due == datetime(2026, 1, 8, 15, 0, tzinfo=BERLIN)
    assert clock_state(OFFICE, events, running.due).state == "breached"


def test_a_priority_change_keeps_the_time_already_used():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    events = [
        ClockEvent(start, "start", timedelta(hours=40)),  # P3
        ClockEvent(start + timedelta(hours=3), "target", timedelta(hours=4)),  # raised to P1
    ]
    state = clock_state(OFFICE, events, start + timedelta(hours=3))
    assert state.used == timedelta(hours=3) and state.state == "warned"
    assert state.due == start + timedelta(hours=4)


def test_nonsense_histories_are_refused():
    start = datetime(2026, 1, 5, 9, 0, tzinfo=BERLIN)
    with pytest.raises(ValueError, match="while already paused"):
        clock_state(
            OFFICE,
            [
                ClockEvent(start, "start", timedelta(hours=1)),
                ClockEvent(start, "pause"),
                ClockEvent(start, "pause"),
            ],
            start,
        )
    with pytest.raises(ValueError, match="unknown clock event"):
        ClockEvent(start, "snooze")
    with pytest.raises(ValueError, match="no working day"):
        BusinessCalendar("empty", BERLIN, {})
