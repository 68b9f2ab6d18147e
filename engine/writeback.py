"""Write what a command did: instance state, projections, outbox and history.

Called by the runtime inside the command's transaction, after the engine steps ran;
nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine import clock, history, projection
from engine.bpmn import HandlerCall, dump_workflow
from engine.definitions import ProcessDefinition
from engine.errors import HandlerFailed
from engine.history import Entry
from engine.store.models import HumanTask, Incident, Instance, Notification, Timer

# The incident fields a handler result may set through "incident_update".
INCIDENT_UPDATES = {"resolution_breached", "sla_warned", "assignment_group", "major_incident"}


def write_back(
    session: Session,
    instance: Instance,
    incident: Incident,
    definition: ProcessDefinition,
    workflow,
    calls: list[HandlerCall],
    entries: list[Entry],
) -> None:
    """Store what a command did, in the caller's transaction."""
    now = clock.now()
    previous_group = incident.assignment_group
    data = projection.current_data(workflow)
    for name, value in projection.incident_fields(data).items():
        setattr(incident, name, value)
    for call in calls:
        _apply_incident_update(incident, call)
    incident.state = projection.incident_state(workflow, definition)
    if incident.state not in ("Resolved", "Closed"):
        incident.resolved_at = None
    incident.updated_at = now
    incident.last_error = None

    instance.state = dump_workflow(workflow)
    instance.version += 1
    instance.updated_at = now
    instance.status = "completed" if workflow.is_completed() else "running"

    _sync_tasks(session, instance, incident, definition, workflow)
    if incident.assignment_group != previous_group:
        incident.assignee = None
        if previous_group is not None:
            incident.reassignment_count += 1
    session.execute(delete(Timer).where(Timer.instance_id == instance.id))
    for timer in projection.armed_timers(workflow):
        session.add(Timer(instance_id=instance.id, element=timer.element, due_at=timer.due_at))
    for call in calls:
        for message in call.notifications():
            session.add(
                Notification(
                    incident_id=incident.id,
                    recipient=message["recipient"],
                    template=message["template"],
                    subject=message["subject"],
                    body=message["body"],
                    created_at=now,
                    due_at=now,
                )
            )
    history.append(session, instance.id, now, entries)


def _sync_tasks(session, instance, incident, definition, workflow) -> None:
    wanted = {t.id: t for t in projection.open_tasks(workflow, definition, incident.caller)}
    existing = {
        h.id: h
        for h in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    }
    for task_id, row in existing.items():
        if task_id not in wanted:
            session.delete(row)
    for task_id, task in wanted.items():
        if task_id in existing:
            continue
        if task.group and task.lane != "User":
            incident.assignment_group = task.group
        session.add(
            HumanTask(
                id=task_id,
                instance_id=instance.id,
                incident_id=incident.id,
                element=task.element,
                name=task.name,
                lane=task.lane,
                group_name=task.group,
                assignee=task.assignee,
                form=task.form,
                created_at=clock.now(),
                due_at=incident.resolution_due,
            )
        )
    session.flush()


def _apply_incident_update(incident: Incident, call) -> None:
    update = call.result.get("incident_update") if isinstance(call.result, dict) else None
    for field, value in (update or {}).items():
        if field not in INCIDENT_UPDATES:
            raise HandlerFailed(
                call.element,
                call.operator,
                f"it tried to change incident field '{field}', which handlers "
                f"may not change (allowed: {', '.join(sorted(INCIDENT_UPDATES))})",
            )
        setattr(incident, field, value)
