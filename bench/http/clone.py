"""Cloning template incidents in bulk, with SQL, one transaction per batch.

A clone copies every row its template has in `instances`, `incidents`, `human_tasks`,
`timers` and `history`, with a new instance id, incident id and number, fresh engine
task UUIDs (in the state, in `human_tasks.id`, in history payloads) and every time
moved by the clone's own offset (columns, the state's and the payloads' time stamps).
The state is inflated, rewritten and deflated again as `engine.spiff` stores it. History
rows are re-chained: each hash is `engine.instances.history.row_hash` of the clone's row, built
from the payload's canonical JSON directly (`verify_chain` checks it against
`row_hash` itself). Notifications are not cloned (the clones' mail went out long ago).

Rows go in with SQLAlchemy Core (batched executemany), history rows, by the million,
with the driver directly: `executemany` on SQLite, `COPY` on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from engine.instances.history import GENESIS, Entry, row_hash
from engine.store.models import HistoryEvent, HumanTask, Incident, Instance, Timer

from .rewrite import Vocabulary

HISTORY_COLUMNS = (
    "instance_id",
    "seq",
    "at",
    "kind",
    "element",
    "actor",
    "payload",
    "prev_hash",
    "hash",
)
SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a DateTime in SQLite


def _canonical(value: Any) -> str:
    """JSON as `engine.instances.history.row_hash` writes it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class HistoryRow:
    seq: int
    at: datetime
    kind: str
    element: str | None
    actor: str | None
    payload: str  # a format pattern of the canonical payload JSON
    middle: str  # the canonical JSON between the time stamp and the payload


@dataclass
class Blueprint:
    """Everything of one template a clone copies, read once."""

    number: str
    vocabulary: Vocabulary
    state: str  # format pattern of the state's JSON
    instance: dict[str, Any]
    incident: dict[str, Any]
    tasks: list[dict[str, Any]]
    timers: list[dict[str, Any]]
    history: list[HistoryRow]

    @classmethod
    def read(cls, conn: Connection, incident_id: int) -> Blueprint:
        incident = dict(
            conn.execute(select(Incident).where(Incident.id == incident_id)).mappings().one()
        )
        instance_id = incident["instance_id"]
        instance = dict(
            conn.execute(select(Instance).where(Instance.id == instance_id)).mappings().one()
        )
        vocabulary = Vocabulary(incident["number"])
        state = vocabulary.compile(zlib.decompress(instance["state"]).decode())
        history = [
            HistoryRow(
                seq=row.seq,
                at=row.at,
                kind=row.kind,
                element=row.element,
                actor=row.actor,
                payload=vocabulary.compile(_canonical(row.payload or {})),
                middle=f",{_canonical(row.kind)},{_canonical(row.element)},"
                f"{_canonical(row.actor)},",
            )
            for row in conn.execute(
                select(HistoryEvent)
                .where(HistoryEvent.instance_id == instance_id)
                .order_by(HistoryEvent.seq)
            )
        ]
        rows = conn.execute(select(HumanTask).where(HumanTask.instance_id == instance_id))
        tasks = [dict(row) for row in rows.mappings()]
        rows = conn.execute(select(Timer).where(Timer.instance_id == instance_id))
        timers = [dict(row) for row in rows.mappings()]
        return cls(
            incident["number"], vocabulary, state, instance, incident, tasks, timers, history
        )


@dataclass(frozen=True)
class Clone:
    """One clone to make: of which template, moved by how much."""

    blueprint: Blueprint
    delta: timedelta


def _moved(row: dict[str, Any], delta: timedelta, **changes: Any) -> dict[str, Any]:
    """A copy of `row` with every time moved by `delta`, and `changes` applied."""
    moved = {k: v + delta if isinstance(v, datetime) else v for k, v in row.items()}
    moved.update(changes)
    return moved


