"""What was recorded of an incident, read back for replay: its commands in order, what
each did, and the incident as it ended up.

A replay needs, per incident, the history (`engine.instances.history`) and the record the runtime
kept (`incidents` row, instance status and state). Many incidents are read in a few
queries: the instances with their incidents and pinned versions in one, the histories of
a whole batch in another, ordered by instance and seq.

The history is split into *steps*: a process command (`start_incident`, `complete_task`,
`send_message`, `fire_due_timers`) with the task, timer and handler events it caused
(they follow it, up to the next command, escalation or error event). The other events —
claims, notes, escalations, migrations, errors of failed commands — are kept in order
between the steps: some of them change the incident record the handlers see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, Text, select, type_coerce
from sqlalchemy.orm import Session

from engine.store.models import Definition, HistoryEvent, Incident, Instance

PROCESS_COMMANDS = ("start_incident", "complete_task", "send_message", "fire_due_timers")
EFFECTS = ("task", "timer", "handler")

# The incident columns a replay recomputes and compares (all follow from the process,
# the handlers' incident updates, claims and escalations).
COMPARED_FIELDS = (
    "state",
    "kind",
    "category",
    "subcategories",
    "impact",
    "urgency",
    "priority",
    "major_incident",
    "assignment_group",
    "assignee",
    "responded_at",
    "response_due",
    "resolution_due",
    "resolved_at",
    "closed_at",
    "response_breached",
    "resolution_breached",
    "sla_warned",
    "reopen_count",
    "reassignment_count",
    "resolution_code",
    "resolution_notes",
    "close_reason",
)
_COLUMNS = [getattr(Incident, name) for name in COMPARED_FIELDS]


@dataclass(frozen=True, slots=True)
class Event:
    """One history row."""

    seq: int
    at: datetime
    kind: str
    element: str | None
    actor: str | None
    payload: dict[str, Any]

    @property
    def command(self) -> str | None:
        return self.payload.get("command") if self.kind == "command" else None


@dataclass(slots=True)
class Step:
    """A process command and the events it caused, in the order they were recorded."""

    command: Event
    effects: list[Event] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.command.payload["command"]

    @property
    def last_seq(self) -> int:
        return self.effects[-1].seq if self.effects else self.command.seq


@dataclass
class Recorded:
    """One incident as recorded: who it is, where it ended, and its story."""

    instance_id: int
    number: str
    definition_id: int  # the version it is pinned to now (migrations move it)
    version: str  # "key:version" of `definition_id`
    status: str
    state: bytes | None
    incident: dict[str, Any]
    events: list[Event] = field(default_factory=list)

    def story(self) -> Iterator[Step | Event]:
        """The steps, and the other events between them, in recorded order."""
        step: Step | None = None
        for event in self.events:
            if event.kind in EFFECTS and step is not None:
                step.effects.append(event)
                continue
            if step is not None:
                yield step
                step = None
            if event.command in PROCESS_COMMANDS:
                step = Step(event)
            else:
                yield event
        if step is not None:
            yield step

    @property
    def start_version(self) -> str | None:
        """The version the incident started on ("key:version"), as its first command says."""
        for event in self.events:
            if event.command == "start_incident":
                return event.payload.get("definition")
        return None

    @property
    def last_seq(self) -> int:
        return self.events[-1].seq if self.events else 0


def _utc(value: str | datetime) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def versions(session: Session) -> dict[str, tuple[int, str]]:
    """Every deployed version: "key:version" -> (definition id, content hash)."""
    rows = session.execute(
        select(Definition.id, Definition.key, Definition.version, Definition.sha256)
    )
    return {f"{key}:{version}": (row_id, sha) for row_id, key, version, sha in rows}


def instance_ids(
    session: Session,
    *,
    number: str | None = None,
    since: datetime | None = None,
    definition_id: int | None = None,
    key: str | None = None,
    finished: bool = False,
    last: int | None = None,
) -> list[int]:
    """The instances to replay, oldest first; `last`: only the newest N (by incident)."""
    query: Select = select(Instance.id).join(Incident, Incident.instance_id == Instance.id)
    if number is not None:
        query = query.where(Incident.number == number)
    if since is not None:
        query = query.where(Incident.opened_at >= since)
    if definition_id is not None:
        query = query.where(Instance.definition_id == definition_id)
    if key is not None:
        query = query.join(Definition, Definition.id == Instance.definition_id).where(
            Definition.key == key
        )
    if finished:
        query = query.where(Instance.status == "completed")
    if last is not None:
        newest = list(session.scalars(query.order_by(Incident.id.desc()).limit(last)))
        return sorted(newest)
    return list(session.scalars(query.order_by(Instance.id)))


def load(session: Session, ids: list[int], with_state: bool = True) -> list[Recorded]:
    """The recorded incidents of instances `ids` (in that order), histories included:
    two queries for the whole batch."""
    if not ids:
        return []
    state = Instance.state if with_state else None
    columns = [
        Instance.id,
        Incident.number,
        Instance.definition_id,
        Definition.key,
        Definition.version,
        Instance.status,
        *([state] if state is not None else []),
        *_COLUMNS,
    ]
    found: dict[int, Recorded] = {}
    rows = session.execute(
        select(*columns)
        .join(Incident, Incident.instance_id == Instance.id)
        .join(Definition, Definition.id == Instance.definition_id)
        .where(Instance.id.in_(ids))
    )
    skip = 7 if with_state else 6
    for row in rows:
        found[row[0]] = Recorded(
            instance_id=row[0],
            number=row[1] or f"instance {row[0]}",
            definition_id=row[2],
            version=f"{row[3]}:{row[4]}",
            status=row[5],
            state=row[6] if with_state else None,
            incident=dict(zip(COMPARED_FIELDS, row[skip:], strict=True)),
        )
    # Raw values (no per-row type processing): the JSON text parsed here, the time only
    # turned into a datetime (PostgreSQL's driver hands both over parsed already).
    history = session.execute(
        select(
            HistoryEvent.instance_id,
            HistoryEvent.seq,
            type_coerce(HistoryEvent.at, Text),
            HistoryEvent.kind,
            HistoryEvent.element,
            HistoryEvent.actor,
            type_coerce(HistoryEvent.payload, Text),
        )
        .where(HistoryEvent.instance_id.in_(ids))
        .order_by(HistoryEvent.instance_id, HistoryEvent.seq)
    )
    current: Recorded | None = None
    loads = json.loads
    for instance_id, seq, at, kind, element, actor, payload in history:
        if current is None or current.instance_id != instance_id:
            current = found.get(instance_id)
            if current is None:
                continue
        if isinstance(payload, str):
            payload = loads(payload)
        current.events.append(Event(seq, _utc(at), kind, element, actor, payload or {}))
    return [found[i] for i in ids if i in found]
