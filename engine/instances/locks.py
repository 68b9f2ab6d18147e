"""Locking an incident's instance for a command, and what handlers see of the incident.

Every command that changes an incident first locks its instance row (SELECT ... FOR
UPDATE; on SQLite the write transaction already holds the database), checks the version
it was given and that the process still runs, and reads the incident record with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Conflict, NotFound
from engine.store.db import Database
from engine.store.models import HumanTask, Incident, Instance


class InstanceLocks:
    """The lock-and-read steps shared by every command."""

    db: Database

    def _incident(self, session: Session, number: str) -> Incident:
        incident = session.scalars(select(Incident).where(Incident.number == number)).first()
        if incident is None:
            raise NotFound(f"no incident {number}")
        return incident

    def _lock(
        self,
        session: Session,
        instance_id: int,
        expected_version: int | None,
        skip_locked: bool = False,
        allow_finished: bool = False,
    ) -> tuple[Instance, Incident] | None:
        """Lock the instance row (FOR UPDATE; SQLite: the write transaction already holds
        the database) and read it with its incident; None only when `skip_locked` skipped."""
        row = session.execute(
            select(Instance, Incident)
            .join(Incident, Incident.instance_id == Instance.id)
            .where(Instance.id == instance_id)
            .with_for_update(of=Instance, skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            if skip_locked:
                return None
            raise NotFound(f"no process instance {instance_id}")
        instance, incident = row
        self._check(instance, expected_version, allow_finished)
        return instance, incident

    def _locked(self, session: Session, instance_id: int) -> tuple[Instance, Incident]:
        locked = self._lock(session, instance_id, None)
        assert locked is not None  # only skip_locked returns None
        return locked

    @staticmethod
    def _check(
        instance: Instance, expected_version: int | None, allow_finished: bool = False
    ) -> None:
        if expected_version is not None and instance.version != expected_version:
            raise Conflict(
                f"the incident changed since you loaded it (version "
                f"{expected_version}, now {instance.version}); reload and retry"
            )
        if instance.status != "running" and not allow_finished:
            raise Conflict("the incident is closed; nothing can change it any more")

    def _lock_task(
        self, session: Session, task_id: str, expected_version: int | None
    ) -> tuple[Instance, Incident, HumanTask]:
        """Lock the instance an open task belongs to; one round trip."""
        row = session.execute(
            select(Instance, Incident, HumanTask)
            .join(Incident, Incident.instance_id == Instance.id)
            .join(HumanTask, HumanTask.instance_id == Instance.id)
            .where(HumanTask.id == task_id)
            .with_for_update(of=Instance)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise Conflict(
                f"task {task_id} is not open (already completed, or no such task); "
                "reload the incident to see what is open now"
            )
        instance, incident, human = row
        self._check(instance, expected_version)
        return instance, incident, human


def facts(incident: Incident) -> dict[str, Any]:
    """The incident record as handlers see it (`incident` parameter)."""
    return {
        "number": incident.number,
        "caller": incident.caller,
        "short_description": incident.short_description,
        "priority": incident.priority,
        "category": incident.category,
        "state": incident.state,
        "group": incident.assignment_group,
        "assignee": incident.assignee,
        "sla_warned": incident.sla_warned,
        "resolution_breached": incident.resolution_breached,
    }
