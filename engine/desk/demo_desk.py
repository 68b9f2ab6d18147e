"""The desk the demo plays against: what a desk must offer (`Desk`), and Deskflow's own
(`RuntimeDesk`: the runtime's commands, the worker, indexed reads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select

from engine.instances.runtime import Runtime
from engine.store.models import HistoryEvent, HumanTask, Incident, Instance
from engine.worker.scheduler import Worker


@dataclass(frozen=True)
class TaskRef:
    """An open user task as the desk sees it: an id for the commands, and its group."""

    id: Any
    element: str
    group: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How an incident ended."""

    completed: bool
    close_reason: str | None
    priority: int | None = None
    major_incident: bool = False
    resolution_breached: bool = False
    reopen_count: int = 0
    opened_at: datetime | None = None
    resolution_due: datetime | None = None
    automated_escalations: int = 0
    holds: int = 0


class Desk(Protocol):
    """What the driver plays against: the commands, the worker's pass, a person's reads."""

    def start(self, report: dict[str, Any], actor: str) -> str: ...
    def open_task(self, number: str, element: str) -> TaskRef: ...
    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None: ...
    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None: ...
    def add_escalation(
        self, number: str, due: datetime, action: str, target: str, note: str, actor: str
    ) -> None: ...
    def sweep(self) -> None: ...
    def resolution_due(self, number: str) -> datetime: ...
    def suggestion(self, number: str) -> dict[str, Any]: ...
    def outcome(self, number: str) -> Outcome: ...


class RuntimeDesk:
    """The desk as Deskflow runs it: commands through the runtime, timers by the worker.

    With `claims`, a technician claims a task before completing it, as in the web UI.
    """

    def __init__(self, runtime: Runtime, worker: Worker | None = None, claims: bool = True):
        self.runtime = runtime
        self.db = runtime.db
        self.worker = worker or Worker(runtime)
        self.claims = claims

    def start(self, report: dict[str, Any], actor: str) -> str:
        return self.runtime.start_incident(report, actor=actor)

    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None:
        if self.claims and task.element != "try_self_help":
            self.runtime.claim_task(task.id, actor, actor=actor)
        self.runtime.complete_task(task.id, form, actor=actor)

    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None:
        self.runtime.send_message(number, name, payload, actor=actor)

    def add_escalation(
        self, number: str, due: datetime, action: str, target: str, note: str, actor: str
    ) -> None:
        self.runtime.add_escalation(number, due, action, target, note, actor=actor)

    def sweep(self) -> None:
        self.worker.sweep()

    def _incident(self, session, number: str) -> Incident:
        return session.scalars(select(Incident).where(Incident.number == number)).one()

    def open_task(self, number: str, element: str) -> TaskRef:
        with self.db.reading() as session:
            task = session.execute(
                select(HumanTask.id, HumanTask.group_name)
                .join(Incident, Incident.id == HumanTask.incident_id)
                .where(Incident.number == number, HumanTask.element == element)
            ).first()
        if task is None:
            raise RuntimeError(f"{number}: expected an open task '{element}'")
        return TaskRef(task.id, element, task.group_name)

    def resolution_due(self, number: str) -> datetime:
        with self.db.reading() as session:
            due = session.scalar(select(Incident.resolution_due).where(Incident.number == number))
        assert due is not None, "an incident has a resolution target once prioritized"
        return due

    def suggestion(self, number: str) -> dict[str, Any]:
        """The categorize handler's suggestion, as the technician sees it in the history."""
        with self.db.reading() as session:
            payload = session.scalar(
                select(HistoryEvent.payload)
                .join(Incident, Incident.instance_id == HistoryEvent.instance_id)
                .where(
                    Incident.number == number,
                    HistoryEvent.kind == "handler",
                    HistoryEvent.element == "suggest_category",
                )
                .order_by(HistoryEvent.seq.desc())
                .limit(1)
            )
        return (payload or {}).get("result") or {}

    def outcome(self, number: str) -> Outcome:
        with self.db.reading() as session:
            incident = self._incident(session, number)
            instance = session.get(Instance, incident.instance_id)
            status = instance.status if instance else None
            automated = session.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(
                    HistoryEvent.instance_id == incident.instance_id,
                    HistoryEvent.kind == "escalation",
                    HistoryEvent.actor == "worker",
                )
            )
            holds = session.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(
                    HistoryEvent.instance_id == incident.instance_id,
                    HistoryEvent.kind == "handler",
                    HistoryEvent.element == "pause_sla_clock",
                )
            )
        return Outcome(
            completed=status == "completed" and incident.state == "Closed",
            close_reason=incident.close_reason,
            priority=incident.priority,
            major_incident=incident.major_incident,
            resolution_breached=incident.resolution_breached,
            reopen_count=incident.reopen_count,
            opened_at=incident.opened_at,
            resolution_due=incident.resolution_due,
            automated_escalations=automated or 0,
            holds=holds or 0,
        )
