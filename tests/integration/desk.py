"""A test helper that plays the people at the service desk, so each test reads as a story."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine.desk import queries
from engine.instances.runtime import Runtime
from engine.store.models import HistoryEvent, HumanTask, Incident, Instance, Notification, Timer
from engine.worker.scheduler import Worker

REPORT = {
    "caller": "alice",
    "channel": "portal",
    "short_description": "VPN keeps disconnecting when working from home",
    "description": "Since Monday the VPN drops every few minutes.",
    "is_broken": True,
    "impact": "medium",
    "urgency": "medium",
}


class Desk:
    def __init__(self, runtime: Runtime, clock) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.clock = clock
        self.worker = Worker(runtime)

    def report(self, **overrides) -> str:
        return self.runtime.start_incident({**REPORT, **overrides}, actor="alice")

    def incident(self, number: str) -> Incident:
        with self.db.reading() as session:
            return session.scalars(select(Incident).where(Incident.number == number)).one()

    def snapshot(self, number: str) -> tuple:
        """What a refused command must leave as it was: state, version, record, history
        (error events aside) and open tasks."""
        incident = self.incident(number)
        with self.db.reading() as session:
            instance = session.get(Instance, incident.instance_id)
            assert instance is not None
            rows = session.scalar(
                select(func.count())
                .select_from(HistoryEvent)
                .where(HistoryEvent.instance_id == instance.id, HistoryEvent.kind != "error")
            )
            return (
                instance.state,
                instance.version,
                incident.state,
                incident.priority,
                rows,
                [t.id for t in self.open_tasks(number)],
            )

    def open_tasks(self, number: str) -> list[HumanTask]:
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(HumanTask)
                    .join(Incident, Incident.id == HumanTask.incident_id)
                    .where(Incident.number == number)
                    .order_by(HumanTask.element)
                )
            )

    def task(self, number: str, element: str) -> HumanTask:
        tasks = [t for t in self.open_tasks(number) if t.element == element]
        assert tasks, (
            f"{number}: no open task {element}; open: "
            f"{[t.element for t in self.open_tasks(number)]}"
        )
        return tasks[0]

    def complete(self, number: str, element: str, data: dict, actor: str = "tina") -> None:
        self.runtime.complete_task(self.task(number, element).id, data, actor=actor)

    def categorize(
        self, number: str, category: str = "network", subcategories: tuple[str, ...] = ("vpn",)
    ) -> None:
        self.complete(
            number,
            "categorize_incident",
            {"category": category, "subcategories": list(subcategories)},
        )

    def resolve_first_line(self, number: str) -> None:
        self.complete(
            number,
            "diagnose",
            {
                "resolved": True,
                "resolution_code": "solved-remotely",
                "resolution_notes": "Reinstalled the VPN client.",
            },
        )

    def escalate(self, number: str) -> None:
        self.complete(number, "diagnose", {"resolved": False, "work_notes": "Needs network."})

    def specialist_resolves(self, number: str, actor: str = "ned") -> None:
        self.complete(
            number,
            "investigate_and_resolve",
            {
                "resolution_code": "solved-permanently",
                "resolution_notes": "Replaced the faulty gateway config.",
            },
            actor=actor,
        )

    def say(self, number: str, message: str, payload: dict | None = None) -> None:
        self.runtime.send_message(number, message, payload or {}, actor="alice")

    def advance(self, **delta) -> None:
        """Move the clock and let the worker do what is due."""
        self.clock.advance(timedelta(**delta))
        self.worker.sweep()

    def history(self, number: str) -> list[dict]:
        return queries.incident_view(self.db, number)["history"]

    def notifications(self, number: str) -> list[Notification]:
        incident = self.incident(number)
        with self.db.reading() as session:
            return list(
                session.scalars(
                    select(Notification)
                    .where(Notification.incident_id == incident.id)
                    .order_by(Notification.id)
                )
            )

    def timers(self, number: str) -> list[Timer]:
        incident = self.incident(number)
        with self.db.reading() as session:
            return list(
                session.scalars(select(Timer).where(Timer.instance_id == incident.instance_id))
            )
