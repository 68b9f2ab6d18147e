"""Tamper evidence for the history: the database's append-only rules, anchors, `verify`.

Three layers, each catching what the one before cannot:

1. **Per-instance chains** (`engine.instances.history`): every row holds the previous row's hash and
   its own hash over its content, seq counts 1, 2, 3, … per instance, and the instance row
   holds the chain's head (`history_seq`, `history_hash`). An edited row, a deleted middle
   row or deleted last rows (the head then points past the end) show up here.
2. **Anchors** (`audit_anchors`): every so often (`deskflow audit anchor`, and the worker
   every `DESKFLOW_AUDIT_ANCHOR_MINUTES`, default 15) one row seals the history: the head
   (seq, hash) of every chain that moved since the previous anchor — a delta, not a
   snapshot — the number of history rows up to the newest history id, and the previous
   anchor's hash. Deleting an instance's whole history (and resetting or deleting the
   instance row, so that layer 1 sees nothing wrong) leaves an anchored head that no
   longer exists. Anchors are only as trustworthy as their chain: print the newest hash
   (`deskflow audit anchor` does) and keep it somewhere else to catch a rewrite of
   everything.
3. **The database refuses** UPDATE and DELETE (and TRUNCATE on PostgreSQL) on `history`,
   `audit_anchors` and `audit_views` with triggers (migration 0010), so an edit needs a
   deliberate schema change first. `maintenance` is the sanctioned one, for the test
   suite's wipe and for erasures people decided on; `verify` then shows what changed.

`verify` streams the rows ordered by (instance, seq) next to the instances and the
anchored heads, all sorted by instance id, so its memory stays flat; on PostgreSQL it
reads one REPEATABLE READ snapshot, on SQLite one read transaction (WAL), so it runs
beside the desk without false alarms.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, text, update
from sqlalchemy.orm import Session

from engine import clock
from engine.instances.history import GENESIS, Entry, row_hash
from engine.store.db import Database
from engine.store.models import (
    AuditAnchor,
    AuditRun,
    AuditView,
    HistoryEvent,
    Incident,
    Instance,
)

PROTECTED = ("history", "audit_anchors", "audit_views")
TRIGGER_PREFIX = "append_only_"  # the migration names every protecting trigger so
MAX_PROBLEMS = 50  # problems kept in detail; the rest are counted
CHUNK = 5000  # rows fetched at a time, and how often progress is told
STALE_RUN = timedelta(minutes=2)  # a run whose heartbeat is older was interrupted

ProgressCallback = Callable[[int, int], None]  # (rows done, rows in all)


# --- the sanctioned way around the rules ----------------------------------------------


@contextmanager
def maintenance(connection: Connection) -> Iterator[None]:
    """Lift the append-only rules for the block, inside the caller's transaction.

    SQLite: the protecting triggers are dropped and created again from their own stored
    SQL; PostgreSQL: they are disabled and enabled (needs the tables' owner, not a
    superuser). Both are transactional: other connections never see the rules gone, and
    if the block raises, the rollback brings them back. Whatever the block changes in
    the history is what `verify` will report — by design.
    """
    dialect = connection.dialect.name
    if dialect == "sqlite":
        triggers = connection.execute(
            text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND substr(name, 1, :n) = :prefix ORDER BY name"
            ),
            {"n": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX},
        ).all()
        for name, _ in triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        yield
        for _, sql in triggers:
            connection.exec_driver_sql(sql)
    elif dialect == "postgresql":
        triggers = connection.execute(
            text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND pg_table_is_visible(c.oid) "
                "AND left(t.tgname, :n) = :prefix ORDER BY c.relname, t.tgname"
            ),
            {"n": len(TRIGGER_PREFIX), "prefix": TRIGGER_PREFIX},
        ).all()
        for table, name in triggers:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" DISABLE TRIGGER "{name}"')
        yield
        for table, name in triggers:
            connection.exec_driver_sql(f'ALTER TABLE "{table}" ENABLE TRIGGER "{name}"')
    else:  # pragma: no cover - the migration protects SQLite and PostgreSQL only
        yield


# --- anchors --------------------------------------------------------------------------


def anchor_hash(
    prev_hash: str,
    at: datetime,
    last_history_id: int,
    row_count: int,
    heads: dict[str, Any],
    created_by: str,
) -> str:
    """sha256 over the previous anchor's hash and this anchor's content, canonical JSON."""
    canonical = json.dumps(
        [prev_hash, at.isoformat(), last_history_id, row_count, heads, created_by],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Anchored:
    id: int
    at: datetime
    hash: str
    moved: int  # chain heads sealed
    row_count: int  # history rows sealed in all
    last_history_id: int


def anchor_interval() -> timedelta | None:
    """How often the worker writes an anchor (`DESKFLOW_AUDIT_ANCHOR_MINUTES`, default 15;
    0 turns it off)."""
    minutes = float(os.environ.get("DESKFLOW_AUDIT_ANCHOR_MINUTES", "15"))
    return timedelta(minutes=minutes) if minutes > 0 else None


def write_anchor(
    db: Database, created_by: str, *, min_interval: timedelta | None = None
) -> Anchored | None:
    """Seal the history as it is now: one anchor with the heads of the chains that moved
    since the previous anchor. With `min_interval` (the worker), nothing is written when
    the previous anchor is younger than that or no history row was added since.

    PostgreSQL: the anchors are locked against a second writer and the history against
    inserts for the few milliseconds this takes, so that every row up to the newest id
    is committed and counted (ids are handed out before commit, in another order).
    """
    with db.writing() as session:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("LOCK TABLE audit_anchors IN EXCLUSIVE MODE")
            connection.exec_driver_sql("LOCK TABLE history IN SHARE MODE")
        last = connection.execute(
            select(
                AuditAnchor.at, AuditAnchor.hash, AuditAnchor.last_history_id, AuditAnchor.row_count
            )
            .order_by(AuditAnchor.id.desc())
            .limit(1)
        ).first()
        now = clock.now().astimezone(UTC)
        low = last.last_history_id if last else 0
        high = max(low, connection.scalar(select(func.max(HistoryEvent.id))) or 0)
        if min_interval is not None and (
            high == low or (last is not None and now - last.at < min_interval)
        ):
            return None
        heads, added = _moved_heads(connection, low, high)
        prev = last.hash if last else GENESIS
        row_count = (last.row_count if last else 0) + added
        digest = anchor_hash(prev, now, high, row_count, heads, created_by)
        anchor_id = connection.execute(
            insert(AuditAnchor)
            .values(
                at=now,
                prev_hash=prev,
                hash=digest,
                last_history_id=high,
                row_count=row_count,
                moved=len(heads),
                heads=heads,
                created_by=created_by,
            )
            .returning(AuditAnchor.id)
        ).scalar_one()
    return Anchored(anchor_id, now, digest, len(heads), row_count, high)


def _moved_heads(connection: Connection, low: int, high: int) -> tuple[dict[str, Any], int]:
    """{instance id: [seq, hash]} of the newest row of each chain among the history rows
    with low < id <= high, and how many rows that range holds."""
    if high <= low:
        return {}, 0
    moved = (
        select(
            HistoryEvent.instance_id,
            func.max(HistoryEvent.seq).label("seq"),
            func.count().label("rows"),
        )
        .where(HistoryEvent.id > low, HistoryEvent.id <= high)
        .group_by(HistoryEvent.instance_id)
        .subquery()
    )
    rows = connection.execute(
        select(moved.c.instance_id, moved.c.seq, moved.c.rows, HistoryEvent.hash)
        .select_from(moved)
        .join(
            HistoryEvent,
            and_(HistoryEvent.instance_id == moved.c.instance_id, HistoryEvent.seq == moved.c.seq),
        )
    ).all()
    heads = {str(row.instance_id): [row.seq, row.hash] for row in rows}
    return heads, sum(row.rows for row in rows)


@dataclass(frozen=True)
class AnchorStatus:
    count: int
    last: Anchored | None


def anchor_status(session: Session | Connection) -> AnchorStatus:
    count = session.scalar(select(func.count()).select_from(AuditAnchor)) or 0
    row = session.execute(
        select(
            AuditAnchor.id,
            AuditAnchor.at,
            AuditAnchor.hash,
            AuditAnchor.moved,
            AuditAnchor.row_count,
            AuditAnchor.last_history_id,
        )
        .order_by(AuditAnchor.id.desc())
        .limit(1)
    ).first()
    return AnchorStatus(count, Anchored(*row) if row else None)


# --- verify ---------------------------------------------------------------------------

KINDS = {
    "hash mismatch": "the row's content does not match its hash: the row was altered",
    "prev link": "the row does not point at the hash of the row before it",
    "missing seq": "rows are missing from the middle of the chain",
    "missing rows": "rows an anchor sealed are missing from the end of the chain",
    "anchor mismatch": "a row an anchor sealed now has another hash",
    "head mismatch": "the instance row's chain head is not the last row of its history",
    "missing instance": "history or an anchor names an instance that does not exist",
    "anchor chain": "an anchor was altered, or one before it removed",
    "anchor count": "fewer (or more) rows than an anchor sealed are there",
}


@dataclass(frozen=True)
class Problem:
    """One broken link: what is wrong (`kind`, one of KINDS) and where."""

    kind: str
    detail: str
    instance_id: int | None = None
    number: str | None = None
    seq: int | None = None
    row_id: int | None = None
    anchor_id: int | None = None

    def where(self) -> str:
        parts = []
        if self.instance_id is not None:
            parts.append(
                f"instance {self.instance_id}" + (f" ({self.number})" if self.number else "")
            )
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.row_id is not None:
            parts.append(f"history row {self.row_id}")
        if self.anchor_id is not None:
            parts.append(f"anchor {self.anchor_id}")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"{self.kind} at {self.where()}: {self.detail}"


@dataclass
class Report:
    instance_id: int | None = None  # None: every chain and the anchors
    rows: int = 0
    chains: int = 0
    anchors: int = 0
    heads_checked: int = 0  # anchored heads found in the chains
    problems: list[Problem] = field(default_factory=list)  # the first MAX_PROBLEMS
    problem_count: int = 0
    seconds: float = 0.0
    last_anchor: Anchored | None = None

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def summary(self) -> str:
        if self.ok:
            if self.instance_id is not None:
                return (
                    f"all {self.rows} rows of instance {self.instance_id} verify; "
                    f"{self.heads_checked} anchored head(s) match"
                )
            return (
                f"all {self.rows} rows in {self.chains} chains verify; "
                f"{self.anchors} anchors verify"
            )
        more = self.problem_count - 1
        return f"broken: {self.first}" + (f" (and {more} more problem(s))" if more else "")


def verify(
    db: Database, *, instance_id: int | None = None, progress: ProgressCallback | None = None
) -> Report:
    """Check every chain (or only `instance_id`'s), the instance rows' heads, the anchor
    chain, and that every head an anchor sealed is still there; the problems come in the
    order found (instances by id, rows by seq; anchor counts last). `progress(done, total)`
    is told every CHUNK rows."""
    started = time.monotonic()
    report = Report(instance_id=instance_id)
    with _snapshot(db) as connection:
        total = connection.scalar(
            _only(select(func.count()).select_from(HistoryEvent), instance_id)
        )
        total = total or 0
        if progress:
            progress(0, total)
        seals = _Seals()
        if instance_id is None:
            _check_anchors(connection, report, seals)
        check = _ChainCheck(report, seals, total, progress)
        for current, instance, rows, heads in _merged(connection, instance_id):
            check.chain(current, instance, rows, heads)
        if instance_id is None:
            seals.check_counts(report)
        if progress:
            progress(report.rows, total)
        report.last_anchor = anchor_status(connection).last
    report.problems = _with_numbers(db, report.problems)
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _snapshot(db: Database) -> Iterator[Connection]:
    """One consistent read of the whole database."""
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def _only(statement, instance_id: int | None, column=HistoryEvent.instance_id):
    return statement if instance_id is None else statement.where(column == instance_id)


def _stream(connection: Connection, statement, params: dict | None = None) -> Iterator[Any]:
    """The rows of `statement`, fetched CHUNK at a time (a server-side cursor on
    PostgreSQL; SQLite steps its cursor as rows are taken)."""
    streamed = statement.execution_options(stream_results=True, yield_per=CHUNK)
    return iter(connection.execute(streamed, params or {}))


_HEADS_SQL = {
    "sqlite": (
        "SELECT CAST(j.key AS INTEGER) AS instance_id, json_extract(j.value, '$[0]') AS seq, "
        "json_extract(j.value, '$[1]') AS hash, a.id AS anchor_id "
        "FROM audit_anchors AS a, json_each(a.heads) AS j {where} ORDER BY 1, 2, 4"
    ),
    "postgresql": (
        "SELECT CAST(j.key AS BIGINT) AS instance_id, CAST(j.value ->> 0 AS INTEGER) AS seq, "
        "j.value ->> 1 AS hash, a.id AS anchor_id "
        "FROM audit_anchors AS a CROSS JOIN LATERAL json_each(a.heads) AS j {where} "
        "ORDER BY 1, 2, 4"
    ),
}


def _merged(
    connection: Connection, instance_id: int | None
) -> Iterator[tuple[int, Any, Iterable[Any], list[Any]]]:
    """(instance id, its instance row or None, its history rows by seq, the heads anchors
    sealed for it by seq) for every instance id any of the three names, in id order."""
    instances = _stream(
        connection,
        _only(
            select(Instance.id, Instance.history_seq, Instance.history_hash).order_by(Instance.id),
            instance_id,
            Instance.id,
        ),
    )
    history = _stream(
        connection,
        _only(
            select(
                HistoryEvent.id,
                HistoryEvent.instance_id,
                HistoryEvent.seq,
                HistoryEvent.at,
                HistoryEvent.kind,
                HistoryEvent.element,
                HistoryEvent.actor,
                HistoryEvent.payload,
                HistoryEvent.prev_hash,
                HistoryEvent.hash,
            ).order_by(HistoryEvent.instance_id, HistoryEvent.seq),
            instance_id,
        ),
    )
    where = "" if instance_id is None else "WHERE CAST(j.key AS BIGINT) = :instance"
    if connection.dialect.name == "sqlite":
        where = where.replace("BIGINT", "INTEGER")
    heads = _stream(
        connection,
        text(_HEADS_SQL[connection.dialect.name].format(where=where)),
        {"instance": instance_id} if instance_id is not None else None,
    )
    by_id = attrgetter("instance_id")
    chains = groupby(history, key=by_id)
    sealed = groupby(heads, key=by_id)
    instance = next(instances, None)
    chain = next(chains, None)
    seal = next(sealed, None)
    while instance is not None or chain is not None or seal is not None:
        current = min(
            key
            for key in (
                instance.id if instance is not None else None,
                chain[0] if chain is not None else None,
                seal[0] if seal is not None else None,
            )
            if key is not None
        )
        here = instance if instance is not None and instance.id == current else None
        rows: Iterable[Any] = chain[1] if chain is not None and chain[0] == current else ()
        seals = list(seal[1]) if seal is not None and seal[0] == current else []
        yield current, here, rows, seals
        if here is not None:
            instance = next(instances, None)
        if chain is not None and chain[0] == current:
            chain = next(chains, None)
        if seal is not None and seal[0] == current:
            seal = next(sealed, None)


class _Seals:
    """The anchors' row counts, and how many rows there are now up to each anchor's mark."""

    def __init__(self) -> None:
        self.anchors: list[tuple[int, int, int]] = []  # (id, last history id, row count)
        self.bounds: list[int] = []
        self.counts: list[int] = []

    def add(self, anchor_id: int, last_history_id: int, row_count: int) -> None:
        self.anchors.append((anchor_id, last_history_id, row_count))

    def ready(self) -> None:
        self.bounds = sorted({mark for _, mark, _ in self.anchors})
        self.counts = [0] * (len(self.bounds) + 1)

    def count(self, row_id: int) -> None:
        self.counts[bisect.bisect_left(self.bounds, row_id)] += 1

    def check_counts(self, report: Report) -> None:
        cumulative, running = {}, 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            cumulative[bound] = running
        for anchor_id, mark, expected in self.anchors:
            found = cumulative[mark]
            if found != expected:
                what = "deleted" if found < expected else "inserted below the seal"
                report.add(
                    Problem(
                        "anchor count",
                        f"it sealed {expected} history rows up to id {mark}; {found} are "
                        f"there now: rows were {what}",
                        anchor_id=anchor_id,
                    )
                )
                return  # every later anchor counts the same rows again


def _check_anchors(connection: Connection, report: Report, seals: _Seals) -> None:
    prev, prev_id = GENESIS, None
    for anchor in _stream(connection, select(AuditAnchor).order_by(AuditAnchor.id)):
        report.anchors += 1
        if anchor.prev_hash != prev:
            before = f"anchor {prev_id}'s hash" if prev_id else "the start of the anchor chain"
            report.add(
                Problem(
                    "anchor chain",
                    f"its prev_hash is not {before}: an anchor was removed or altered",
                    anchor_id=anchor.id,
                )
            )
        elif (
            anchor_hash(
                anchor.prev_hash,
                anchor.at,
                anchor.last_history_id,
                anchor.row_count,
                anchor.heads,
                anchor.created_by,
            )
            != anchor.hash
        ):
            report.add(
                Problem(
                    "anchor chain",
                    "its content does not match its hash: the anchor was altered",
                    anchor_id=anchor.id,
                )
            )
        prev, prev_id = anchor.hash, anchor.id
        seals.add(anchor.id, anchor.last_history_id, anchor.row_count)
    seals.ready()


class _ChainCheck:
    def __init__(
        self, report: Report, seals: _Seals, total: int, progress: ProgressCallback | None
    ) -> None:
        self.report, self.seals, self.total, self.progress = report, seals, total, progress

    def chain(self, instance_id: int, instance: Any, rows: Iterable[Any], heads: list[Any]) -> None:
        report, add = self.report, self.report.add
        count = self.seals.count if self.seals.bounds else None
        expected, prev = 1, GENESIS
        last_seq, last_hash = 0, GENESIS
        pending, k = heads, 0
        done = report.rows
        for row_id, _, seq, at, kind, element, actor, payload, prev_hash, digest in rows:
            done += 1
            if count is not None:
                count(row_id)
            if done % CHUNK == 0 and self.progress:
                self.progress(done, self.total)
            if seq != expected:
                gone = f"seq {expected}" if seq == expected + 1 else f"seqs {expected} to {seq - 1}"
                add(
                    Problem(
                        "missing seq",
                        f"{gone} missing before this row (seq {seq}): rows were deleted",
                        instance_id=instance_id,
                        seq=expected,
                        row_id=row_id,
                    )
                )
            elif prev_hash != prev:
                add(
                    Problem(
                        "prev link",
                        f"its prev_hash is not the hash of seq {seq - 1}: this row or the one "
                        "before it was altered",
                        instance_id=instance_id,
                        seq=seq,
                        row_id=row_id,
                    )
                )
            entry = Entry(kind, element, actor, payload)
            if row_hash(prev_hash, instance_id, seq, at, entry) != digest:
                add(
                    Problem(
                        "hash mismatch",
                        "its content does not match its hash: the row was altered",
                        instance_id=instance_id,
                        seq=seq,
                        row_id=row_id,
                    )
                )
            while k < len(pending) and pending[k].seq <= seq:
                head = pending[k]
                if head.seq == seq and head.hash != digest:
                    add(
                        Problem(
                            "anchor mismatch",
                            f"anchor {head.anchor_id} sealed this row with hash "
                            f"{head.hash[:12]}…, it now has {digest[:12]}…: the chain was "
                            "rewritten",
                            instance_id=instance_id,
                            seq=seq,
                            row_id=row_id,
                            anchor_id=head.anchor_id,
                        )
                    )
                elif head.seq == seq:
                    report.heads_checked += 1
                k += 1
            expected = seq + 1
            prev = last_hash = digest
            last_seq = seq
        report.rows = done
        if last_seq:
            report.chains += 1
        beyond = pending[k:]
        if beyond:
            head = beyond[-1]
            if instance is None:
                add(
                    Problem(
                        "missing instance",
                        f"anchor {head.anchor_id} sealed its history up to seq {head.seq}; "
                        f"the instance is gone, with {last_seq} history row(s) left",
                        instance_id=instance_id,
                        seq=head.seq,
                        anchor_id=head.anchor_id,
                    )
                )
                return
            add(
                Problem(
                    "missing rows",
                    f"anchor {head.anchor_id} sealed its history up to seq {head.seq}; the "
                    f"chain ends at seq {last_seq}: rows were deleted",
                    instance_id=instance_id,
                    seq=head.seq,
                    anchor_id=head.anchor_id,
                )
            )
        if instance is None:
            if last_seq:
                add(
                    Problem(
                        "missing instance",
                        f"{last_seq} history row(s) name this instance, which does not exist",
                        instance_id=instance_id,
                    )
                )
        elif (instance.history_seq, instance.history_hash) != (last_seq, last_hash):
            add(
                Problem(
                    "head mismatch",
                    f"the instance row says its chain ends at seq {instance.history_seq} "
                    f"({instance.history_hash[:12]}…), its history ends at seq {last_seq} "
                    f"({last_hash[:12]}…)",
                    instance_id=instance_id,
                    seq=last_seq or None,
                )
            )


def _with_numbers(db: Database, problems: list[Problem]) -> list[Problem]:
    ids = {p.instance_id for p in problems if p.instance_id is not None}
    if not ids:
        return problems
    with db.reading() as session:
        numbers = dict(
            session.execute(
                select(Incident.instance_id, Incident.number).where(Incident.instance_id.in_(ids))
            ).all()
        )
    return [
        replace(p, number=numbers.get(p.instance_id)) if p.instance_id is not None else p
        for p in problems
    ]


# --- who looked, and verifications started from the web --------------------------------


def record_view(db: Database, auditor: str, what: str, detail: str = "") -> None:
    """Note that `auditor` looked at `what` (append-only, like the history)."""
    with db.writing() as session:
        _note_view(session, auditor, what, detail)


def _note_view(session: Session, auditor: str, what: str, detail: str = "") -> None:
    session.execute(
        insert(AuditView).values(at=clock.now(), auditor=auditor, what=what[:100], detail=detail)
    )


def recent_views(session: Session, limit: int = 20) -> list[AuditView]:
    return list(session.scalars(select(AuditView).order_by(AuditView.id.desc()).limit(limit)))


def history_rows(db: Database, instance_id: int | None = None) -> int:
    with db.reading() as session:
        statement = _only(select(func.count()).select_from(HistoryEvent), instance_id)
        return session.scalar(statement) or 0


def start_run(db: Database, auditor: str, instance_id: int | None = None) -> int:
    """A verification run, recorded as started by `auditor`; `run` does the work."""
    now = clock.now()
    with db.writing() as session:
        run_id = session.execute(
            insert(AuditRun)
            .values(
                started_by=auditor,
                started_at=now,
                updated_at=now,
                instance_id=instance_id,
                status="running",
                rows_total=0,
                rows_done=0,
            )
            .returning(AuditRun.id)
        ).scalar_one()
        scope = f"instance {instance_id}" if instance_id is not None else "every chain"
        _note_view(session, auditor, "verification started", f"run {run_id}: {scope}")
    return run_id


def run(db: Database, run_id: int) -> Report | None:
    """Verify as run `run_id` asks, telling its progress about once a second; the outcome
    goes on the run and, as a view, on the auditor who started it."""
    with db.reading() as session:
        job = session.get(AuditRun, run_id)
        assert job is not None
        auditor, instance_id = job.started_by, job.instance_id
    told = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        if done and time.monotonic() - told[0] < 1.0:
            return
        told[0] = time.monotonic()
        with db.writing() as session:
            session.execute(
                update(AuditRun)
                .where(AuditRun.id == run_id)
                .values(rows_done=done, rows_total=total, updated_at=clock.now())
            )

    try:
        report = verify(db, instance_id=instance_id, progress=progress)
    except Exception as err:  # the page must say it failed, not run forever
        _finish(db, run_id, auditor, "failed", f"{type(err).__name__}: {err}", None, None)
        raise
    problems = "\n".join(str(p) for p in report.problems)
    status = "clean" if report.ok else "broken"
    _finish(db, run_id, auditor, status, report.summary(), problems or None, report)
    return report


def _finish(
    db: Database,
    run_id: int,
    auditor: str,
    status: str,
    summary: str,
    problems: str | None,
    report: Report | None,
) -> None:
    values: dict[str, Any] = {
        "status": status,
        "summary": summary,
        "problems": problems,
        "finished_at": clock.now(),
        "updated_at": clock.now(),
    }
    if report is not None:
        values.update(rows_done=report.rows, rows_total=report.rows, seconds=report.seconds)
    with db.writing() as session:
        session.execute(update(AuditRun).where(AuditRun.id == run_id).values(**values))
        _note_view(session, auditor, f"verification {status}", f"run {run_id}: {summary}")


def recent_runs(session: Session, limit: int = 10) -> list[AuditRun]:
    return list(session.scalars(select(AuditRun).order_by(AuditRun.id.desc()).limit(limit)))


def interrupted(job: AuditRun) -> bool:
    """A run still marked running whose heartbeat stopped (its process ended)."""
    return job.status == "running" and clock.now() - job.updated_at > STALE_RUN
