"""On hold: the resolution clock stops while the incident waits on the caller or a vendor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.desk import sla_view

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def test_a_hold_stops_the_clock_and_work_resumes_with_the_specialists(desk):
    number = desk.report(impact="medium", urgency="high")  # P2: 8 h round the clock
    desk.categorize(number)
    desk.escalate(number)
    due_before = desk.incident(number).resolution_due
    desk.clock.advance(timedelta(hours=1))
    desk.say(number, "hold", {"reason": "awaiting vendor"})
    assert desk.incident(number).state == "On Hold"
    assert desk.open_tasks(number) == []
    desk.advance(hours=10)  # past the old due time: no breach while on hold
    assert desk.incident(number).resolution_breached is False
    assert [e for e in desk.history(number) if e["element"] == "escalate_breach"] == []
    desk.say(number, "resume", {"note": "the vendor answered"})
    incident = desk.incident(number)
    assert incident.state == "In Progress"
    assert incident.resolution_due == due_before + timedelta(hours=10)
    [task] = desk.open_tasks(number)
    assert task.element == "investigate_and_resolve"  # back where the work was
    assert incident.reopen_count == 0
    clocks = sla_view.clocks(desk.history(number), clock.now())
    assert clocks["resolution"].due == incident.resolution_due


def test_the_callers_reply_ends_the_hold(desk):
    number = desk.report()
    desk.categorize(number)
    desk.say(number, "hold", {"reason": "awaiting caller"})
    desk.say(number, "user_reply", {"message": "here is the screenshot"})
    [task] = desk.open_tasks(number)
    assert task.element == "diagnose"
    assert desk.incident(number).state == "In Progress"


def test_hold_is_refused_when_there_is_no_work_in_progress(desk):
    from engine.errors import Conflict

    number = desk.report(is_broken=False, short_description="How do I reset my password?")
    with pytest.raises(Conflict, match="not waiting for 'hold'"):
        desk.say(number, "hold", {"reason": "awaiting caller"})
