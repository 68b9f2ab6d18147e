"""The history as an event log for process mining: what the cases and events are, read
in one snapshot and streamed. `engine.audit.export` writes them as CSV
(`engine.audit.export_csv`) or XES (IEEE 1849-2016, `engine.audit.export_xes`), for the
auditor's pages (`web.audit_export`) and `deskflow export`.

**Cases.** A case (an XES trace) is one incident, named by its number. The filters choose
whole cases: the definition version the instance runs on, the time the incident was
opened (`since` inclusive, `until` exclusive, so a case is never cut in the middle),
priority, category, assignment group, and whether an SLA target (response or resolution)
was breached. Incident attributes (kind, state, priority, category, group, breached,
version, opened/closed) are the incident's as they are at export time.

**Events are BPMN elements.** One event per lifecycle step of a BPMN element — user
tasks, the automated steps (service and business-rule tasks, script tasks), events,
gateways, sub-processes — taken from the `task` and `timer` rows of the history
(`engine.instances.history`), so the log replays on the model. The states map onto the XES
standard lifecycle model like this:

    history row                                  lifecycle:transition  org:resource
    task READY of a user task                    schedule              deskflow
    task WAITING (an event or an event-based     schedule              deskflow
      gateway armed: waits for a message/timer)
    task STARTED (a sub-process entered)         start                 deskflow
    task COMPLETED of a user task                complete              who completed it
    timer (a timer fired)                        complete              worker
    task COMPLETED of anything else              complete              deskflow
    task CANCELLED, not started                  withdraw              deskflow
    task CANCELLED after STARTED, or ERROR       ate_abort             deskflow
    task READY of anything else                  (none: ready and completed in one step)

"Who completed it" is the actor of the `complete_task` command for that element, the row
just before the completion. The rows one command writes share its time: within a case
the events are in time order, ties in the history's order (`seq`, kept on each event).
For a log that replays on the model, keep the `complete` events and classify by
activity; the others give waiting and working times.

**Commands and handler calls are attributes, not events**: they are not BPMN elements
and would not replay on the model. Each event carries `command`, the command whose step
produced it (start_incident, complete_task, send_message with its `message`,
fire_due_timers, migrate, ...), and a service task's `complete` event carries `handler`,
the operator it called. Escalation, error, claim and note rows are left out; their
inputs, params and results too (they hold free text people wrote).

**People.** Callers are personal data, left out by default: a caller completing a task
(e.g. "Try self-help") shows as the resource "caller". `with_people` adds the trace
attributes `caller` and `description` (the short description) and names callers as
resources. Staff names stay: they are the resources of the work.

**Streaming.** The history is read in one query ordered by (instance, seq), `BATCH` rows
at a time (a server-side cursor on PostgreSQL, in one REPEATABLE READ snapshot); the
incidents of each batch come in one query. Output leaves in chunks as it is made, so
memory stays flat however long the history is.

The CSV holds the values as they are (no guard against spreadsheet formulas): it is for
process-mining tools, and free text only comes with `with_people`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, or_, select, true

from engine.errors import DeskflowError
from engine.store.db import Database
from engine.store.models import Definition, HistoryEvent, Incident, Instance

BATCH = 500  # history rows fetched at a time
INT32 = 2**31 - 1  # versions and priorities are INTEGER columns
ENGINE, WORKER, CALLER = "deskflow", "worker", "caller"
HUMAN = frozenset({"UserTask", "ManualTask"})
ROW_KINDS = ("command", "handler", "task", "timer")
# What the export reads of the rows' payloads, extracted by the database: the rest (form
# inputs, handler params and results) can be large and is never sent.
PAYLOAD_KEYS = ("state", "name", "lane", "type", "task_id", "command", "message", "operator")


# --- what to export -------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """Which incidents (cases) to export; empty means every one."""

    key: str = "service_desk"
    version: int | None = None
    since: datetime | None = None  # opened at or after
    until: datetime | None = None  # opened before
    priorities: tuple[int, ...] = ()
    categories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    breached: bool | None = None  # response or resolution target breached

    def describe(self) -> str:
        parts = []
        if self.version is not None:
            parts.append(f"version {self.version}")
        if self.since:
            parts.append(f"opened since {self.since.isoformat()}")
        if self.until:
            parts.append(f"opened before {self.until.isoformat()}")
        for name, values in (
            ("priority", self.priorities),
            ("category", self.categories),
            ("group", self.groups),
        ):
            if values:
                parts.append(f"{name} {' or '.join(str(v) for v in values)}")
        if self.breached is not None:
            parts.append("breached" if self.breached else "not breached")
        return ", ".join(parts) or "every incident"

    def check(self) -> None:
        """Refuse (DeskflowError) filters no database query can take: a version or a
        priority outside a 32-bit integer (their columns' type), a name with a NUL
        character, a time that is not a datetime. `engine.audit.export` checks them before
        it writes a byte."""
        for name, number in [
            ("version", self.version),
            *(("priority", p) for p in self.priorities),
        ]:
            if number is not None and not (isinstance(number, int) and 0 <= number <= INT32):
                raise DeskflowError(
                    f"the {name} filter {str(number)[:30]} is not a whole number from 0 to {INT32}"
                )
        for name, texts in (
            ("process", (self.key,)),
            ("category", self.categories),
            ("group", self.groups),
        ):
            if any(not isinstance(t, str) or "\x00" in t for t in texts):
                raise DeskflowError(f"a {name} filter holds a NUL character or is not text")
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and not isinstance(moment, datetime):
                raise DeskflowError(f"the {name} filter is not a date and time")


def parse_time(text: str, *, end_of_day: bool = False) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC. A bare date is its
    midnight, or with `end_of_day` the next midnight (so `until` a day includes it)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):  # OverflowError: the day after 9999-12-31
        raise DeskflowError(f"cannot read '{text[:40]}' as an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cases_query(filters: Filters) -> Select:
    """The instance ids of the incidents the filters choose."""
    query = (
        select(Incident.instance_id)
        .join(Instance, Instance.id == Incident.instance_id)
        .join(Definition, Definition.id == Instance.definition_id)
        .where(Definition.key == filters.key)
    )
    if filters.version is not None:
        query = query.where(Definition.version == filters.version)
    if filters.since is not None:
        query = query.where(Incident.opened_at >= filters.since)
    if filters.until is not None:
        query = query.where(Incident.opened_at < filters.until)
    if filters.priorities:
        query = query.where(Incident.priority.in_(filters.priorities))
    if filters.categories:
        query = query.where(Incident.category.in_(filters.categories))
    if filters.groups:
        query = query.where(Incident.assignment_group.in_(filters.groups))
    if filters.breached is not None:
        breached = or_(Incident.response_breached == true(), Incident.resolution_breached == true())
        query = query.where(breached if filters.breached else ~breached)
    return query


def count_cases(connection: Connection, filters: Filters) -> int:
    subquery = cases_query(filters).subquery()
    return connection.scalar(select(func.count()).select_from(subquery)) or 0


# --- cases and events -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    """One incident, as it is at export time. `caller` and `description` are None unless
    the export is `with_people`."""

    instance_id: int
    number: str
    kind: str
    state: str
    priority: int | None
    category: str | None
    group: str | None
    breached: bool
    version: int
    opened_at: datetime
    closed_at: datetime | None
    caller: str | None = None
    description: str | None = None


@dataclass(slots=True)
class Event:
    """One lifecycle step of one BPMN element of a case (see the module's mapping)."""

    case: Case
    seq: int
    at: datetime
    activity: str  # the element's name, else its id
    element: str
    element_type: str  # UserTask, ServiceTask, ExclusiveGateway, ...
    lane: str | None
    kind: str  # the history row's: task | timer
    lifecycle: str
    resource: str
    command: str | None = None
    message: str | None = None
    handler: str | None = None


@dataclass
class Stats:
    cases: int = 0
    events: int = 0


@contextmanager
def snapshot(db: Database) -> Iterator[Connection]:
    """One consistent read (PostgreSQL: REPEATABLE READ; SQLite: one WAL read)."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def events(
    connection: Connection,
    filters: Filters,
    with_people: bool = False,
    stats: Stats | None = None,
) -> Iterator[Event]:
    """The chosen cases' events, case by case (by instance id), each case in time order."""
    stats = stats if stats is not None else Stats()
    history = HistoryEvent
    statement = (
        select(
            history.instance_id,
            history.seq,
            history.at,
            history.kind,
            history.element,
            history.actor,
            *(history.payload[key].as_string().label(key) for key in PAYLOAD_KEYS),
        )
        .where(history.instance_id.in_(cases_query(filters)), history.kind.in_(ROW_KINDS))
        .order_by(history.instance_id, history.seq)
        .execution_options(yield_per=BATCH)
    )
    trace: _Trace | None = None
    for batch in connection.execute(statement).partitions():
        ids = {row.instance_id for row in batch}
        if trace is not None:
            ids.discard(trace.case.instance_id)
        cases = _cases(connection, ids, with_people)
        for row in batch:
            if trace is None or row.instance_id != trace.case.instance_id:
                if trace is not None and (last := trace.finish()) is not None:
                    stats.events += 1
                    yield last
                case, caller = cases[row.instance_id]
                trace = _Trace(case, caller, with_people)
                stats.cases += 1
            if (event := trace.add(row)) is not None:
                stats.events += 1
                yield event
    if trace is not None and (last := trace.finish()) is not None:
        stats.events += 1
        yield last


def _cases(
    connection: Connection, instance_ids: set[int], with_people: bool
) -> dict[int, tuple[Case, str]]:
    """The cases of a batch, in one query: {instance id: (case, caller's username)}."""
    if not instance_ids:
        return {}
    rows = connection.execute(
        select(
            Incident.instance_id,
            Incident.number,
            Incident.kind,
            Incident.state,
            Incident.priority,
            Incident.category,
            Incident.assignment_group,
            Incident.response_breached,
            Incident.resolution_breached,
            Definition.version,
            Incident.opened_at,
            Incident.closed_at,
            Incident.caller,
            Incident.short_description,
        )
        .join(Instance, Instance.id == Incident.instance_id)
        .join(Definition, Definition.id == Instance.definition_id)
        .where(Incident.instance_id.in_(instance_ids))
    )
    cases = {}
    for row in rows:
        case = Case(
            instance_id=row.instance_id,
            number=row.number or f"instance-{row.instance_id}",
            kind=row.kind,
            state=row.state,
            priority=row.priority,
            category=row.category,
            group=row.assignment_group,
            breached=bool(row.response_breached or row.resolution_breached),
            version=row.version,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            caller=row.caller if with_people else None,
            description=row.short_description if with_people else None,
        )
        cases[row.instance_id] = (case, row.caller)
    return cases


class _Trace:
    """Turns one case's history rows, in seq order, into events (see the module's table).

    An event is held back one row, so that the handler row following a service task's
    completion can name its operator on it.
    """

    def __init__(self, case: Case, caller: str, with_people: bool) -> None:
        self.case, self.caller, self.with_people = case, caller, with_people
        self.started: set[str] = set()
        self.command: str | None = None
        self.message: str | None = None
        self.actor: str | None = None
        self.command_element: str | None = None
        self.pending: Event | None = None

    def add(self, row: Any) -> Event | None:
        """The event completed by this row (the one held back before it), if any."""
        if row.kind == "command":
            self.command, self.message = row.command, row.message
            self.actor, self.command_element = row.actor, row.element
            return None
        if row.kind == "handler":
            held = self.pending
            if held is not None and held.element == row.element and held.lifecycle == "complete":
                held.handler = row.operator
            return None
        event = self._event(row)
        if event is None:
            return None
        out, self.pending = self.pending, event
        return out

    def finish(self) -> Event | None:
        out, self.pending = self.pending, None
        return out

    def _event(self, row: Any) -> Event | None:
        state = row.state
        element_type = row.type or ""
        task_id = row.task_id or ""
        element = row.element or ""
        resource = ENGINE
        if row.kind == "timer":
            lifecycle, resource = "complete", WORKER
        elif state == "COMPLETED":
            lifecycle = "complete"
            if element_type in HUMAN:
                resource = self._completer(element)
        elif state == "READY":
            if element_type not in HUMAN:
                return None
            lifecycle = "schedule"
        elif state == "WAITING":
            lifecycle = "schedule"
        elif state == "STARTED":
            lifecycle = "start"
            self.started.add(task_id)
        elif state == "CANCELLED":
            lifecycle = "ate_abort" if task_id in self.started else "withdraw"
        elif state == "ERROR":
            lifecycle = "ate_abort"
        else:
            return None
        return Event(
            case=self.case,
            seq=row.seq,
            at=row.at,
            activity=row.name or element,
            element=element,
            element_type=element_type,
            lane=row.lane,
            kind=row.kind,
            lifecycle=lifecycle,
            resource=resource,
            command=self.command,
            message=self.message,
        )

    def _completer(self, element: str) -> str:
        if self.command != "complete_task" or self.command_element != element or not self.actor:
            return ENGINE
        if self.actor == self.caller and not self.with_people:
            return CALLER
        return self.actor


# --- writing --------------------------------------------------------------------------


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and the zone: 2026-01-05T09:00:00.000+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")
