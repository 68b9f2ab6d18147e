"""Commands on an incident that do not advance its process.

Claiming a task, adding or firing a technician's automated escalation, clearing a failed
timer for a retry: each is one transaction under the instance lock, with a history event,
like the process commands in `engine.runtime`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from engine import clock, escalations, history
from engine.errors import Conflict
from engine.history import Entry
from engine.locks import InstanceLocks, facts
from engine.store.models import EscalationRule, HumanTask, Timer


class DeskCommands(InstanceLocks):
    """Claim, retry and automated escalations; `Runtime` adds the process commands."""

    def retry(self, number: str, actor: str) -> None:
        """Clear failed timers so the worker fires them again (after the cause is fixed)."""
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
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
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
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
        """Fire a due escalation rule (the worker); False when skipped or not due."""
        with self.db.writing() as session:
            rule = session.get(EscalationRule, rule_id)
            if rule is None or rule.fired_at is not None or rule.due_at >= clock.now():
                return False
            locked = self._lock(
                session, rule.instance_id, None, skip_locked=skip_locked, allow_finished=True
            )
            if locked is None:
                return False
            instance, incident = locked
            session.refresh(rule)
            if rule.fired_at is not None:
                return False  # another worker fired it while we waited for the lock
            entry = escalations.fire(session, rule, incident, facts(incident))
            history.append(session, instance, clock.now(), [entry])
            return True

    def claim_task(self, task_id: str, username: str | None, actor: str) -> None:
        """Assign an open task to `username` (None: back to the group queue)."""
        with self.db.writing() as session:
            human = session.get(HumanTask, task_id)
            if human is None:
                raise Conflict(f"task {task_id} is not open")
            instance, incident = self._locked(session, human.instance_id)
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
