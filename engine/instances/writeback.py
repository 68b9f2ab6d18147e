"""Write what a command did: instance state, projections, outbox and history.

Called by the runtime inside the command's transaction, after the engine steps ran;
nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import HandlerFailed
from engine.instances import history, projection
from engine.instances.history import Entry
from engine.process.definitions import ProcessDefinition
from engine.spiff import HandlerCall, dump_workflow
from engine.store.models import HumanTask, Incident, Instance, Notification, Timer
from engine.worker.mail import outbox_rows

# The incident fields a handler result may set through "incident_update".
INCIDENT_UPDATES = {"resolution_breached", "sla_warned", "assignment_group", "major_incident"}


def write_back(
    session: Session,
    instance: Instance,
    incident: Incident,
    definition: ProcessDefinition,
    workflow,
    before: projection.Waiting,
    calls: list[HandlerCall],
    entries: list[Entry],
) -> None:
    """Store what a command did, in the caller's transaction.

    `before` is what the workflow waited on when the command began: the open-task and
    timer rows match it (both are written together), so only the difference is written.
    """
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

    connection = session.connection()
    after = projection.waiting_on(workflow, definition, incident.caller, incident.assignment_group)
    _sync_tasks(connection, instance, incident, before, after, now)
    if incident.assignment_group != previous_group:
        incident.assignee = None
        if previous_group is not None:
            incident.reassignment_count += 1
    sync_timers(connection, instance, before, after)
    if any(call.notifications() for call in calls):
        # The HTML part is rendered from the incident record the handlers were given.
        facts = workflow.script_engine.context.incident
        connection.execute(insert(Notification), outbox_rows(calls, facts, incident.id, now))
    history.append(session, instance, now, entries)


def _sync_tasks(connection, instance, incident, before, after, now) -> None:
    """Open-task rows follow the workflow; rows that stay keep their claims."""
    drop_closed_tasks(connection, before, after)
    new = [task for task in after.tasks if task.id not in before.task_ids]
    for task in new:
        if task.group and task.lane != "User":
            incident.assignment_group = task.group
    insert_open_tasks(connection, instance, incident, new, now)


def drop_closed_tasks(connection, before, after) -> None:
    """Delete the rows of the tasks that were open before and are not any more."""
    gone = before.task_ids - after.task_ids
    if gone:
        connection.execute(delete(HumanTask).where(HumanTask.id.in_(gone)))


def insert_open_tasks(connection, instance, incident, tasks, now) -> None:
    """One row per newly open task (`projection.OpenTask`), in one INSERT."""
    if not tasks:
        return
    connection.execute(
        insert(HumanTask),
        [
            {
                "id": t.id,
                "instance_id": instance.id,
                "incident_id": incident.id,
                "element": t.element,
                "name": t.name,
                "lane": t.lane,
                "group_name": t.group,
                "assignee": t.assignee,
                "form": t.form,
                "created_at": now,
                "due_at": incident.resolution_due,
            }
            for t in tasks
        ],
    )


def sync_timers(connection, instance, before, after) -> None:
    """Timer rows follow the workflow; untouched (failure marks kept) when unchanged."""
    if after.timers == before.timers:
        return
    connection.execute(delete(Timer).where(Timer.instance_id == instance.id))
    if after.timers:
        connection.execute(
            insert(Timer),
            [
                {"instance_id": instance.id, "element": element, "due_at": due}
                for element, due in sorted(after.timers)
            ],
        )


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
