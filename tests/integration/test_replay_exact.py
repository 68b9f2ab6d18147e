"""Replay is exact with a clock that moves: a command reads the clock once
(`engine.clock.held`), so the timers it found due, the SLA it computed and the times its
history carries are one recorded moment, which replay feeds back.

The clock here moves on every reading, as the wall clock does (a large step makes every
difference between two readings of one command visible)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import clock
from engine.audit.replay import Replayer

from .desk import Desk


class TickingClock(clock.FrozenClock):
    """Every reading is later than the one before."""

    def now(self) -> datetime:
        return self.advance(timedelta(milliseconds=700))


@pytest.fixture
def desk(runtime) -> Desk:
    ticking = TickingClock(datetime(2026, 1, 5, 8, 59, tzinfo=UTC))
    previous = clock.install(ticking)
    yield Desk(runtime, ticking)
    clock.install(previous)


def test_incidents_whose_timers_fire_late_replay_identically(desk):
    escalated = desk.report(impact="high", urgency="high")  # P1: status every 30 min
    first_line = desk.report(impact="medium", urgency="high")
    waiting = desk.report(impact="low", urgency="medium")
    for number in (escalated, first_line, waiting):
        desk.categorize(number)
    desk.advance(minutes=29, seconds=59)  # timers come due between readings
    desk.escalate(escalated)
    desk.say(escalated, "user_reply", {"text": "It is down for the whole floor."})
    desk.advance(minutes=1)
    desk.resolve_first_line(first_line)
    desk.advance(hours=3, milliseconds=1)
    desk.specialist_resolves(escalated)
    desk.say(escalated, "confirm")
    desk.advance(days=1)

    history = [e for n in (escalated, first_line, waiting) for e in desk.history(n)]
    assert any(e["kind"] == "timer" for e in history)  # timers did fire, late
    summary = Replayer(desk.db).many()
    assert summary.total == 3
    assert not summary.diverged, [str(v) for v in summary.diverged]
