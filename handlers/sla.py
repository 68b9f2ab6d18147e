"""SLA targets for an incident, and moving them when a resolved incident is reopened.

Targets are working minutes of the calendar the catalog's policy names for the priority
(24x7, or business hours with holidays; see `handlers.business_time`). Times go in and out
as ISO 8601 strings in UTC with an offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from engine import clock
from handlers.catalog import PRIORITIES, catalog
from handlers.errors import HandlerInputError
from handlers.registry import operator

SLA_KEYS = (
    "priority",
    "priority_name",
    "response_due",
    "resolution_due",
    "warning_at",
    "escalation_at",
    "status_update_cycle",
    "auto_close_after",
    "warned",
    "escalated",
    "breached",
    "reopens",
    "max_reopens",
    "calendar",
    "response_minutes",
    "resolution_minutes",
)


@operator("sla_targets")
def sla_targets(priority: int | None, opened_at: str) -> dict[str, Any]:
    """Priority (1-5) and the opening time -> the `sla` dict of the diagram contract.

    `warned` / `breached` are true when the warning time / resolution deadline has already
    passed at the clock's now, so a timer armed on them must not notify again.
    """
    priority = _checked_priority(priority)
    opened = parse_time(opened_at, "sla_targets", "opened_at")
    cat = catalog()
    policy = cat.priorities[priority]
    calendar = cat.calendar_of(priority)
    resolution = timedelta(minutes=policy.resolution_minutes)
    response_due = calendar.add(opened, timedelta(minutes=policy.response_minutes))
    resolution_due = calendar.add(opened, resolution)
    warning_at = calendar.add(opened, resolution * cat.warning_threshold)
    escalation_at = calendar.add(opened, resolution * cat.escalation_threshold)
    now = clock.now()
    return {
        "priority": priority,
        "priority_name": policy.name,
        "response_due": response_due.isoformat(),
        "resolution_due": resolution_due.isoformat(),
        "warning_at": warning_at.isoformat(),
        "escalation_at": escalation_at.isoformat(),
        "status_update_cycle": f"R/{policy.status_update_interval}",
        "auto_close_after": cat.auto_close_after,
        "warned": warning_at <= now,
        "escalated": escalation_at <= now,
        "breached": resolution_due <= now,
        "reopens": 0,
        "max_reopens": cat.max_reopens,
        "calendar": policy.calendar,
        "response_minutes": policy.response_minutes,
        "resolution_minutes": policy.resolution_minutes,
    }


@operator("pause_sla")
def pause_sla(sla: dict[str, Any], reason: str, incident: dict[str, Any] | None = None) -> dict:
    """Stop the resolution clock while the incident waits on the caller or a vendor.

    -> the `sla` dict with `paused_since` (now), `hold_reason`, `holds` counted, and
    `held_task`: the technicians' task that was open (the process resumes there).
    `resume_sla(sla, sla["paused_since"], reopen=False)` starts the clock again.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise HandlerInputError("pause_sla: say why the incident is on hold (reason)")
    if sla.get("paused_since"):
        raise HandlerInputError("pause_sla: the clock is already paused")
    return {
        **sla,
        "paused_since": clock.now().isoformat(),
        "hold_reason": reason.strip(),
        "holds": int(sla.get("holds") or 0) + 1,
        "held_task": _technicians_task(incident),
    }


def _technicians_task(incident: dict[str, Any] | None) -> str | None:
    """The technicians' task open now (the process resumes there after an interruption)."""
    open_tasks = (incident or {}).get("open_tasks") or []
    held = [t["element"] for t in open_tasks if t.get("lane") != "User"]
    return held[0] if held else None


