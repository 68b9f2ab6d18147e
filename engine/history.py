"""The append-only story of each instance, every row chained to the one before by hash.

Kinds of event: `command` (what someone asked, with inputs and actor), `task` (a BPMN
element changed state), `handler` (a service task called a handler: inputs and result),
`timer` (a timer fired at a clock time), `error` (a command failed; nothing else changed).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import HistoryEvent

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    kind: str
    element: str | None = None
    actor: str | None = None
    payload: dict[str, Any] | None = None


def row_hash(prev_hash: str, instance_id: int, seq: int, at: datetime, entry: Entry) -> str:
    """sha256 over the previous hash and this row's content, in canonical JSON."""
    canonical = json.dumps(
        [prev_hash, instance_id, seq, at.isoformat(), entry.kind, entry.element, entry.actor,
         entry.payload or {}],
        sort_keys=True, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(session: Session, instance_id: int, at: datetime, entries: list[Entry]) -> None:
    """Append `entries` to the instance's history, continuing its hash chain.

    The caller holds the instance lock, so no one else appends to this chain meanwhile.
    """
    if not entries:
        return
    last = session.execute(
        select(HistoryEvent.seq, HistoryEvent.hash)
        .where(HistoryEvent.instance_id == instance_id)
        .order_by(HistoryEvent.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    for entry in entries:
        seq += 1
        digest = row_hash(prev, instance_id, seq, at, entry)
        session.add(HistoryEvent(
            instance_id=instance_id, seq=seq, at=at, kind=entry.kind, element=entry.element,
            actor=entry.actor, payload=entry.payload or {}, prev_hash=prev, hash=digest,
        ))
        prev = digest


def story(session: Session, instance_id: int) -> list[HistoryEvent]:
    """The instance's events, oldest first."""
    return list(session.scalars(
        select(HistoryEvent).where(HistoryEvent.instance_id == instance_id)
        .order_by(HistoryEvent.seq)
    ))
