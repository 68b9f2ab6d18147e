"""Locking an incident's instance for a command, and what handlers see of the incident.

Every command that changes an incident first locks its instance row (SELECT ... FOR
UPDATE; on SQLite the write transaction already holds the database), reads the incident
record after the lock, and checks the version it was given and that the process still
runs. A command that fails is recorded here too (`_on_failure`), after its rollback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import (
    Conflict,
    HandlerFailed,
    NotFound,
    ProcessError,
    describe,
)
from engine.instances import history
from engine.instances.history import Entry
from engine.store.db import Database
from engine.store.models import EscalationRule, HumanTask, Incident, Instance, Timer

_FRESH = {"populate_existing": True}  # rows read under the lock replace what the session had
_INSTANCE_AND_INCIDENT = select(Instance, Incident).join(
    Incident, Incident.instance_id == Instance.id
)


class InstanceLocks:
    """The lock-and-read steps shared by every command.

    Lock order, the same in every command: the instance row (FOR UPDATE), then the rows
    that hang off it (incident, open tasks, timers, escalation rules), read only after the
    lock is held. On PostgreSQL (READ COMMITTED) a row fetched in the same statement as a
    lock that had to wait is the row as it was *before* the wait; each read below is its
    own statement after the lock, so it sees what the previous command committed. A row
    that vanished meanwhile (a task completed by someone else) is a Conflict.
    """

    db: Database

    @contextmanager
    def _command(self) -> Iterator[Session]:
        """One command: its transaction (the unit of work), with the clock held at its
        first reading (`engine.clock.held`), which comes after the lock."""
        with self.db.writing() as session, clock.held():
            yield session

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
        """Lock the instance row, then read its incident; None only when `skip_locked`
        skipped it (another worker holds it)."""
        if self.db.is_sqlite:  # BEGIN IMMEDIATE holds the database already: one read
            row = session.execute(
                _INSTANCE_AND_INCIDENT.where(Instance.id == instance_id), _FRESH
            ).first()
            if row is None:
                raise NotFound(f"no process instance {instance_id}")
            instance, incident = row
        else:
            found = session.scalars(
                select(Instance)
                .where(Instance.id == instance_id)
                .with_for_update(skip_locked=skip_locked),
                execution_options=_FRESH,
            ).first()
            if found is None:
                if skip_locked:
                    return None
                raise NotFound(f"no process instance {instance_id}")
            instance = found
            incident = session.scalars(
                select(Incident).where(Incident.instance_id == instance_id),
                execution_options=_FRESH,
            ).one()
        self._check(instance, expected_version, allow_finished)
        return instance, incident

    def _locked(self, session: Session, instance_id: int) -> tuple[Instance, Incident]:
        locked = self._lock(session, instance_id, None)
        assert locked is not None  # only skip_locked returns None
        return locked

    def _lock_incident(self, session: Session, number: str) -> tuple[Instance, Incident]:
        """Lock the instance of incident `number` and read the incident after the lock."""
        if self.db.is_sqlite:
            row = session.execute(
                _INSTANCE_AND_INCIDENT.where(Incident.number == number), _FRESH
            ).first()
            if row is None:
                raise NotFound(f"no incident {number}")
            self._check(row[0], None)
            return row[0], row[1]
        instance_id = session.scalar(select(Incident.instance_id).where(Incident.number == number))
        if instance_id is None:
            raise NotFound(f"no incident {number}")
        return self._locked(session, instance_id)

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
        self, session: Session, task_id: str, expected_version: int | None = None
    ) -> tuple[Instance, Incident, HumanTask]:
        """Lock the instance an open task belongs to, then read the task again: it is a
        Conflict when it was completed (its row deleted) while we waited."""
        if self.db.is_sqlite:  # BEGIN IMMEDIATE holds the database already: one read
            row = session.execute(
                select(Instance, Incident, HumanTask)
                .join(Incident, Incident.instance_id == Instance.id)
                .join(HumanTask, HumanTask.instance_id == Instance.id)
                .where(HumanTask.id == task_id),
                execution_options=_FRESH,
            ).first()
            if row is None:
                raise Conflict(_not_open(task_id))
            instance, incident, human = row
        else:
            instance_id = session.scalar(
                select(HumanTask.instance_id).where(HumanTask.id == task_id)
            )
            if instance_id is None:
                raise Conflict(_not_open(task_id))
            instance, incident = self._locked(session, instance_id)
            task = session.scalars(
                select(HumanTask).where(HumanTask.id == task_id), execution_options=_FRESH
            ).first()
            if task is None:
                raise Conflict(_not_open(task_id))
            human = task
        self._check(instance, expected_version)
        return instance, incident, human

    def _on_failure(
        self,
        session: Session,
        instance_id: int,
        command: Entry,
        any_error: bool = False,
        failed_timers_due: datetime | None = None,
        failed_rule: int | None = None,
    ) -> None:
        """Have the unit of work record a failure of this command on its instance after the
        rollback (`_record_failure`): a handler or process failure, or with `any_error`
        (the worker) any exception but the database's own (`OperationalError`: a lost
        connection, a deadlock — the next sweep tries again). The first command part to
        ask decides how."""

        def record(err: Exception) -> None:
            if isinstance(err, OperationalError):
                return
            if any_error or isinstance(err, HandlerFailed | ProcessError):
                self._record_failure(instance_id, command, err, failed_timers_due, failed_rule)

        session.info.setdefault("after_rollback", [record])

    def _record_failure(
        self,
        instance_id: int,
        command: Entry | None,
        err: Exception,
        failed_timers_due: datetime | None = None,
        failed_rule: int | None = None,
    ) -> None:
        """After the failed command rolled back, in one transaction: one error event, the
        reason on the incident (`last_error`), and with `failed_timers_due` the timers due
        by then marked failed, so the worker leaves them until `retry`; with `failed_rule`
        that escalation rule marked fired with the failure as its outcome."""
        reason = describe(err)
        with self._command() as session:
            locked = self._lock(session, instance_id, None, allow_finished=True)
            assert locked is not None
            instance, incident = locked
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "error",
                        element=getattr(err, "element", None),
                        actor=command.actor if command else "worker",
                        payload={
                            "command": command.payload if command else None,
                            "error": reason,
                        },
                    )
                ],
            )
            incident.last_error = reason
            if failed_timers_due is not None:
                session.execute(
                    update(Timer)
                    .where(Timer.instance_id == instance_id, Timer.due_at < failed_timers_due)
                    .values(failed_at=clock.now())
                )
            if failed_rule is not None:
                session.execute(
                    update(EscalationRule)
                    .where(EscalationRule.id == failed_rule)
                    .values(fired_at=clock.now(), outcome=f"failed: {reason}"[:2000])
                )


def _not_open(task_id: str) -> str:
    return (
        f"task {task_id} is not open (already completed, or no such task); "
        "reload the incident to see what is open now"
    )


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
