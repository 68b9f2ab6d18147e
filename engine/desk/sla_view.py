"""An incident's SLA clocks, recomputed from its recorded history alone.

So that an auditor can reproduce why the desk says "breached": the targets and calendar
come from the recorded `sla_targets` result, the moments from the recorded events —

- response: starts when the incident was opened; stops at the first user task completed
  in a technician's lane (Service Desk or Specialist Support); never pauses.
- resolution: starts when opened; pauses when the resolution is recorded (the incident
  waits on the caller's answer) or the incident is put on hold (`pause_sla`), resumes
  when it is reopened or work resumes (`resume_sla`); stops when the incident is closed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from handlers.catalog import catalog
from handlers.sla_clock import ClockEvent, ClockState, clock_state

TECHNICIAN_LANES = ("Service Desk", "Specialist Support")


def clocks(history: list[dict[str, Any]], now: datetime) -> dict[str, ClockState]:
    """{"response": ..., "resolution": ...} from an incident's history (oldest first);
    empty until the incident has SLA targets."""
    targets = next(
        (
            e
            for e in history
            if e["kind"] == "handler" and e["payload"]["operator"] == "sla_targets"
        ),
        None,
    )
    if targets is None:
        return {}
    sla = targets["payload"]["result"]
    opened = datetime.fromisoformat(targets["payload"]["params"]["opened_at"])
    # Results recorded before targets and calendar were part of them: the catalog's.
    policy = catalog().priorities[sla["priority"]]
    calendar = catalog().calendars[sla.get("calendar") or policy.calendar]
    response_target = timedelta(minutes=sla.get("response_minutes") or policy.response_minutes)
    resolution_target = timedelta(
        minutes=sla.get("resolution_minutes") or policy.resolution_minutes
    )
    response = [ClockEvent(opened, "start", response_target)]
    resolution = [ClockEvent(opened, "start", resolution_target)]
    paused = False
    for event in history:
        payload = event["payload"]
        if event["kind"] == "task" and len(response) == 1 and _technician_completed(payload):
            response.append(ClockEvent(event["at"], "stop"))
        if event["kind"] != "handler":
            continue
        operator = payload["operator"]
        if operator in ("record_resolution", "pause_sla") and not paused:
            resolution.append(ClockEvent(event["at"], "pause"))
            paused = True
        elif operator == "retarget_sla":
            new = payload["result"]
            resolution.append(
                ClockEvent(
                    event["at"],
                    "target",
                    timedelta(minutes=new["resolution_minutes"]),
                    catalog().calendars[new["calendar"]],
                )
            )
        elif operator == "resume_sla" and paused:
            resolution.append(ClockEvent(event["at"], "resume"))
            paused = False
        elif operator == "close_incident":
            resolution.append(ClockEvent(event["at"], "stop"))
    return {
        "response": clock_state(calendar, response, now),
        "resolution": clock_state(calendar, resolution, now),
    }


def _technician_completed(payload: dict[str, Any]) -> bool:
    return (
        payload.get("type") == "UserTask"
        and payload.get("state") == "COMPLETED"
        and payload.get("lane") in TECHNICIAN_LANES
    )


def describe(name: str, state: ClockState) -> str:
    """One line for a person: state, working time used of the target, due."""
    used, target = _hours(state.used), _hours(state.target or timedelta())
    line = f"{name:<11} {state.state:<8} {used} of {target} working time used"
    if state.due:
        line += f", due {state.due:%Y-%m-%d %H:%M} UTC"
    if state.breached_at:
        line += f", breached {state.breached_at:%Y-%m-%d %H:%M} UTC"
    return line


def _hours(amount: timedelta) -> str:
    minutes = int(amount.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}"