@operator("retarget_sla")
def retarget_sla(
    sla: dict[str, Any], priority: int | None, incident: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A priority change during the work -> the `sla` dict for the new priority.

    The working time already used is kept (counted in the old policy's calendar) and the
    new policy's targets apply from now, in its calendar: due = now + (new target - used)
    of working time. A point the new target puts in the past is due now, and its timer
    notifies unless that notice was already given: the incident record says so for the
    warning (`sla_warned`) and the breach (`resolution_breached`); the 75 % escalation
    counts as given when the warning was and the old escalation time has passed.
    """
    priority = _checked_priority(priority)
    cat = catalog()
    policy = cat.priorities[priority]
    old_calendar, new_calendar = _calendar(sla), cat.calendar_of(priority)
    now = clock.now()
    old_due = parse_time(sla["resolution_due"], "retarget_sla", "sla.resolution_due")
    old_target = timedelta(
        minutes=sla.get("resolution_minutes") or cat.priorities[sla["priority"]].resolution_minutes
    )
    left = (
        old_calendar.elapsed(now, old_due) if old_due > now else -old_calendar.elapsed(old_due, now)
    )
    used = old_target - left
    target = timedelta(minutes=policy.resolution_minutes)

    def due(share: float) -> datetime:
        rest = target * share - used
        return new_calendar.add(now, rest) if rest > timedelta() else now

    record = incident or {}
    resolution_due, warning_at = due(1.0), due(cat.warning_threshold)
    escalation_at = due(cat.escalation_threshold)
    return {
        **sla,
        "priority": priority,
        "priority_name": policy.name,
        "previous_priority": sla.get("priority"),
        "resolution_due": resolution_due.isoformat(),
        "warning_at": warning_at.isoformat(),
        "escalation_at": escalation_at.isoformat(),
        "status_update_cycle": f"R/{policy.status_update_interval}",
        "warned": warning_at <= now and bool(record.get("sla_warned")),
        "escalated": escalation_at <= now
        and bool(record.get("sla_warned"))
        and parse_time(sla["escalation_at"], "retarget_sla", "sla.escalation_at") <= now,
        "breached": resolution_due <= now and bool(record.get("resolution_breached")),
        "calendar": policy.calendar,
        "resolution_minutes": policy.resolution_minutes,
        "held_task": _technicians_task(incident),
    }


@operator("take")
def take(value: Any) -> Any:
    """The value itself: copies an expression (e.g. a field of a message) into the
    service task's result variable."""
    return value


@operator("resume_sla")
def resume_sla(sla: dict[str, Any], paused_since: str, reopen: bool = True) -> dict[str, Any]:
    """Restart the resolution clock of a reopened incident -> a new `sla` dict.

    With `reopen=False` the clock restarts after a hold (`pause_sla`) instead: no reopen is
    counted and the process goes back to the task it was at (`held_task` is kept).

    The clock stood still from `paused_since` (when it was resolved) until now: the working
    time that was left then (to the warning, to the deadline) is left now, counted in the
    policy's calendar. A deadline already passed stays passed. The response target does
    not move. `warned` / `breached` are recomputed against now and `reopens` goes up by one.
    """
    missing = [key for key in ("resolution_due", "warning_at", "reopens") if key not in sla]
    if missing:
        raise HandlerInputError(
            f"resume_sla: the sla dict lacks {', '.join(missing)}; pass the `sla` that "
            "sla_targets produced"
        )
    paused_from = parse_time(paused_since, "resume_sla", "paused_since")
    now = clock.now()
    if paused_from > now:
        raise HandlerInputError(
            f"resume_sla: paused_since {paused_since} is later than now ({now.isoformat()})"
        )
    calendar = _calendar(sla)
    resolution_due = _resumed(
        calendar,
        parse_time(sla["resolution_due"], "resume_sla", "sla.resolution_due"),
        paused_from,
        now,
    )
    warning_at = _resumed(
        calendar, parse_time(sla["warning_at"], "resume_sla", "sla.warning_at"), paused_from, now
    )
    escalation_at = _resumed(
        calendar,
        parse_time(
            sla.get("escalation_at") or sla["warning_at"], "resume_sla", "sla.escalation_at"
        ),
        paused_from,
        now,
    )
    resumed = {
        **sla,
        "resolution_due": resolution_due.isoformat(),
        "warning_at": warning_at.isoformat(),
        "escalation_at": escalation_at.isoformat(),
        "warned": warning_at <= now,
        "escalated": escalation_at <= now,
        "breached": resolution_due <= now,
        "reopens": int(sla["reopens"]) + (1 if reopen else 0),
        "paused_since": None,
    }
    if reopen:
        resumed["held_task"] = None  # a reopened incident goes back to diagnosis
    return resumed


def _calendar(sla: dict[str, Any]):
    """The calendar the clock counts in (a `sla` from before calendars: its priority's)."""
    cat = catalog()
    name = sla.get("calendar")
    if isinstance(name, str) and name in cat.calendars:
        return cat.calendars[name]
    return cat.calendar_of(_checked_priority(sla.get("priority")))


def _resumed(calendar, deadline: datetime, paused_from: datetime, now: datetime) -> datetime:
    """Where `deadline` moves when the clock stood still from `paused_from` to `now`."""
    if deadline <= paused_from:
        return deadline  # already passed when the clock stopped: stays passed
    return calendar.add(now, calendar.elapsed(paused_from, deadline))


def parse_time(value: Any, operator_name: str, parameter: str) -> datetime:
    """An ISO 8601 string with an offset -> an aware datetime in UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise HandlerInputError(
            f"{operator_name}: {parameter} {value!r} is not an ISO 8601 date-time"
        ) from exc
    if moment.tzinfo is None:
        raise HandlerInputError(
            f"{operator_name}: {parameter} {value!r} has no UTC offset; times must be "
            "timezone-aware (e.g. 2026-01-05T09:00:00+00:00)"
        )
    return moment.astimezone(UTC)


def _checked_priority(priority: Any) -> int:
    if priority is None:
        raise HandlerInputError(
            "prioritize: no DMN rule matched impact/urgency — priority is None; "
            "fix diagrams/priority.dmn"
        )
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise HandlerInputError(
            f"sla_targets: priority {priority!r} is not one of {', '.join(map(str, PRIORITIES))}; "
            "check the output of diagrams/priority.dmn"
        )
    return priority
