"""(b) and (c) Deskflow's commands on a real database, driven through Runtime and Worker.

Every command is the runtime's own method (start_incident, complete_task,
send_message, and fire_due_timers as the worker calls it), each wrapped to record its
duration. A sweep fires due timers after the clock moved, as in the demo; delivering the
outbox is timed apart. The reads a person makes on the way (the open task, the categorize
suggestion, the SLA due time) are `engine.desk.demo.RuntimeDesk`'s indexed queries.
"""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import func, select

from engine.desk.demo import RuntimeDesk
from engine.instances.runtime import Runtime
from engine.store.db import Database
from engine.store.models import HistoryEvent, Incident, Instance
from engine.worker.scheduler import Worker

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


class Persisted(RuntimeDesk):
    """Deskflow as it runs, without claims (not an engine step), each command timed."""

    def __init__(self, name: str, db: Database, timer: CommandTimer) -> None:
        runtime = Runtime(db)
        for method in COMMANDS:  # the worker calls fire_due_timers through these too
            setattr(runtime, method, timer.wrap(method, getattr(runtime, method)))
        super().__init__(runtime, Worker(runtime, transport=lambda message: None), claims=False)
        self.name = name
        self.timer = timer
        self.delivered = 0

    def sweep(self) -> None:
        with self.timer.section("sweep"):
            self.worker.fire_timers()
        # Delivering the outbox is real work, but (a) and (d) have no outbox: it is timed
        # on its own and kept out of the lifecycle time so the ratios compare like with like.
        with self.timer.probe(), self.timer.section("delivery (not in lifecycle)"):
            self.delivered += self.worker.deliver_notifications()

    def state_size(self, number: str) -> tuple[int, int] | None:
        with self.db.reading() as session:
            state = session.scalar(
                select(Instance.state)
                .join(Incident, Incident.instance_id == Instance.id)
                .where(Incident.number == number)
            )
        return sizes(state)

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
