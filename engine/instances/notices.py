"""Notices the desk sends when an incident's record changes, beside the diagram's own.

The diagram notifies where the process says so (major incident, SLA warnings, status
updates, resolution). These follow the record instead, whatever path led there:

- received: a new incident or request -> the caller;
- assigned: the desk assigned the work to a specialist -> that person;
- reopened: the caller rejected the resolution -> whoever holds the incident;
- closed: the incident is closed -> the caller.

They go into the outbox in the command's transaction, like every other message. Which of
them the desk sends is the catalog's `notices` list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from engine.store.models import Notification
from engine.worker.mail import outbox_row
from handlers import notify
from handlers.catalog import catalog


def enabled() -> frozenset[str]:
    """The notice kinds the catalog switches on."""
    return catalog().notices


def changes(
    before: dict[str, Any], after: dict[str, Any], opened: bool, assigned: bool
) -> list[tuple[str, str]]:
    """(template, recipient role) for what changed between two views of the record."""
    found = []
    if opened:
        found.append(("received", "caller"))
    if assigned and after.get("assignee"):
        found.append(("assigned", "assignee"))
    if (after.get("reopen_count") or 0) > (before.get("reopen_count") or 0):
        found.append(("reopened", "assignee"))
    if after.get("state") == "Closed" and before.get("state") != "Closed":
        found.append(("closed", "caller"))
    wanted = enabled()
    return [(template, role) for template, role in found if template in wanted]


def send(
    session: Session,
    incident_id: int,
    facts: dict[str, Any],
    notices: list[tuple[str, str]],
    now: datetime,
) -> int:
    """Write the notices to the outbox; returns how many messages."""
    rows = [
        outbox_row(
            incident_id,
            notify.render(template, recipient, facts),
            notify.render_html(template, recipient, facts),
            now,
        )
        for template, role in notices
        for recipient in notify.recipients(role, facts)
    ]
    if rows:
        session.execute(insert(Notification), rows)
    return len(rows)
