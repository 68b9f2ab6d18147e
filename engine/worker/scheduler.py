"""The worker: fires due timers and delivers the notification outbox.

It reads the indexed `timers` and `notifications` tables by due time and never loads an
instance that has nothing due. On PostgreSQL any number of workers share the work: an
instance being advanced is skipped (`FOR UPDATE SKIP LOCKED`), and notifications are
claimed for a lease that expires if the worker dies.

How notifications are delivered: `engine.worker.outbox`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select

from engine import clock
from engine.audit import anchors as audit
from engine.desk.escalations import DUE_RULES
from engine.errors import describe
from engine.instances.runtime import Runtime
from engine.store.models import Timer
from engine.worker.mail import MailSettings, Transport
from engine.worker.outbox import BATCH, Delivery, Outbox

log = logging.getLogger("deskflow.worker")

# Built once: the due rows are picked by the `due_at` index first and grouped afterwards
# (a GROUP BY over the whole table would make SQLite walk every armed timer).
_due = (
    select(Timer.instance_id, Timer.due_at)
    .where(Timer.due_at < bindparam("now"), Timer.failed_at.is_(None))  # fired once passed
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


@dataclass
class Sweep:
    timers_fired: int = 0
    instances: int = 0
    escalations: int = 0
    delivered: int = 0
    suppressed: int = 0
    failures: list[str] = field(default_factory=list)


class Worker:
    """Fires due timers and escalation rules, and delivers notifications (`Outbox`, to
    which `transport` and `settings` go)."""

    def __init__(
        self,
        runtime: Runtime,
        transport: Transport | None = None,
        settings: MailSettings | None = None,
    ) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.outbox = Outbox(runtime.db, transport, settings)

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
            except Exception as err:  # one instance never stops the others (DESIGN.md)
                sweep.failures.append(f"instance {instance_id}: {describe(err)}")
                log.warning("timer on instance %s failed: %s", instance_id, describe(err))
                continue
            sweep.timers_fired += fired
            sweep.instances += 1 if fired else 0
        sweep.escalations = self.fire_escalations(sweep.failures)
        return sweep

    def fire_escalations(self, failures: list[str] | None = None) -> int:
        """Fire technicians' per-incident escalation rules that are due."""
        with self.db.engine.connect() as connection:
            due = list(connection.execute(DUE_RULES, {"now": clock.now()}).scalars())
        fired = 0
        for rule_id in due:
            try:
                fired += self.runtime.fire_escalation(rule_id, skip_locked=True)
            except Exception as err:  # one rule never stops the others
                log.warning("escalation rule %s failed: %s", rule_id, describe(err))
                if failures is not None:
                    failures.append(f"escalation rule {rule_id}: {describe(err)}")
        return fired

    def deliver_notifications(self, limit: int = BATCH) -> int:
        """Deliver what is due (see `deliver`); returns the notifications delivered."""
        return self.deliver(limit).delivered

    def deliver(self, limit: int = BATCH) -> Delivery:
        """Deliver the due notifications (`engine.worker.outbox`)."""
        return self.outbox.deliver(limit)

    def sweep(self) -> Sweep:
        """One pass: fire what is due, then deliver what is waiting.

        With nothing to do, a sweep reads two indexes and takes no write lock at all.
        """
        result = self.fire_timers()
        delivery = self.deliver()
        result.delivered = delivery.delivered
        result.suppressed = delivery.suppressed
        result.failures.extend(delivery.problems)
        return result

    def anchor_history(self) -> None:
        """Seal the history with an anchor when one is due (`engine.audit`)."""
        every = audit.anchor_interval()
        if every is None:
            return
        try:
            anchored = audit.write_anchor(self.db, "worker", min_interval=every)
        except Exception:  # sealing must not stop the desk's work
            log.exception("writing a history anchor failed; trying again later")
            return
        if anchored is not None:
            log.info("history anchor %d: %d chain head(s) sealed", anchored.id, anchored.moved)

    def run_forever(self, interval: float = 1.0) -> None:
        log.info("worker started; sweeping every %.1fs", interval)
        next_anchor = time.monotonic()  # then once a minute: is an anchor due?
        while True:
            started = time.monotonic()
            if started >= next_anchor:
                self.anchor_history()
                next_anchor = started + 60
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
