"""Write what a command did: the incident record, instance state, projections, outbox.

Called by the runtime inside the command's transaction, after the engine steps ran;
nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from engine import clock
from engine.instances import projection, record
from engine.process.definitions import ProcessDefinition
from engine.spiff import HandlerCall, dump_workflow
from engine.store.models import HumanTask, Incident, Instance, Notification, Timer
from engine.worker.mail import outbox_rows


def write_back(
    session: Session,
    instance: Instance,
    incident: Incident,
    definition: ProcessDefinition,
    workflow,
    before: projection.Waiting,
    calls: list[HandlerCall],
) -> record.Derived:
    """Store what a command did, in the caller's transaction: the record derived from the
    workflow (`engine.instances.record.derive`), the instance state, the open-task and timer rows,
    the outbox. The caller appends the history. Returns what was derived.

    `before` is what the workflow waited on when the command began: the open-task and
    timer rows match it (both are written together), so only the difference is written.
    """
    now = clock.now()
    derived = record.derive(record.of(incident), workflow, definition, calls, before.task_ids)
    for name, value in derived.changes.items():
        setattr(incident, name, value)
    incident.updated_at = now
    incident.last_error = None

    instance.state = dump_workflow(workflow)
    instance.version += 1
    instance.updated_at = now
    instance.status = "completed" if workflow.is_completed() else "running"

    connection = session.connection()
    drop_closed_tasks(connection, before, derived.waiting)
    insert_open_tasks(connection, instance, incident, derived.new_tasks, now)
    sync_timers(connection, instance, before, derived.waiting)
    if any(call.notifications() for call in calls):
        # The HTML part is rendered from the incident record the handlers were given.
        facts = workflow.script_engine.context.incident
        connection.execute(insert(Notification), outbox_rows(calls, facts, incident.id, now))
    return derived


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
