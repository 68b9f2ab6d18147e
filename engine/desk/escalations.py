"""Automated escalations a technician adds to one incident: "if not resolved by T, ...".

A rule names a moment, an action — notify a person, or reassign the incident's open work
to a person — and a note. The worker fires due rules like timers (an indexed due time,
one command per rule, under the incident's lock). A rule whose incident was resolved or
closed by then is skipped. Adding, firing and skipping are history events with reasons.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DeskflowError, NotFound
from engine.instances.history import Entry
from engine.instances.record import DONE_STATES
from engine.store.models import EscalationRule, HumanTask, Incident, Notification, User
from engine.worker.mail import outbox_row
from handlers import notify

ACTIONS = ("notify", "reassign")

DUE_RULES = (
    select(EscalationRule.id)
    .where(EscalationRule.fired_at.is_(None), EscalationRule.due_at < bindparam("now"))
    .order_by(EscalationRule.due_at)
    .limit(200)
)


def check_rule(
    session: Session, incident: Incident, due_at: datetime, action: str, target: str
) -> None:
    """Refuse a rule that cannot work, saying why."""
    if action not in ACTIONS:
        raise DeskflowError(f"unknown escalation action {action!r} (known: {', '.join(ACTIONS)})")
    if due_at.tzinfo is None:
        raise DeskflowError("the escalation time needs a time zone, e.g. 2026-01-05T17:00+00:00")
    if due_at <= clock.now():
        raise DeskflowError(f"the escalation time {due_at.isoformat()} is not in the future")
    if session.get(User, target) is None:
        raise NotFound(f"no user {target!r} to {action}")
    if incident.state in DONE_STATES:
        raise Conflict(f"{incident.number} is {incident.state.lower()}; nothing to escalate")


def fire(
    session: Session, rule: EscalationRule, incident: Incident, facts: dict[str, Any]
) -> Entry:
    """Carry out a due rule, or skip it; the history entry that says what happened."""
    now = clock.now()
    rule.fired_at = now
    payload = {
        "kind": "automated",
        "rule": rule.id,
        "action": rule.action,
        "target": rule.target,
        "note": rule.note,
        "set_by": rule.created_by,
    }
    if incident.state in DONE_STATES:
        rule.outcome = f"skipped: {incident.state.lower()} before {rule.due_at.isoformat()}"
        return Entry("escalation", actor="worker", payload={**payload, "reason": rule.outcome})
    if rule.action == "reassign":
        session.execute(
            update(HumanTask)
            .where(HumanTask.incident_id == incident.id, HumanTask.lane != "User")
            .values(assignee=rule.target)
        )
        incident.assignee = rule.target
        rule.outcome = f"reassigned to {rule.target}"
    else:
        note = f"Not resolved by {rule.due_at:%Y-%m-%d %H:%M} UTC. {rule.note}".strip()
        message = notify.render("escalated", rule.target, facts, note)
        html = notify.render_html("escalated", rule.target, facts, note)
        session.execute(
            insert(Notification), [outbox_row(incident.id, message, html, now, due=now)]
        )
        rule.outcome = f"notified {rule.target}"
    reason = f"not resolved by {rule.due_at.isoformat()}: {rule.outcome}"
    return Entry("escalation", actor="worker", payload={**payload, "reason": reason})
