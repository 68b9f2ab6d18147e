"""Tamper evidence for the history: `verify` checks the chains and the anchors.

Three layers, each catching what the one before cannot:

1. **Per-instance chains** (`engine.instances.history`): every row holds the previous
   row's hash and its own hash over its content, seq counts 1, 2, 3, … per instance, and
   the instance row holds the chain's head (`history_seq`, `history_hash`). An edited row,
   a deleted middle row or deleted last rows (the head then points past the end) show up
   here.
2. **Anchors** (`audit_anchors`, written by `engine.audit.anchors`): every so often
   (`deskflow audit anchor`, and the worker every `DESKFLOW_AUDIT_ANCHOR_MINUTES`, default
   15) one row seals the history: the head (seq, hash) of every chain that moved since the
   previous anchor — a delta, not a snapshot — the number of history rows up to the
   newest history id, and the previous anchor's hash. Deleting an instance's whole
   history (and resetting or deleting the instance row, so that layer 1 sees nothing
   wrong) leaves an anchored head that no longer exists. Anchors are only as trustworthy
   as their chain: print the newest hash (`deskflow audit anchor` does) and keep it
   somewhere else to catch a rewrite of everything.
3. **The database refuses** UPDATE and DELETE (and TRUNCATE on PostgreSQL) on `history`,
   `audit_anchors` and `audit_views` with triggers (migration 0010), so an edit needs a
   deliberate schema change first. `engine.audit.append_only.maintenance` is the
   sanctioned one, for the test suite's wipe and for erasures people decided on; `verify`
   then shows what changed.

`verify` streams the rows ordered by (instance, seq) next to the instances and the
anchored heads, all sorted by instance id, so its memory stays flat; on PostgreSQL it
reads one REPEATABLE READ snapshot, on SQLite one read transaction (WAL), so it runs
beside the desk without false alarms.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import groupby
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, func, select, text

from engine.audit.anchors import Anchored, anchor_hash, anchor_status
from engine.instances.history import GENESIS, Entry, row_hash
from engine.store.db import Database
from engine.store.models import AuditAnchor, HistoryEvent, Incident, Instance

MAX_PROBLEMS = 50  # problems kept in detail; the rest are counted
CHUNK = 5000  # rows fetched at a time, and how often progress is told

ProgressCallback = Callable[[int, int], None]  # (rows done, rows in all)

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
        total = connection.scalar(only(select(func.count()).select_from(HistoryEvent), instance_id))
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


def only(statement, instance_id: int | None, column=HistoryEvent.instance_id):
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
        only(
            select(Instance.id, Instance.history_seq, Instance.history_hash).order_by(Instance.id),
            instance_id,
            Instance.id,
        ),
    )
    history = _stream(
        connection,
        only(
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
