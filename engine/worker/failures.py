"""What the worker could not do: incidents whose last command failed (their due timers
held back until `retry`) and notifications given up on.

An incident is failed while it has a `last_error` (the runtime clears it on the next
command that succeeds) or a timer marked failed (`retry` clears those).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from engine.store.db import Database
from engine.store.models import Incident, Timer


@dataclass(frozen=True)
class FailedIncident:
    number: str
    short_description: str
    state: str
    assignment_group: str | None
    last_error: str | None
    failed_timers: int
    failed_at: datetime | None  # when its first timer was held back, if any


def failed_incidents(db: Database, limit: int = 200) -> list[FailedIncident]:
    """Failed incidents, the longest held back first."""
    timers = (
        select(
            Timer.instance_id,
            func.count().label("failed"),
            func.min(Timer.failed_at).label("since"),
        )
        .where(Timer.failed_at.is_not(None))
        .group_by(Timer.instance_id)
        .subquery()
    )
    with db.reading() as session:
        rows = session.execute(
            select(
                Incident.number,
                Incident.short_description,
                Incident.state,
                Incident.assignment_group,
                Incident.last_error,
                func.coalesce(timers.c.failed, 0),
                timers.c.since,
            )
            .outerjoin(timers, timers.c.instance_id == Incident.instance_id)
            .where(or_(Incident.last_error.is_not(None), timers.c.failed.is_not(None)))
            .order_by(timers.c.since.is_(None), timers.c.since, Incident.id)
            .limit(limit)
        ).all()
    return [FailedIncident(*row) for row in rows]
