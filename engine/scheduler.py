"""The worker: fires due timers and delivers the notification outbox.

It reads the indexed `timers` and `notifications` tables by due time and never loads an
instance that has nothing due. On PostgreSQL any number of workers share the work: an
instance being advanced is skipped (`FOR UPDATE SKIP LOCKED`), and notifications are
claimed for a lease that expires if the worker dies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import bindparam, func, select, update

from engine import clock
from engine.errors import DeskflowError
from engine.runtime import Runtime
from engine.store.models import Notification, Timer

log = logging.getLogger("deskflow.worker")
mail_log = logging.getLogger("deskflow.mail")

CLAIM_LEASE = timedelta(minutes=2)
BATCH = 200

# Built once: the due rows are picked by the `due_at` index first and grouped afterwards
# (a GROUP BY over the whole table would make SQLite walk every armed timer).
_due = (
    select(Timer.instance_id, Timer.due_at)
    .where(Timer.due_at <= bindparam("now"), Timer.failed_at.is_(None))
    .order_by(Timer.due_at)
    .limit(BATCH * 4)
    .subquery()
)
_DUE_INSTANCES = (
    select(_due.c.instance_id, func.min(_due.c.due_at).label("due"))
    .group_by(_due.c.instance_id)
    .order_by("due")
    .limit(BATCH)
)
_PENDING = (
    select(Notification.id)
    .where(Notification.delivered_at.is_(None), Notification.due_at <= bindparam("now"))
    .where((Notification.claimed_until.is_(None)) | (Notification.claimed_until < bindparam("now")))
    .order_by(Notification.due_at)
)


class Message(Protocol):
    """What a transport is handed: one rendered notification."""

    id: int
    recipient: str
    template: str
    subject: str
    body: str


def log_transport(message: Message) -> None:
    """Delivery until a mail transport is configured: one log line per message."""
    mail_log.info("to=%s subject=%s", message.recipient, message.subject)


@dataclass
class Sweep:
    timers_fired: int = 0
    instances: int = 0
    delivered: int = 0
    failures: list[str] = field(default_factory=list)


class Worker:
    def __init__(
        self, runtime: Runtime, transport: Callable[[Message], None] = log_transport
    ) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.transport = transport

    def due_instances(self) -> list[int]:
        """Instances with a timer due now, most overdue first (index range scan)."""
        with self.db.engine.connect() as connection:
            return list(connection.execute(_DUE_INSTANCES, {"now": clock.now()}).scalars())

    def fire_timers(self) -> Sweep:
        """Fire the due timers of each due instance, one command per instance."""
        sweep = Sweep()
        for instance_id in self.due_instances():
            try:
                fired = self.runtime.fire_due_timers(instance_id, skip_locked=True)
            except DeskflowError as err:
                sweep.failures.append(f"instance {instance_id}: {err}")
                log.warning("timer on instance %s failed: %s", instance_id, err)
                continue
            sweep.timers_fired += fired
            sweep.instances += 1 if fired else 0
        return sweep

    def deliver_notifications(self, limit: int = BATCH) -> int:
        """Claim due messages for a lease, deliver them outside any transaction, mark them.

        A message whose delivery fails stays claimed until its lease ends, then the next
        sweep (of any worker) tries again.
        """
        now = clock.now()
        with self.db.engine.connect() as connection:  # the usual case, nothing to do
            if connection.execute(_PENDING.limit(1), {"now": now}).first() is None:
                return 0
        with self.db.writing() as session:
            claimable = _PENDING.limit(limit).params(now=now).with_for_update(skip_locked=True)
            claim = (
                update(Notification)
                .where(Notification.id.in_(claimable.scalar_subquery()))
                .values(claimed_until=clock.now() + CLAIM_LEASE, attempts=Notification.attempts + 1)
                .returning(
                    Notification.id,
                    Notification.recipient,
                    Notification.template,
                    Notification.subject,
                    Notification.body,
                )
            )
            messages = session.connection().execute(claim).all()
        delivered = []
        for message in messages:
            try:
                self.transport(message)
            except Exception as err:  # retried after the lease
                log.warning("delivery of notification %s failed: %s", message.id, err)
                continue
            delivered.append(message.id)
        if delivered:
            with self.db.writing() as session:
                session.connection().execute(
                    update(Notification)
                    .where(Notification.id.in_(delivered))
                    .values(delivered_at=clock.now())
                )
        return len(delivered)

    def sweep(self) -> Sweep:
        """One pass: fire what is due, then deliver what is waiting.

        With nothing to do, a sweep reads two indexes and takes no write lock at all.
        """
        result = self.fire_timers()
        result.delivered = self.deliver_notifications()
        return result

    def run_forever(self, interval: float = 1.0) -> None:
        log.info("worker started; sweeping every %.1fs", interval)
        while True:
            started = time.monotonic()
            try:
                result = self.sweep()
            except Exception:  # a lost database connection must not end the worker
                log.exception("sweep failed; trying again in %.1fs", interval)
                time.sleep(interval)
                continue
            if result.timers_fired or result.delivered:
                log.info(
                    "fired %d timer(s) on %d incident(s), delivered %d message(s)",
                    result.timers_fired,
                    result.instances,
                    result.delivered,
                )
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
