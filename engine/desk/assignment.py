"""Who in a group gets a task escalated to it: the least loaded member.

Rule (functional escalation, Specialist Support lane): among the group's members — its
manager only when the group has no one else — pick the one with the fewest open tasks
assigned to them right now, across all incidents; on a tie, the one whose name sorts
first, so the choice is reproducible from the recorded state. Service Desk tasks are not
assigned: first-line technicians take them from the shared queue.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.instances.history import Entry
from engine.instances.projection import SPECIALIST_LANE, OpenTask
from engine.store.models import Group, HumanTask, Incident, Membership


def least_loaded(session: Session, group: str) -> tuple[str, int] | None:
    """(member, open tasks assigned to them) of the least loaded member of `group`."""
    manager = session.scalar(select(Group.manager).where(Group.name == group))
    members = set(
        session.scalars(select(Membership.username).where(Membership.group_name == group))
    )
    candidates = (members - {manager}) or members
    if not candidates:
        return None
    loads = dict(
        session.execute(
            select(HumanTask.assignee, func.count())
            .where(HumanTask.assignee.in_(candidates))
            .group_by(HumanTask.assignee)
        ).all()
    )
    return min(((m, loads.get(m, 0)) for m in candidates), key=lambda pair: (pair[1], pair[0]))


def assign_escalated(
    session: Session, incident: Incident, new_tasks: Iterable[OpenTask]
) -> list[Entry]:
    """Assign each new, unassigned Specialist Support task; one history entry per choice."""
    entries = []
    for task in new_tasks:
        if task.lane != SPECIALIST_LANE or not task.group or task.assignee:
            continue
        chosen = least_loaded(session, task.group)
        if chosen is None:
            continue
        member, load = chosen
        session.execute(update(HumanTask).where(HumanTask.id == task.id).values(assignee=member))
        incident.assignee = member
        entries.append(
            Entry(
                "escalation",
                element=task.element,
                actor="deskflow",
                payload={
                    "kind": "functional",
                    "group": task.group,
                    "assignee": member,
                    "reason": f"least loaded member of {task.group} ({load} open task(s))",
                },
            )
        )
    return entries
