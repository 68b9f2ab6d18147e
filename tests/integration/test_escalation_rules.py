"""A technician's "if not resolved by T, notify / reassign X" on one incident."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from cli.main import main
from engine import clock
from engine.errors import Conflict, DeskflowError, NotFound

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def escalations(desk: Desk, number: str) -> list[dict]:
    return [e for e in desk.history(number) if e["kind"] == "escalation"]


def test_a_due_rule_notifies_the_person_named(desk):
    number = desk.report()
    desk.categorize(number)
    desk.runtime.add_escalation(
        number,
        clock.now() + timedelta(hours=2),
        "notify",
        "sam",
        "customer is a director",
        actor="tina",
    )
    desk.advance(hours=1)
    assert escalations(desk, number) == []
    desk.advance(hours=1, minutes=1)
    [event] = escalations(desk, number)
    assert event["payload"]["reason"].endswith("notified sam")
    assert event["payload"]["set_by"] == "tina"
    [message] = [n for n in desk.notifications(number) if n.template == "escalated"]
    assert message.recipient == "sam" and "customer is a director" in message.body
    desk.advance(hours=3)
    assert len(escalations(desk, number)) == 1  # fired once


def test_a_due_rule_reassigns_the_open_work(desk):
    number = desk.report()
    desk.categorize(number)
    desk.runtime.add_escalation(
        number, clock.now() + timedelta(minutes=30), "reassign", "tom", "", actor="tina"
    )
    desk.advance(minutes=31)
    [task] = desk.open_tasks(number)
    assert task.assignee == "tom" and desk.incident(number).assignee == "tom"


def test_a_rule_on_an_incident_resolved_in_time_is_skipped(desk):
    number = desk.report()
    desk.categorize(number)
    desk.runtime.add_escalation(
        number, clock.now() + timedelta(hours=2), "notify", "sam", "", actor="tina"
    )
    desk.resolve_first_line(number)
    desk.advance(hours=3)
    [event] = escalations(desk, number)
    assert event["payload"]["reason"].startswith("skipped: resolved before")
    assert [n for n in desk.notifications(number) if n.template == "escalated"] == []


def test_rules_that_cannot_work_are_refused(desk):
    number = desk.report()
    soon = clock.now() + timedelta(hours=1)
    with pytest.raises(DeskflowError, match="not in the future"):
        desk.runtime.add_escalation(number, clock.now(), "notify", "sam", "", actor="tina")
    with pytest.raises(DeskflowError, match="unknown escalation action"):
        desk.runtime.add_escalation(number, soon, "page", "sam", "", actor="tina")
    with pytest.raises(NotFound, match="no user 'nobody'"):
        desk.runtime.add_escalation(number, soon, "notify", "nobody", "", actor="tina")
    desk.categorize(number)
    desk.resolve_first_line(number)
    with pytest.raises(Conflict, match="resolved"):
        desk.runtime.add_escalation(number, soon, "notify", "sam", "", actor="tina")


def test_the_cli_adds_a_rule(db, runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    result = CliRunner().invoke(
        main,
        [
            "--database",
            db.url,
            "incident",
            "escalate",
            number,
            "--after",
            "PT4H",
            "--notify",
            "sam",
            "--by",
            "tina",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "will notify sam" in result.output
    bad = CliRunner().invoke(
        main, ["--database", db.url, "incident", "escalate", number, "--after", "PT4H"]
    )
    assert bad.exit_code != 0 and "one of --notify/--reassign" in bad.output
