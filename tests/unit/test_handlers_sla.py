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
        "warning_at": "2026-01-05T11:00:00+00:00",
        "escalation_at": "2026-01-05T12:00:00+00:00",
        "status_update_cycle": "R/PT30M",
        "auto_close_after": "P3D",
        "warned": False,
        "escalated": False,
        "breached": False,
        "reopens": 0,
        "max_reopens": 5,
        "calendar": "24x7",
        "response_minutes": 15,
        "resolution_minutes": 240,
    }
    assert tuple(sla) == SLA_KEYS


@pytest.mark.parametrize(
    ("priority", "name", "response_due", "warning_at", "escalation_at", "resolution_due", "cycle"),
    [
        # P2 counts round the clock: warning at 50 %, escalation at 75 % of 8 h
        (2, "High", "05T09:30", "05T13:00", "05T15:00", "05T17:00", "R/PT1H"),
        # P3-P5 count office hours, Mon-Fri 08:00-18:00 Europe/Berlin (07:00-17:00 UTC in
        # winter), and skip Tuesday 6 January: Epiphany, a public holiday in Bavaria.
        # P3: 4 h to respond, 30 h (3 office days) to resolve
        (3, "Moderate", "05T13:00", "07T14:00", "08T11:30", "09T09:00", "R/PT4H"),
        # P4: 8 h / 50 h
        (4, "Low", "05T17:00", "08T14:00", "09T16:30", "13T09:00", "R/P1D"),
        # P5: 20 h / 100 h
        (5, "Planning", "08T09:00", "13T09:00", "15T14:00", "20T09:00", "R/P2D"),
    ],
)
def test_targets_count_the_policy_calendar(
    frozen, priority, name, response_due, warning_at, escalation_at, resolution_due, cycle
):
    sla = sla_targets(priority, MONDAY_9.isoformat())  # Monday 10:00 in Berlin
    assert sla["priority_name"] == name

    def utc(day_time: str) -> str:
        return f"2026-01-{day_time}:00+00:00"

    assert sla["response_due"] == utc(response_due)
    assert sla["warning_at"] == utc(warning_at)
    assert sla["escalation_at"] == utc(escalation_at)
    assert sla["resolution_due"] == utc(resolution_due)
    assert sla["status_update_cycle"] == cycle
    assert sla["calendar"] == ("24x7" if priority <= 2 else "office")


def test_resume_in_office_hours_keeps_the_working_time_that_was_left(frozen):
    sla = sla_targets(3, MONDAY_9.isoformat())  # due Friday 9 Jan 10:00 Berlin
    resolved_at = datetime(2026, 1, 8, 16, 0, tzinfo=UTC)  # Thu 17:00 Berlin: 3 h left
    frozen.set(datetime(2026, 1, 10, 12, 0, tzinfo=UTC))  # reopened on Saturday
    resumed = resume_sla(sla, resolved_at.isoformat())
    # Thu 17-18 and Fri 08-10 were left: 3 office hours -> Monday 12 January 11:00 Berlin
    assert resumed["resolution_due"] == "2026-01-12T10:00:00+00:00"
    assert resumed["warning_at"] == sla["warning_at"]  # passed before the pause: stays passed
    assert (resumed["warned"], resumed["breached"]) == (True, False)


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
    assert resumed["warning_at"] == "2026-01-05T12:30:00+00:00"
    assert resumed["escalation_at"] == "2026-01-05T13:30:00+00:00"
    assert resumed["response_due"] == sla["response_due"]  # the response clock never pauses
    assert resumed["reopens"] == 1
    assert (resumed["warned"], resumed["breached"]) == (False, False)
    moved = (
        "resolution_due",
        "warning_at",
        "escalation_at",
        "reopens",
        "paused_since",
        "held_task",
    )
    assert {k: v for k, v in resumed.items() if k not in moved} == {
        k: v for k, v in sla.items() if k not in moved
    }
    assert (resumed["paused_since"], resumed["held_task"]) == (None, None)
    assert sla["reopens"] == 0  # the input is not changed


