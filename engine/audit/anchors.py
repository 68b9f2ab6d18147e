"""Anchors: every so often one row seals the history (see `engine.audit.chains` for the
layers of tamper evidence and `verify`, which checks the anchors).

An anchor holds the head (seq, hash) of every chain that moved since the previous anchor —
a delta, not a snapshot — the number of history rows up to the newest history id, and the
previous anchor's hash. `deskflow audit anchor` writes one, and the worker every
`DESKFLOW_AUDIT_ANCHOR_MINUTES` (default 15).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select
from sqlalchemy.orm import Session

from engine import clock
from engine.instances.history import GENESIS
from engine.store.db import Database
from engine.store.models import AuditAnchor, HistoryEvent


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
