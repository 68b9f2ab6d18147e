"""The worker fires what is due from the timers table and delivers the outbox."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.store.models import Notification
from engine.worker.mail import Outgoing
from engine.worker.outbox import CLAIM_LEASE
from engine.worker.scheduler import Worker

from .desk import Desk

COALESCE = timedelta(minutes=2)  # the default coalescing window


# These tests count mails: only the diagram's messages, not the record notices.
pytestmark = pytest.mark.usefixtures("without_record_notices")


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


def test_notifications_wait_the_coalescing_window_then_go_once(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)  # P1: the stakeholders are told
    sent: list[Outgoing] = []
    worker = Worker(desk.runtime, transport=sent.append)
    assert worker.deliver_notifications() == 0  # nothing is sent before the window ends
    desk.clock.advance(COALESCE)
    first = worker.deliver_notifications()
    second = worker.deliver_notifications()
    assert first == len(sent) == 3 and second == 0
    assert len({mail.message_id for mail in sent}) == 3
    with desk.db.reading() as session:
        statuses = session.scalars(select(Notification.status)).all()
    assert set(statuses) == {"delivered"}


def test_failed_delivery_is_retried_after_the_backoff(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)
    desk.clock.advance(COALESCE)

    def down(_message):
        raise OSError("smtp down")

    result = Worker(desk.runtime, transport=down).deliver()
    assert (result.delivered, result.retrying) == (0, 3)
    assert all("attempt 1 of 8 failed" in problem for problem in result.problems)
    ok = Worker(desk.runtime, transport=lambda m: None)
    desk.clock.advance(timedelta(seconds=59))
    assert ok.deliver_notifications() == 0  # the first retry waits a minute
    desk.clock.advance(timedelta(seconds=1))
    assert ok.deliver_notifications() == 3
    with desk.db.reading() as session:
        rows = session.scalars(select(Notification)).all()
    assert {(row.status, row.attempts, row.last_error) for row in rows} == {("delivered", 2, None)}


def test_two_workers_deliver_each_notification_once(desk):
    numbers = [desk.report(impact="high", urgency="high") for _ in range(4)]
    for number in numbers:
        desk.categorize(number)
    desk.clock.advance(COALESCE)
    sent: list[Outgoing] = []
    barrier = threading.Barrier(2)

    def work() -> None:
        worker = Worker(desk.runtime, transport=sent.append)
        barrier.wait()
        while worker.deliver_notifications(limit=3):
            pass

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [i for mail in sent for i in mail.notification_ids]
    assert len(ids) == len(set(ids)) == 12  # 4 incidents x 3 stakeholders


def test_a_claim_that_was_never_settled_is_taken_again_after_the_lease(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)
    desk.clock.advance(COALESCE)
    with desk.db.writing() as session:  # as if a worker had claimed them and died
        for row in session.scalars(select(Notification)):
            row.claimed_until = desk.clock.now() + CLAIM_LEASE
            row.attempts = 1
            row.message_id = f"<claimed-{row.id}@test>"
    sent: list[Outgoing] = []
    worker = Worker(desk.runtime, transport=sent.append)
    assert worker.deliver_notifications() == 0
    desk.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    assert worker.deliver_notifications() == 3
    assert sorted(mail.message_id for mail in sent) == sorted(
        f"<claimed-{i}@test>" for mail in sent for i in mail.notification_ids
    )


def test_a_worker_stops_sending_when_half_its_lease_is_gone(desk):
    numbers = [desk.report(impact="high", urgency="high") for _ in range(2)]
    for number in numbers:
        desk.categorize(number)  # 6 mails: 2 incidents x 3 stakeholders
    desk.clock.advance(COALESCE)
    sent: list[Outgoing] = []

    def slow(mail):  # the server takes a whole minute over the first mail
        sent.append(mail)
        desk.clock.advance(CLAIM_LEASE / 2)

    result = Worker(desk.runtime, transport=slow).deliver()
    assert (result.delivered, len(sent)) == (1, 1)
    with desk.db.reading() as session:
        waiting = session.scalars(
            select(Notification).where(Notification.status == "pending")
        ).all()
    # the rest were handed back untried: free to claim, no attempt counted
    assert len(waiting) == 5
    assert {(row.claimed_until, row.attempts) for row in waiting} == {(None, 0)}
    assert Worker(desk.runtime, transport=sent.append).deliver_notifications() == 5
