"""Functional escalation assigns the specialist task to the least loaded group member."""

from __future__ import annotations

import pytest

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def escalated(desk: Desk) -> str:
    number = desk.report()
    desk.categorize(number, "network", ("vpn",))
    desk.escalate(number)
    return number


def test_escalated_tasks_go_to_the_least_loaded_member_not_the_manager(desk):
    first, second, third = escalated(desk), escalated(desk), escalated(desk)
    assignees = [desk.task(n, "investigate_and_resolve").assignee for n in (first, second, third)]
    # network-ops: nora (manager), ned, nick -> ned, nick, then ned again (tie, name order)
    assert assignees == ["ned", "nick", "ned"]
    assert desk.incident(second).assignee == "nick"
    [event] = [e for e in desk.history(second) if e["kind"] == "escalation"]
    assert event["payload"]["reason"] == "least loaded member of network-ops (0 open task(s))"
    assert (
        event["payload"]["kind"] == "functional" and event["element"] == "investigate_and_resolve"
    )


def test_a_resolved_task_no_longer_counts_as_load(desk):
    first = escalated(desk)
    desk.specialist_resolves(first, actor="ned")
    second = escalated(desk)
    assert desk.task(second, "investigate_and_resolve").assignee == "ned"


def test_service_desk_tasks_stay_in_the_shared_queue(desk):
    number = desk.report()
    [task] = desk.open_tasks(number)
    assert task.lane == "Service Desk" and task.assignee is None
