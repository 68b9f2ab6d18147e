"""The worker fires what is due from the timers table and delivers the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.scheduler import Worker
from engine.store.models import Notification

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def test_sweep_with_nothing_due_loads_no_instance(desk, monkeypatch):
    numbers = [desk.report() for _ in range(3)]
    for number in numbers:
        desk.categorize(number)
    loaded = []
    monkeypatch.setattr(
        desk.runtime, "fire_due_timers", lambda instance_id, **kw: loaded.append(instance_id) or 0
    )
    result = Worker(desk.runtime).fire_timers()
    assert loaded == [] and result.timers_fired == 0


def test_sweep_fires_only_the_due_instance(desk, monkeypatch):
    early = desk.report(impact="high", urgency="high")  # P1: status every 30 min
    late = desk.report(impact="low", urgency="low")  # P5
    desk.categorize(early)
    desk.categorize(late)
    desk.clock.advance(timedelta(minutes=31))
    worker = Worker(desk.runtime)
    assert worker.due_instances() == [desk.incident(early).instance_id]
    result = worker.fire_timers()
    assert result.timers_fired >= 1 and result.instances == 1


def test_notifications_are_delivered_once_after_commit(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)
    delivered = []
    worker = Worker(desk.runtime, transport=delivered.append)
    first = worker.deliver_notifications()
    second = worker.deliver_notifications()
    assert first == len(delivered) > 0 and second == 0
    with desk.db.reading() as session:
        pending = session.scalars(
            select(Notification).where(Notification.delivered_at.is_(None))
        ).all()
    assert pending == []


def test_failed_delivery_is_retried_after_the_lease(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)

    def down(_message):
        raise OSError("smtp down")

    assert Worker(desk.runtime, transport=down).deliver_notifications() == 0
    ok = Worker(desk.runtime, transport=lambda m: None)
    assert ok.deliver_notifications() == 0  # still leased
    desk.clock.advance(timedelta(minutes=3))
    assert ok.deliver_notifications() > 0
