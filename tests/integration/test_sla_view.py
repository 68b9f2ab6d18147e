"""The SLA clocks recomputed from the history agree with what the desk did."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.desk import sla_view

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def recomputed(desk: Desk, number: str) -> dict:
    return sla_view.clocks(desk.history(number), clock.now())


def test_a_running_clock_is_due_when_the_incident_says(desk):
    number = desk.report()  # P3: office hours
    desk.categorize(number)
    desk.escalate(number)
    clocks = recomputed(desk, number)
    incident = desk.incident(number)
    assert clocks["response"].state == "met"
    assert clocks["resolution"].state in ("running", "warned")
    assert clocks["resolution"].due == incident.resolution_due


def test_a_breach_is_recorded_at_the_resolution_target(desk):
    number = desk.report(impact="medium", urgency="high")  # P2: 8 h round the clock
    desk.categorize(number)
    desk.escalate(number)
    due = desk.incident(number).resolution_due
    desk.clock.set(due + timedelta(minutes=5))
    desk.worker.sweep()
    clocks = recomputed(desk, number)
    assert desk.incident(number).resolution_breached
    assert clocks["resolution"].state == "breached"
    assert clocks["resolution"].breached_at == due


def test_waiting_for_the_callers_answer_pauses_and_a_reopen_resumes(desk):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    paused = recomputed(desk, number)["resolution"]
    assert paused.state == "paused" and paused.due is None
    desk.clock.advance(timedelta(days=1))
    assert recomputed(desk, number)["resolution"].used == paused.used  # still
    desk.say(number, "reopen", {"reason": "again"})
    resumed = recomputed(desk, number)["resolution"]
    assert resumed.due == desk.incident(number).resolution_due  # what resume_sla set
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    assert recomputed(desk, number)["resolution"].state == "met"