def test_a_hold_pauses_the_clock_and_work_resumes_where_it_was(frozen):
    from handlers.sla import pause_sla

    sla = sla_targets(1, MONDAY_9.isoformat())  # due 13:00 UTC, round the clock
    frozen.set(MONDAY_9 + timedelta(hours=1))
    incident = {
        "open_tasks": [{"element": "investigate_and_resolve", "lane": "Specialist Support"}]
    }
    held = pause_sla(sla, "awaiting vendor", incident=incident)
    assert held["held_task"] == "investigate_and_resolve" and held["holds"] == 1
    assert held["paused_since"] == "2026-01-05T10:00:00+00:00"
    with pytest.raises(HandlerInputError, match="already paused"):
        pause_sla(held, "again", incident=incident)
    frozen.advance(timedelta(hours=5))  # the vendor answered five hours later
    resumed = resume_sla(held, held["paused_since"], reopen=False)
    assert resumed["resolution_due"] == "2026-01-05T18:00:00+00:00"  # 3 h left, from 15:00
    assert resumed["reopens"] == 0 and resumed["held_task"] == "investigate_and_resolve"
    with pytest.raises(HandlerInputError, match="say why"):
        pause_sla(sla, " ", incident=incident)


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


def test_a_priority_change_keeps_the_working_time_used_and_applies_the_new_target(frozen):
    from handlers.sla import retarget_sla

    sla = sla_targets(3, MONDAY_9.isoformat())  # 30 office hours, from Monday 10:00 Berlin
    frozen.set(MONDAY_9 + timedelta(hours=3))  # 3 office hours used
    raised = retarget_sla(
        sla,
        2,
        incident={
            "open_tasks": [{"element": "investigate_and_resolve", "lane": "Specialist Support"}]
        },
    )
    # P2: 8 h round the clock, 3 already used -> 5 h from now (12:00 UTC)
    assert raised["resolution_due"] == "2026-01-05T17:00:00+00:00"
    assert raised["warning_at"] == "2026-01-05T13:00:00+00:00"
    assert (raised["priority"], raised["previous_priority"], raised["calendar"]) == (2, 3, "24x7")
    assert raised["held_task"] == "investigate_and_resolve"
    frozen.set(MONDAY_9 + timedelta(hours=9))  # 9 h used: more than P1's 4 h
    critical = retarget_sla(raised, 1, incident={"resolution_breached": False})
    assert critical["resolution_due"] == frozen.now().isoformat()  # due now
    assert critical["breached"] is False  # not notified yet: the re-armed timer will
    again = retarget_sla(raised, 1, incident={"resolution_breached": True})
    assert again["breached"] is True  # already escalated: no second notice


def test_retarget_sla_sends_the_escalation_a_tighter_target_skipped(frozen):
    from handlers.sla import retarget_sla

    sla = sla_targets(3, MONDAY_9.isoformat())  # 30 office hours
    frozen.set(MONDAY_9 + timedelta(hours=5))  # 5 office hours used: P3's warning not yet
    raised = retarget_sla(sla, 2, incident={"sla_warned": False})  # P2: 5 of 8 h used
    assert raised["warning_at"] == frozen.now().isoformat()  # 50 % is past: warn now
    assert (raised["warned"], raised["escalated"]) == (False, False)
    frozen.set(MONDAY_9 + timedelta(hours=7))
    warned_only = {**raised, "escalation_at": (frozen.now() + timedelta(hours=1)).isoformat()}
    critical = retarget_sla(warned_only, 1, incident={"sla_warned": True})
    assert critical["warned"] is True  # the warning went out under P2
    assert critical["escalated"] is False  # the 75 % escalation had not: it goes out now
    escalated = retarget_sla(raised, 1, incident={"sla_warned": True})
    assert escalated["escalated"] is True  # P2's escalation time passed: already sent
