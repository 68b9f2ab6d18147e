"""A priority change during the work: the SLA targets follow and the work goes on where it was."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.desk import sla_view
from engine.errors import Conflict, FormInvalid

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def change(desk: Desk, number: str, **fields) -> None:
    desk.say(number, "reprioritize", {"reason": "more people affected", **fields})


def test_raising_the_priority_keeps_the_time_used_and_returns_to_the_same_task(desk):
    number = desk.report(impact="medium", urgency="medium")  # P3
    desk.categorize(number)
    desk.escalate(number)
    before = desk.incident(number)
    assert before.priority == 3
    desk.clock.advance(timedelta(hours=1))
    change(desk, number, impact="medium", urgency="high")  # P2: 8 h round the clock
    incident = desk.incident(number)
    assert incident.priority == 2
    assert incident.state == "In Progress"
    # one hour of the old target is used; P2's 8 h round the clock count it: 7 h left
    assert incident.resolution_due == clock.now() + timedelta(hours=7)
    assert max(t.due_at for t in desk.timers(number)) == incident.resolution_due  # re-armed
    [task] = desk.open_tasks(number)
    assert task.element == "investigate_and_resolve"
    assert incident.reopen_count == 0
    clocks = sla_view.clocks(desk.history(number), clock.now())
    assert clocks["resolution"].due == incident.resolution_due
    assert not [n for n in desk.notifications(number) if n.template == "major_incident"]


def test_declaring_a_major_incident_notifies_the_stakeholders(desk):
    number = desk.report(impact="medium", urgency="medium")
    desk.categorize(number)
    change(desk, number, impact="high", urgency="high", major_incident=True)
    incident = desk.incident(number)
    assert incident.priority == 1
    [task] = desk.open_tasks(number)
    assert task.element == "diagnose"
    assert [n for n in desk.notifications(number) if n.template == "major_incident"]


def test_a_bad_priority_change_is_refused_and_changes_nothing(desk):
    number = desk.report()
    desk.categorize(number)
    before = desk.incident(number)
    with pytest.raises(FormInvalid):
        desk.say(number, "reprioritize", {"impact": "huge", "urgency": "high", "reason": "x y z"})
    after = desk.incident(number)
    assert (after.priority, after.resolution_due) == (before.priority, before.resolution_due)
    assert [t.element for t in desk.open_tasks(number)] == ["diagnose"]


def test_a_priority_change_needs_work_in_progress(desk):
    number = desk.report(is_broken=False, short_description="How do I reset my password?")
    with pytest.raises(Conflict, match="not waiting for 'reprioritize'"):
        change(desk, number, impact="high", urgency="high")
