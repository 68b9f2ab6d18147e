"""(b) and (c) Deskflow's commands on a real database, driven through Runtime and Worker.

Every command is the runtime's own method (start_incident, complete_task,
send_message, and fire_due_timers as the worker calls it), each wrapped to record its
duration. A sweep is `Worker.sweep()` after the clock moved, as in the demo. The reads a
person makes on the way (the open task, the categorize suggestion, the SLA due time)
are the indexed queries the UI would make.
"""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from engine.runtime import Runtime
from engine.scheduler import Worker
from engine.store.db import Database
from engine.store.models import HistoryEvent, HumanTask, Incident, Instance

from .lifecycle import Outcome, TaskRef
from .timing import CommandTimer

COMMANDS = ("start_incident", "complete_task", "send_message", "fire_due_timers")


def sizes(state: bytes | str) -> tuple[int, int]:
    """(bytes stored, bytes of the JSON): the state is deflated JSON, or plain text."""
    if isinstance(state, str):
        return len(state.encode()), len(state.encode())
    return len(state), len(zlib.decompress(state)) if state else 0


def mean(values) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


class Persisted:
    def __init__(self, name: str, db: Database, timer: CommandTimer) -> None:
        self.name = name
        self.db = db
        self.timer = timer
        self.runtime = Runtime(db)
        for method in COMMANDS:  # the worker calls fire_due_timers through these too
            setattr(self.runtime, method, timer.wrap(method, getattr(self.runtime, method)))
        self.worker = Worker(self.runtime, transport=lambda message: None)
        self.delivered = 0

    # --- commands ---------------------------------------------------------------------

    def start(self, report: dict[str, Any], actor: str) -> str:
        return self.runtime.start_incident(report, actor=actor)

    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None:
        self.runtime.complete_task(task.id, form, actor=actor)

    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None:
        self.runtime.send_message(number, name, payload, actor=actor)

    def sweep(self) -> None:
        with self.timer.section("sweep"):
            self.worker.fire_timers()
        # Delivering the outbox is real work, but (a) and (d) have no outbox: it is timed
        # on its own and kept out of the lifecycle time so the ratios compare like with like.
        with self.timer.probe(), self.timer.section("delivery (not in lifecycle)"):
            self.delivered += self.worker.deliver_notifications()

    # --- reads ------------------------------------------------------------------------

    def _incident(self, session, number: str) -> Incident:
        return session.scalars(select(Incident).where(Incident.number == number)).one()

    def open_task(self, number: str, element: str) -> TaskRef:
        with self.db.reading() as session:
            task = session.scalars(
                select(HumanTask)
                .join(Incident, Incident.id == HumanTask.incident_id)
                .where(Incident.number == number, HumanTask.element == element)
            ).first()
        if task is None:
            raise RuntimeError(f"{number}: expected an open task '{element}'")
        return TaskRef(task.id, element, task.group_name)

    def resolution_due(self, number: str) -> datetime:
        with self.db.reading() as session:
            return self._incident(session, number).resolution_due

    def suggestion(self, number: str) -> dict[str, Any]:
        with self.db.reading() as session:
            incident = self._incident(session, number)
            events = session.scalars(
                select(HistoryEvent)
                .where(
                    HistoryEvent.instance_id == incident.instance_id, HistoryEvent.kind == "handler"
                )
                .order_by(HistoryEvent.seq)
            )
            for event in events:
                if event.payload.get("operator") == "categorize":
                    return event.payload.get("result") or {}
        return {}

    def state_size(self, number: str) -> tuple[int, int] | None:
        with self.db.reading() as session:
            state = session.scalar(
                select(Instance.state)
                .join(Incident, Incident.instance_id == Instance.id)
                .where(Incident.number == number)
            )
        return sizes(state)

    def outcome(self, number: str) -> Outcome:
        with self.db.reading() as session:
            incident = self._incident(session, number)
            status = session.get(Instance, incident.instance_id).status
        return Outcome(
            completed=status == "completed" and incident.state == "Closed",
            close_reason=incident.close_reason,
            priority=incident.priority,
            major_incident=incident.major_incident,
            resolution_breached=incident.resolution_breached,
            reopen_count=incident.reopen_count,
        )

    def stats(self) -> dict[str, Any]:
        with self.db.reading() as session:
            stored = [sizes(s) for s in session.scalars(select(Instance.state))]
            incidents = session.scalar(select(func.count()).select_from(Incident))
            history = session.scalar(select(func.count()).select_from(HistoryEvent))
        return {
            "end_state_bytes": mean(s for s, _ in stored),
            "end_json_bytes": mean(j for _, j in stored),
            "history_rows_per_incident": history / incidents if incidents else None,
        }
