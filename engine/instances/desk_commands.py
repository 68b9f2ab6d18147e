"""Commands on an incident that do not advance its process.

Claiming or assigning a task, a work note or a comment to the caller, escalating to the
group's manager, adding or firing a technician's automated escalation, clearing a failed
timer for a retry: each is one transaction under the instance lock, with a history event,
like the process commands in `engine.instances.runtime`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from engine import clock
from engine.desk import escalations
from engine.errors import Conflict, DeskflowError
from engine.instances import history
from engine.instances.history import Entry
from engine.instances.locks import InstanceLocks, facts
from engine.store.models import EscalationRule, Group, Notification, Timer
from engine.worker.mail import outbox_row
from handlers import notify

NOTE_KINDS = ("work_note", "comment")  # internal to the support teams / to the caller
NOTE_MAX = 4000


class DeskCommands(InstanceLocks):
    """Claim, retry and automated escalations; `Runtime` adds the process commands."""

    def retry(self, number: str, actor: str) -> None:
        """Clear failed timers so the worker fires them again (after the cause is fixed)."""
        with self._command() as session:
            instance, incident = self._lock_incident(session, number)
            for timer in session.scalars(
                select(Timer).where(Timer.instance_id == instance.id, Timer.failed_at.is_not(None))
            ):
                timer.failed_at = None
            incident.last_error = None
            history.append(
                session,
                instance,
                clock.now(),
                [Entry("command", actor=actor, payload={"command": "retry"})],
            )

    def add_escalation(
        self, number: str, due_at: datetime, action: str, target: str, note: str, actor: str
    ) -> int:
        """Add "if not resolved by `due_at`, notify/reassign `target`" to an incident."""
        with self._command() as session:
            instance, incident = self._lock_incident(session, number)
            escalations.check_rule(session, incident, due_at, action, target)
            rule = EscalationRule(
                incident_id=incident.id,
                instance_id=instance.id,
                due_at=due_at,
                action=action,
                target=target,
                note=note,
                created_by=actor,
                created_at=clock.now(),
            )
            session.add(rule)
            session.flush()
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "command",
                        actor=actor,
                        payload={
                            "command": "add_escalation",
                            "rule": rule.id,
                            "due_at": due_at.isoformat(),
                            "action": action,
                            "target": target,
                            "note": note,
                        },
                    )
                ],
            )
            return rule.id

    def fire_escalation(self, rule_id: int, skip_locked: bool = False) -> bool:
        """Fire a due escalation rule (the worker); False when skipped or not due.

        Anything that goes wrong is recorded on the incident and the rule is marked fired
        with the failure as its outcome, so it does not come back every sweep."""
        with self._command() as session:
            instance_id = session.scalar(
                select(EscalationRule.instance_id).where(EscalationRule.id == rule_id)
            )
            if instance_id is None:
                return False
            locked = self._lock(
                session, instance_id, None, skip_locked=skip_locked, allow_finished=True
            )
            if locked is None:
                return False
            instance, incident = locked
            command = Entry(
                "command", actor="worker", payload={"command": "fire_escalation", "rule": rule_id}
            )
            self._on_failure(session, instance_id, command, any_error=True, failed_rule=rule_id)
            rule = session.scalars(
                select(EscalationRule)
                .where(EscalationRule.id == rule_id)
                .execution_options(populate_existing=True)
            ).first()
            if rule is None or rule.fired_at is not None or rule.due_at >= clock.now():
                return False  # not due, or another worker fired it while we waited
            entry = escalations.fire(session, rule, incident, facts(incident))
            history.append(session, instance, clock.now(), [entry])
            return True

    def claim_task(
        self, task_id: str, username: str | None, actor: str, taking: bool = False
    ) -> None:
        """Assign an open task to `username` (None: back to the group queue).

        `taking`: the person takes it from the queue themselves, which is refused when a
        colleague holds it already (checked under the lock, so two clicks at the same
        moment give it to one of them)."""
        with self._command() as session:
            instance, incident, human = self._lock_task(session, task_id)
            if taking and human.assignee not in (None, username):
                raise Conflict(f"{human.assignee} took this task already")
            human.assignee = username
            if human.lane != "User":
                incident.assignee = username
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "command",
                        element=human.element,
                        actor=actor,
                        payload={"command": "claim_task", "assignee": username},
                    )
                ],
            )

    def add_note(self, number: str, kind: str, text: str, actor: str) -> None:
        """A work note (internal) or a comment to the caller (mailed to them)."""
        if kind not in NOTE_KINDS:
            raise DeskflowError(f"unknown kind of note {kind!r} (known: {', '.join(NOTE_KINDS)})")
        text = text.strip()
        if not text or len(text) > NOTE_MAX:
            raise DeskflowError(f"a note needs 1 to {NOTE_MAX} characters")
        with self._command() as session:
            instance, incident = self._lock_incident(session, number)
            if kind == "comment":
                self._mail(session, incident, "comment", incident.caller, text)
            payload = {"command": "add_note", "kind": kind, "text": text}
            history.append(
                session, instance, clock.now(), [Entry("command", actor=actor, payload=payload)]
            )

    def escalate_to_manager(self, number: str, reason: str, actor: str) -> str:
        """Hierarchical escalation by hand: tell the manager of the group holding the
        incident, with the reason; returns the manager's username."""
        reason = reason.strip()
        if len(reason) < 3 or len(reason) > NOTE_MAX:
            raise DeskflowError(f"say why in 3 to {NOTE_MAX} characters")
        with self._command() as session:
            instance, incident = self._lock_incident(session, number)
            if incident.state in escalations.DONE_STATES:
                raise Conflict(f"{number} is {incident.state.lower()}; nothing to escalate")
            group = session.get(Group, incident.assignment_group or "")
            if group is None or group.manager is None:
                raise Conflict(f"{number} is held by no group with a manager yet")
            self._mail(session, incident, "escalated_to_manager", group.manager, reason)
            entry = Entry(
                "escalation",
                actor=actor,
                payload={
                    "kind": "hierarchical",
                    "assignee": group.manager,
                    "group": group.name,
                    "reason": reason,
                },
            )
            history.append(session, instance, clock.now(), [entry])
            return group.manager

    @staticmethod
    def _mail(session, incident, template: str, recipient: str, note: str) -> None:
        record = facts(incident)
        message = notify.render(template, recipient, record, note)
        html = notify.render_html(template, recipient, record, note)
        now = clock.now()
        session.execute(
            insert(Notification), [outbox_row(incident.id, message, html, now, due=now)]
        )
