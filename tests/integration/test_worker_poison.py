"""One instance never stops the others: whatever breaks while the worker loads or runs one
instance is recorded on it, its due timers are held back, and the sweep goes on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from cli.main import main
from engine import clock
from engine.desk import escalations
from engine.store.models import Instance
from engine.worker import failures, outbox
from engine.worker.scheduler import Worker

from .desk import Desk
from .web_client import app_with_accounts, logged_in, post

pytestmark = pytest.mark.usefixtures("without_record_notices")


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def _three_due(desk: Desk) -> list[str]:
    numbers = [desk.report(impact="high", urgency="high") for _ in range(3)]
    for number in numbers:
        desk.categorize(number)  # P1: a status update every 30 minutes
    desk.clock.advance(timedelta(minutes=31))
    return numbers


def _poison(desk: Desk, number: str) -> bytes:
    """Make the instance's stored state unreadable; returns the good state."""
    instance_id = desk.incident(number).instance_id
    with desk.db.reading() as session:
        good = session.get(Instance, instance_id).state
    with desk.db.writing() as session:
        session.execute(
            update(Instance).where(Instance.id == instance_id).values(state=b"{not json")
        )
    desk.runtime.workflows.forget(instance_id)  # the cached workflow would hide it
    return good


def test_an_unreadable_instance_is_set_aside_and_the_others_fire(desk):
    poisoned, *others = _three_due(desk)
    _poison(desk, poisoned)
    before = {number: len(desk.history(number)) for number in others}

    sweep = Worker(desk.runtime).fire_timers()

    assert sweep.instances == 2, sweep.failures
    instance_id = desk.incident(poisoned).instance_id
    assert len(sweep.failures) == 1 and sweep.failures[0].startswith(f"instance {instance_id}:")
    for number in others:
        assert len(desk.history(number)) > before[number]  # their timers fired
        assert desk.incident(number).last_error is None
    broken = desk.incident(poisoned)
    assert broken.last_error and "zlib.error" in broken.last_error
    errors = [e for e in desk.history(poisoned) if e["kind"] == "error"]
    assert len(errors) == 1 and errors[0]["payload"]["command"]["command"] == "fire_due_timers"
    assert desk.timers(poisoned) and all(
        t.failed_at is not None for t in desk.timers(poisoned) if t.due_at < desk.clock.now()
    )
    # The next sweep does not try it again, and nothing else is left due.
    assert Worker(desk.runtime).due_instances() == []


def test_failed_incidents_are_listed_and_retried_once_fixed(desk):
    poisoned, *_ = _three_due(desk)
    good = _poison(desk, poisoned)
    Worker(desk.runtime).fire_timers()
    listed = failures.failed_incidents(desk.db)
    assert [row.number for row in listed] == [poisoned]
    assert listed[0].failed_timers >= 1

    out = CliRunner().invoke(main, ["--database", desk.db.url, "incident", "failed"])
    assert out.exit_code == 0 and poisoned in out.output and "zlib.error" in out.output

    instance_id = desk.incident(poisoned).instance_id
    with desk.db.writing() as session:  # the operator repairs the stored state
        session.execute(update(Instance).where(Instance.id == instance_id).values(state=good))
    app = app_with_accounts(desk.runtime, "sam")
    client = logged_in(app, "sam")
    page = client.get("/failures/").get_data(as_text=True)
    assert poisoned in page and "zlib.error" in page
    assert post(client, f"/failures/{poisoned}/retry").status_code == 302

    sweep = Worker(desk.runtime).fire_timers()
    assert sweep.instances == 1 and not sweep.failures
    assert desk.incident(poisoned).last_error is None
    assert failures.failed_incidents(desk.db) == []
    assert "No incident is held back" in client.get("/failures/").get_data(as_text=True)


def test_a_mail_that_cannot_be_written_never_blocks_the_others(desk, monkeypatch):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)  # P1: three stakeholders are told
    desk.clock.advance(timedelta(minutes=2))
    real = outbox.compose

    def compose(parts, **kw):
        if parts[0].id == first:
            raise KeyError("template variable")
        return real(parts, **kw)

    first = min(n.id for n in desk.notifications(number))
    monkeypatch.setattr(outbox, "compose", compose)
    sent: list = []
    report = Worker(desk.runtime, transport=sent.append).deliver()
    assert (report.delivered, report.failed, len(sent)) == (2, 1, 2)
    statuses = {n.id: (n.status, n.last_error) for n in desk.notifications(number)}
    assert statuses[first][0] == "failed" and "KeyError" in statuses[first][1]
    assert Worker(desk.runtime, transport=sent.append).deliver().delivered == 0  # not retried


def test_an_escalation_rule_that_fails_is_recorded_once_and_the_others_fire(desk, monkeypatch):
    broken, fine = desk.report(), desk.report()
    for number in (broken, fine):
        desk.categorize(number)
        desk.runtime.add_escalation(
            number, clock.now() + timedelta(hours=1), "notify", "sam", "", actor="tina"
        )
    real = escalations.notify.render

    def render(template, recipient, record, note):
        if record["number"] == broken:
            raise KeyError("template variable")
        return real(template, recipient, record, note)

    monkeypatch.setattr(escalations.notify, "render", render)
    desk.clock.advance(timedelta(hours=1, minutes=1))
    failures_seen: list[str] = []
    assert Worker(desk.runtime).fire_escalations(failures_seen) == 1
    assert len(failures_seen) == 1 and "KeyError" in failures_seen[0]
    assert "KeyError" in (desk.incident(broken).last_error or "")
    [error] = [e for e in desk.history(broken) if e["kind"] == "error"]
    assert error["payload"]["command"]["command"] == "fire_escalation"
    assert Worker(desk.runtime).fire_escalations([]) == 0  # marked fired: not tried again
    assert [e for e in desk.history(fine) if e["kind"] == "escalation"]
