"""The desk's work queues: open tasks of the technicians' lanes with their incident,
filtered, most urgent first.

Three queues: `mine` (assigned to me), `groups` (unassigned, in my groups) and `all`
(every open staff task, for managers). Each can be narrowed by lane, group, priority,
category and SLA state, and is sorted by time to breach: breached first, then by the
resolution due time, incidents whose clock is paused (on hold, or resolved and waiting
for the caller) last.

The SLA state a queue filters on comes from the incident record the process keeps
(breach flag, warning flag, due time), so it is one indexed query; the badge's share of
the target used is computed for the rows shown only (working time of the priority's
calendar, see `sla_badge`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, not_, or_, select
from sqlalchemy.orm import Session

from engine.desk.access import USER_LANE, Person
from engine.store.models import HumanTask, Incident
from handlers.catalog import catalog

QUEUES = ("mine", "groups", "all")
SLA_STATES = ("breached", "warning", "ok", "paused")
PAUSED_STATES = ("On Hold", "Resolved")
PAGE = 100


@dataclass(frozen=True)
class Filters:
    lane: str = ""
    group: str = ""
    priority: int | None = None
    category: str = ""
    sla: str = ""


@dataclass(frozen=True)
class Badge:
    """What the SLA badge shows: state, share of the resolution target used, due time."""

    state: str  # breached | escalated | warning | ok | paused | none
    share: float
    due: datetime | None


@dataclass(frozen=True)
class Row:
    task: HumanTask
    incident: Incident
    badge: Badge


def queue(
    session: Session, who: Person, name: str, filters: Filters, now: datetime, limit: int = PAGE
) -> tuple[list[Row], int]:
    """The rows of queue `name` for `who` (at most `limit`), and how many there are in all."""
    if name not in QUEUES:
        raise ValueError(f"unknown queue {name!r} (known: {', '.join(QUEUES)})")
    conditions = [HumanTask.lane != USER_LANE, *_filters(filters, now)]
    if name == "mine":
        conditions.append(HumanTask.assignee == who.username)
    elif name == "groups":
        conditions += [HumanTask.assignee.is_(None), HumanTask.group_name.in_(who.groups)]
    joined = select(HumanTask, Incident).join(Incident, Incident.id == HumanTask.incident_id)
    query = joined.where(*conditions).order_by(*_most_urgent_first(now)).limit(limit)
    counted = select(func.count()).select_from(HumanTask)
    if filters.priority or filters.category or filters.sla:  # conditions on the incident
        counted = counted.join(Incident, Incident.id == HumanTask.incident_id)
    total = session.scalar(counted.where(*conditions))
    rows = [
        Row(task, incident, sla_badge(incident, now)) for task, incident in session.execute(query)
    ]
    return rows, total or 0


def _breached(now: datetime):
    return or_(
        Incident.resolution_breached.is_(True),
        and_(Incident.resolution_due < now, not_(_paused())),
    )


def _paused():
    return Incident.state.in_(PAUSED_STATES)


def _filters(filters: Filters, now: datetime) -> list:
    found = []
    if filters.lane:
        found.append(HumanTask.lane == filters.lane)
    if filters.group:
        found.append(HumanTask.group_name == filters.group)
    if filters.priority:
        found.append(Incident.priority == filters.priority)
    if filters.category:
        found.append(Incident.category == filters.category)
    if filters.sla == "breached":
        found.append(_breached(now))
    elif filters.sla == "paused":
        found.append(_paused())
    elif filters.sla == "warning":
        found += [Incident.sla_warned.is_(True), not_(_breached(now)), not_(_paused())]
    elif filters.sla == "ok":
        found += [Incident.sla_warned.is_(False), not_(_breached(now)), not_(_paused())]
    return found


def _most_urgent_first(now: datetime) -> list:
    rank = case((_breached(now), 0), (_paused(), 2), else_=1)
    no_due_last = case((Incident.resolution_due.is_(None), 1), else_=0)
    return [rank, no_due_last, Incident.resolution_due, HumanTask.created_at]


def sla_badge(incident: Incident, now: datetime) -> Badge:
    """The incident's resolution clock as a badge (working time of its priority's calendar)."""
    due = incident.resolution_due
    if due is None or incident.priority is None or incident.state == "Closed":
        return Badge("none", 0.0, None)
    if incident.state in PAUSED_STATES:
        return Badge("paused", 0.0, due)
    if incident.resolution_breached or due <= now:
        return Badge("breached", 1.0, due)
    cat = catalog()
    policy = cat.priorities.get(incident.priority)
    if policy is None:
        return Badge("ok", 0.0, due)
    target = timedelta(minutes=policy.resolution_minutes)
    left = cat.calendars[policy.calendar].elapsed(now, due)
    share = min(1.0, max(0.0, 1 - left / target)) if target else 1.0
    if share >= cat.escalation_threshold:
        state = "escalated"
    elif share >= cat.warning_threshold or incident.sla_warned:
        state = "warning"
    else:
        state = "ok"
    return Badge(state, share, due)
