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

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from engine import clock
from engine.store.models import HistoryEvent, Instance

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
        [
            prev_hash,
            instance_id,
            seq,
            at.isoformat(),
            entry.kind,
            entry.element,
            entry.actor,
            entry.payload or {},
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def append(session: Session, instance: Instance, at: datetime, entries: list[Entry]) -> None:
    """Append `entries` to the instance's history, continuing its hash chain.

    The caller holds the instance lock, so no one else appends to this chain meanwhile;
    the chain's head lives on the instance row and moves with it. One INSERT for all.
    """
    if not entries:
        return
    seq, prev = instance.history_seq, instance.history_hash
    rows = []
    for entry in entries:
        seq += 1
        digest = row_hash(prev, instance.id, seq, at, entry)
        rows.append(
            {
                "instance_id": instance.id,
                "seq": seq,
                "at": at,
                "kind": entry.kind,
                "element": entry.element,
                "actor": entry.actor,
                "payload": entry.payload or {},
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
    session.connection().execute(insert(HistoryEvent), rows)
    instance.history_seq, instance.history_hash = seq, prev


def entries_for(changes, calls, definition) -> list[Entry]:
    """History entries for the state changes and handler calls of one command.

    Each handler call is placed right after the completion of the service task that made
    it, so the story reads in the order things happened.
    """
    entries: list[Entry] = []
    calls = iter(calls)
    pending_call = next(calls, None)
    for change in changes:
        element = definition.elements[change.element]
        kind = "timer" if change.state == "COMPLETED" and element.is_timer else "task"
        entries.append(
            Entry(
                kind,
                element=change.element,
                payload={
                    "state": change.state,
                    "name": element.name,
                    "lane": element.lane,
                    "type": element.kind,
                    "task_id": change.task_id,
                    **({"clock": clock.now().isoformat()} if kind == "timer" else {}),
                },
            )
        )
        if (
            pending_call is not None
            and change.state == "COMPLETED"
            and change.element == pending_call.element
        ):
            entries.append(_handler_entry(pending_call))
            pending_call = next(calls, None)
    while pending_call is not None:  # calls whose completion was not logged
        entries.append(_handler_entry(pending_call))
        pending_call = next(calls, None)
    return entries


def _handler_entry(call) -> Entry:
    return Entry(
        "handler",
        element=call.element,
        payload={"operator": call.operator, "params": call.params, "result": call.result},
    )


def story(session: Session, instance_id: int) -> list[HistoryEvent]:
    """The instance's events, oldest first."""
    return list(
        session.scalars(
            select(HistoryEvent)
            .where(HistoryEvent.instance_id == instance_id)
            .order_by(HistoryEvent.seq)
        )
    )
