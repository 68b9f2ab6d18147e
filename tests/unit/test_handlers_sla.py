"""SLA targets and resuming the resolution clock after a reopen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine import clock
from engine.clock import FrozenClock
from handlers.errors import HandlerInputError
from handlers.sla import SLA_KEYS, resume_sla, sla_targets

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    fake = FrozenClock(MONDAY_9)
    previous = clock.install(fake)
    yield fake
    clock.install(previous)


def test_p1_targets(frozen):
    sla = sla_targets(1, "2026-01-05T09:00:00+00:00")
    assert sla == {
        "priority": 1,
        "priority_name": "Critical",
        "response_due": "2026-01-05T09:15:00+00:00",
        "resolution_due": "2026-01-05T13:00:00+00:00",
        "warning_at": "2026-01-05T12:00:00+00:00",
        "status_update_cycle": "R/PT30M",
        "auto_close_after": "P3D",
        "warned": False,
        "breached": False,
        "reopens": 0,
        "max_reopens": 5,
    }
    assert tuple(sla) == SLA_KEYS


@pytest.mark.parametrize(
    ("priority", "name", "response", "resolution", "cycle"),
    [
        (2, "High", timedelta(minutes=30), timedelta(hours=8), "R/PT1H"),
        (3, "Moderate", timedelta(hours=4), timedelta(days=2), "R/PT4H"),
        (4, "Low", timedelta(hours=8), timedelta(days=5), "R/P1D"),
        (5, "Planning", timedelta(days=2), timedelta(days=14), "R/P2D"),
    ],
)
def test_targets_per_priority(frozen, priority, name, response, resolution, cycle):
    sla = sla_targets(priority, MONDAY_9.isoformat())
    assert sla["priority_name"] == name
    assert datetime.fromisoformat(sla["response_due"]) == MONDAY_9 + response
    assert datetime.fromisoformat(sla["resolution_due"]) == MONDAY_9 + resolution
    assert datetime.fromisoformat(sla["warning_at"]) == MONDAY_9 + resolution * 0.75
    assert sla["status_update_cycle"] == cycle


def test_times_are_converted_to_utc(frozen):
    sla = sla_targets(2, "2026-01-05T10:00:00+01:00")
    assert sla["resolution_due"] == "2026-01-05T17:00:00+00:00"
    assert sla_targets(2, "2026-01-05T09:00:00Z")["response_due"] == "2026-01-05T09:30:00+00:00"


def test_deadlines_already_passed_are_flagged(frozen):
    frozen.set(MONDAY_9 + timedelta(hours=3))  # exactly the P1 warning time
    sla = sla_targets(1, MONDAY_9.isoformat())
    assert (sla["warned"], sla["breached"]) == (True, False)
    frozen.advance(timedelta(hours=1))  # exactly the P1 resolution deadline
    sla = sla_targets(1, MONDAY_9.isoformat())
    assert (sla["warned"], sla["breached"]) == (True, True)


def test_priority_none_points_at_the_dmn(frozen):
    with pytest.raises(HandlerInputError) as caught:
        sla_targets(None, MONDAY_9.isoformat())
    assert str(caught.value) == (
        "prioritize: no DMN rule matched impact/urgency — priority is None; "
        "fix diagrams/priority.dmn"
    )


@pytest.mark.parametrize("priority", [0, 6, "1", True, 2.0])
def test_priority_outside_1_to_5_is_refused(frozen, priority):
    with pytest.raises(HandlerInputError, match=r"sla_targets: priority .* is not one of 1, 2"):
        sla_targets(priority, MONDAY_9.isoformat())


@pytest.mark.parametrize("opened_at", ["2026-01-05T09:00:00", "yesterday", None])
def test_opened_at_must_be_an_aware_iso_time(frozen, opened_at):
    with pytest.raises(HandlerInputError, match="sla_targets: opened_at"):
        sla_targets(3, opened_at)


def test_resume_shifts_resolution_clock_by_the_pause(frozen):
    sla = sla_targets(1, MONDAY_9.isoformat())
    resolved_at = MONDAY_9 + timedelta(hours=1)
    frozen.set(resolved_at + timedelta(minutes=90))  # the caller reopened 90 minutes later
    resumed = resume_sla(sla, resolved_at.isoformat())
    assert resumed["resolution_due"] == "2026-01-05T14:30:00+00:00"
    assert resumed["warning_at"] == "2026-01-05T13:30:00+00:00"
    assert resumed["response_due"] == sla["response_due"]  # the response clock never pauses
    assert resumed["reopens"] == 1
    assert (resumed["warned"], resumed["breached"]) == (False, False)
    assert {
        k: v for k, v in resumed.items() if k not in ("resolution_due", "warning_at", "reopens")
    } == {k: v for k, v in sla.items() if k not in ("resolution_due", "warning_at", "reopens")}
    assert sla["reopens"] == 0  # the input is not changed


def test_resume_recomputes_flags_and_counts_reopens(frozen):
    sla = sla_targets(1, MONDAY_9.isoformat())
    resolved_at = MONDAY_9 + timedelta(hours=3, minutes=30)  # after the warning time
    frozen.set(resolved_at + timedelta(minutes=10))
    once = resume_sla(sla, resolved_at.isoformat())
    assert once["resolution_due"] == "2026-01-05T13:10:00+00:00"
    assert (once["warned"], once["breached"]) == (True, False)
    frozen.advance(timedelta(hours=2))
    twice = resume_sla(once, frozen.now().isoformat())  # reopened at once: no pause
    assert twice["resolution_due"] == once["resolution_due"]
    assert (twice["warned"], twice["breached"]) == (True, True)
    assert twice["reopens"] == 2


def test_resume_refuses_a_pause_in_the_future(frozen):
    sla = sla_targets(2, MONDAY_9.isoformat())
    with pytest.raises(HandlerInputError, match="later than now"):
        resume_sla(sla, (MONDAY_9 + timedelta(minutes=1)).isoformat())


def test_resume_needs_an_sla_dict(frozen):
    with pytest.raises(HandlerInputError, match="resume_sla: the sla dict lacks resolution_due"):
        resume_sla({"warning_at": MONDAY_9.isoformat(), "reopens": 0}, MONDAY_9.isoformat())
