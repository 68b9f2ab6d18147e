"""Bad commands get a clear error and change nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

import handlers
from engine.errors import Conflict, FormInvalid, HandlerFailed, NotFound
from engine.instances.runtime import Runtime
from engine.store.models import Instance
from engine.worker.scheduler import Worker

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def test_report_failing_its_form_is_refused_and_nothing_is_stored(desk):
    with pytest.raises(FormInvalid) as caught:
        desk.runtime.start_incident(
            {
                "caller": "alice",
                "short_description": "x",
                "impact": "huge",
                "urgency": "high",
                "is_broken": True,
            },
            actor="alice",
        )
    assert set(caught.value.errors) >= {"impact", "short_description"}
    with desk.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0


def test_form_data_that_fails_the_form_is_refused_field_by_field(desk):
    number = desk.report()
    before = desk.snapshot(number)
    task = desk.task(number, "categorize_incident")
    with pytest.raises(FormInvalid) as caught:
        desk.runtime.complete_task(
            task.id, {"category": "network", "subcategories": []}, actor="tina"
        )
    assert "subcategories" in caught.value.errors
    with pytest.raises(FormInvalid) as caught:
        desk.runtime.complete_task(task.id, {"category": "network"}, actor="tina")
    assert caught.value.errors["subcategories"] == "this field is required"
    with pytest.raises(FormInvalid):
        desk.runtime.complete_task(task.id, "not a dict", actor="tina")
    assert desk.snapshot(number) == before


def test_completing_a_task_twice_is_a_conflict_that_changes_nothing(desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    data = {"category": "network", "subcategories": ["vpn"]}
    desk.runtime.complete_task(task.id, data, actor="tina")
    after_first = desk.snapshot(number)
    with pytest.raises(Conflict, match="not open"):
        desk.runtime.complete_task(task.id, data, actor="tom")
    assert desk.snapshot(number) == after_first


def test_completing_an_unknown_task_is_a_conflict(desk):
    with pytest.raises(Conflict):
        desk.runtime.complete_task("00000000-0000-0000-0000-000000000000", {}, actor="tina")


def test_stale_version_is_refused(desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    before = desk.snapshot(number)
    with pytest.raises(Conflict, match="changed since you loaded it"):
        desk.runtime.complete_task(
            task.id,
            {"category": "network", "subcategories": ["vpn"]},
            actor="tina",
            expected_version=before[1] - 1,
        )
    assert desk.snapshot(number) == before


def test_message_the_process_is_not_waiting_for_is_refused(desk):
    number = desk.report()
    before = desk.snapshot(number)
    with pytest.raises(Conflict, match="not waiting for 'confirm'"):
        desk.say(number, "confirm")
    with pytest.raises(NotFound, match="unknown message"):
        desk.say(number, "approve")
    assert desk.snapshot(number) == before


def test_closed_incident_cannot_change(desk):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    with pytest.raises(Conflict, match="closed"):
        desk.say(number, "user_reply", {"message": "hello?"})


def test_failing_handler_leaves_the_instance_and_records_an_error(desk, monkeypatch):
    number = desk.report()
    before = desk.snapshot(number)

    def broken_sla(priority, opened_at):
        raise RuntimeError("policy store unavailable")

    monkeypatch.setitem(handlers.registry.OPERATORS, "sla_targets", broken_sla)
    task = desk.task(number, "categorize_incident")
    with pytest.raises(HandlerFailed) as caught:
        desk.runtime.complete_task(
            task.id, {"category": "network", "subcategories": ["vpn"]}, actor="tina"
        )
    assert caught.value.element == "set_sla_targets"
    assert "policy store unavailable" in str(caught.value)
    assert desk.snapshot(number) == before  # error events aside, nothing changed
    incident = desk.incident(number)
    assert "policy store unavailable" in incident.last_error
    errors = [e for e in desk.history(number) if e["kind"] == "error"]
    assert len(errors) == 1 and errors[0]["element"] == "set_sla_targets"
    assert errors[0]["actor"] == "tina"

    monkeypatch.undo()  # the cause is fixed: the same completion now goes through
    desk.categorize(number)
    incident = desk.incident(number)
    assert incident.priority == 3 and incident.last_error is None


def test_failing_timer_handler_is_kept_for_retry(desk, monkeypatch):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)

    def broken_close(**_kwargs):
        raise RuntimeError("mail server down")

    monkeypatch.setitem(handlers.registry.OPERATORS, "close_incident", broken_close)
    desk.advance(days=4)
    incident = desk.incident(number)
    assert incident.state == "Resolved" and "mail server down" in incident.last_error
    [timer] = desk.timers(number)
    assert timer.failed_at is not None
    desk.advance(hours=1)  # not retried on its own while failed
    assert len([e for e in desk.history(number) if e["kind"] == "error"]) == 1

    monkeypatch.undo()
    desk.runtime.retry(number, actor="tina")
    desk.advance(minutes=1)
    assert desk.incident(number).state == "Closed"


def test_two_concurrent_completions_exactly_one_wins(desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def technician(name: str) -> None:
        barrier.wait()
        try:
            desk.runtime.complete_task(
                task.id, {"category": "network", "subcategories": ["vpn"]}, actor=name
            )
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=technician, args=(n,)) for n in ("tina", "tom")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    completes = [
        e
        for e in desk.history(number)
        if e["kind"] == "command" and e["payload"]["command"] == "complete_task"
    ]
    assert len(completes) == 1


def test_two_workers_fire_a_due_timer_once(desk):
    number = desk.report(impact="high", urgency="medium")  # P2: status update every hour
    desk.categorize(number)
    desk.clock.advance(timedelta(minutes=61))
    barrier = threading.Barrier(2)
    fired: list[int] = []

    def worker() -> None:
        barrier.wait()
        fired.append(Worker(desk.runtime).fire_timers().timers_fired)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(fired) == 1
    updates = [n for n in desk.notifications(number) if n.template == "status_update"]
    assert len(updates) == 1


def test_a_process_with_a_stale_cached_workflow_does_not_lose_another_ones_step(desk):
    other = Runtime(desk.db)  # another web or worker process, with its own cache
    number = desk.report()
    desk.categorize(number)  # this process now caches the workflow at the new version
    task = desk.task(number, "diagnose")
    other.complete_task(
        task.id,
        {
            "resolved": True,
            "resolution_code": "solved-remotely",
            "resolution_notes": "Fixed by the other process.",
        },
        actor="tom",
    )
    desk.say(number, "confirm")  # this process must reload, not reuse its stale copy
    incident = desk.incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "confirmed")
    assert incident.resolution_notes == "Fixed by the other process."