class Batch:
    """The rows of a batch of clones, built in memory, then written in one transaction."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.instances: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.timers: list[dict[str, Any]] = []
        self.history: list[tuple[Any, ...]] = []

    def add(self, clone: Clone, instance_id: int, incident_id: int) -> None:
        b, delta = clone.blueprint, clone.delta
        number = f"INC{incident_id:07d}"
        values = b.vocabulary.values(number, delta, self.rng)
        state = zlib.compress(b.state.format(*values).encode(), 1)
        prev = GENESIS
        for row in b.history:
            at = row.at + delta
            payload = row.payload.format(*values)
            canonical = (
                f'["{prev}",{instance_id},{row.seq},"{at.isoformat()}"{row.middle}{payload}]'
            )
            digest = hashlib.sha256(canonical.encode()).hexdigest()
            self.history.append(
                (instance_id, row.seq, at, row.kind, row.element, row.actor, payload, prev, digest)
            )
            prev = digest
        self.instances.append(
            _moved(
                b.instance,
                delta,
                id=instance_id,
                state=state,
                history_seq=b.history[-1].seq if b.history else 0,
                history_hash=prev,
            )
        )
        self.incidents.append(
            _moved(b.incident, delta, id=incident_id, number=number, instance_id=instance_id)
        )
        for task in b.tasks:
            renamed = b.vocabulary.renamed(task["id"], values)
            self.tasks.append(
                _moved(task, delta, id=renamed, instance_id=instance_id, incident_id=incident_id)
            )
        for timer in b.timers:
            copied = _moved(timer, delta, instance_id=instance_id)
            del copied["id"]  # the database numbers timers
            self.timers.append(copied)

    def write(self, conn: Connection) -> None:
        """Insert the batch in foreign-key order (the caller's transaction)."""
        for model, rows in (
            (Instance, self.instances),
            (Incident, self.incidents),
            (HumanTask, self.tasks),
            (Timer, self.timers),
        ):
            if rows:
                conn.execute(insert(model), rows)
        if conn.dialect.name == "postgresql":
            _copy_history(conn, self.history)
        else:
            _insert_history(conn, self.history)


def _insert_history(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join("?" for _ in HISTORY_COLUMNS)
    sql = f"INSERT INTO history ({', '.join(HISTORY_COLUMNS)}) VALUES ({marks})"
    stored = [(*row[:2], row[2].astimezone(UTC).strftime(SQLITE_STAMP), *row[3:]) for row in rows]
    conn.exec_driver_sql(sql, stored)  # type: ignore[arg-type]


def _copy_history(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    raw: Any = conn.connection.dbapi_connection  # psycopg's connection, for COPY
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY history ({', '.join(HISTORY_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def next_ids(conn: Connection) -> tuple[int, int]:
    """The first free instance id and incident id."""
    instance = conn.scalar(select(func.coalesce(func.max(Instance.id), 0)))
    incident = conn.scalar(select(func.coalesce(func.max(Incident.id), 0)))
    return int(instance or 0) + 1, int(incident or 0) + 1


def fix_sequences(conn: Connection) -> None:
    """After explicit ids on PostgreSQL: the id sequences continue after the clones."""
    if conn.dialect.name != "postgresql":
        return
    for table in ("instances", "incidents"):
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        )


def verify_chain(conn: Connection, instance_ids: Iterable[int]) -> list[str]:
    """Check the history chains of `instance_ids` with `engine.instances.history.row_hash`; the
    problems found (none when every clone's chain holds)."""
    problems = []
    for instance_id in instance_ids:
        prev = GENESIS
        rows = conn.execute(
            select(HistoryEvent)
            .where(HistoryEvent.instance_id == instance_id)
            .order_by(HistoryEvent.seq)
        )
        for row in rows:
            entry = Entry(row.kind, row.element, row.actor, row.payload)
            expected = row_hash(prev, instance_id, row.seq, row.at, entry)
            if row.prev_hash != prev or row.hash != expected:
                problems.append(f"instance {instance_id}: history seq {row.seq} breaks the chain")
                break
            prev = row.hash
        head = conn.scalar(select(Instance.history_hash).where(Instance.id == instance_id))
        if head != prev:
            problems.append(
                f"instance {instance_id}: the instance's chain head is not its last row"
            )
    return problems
