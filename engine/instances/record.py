"""The incident record, derived from the workflow after a command: the one function that
live commands (`engine.instances.writeback`), replay and what-if
(`engine.audit.replay.rerun`) all call, so "what a command does to the record" is
written once.

The record is a mapping of incident fields (the `incidents` row, or replay's shadow of
it); `derive` returns the fields that change and what the workflow waits on now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import inspect

from engine.errors import HandlerFailed
from engine.instances import projection
from engine.process.definitions import ProcessDefinition
from engine.spiff import HandlerCall
from engine.store.models import Incident

DONE_STATES = ("Resolved", "Closed")
_COLUMNS = tuple(column.key for column in inspect(Incident).column_attrs)
# The incident fields a handler result may set through "incident_update".
INCIDENT_UPDATES = frozenset(
    {"resolution_breached", "sla_warned", "assignment_group", "major_incident"}
)


@dataclass(frozen=True)
class Derived:
    changes: dict[str, Any]  # field -> new value, for the fields the command set
    waiting: projection.Waiting  # the open tasks and armed timers after the command
    new_tasks: tuple[projection.OpenTask, ...]  # open now and not before


def derive(
    record: Mapping[str, Any],
    workflow,
    definition: ProcessDefinition,
    calls: Iterable[HandlerCall],
    open_before: set[str],
) -> Derived:
    """The record after a command: fields from the process variables, the handlers'
    incident updates, the state the newest live element stands for, the group of newly
    open work (a new group clears the assignee and counts a reassignment).

    `record` needs `caller`, `assignment_group`, `assignee` and `reassignment_count`;
    `open_before` holds the ids of the tasks open before the command. A handler that
    updates a field it may not is a HandlerFailed.
    """
    new = dict(record)
    new.update(projection.incident_fields(projection.current_data(workflow)))
    for call in calls:
        new.update(incident_update(call))
    new["state"] = projection.incident_state(workflow, definition)
    if new["state"] not in DONE_STATES:
        new["resolved_at"] = None
    waiting = projection.waiting_on(workflow, definition, new["caller"], new["assignment_group"])
    fresh = tuple(task for task in waiting.tasks if task.id not in open_before)
    for task in fresh:
        if task.group and task.lane != projection.USER_LANE:
            new["assignment_group"] = task.group
    previous_group = record.get("assignment_group")
    if new["assignment_group"] != previous_group:
        new["assignee"] = None
        if previous_group is not None:
            new["reassignment_count"] = record["reassignment_count"] + 1
    changes = {k: v for k, v in new.items() if k not in record or record[k] != v}
    return Derived(changes, waiting, fresh)


def first_response(
    responded_at: datetime | None, lane: str | None, moment: datetime, due: datetime | None
) -> dict[str, Any]:
    """The fields a completed task sets when it is the support teams' first response."""
    if responded_at is not None or lane == projection.USER_LANE:
        return {}
    return {"responded_at": moment, **({"response_breached": True} if due and moment > due else {})}


def of(incident: Incident) -> dict[str, Any]:
    """The record of an `Incident` row: its columns by name."""
    return {name: getattr(incident, name) for name in _COLUMNS}


def incident_update(call: HandlerCall) -> dict[str, Any]:
    """The fields a handler's result sets on the incident (`incident_update`), checked."""
    update = call.result.get("incident_update") if isinstance(call.result, dict) else None
    for field in update or {}:
        if field not in INCIDENT_UPDATES:
            raise HandlerFailed(
                call.element,
                call.operator,
                f"it tried to change incident field '{field}', which handlers "
                f"may not change (allowed: {', '.join(sorted(INCIDENT_UPDATES))})",
            )
    return dict(update or {})
