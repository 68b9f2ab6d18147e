"""Every path of the bundled process, through the commands, on a real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.spiff import state_json
from engine.store.models import Instance

from .desk import Desk


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def test_report_is_logged_categorized_and_waits_for_the_service_desk(desk):
    number = desk.report()
    incident = desk.incident(number)
    assert number.startswith("INC") and len(number) == 10
    assert incident.state == "New"
    assert incident.kind == "incident"
    [task] = desk.open_tasks(number)
    assert (task.element, task.lane, task.group_name, task.form) == (
        "categorize_incident",
        "Service Desk",
        "service-desk",
        "categorize",
    )
    suggestion = [
        e
        for e in desk.history(number)
        if e["kind"] == "handler" and e["payload"]["operator"] == "categorize"
    ]
    assert suggestion[0]["payload"]["result"]["category"] == "network"


def test_first_line_fix_confirmed_by_the_user_is_closed(desk):
    number = desk.report()
    desk.categorize(number)
    incident = desk.incident(number)
    assert incident.priority == 3  # medium × medium
    assert incident.response_due is not None and incident.resolution_due is not None
    assert incident.responded_at is not None  # categorizing was the first human action
    desk.resolve_first_line(number)
    incident = desk.incident(number)
    assert incident.state == "Resolved"
    assert incident.resolved_at is not None
    assert desk.open_tasks(number) == []
    desk.say(number, "confirm", {"comment": "works"})
    incident = desk.incident(number)
    assert incident.state == "Closed"
    assert incident.close_reason == "confirmed"
    assert incident.resolution_code == "solved-remotely"
    assert incident.resolution_notes == "Reinstalled the VPN client."
    assert desk.timers(number) == []
    recipients = [(n.template, n.recipient) for n in desk.notifications(number)]
    assert ("resolved", "alice") in recipients


def test_escalation_goes_to_the_group_that_owns_the_category(desk):
    number = desk.report()
    desk.categorize(number, "hardware", ("laptop",))
    desk.escalate(number)
    [task] = desk.open_tasks(number)
    assert (task.element, task.lane, task.group_name) == (
        "investigate_and_resolve",
        "Specialist Support",
        "hardware-support",
    )
    incident = desk.incident(number)
    assert incident.assignment_group == "hardware-support"
    assert incident.reassignment_count == 1
    desk.specialist_resolves(number, actor="harry")
    desk.say(number, "confirm")
    assert desk.incident(number).state == "Closed"


def test_request_solved_by_self_help_is_closed_as_deflected(desk):
    number = desk.report(
        is_broken=False,
        short_description="How do I reset my password?",
        impact="low",
        urgency="low",
    )
    incident = desk.incident(number)
    assert incident.kind == "request"
    [task] = desk.open_tasks(number)
    assert (task.element, task.lane, task.assignee) == ("try_self_help", "User", "alice")
    articles = [
        e["payload"]["result"]
        for e in desk.history(number)
        if e["kind"] == "handler" and e["payload"]["operator"] == "suggest_faq"
    ]
    assert articles and articles[0]["articles"], "self-help suggestions were offered"
    desk.complete(number, "try_self_help", {"solved": True}, actor="alice")
    incident = desk.incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "deflected")


def test_request_not_solved_by_self_help_is_fulfilled_by_the_desk(desk):
    number = desk.report(
        is_broken=False, short_description="Please install Visio", impact="low", urgency="low"
    )
    desk.complete(number, "try_self_help", {"solved": False}, actor="alice")
    [task] = desk.open_tasks(number)
    assert (task.element, task.lane) == ("fulfil_request", "Service Desk")
    desk.complete(
        number,
        "fulfil_request",
        {"resolution_code": "solved-permanently", "resolution_notes": "Installed Visio."},
    )
    incident = desk.incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "fulfilled")


def test_priority_one_takes_the_major_incident_path(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)
    incident = desk.incident(number)
    assert incident.priority == 1
    assert incident.major_incident is True
    templates = {n.template for n in desk.notifications(number)}
    assert "major_incident" in templates


def test_sla_warning_then_breach_escalate_while_the_work_goes_on(desk):
    number = desk.report(impact="medium", urgency="high")  # P2: 8 h to resolve
    desk.categorize(number)
    desk.escalate(number)
    incident = desk.incident(number)
    due = incident.resolution_due
    desk.clock.set(due.replace(microsecond=0) - (due - incident.opened_at) * 0.2)
    desk.worker.sweep()
    warned = desk.incident(number)
    assert warned.sla_warned is True and warned.resolution_breached is False
    warning = [n for n in desk.notifications(number) if n.template == "sla_warning"]
    assert warning and "approaching SLA violation" in (warning[0].subject + warning[0].body)
    desk.clock.set(due)
    desk.advance(minutes=1)
    breached = desk.incident(number)
    assert breached.resolution_breached is True
    manager_told = [n for n in desk.notifications(number) if n.template == "sla_breach"]
    assert {n.recipient for n in manager_told} >= {"nora"}  # network-ops manager
    [task] = desk.open_tasks(number)  # the work goes on
    assert task.element == "investigate_and_resolve"
    timer_events = [e for e in desk.history(number) if e["kind"] == "timer"]
    assert {e["element"] for e in timer_events} >= {"sla_warning_timer", "sla_breach_timer"}
    assert all("clock" in e["payload"] for e in timer_events)
    desk.specialist_resolves(number)
    desk.say(number, "confirm")
    assert desk.incident(number).state == "Closed"


def test_user_is_informed_at_regular_intervals_while_open(desk):
    number = desk.report(impact="high", urgency="medium")  # P2: status every hour
    desk.categorize(number)
    for _ in range(3):
        desk.advance(minutes=61)
    updates = [n for n in desk.notifications(number) if n.template == "status_update"]
    assert len(updates) == 3
    assert {n.recipient for n in updates} == {"alice"}


def test_reopen_goes_back_to_diagnosis_and_counts(desk):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.advance(hours=2)
    desk.say(number, "reopen", {"reason": "It broke again."})
    incident = desk.incident(number)
    assert incident.state == "In Progress"
    assert incident.reopen_count == 1
    assert incident.resolved_at is None
    [task] = desk.open_tasks(number)
    assert task.element == "diagnose"
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    assert desk.incident(number).state == "Closed"


def test_reopen_loop_is_bounded_and_the_tree_stays_small(desk):
    number = desk.report()
    desk.categorize(number)
    sizes = []
    for _ in range(20):
        if desk.incident(number).state == "Closed":
            break
        desk.resolve_first_line(number)
        desk.say(number, "reopen", {"reason": "again"})
        with desk.db.reading() as session:
            instance = session.get(Instance, desk.incident(number).instance_id)
            sizes.append(len(instance.state))
    incident = desk.incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "reopen-limit")
    assert incident.reopen_count <= 10
    assert max(sizes) < 200_000


def test_resolved_incident_without_answer_closes_automatically(desk):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    assert [t.element for t in desk.timers(number)] == ["auto_close_timer"]
    desk.advance(days=2)
    assert desk.incident(number).state == "Resolved"
    desk.advance(days=2)
    incident = desk.incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "auto-closed")


def test_user_replies_reach_the_assignee_any_number_of_times(desk):
    number = desk.report()
    desk.categorize(number)
    for i in range(5):
        desk.say(number, "user_reply", {"message": f"update {i}"})
    replies = [n for n in desk.notifications(number) if n.template == "user_reply"]
    assert len(replies) >= 5
    [task] = desk.open_tasks(number)
    assert task.element == "diagnose"


def test_history_tells_the_story_with_commands_tasks_and_handlers(desk):
    number = desk.report()
    desk.categorize(number)
    events = desk.history(number)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "command" and events[0]["payload"]["command"] == "start_incident"
    assert events[0]["actor"] == "alice"
    assert "handler" in kinds and "task" in kinds
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    completes = [
        e for e in events if e["kind"] == "command" and e["payload"]["command"] == "complete_task"
    ]
    assert completes[0]["payload"]["inputs"]["category"] == "network"
    internal = [e for e in events if e["kind"] == "task" and e["element"] is None]
    assert internal == []


def test_instance_state_does_not_embed_the_spec_and_stays_small(desk):
    number = desk.report()
    desk.categorize(number)
    with desk.db.reading() as session:
        instance = session.get(Instance, desk.incident(number).instance_id)
        state = state_json(instance.state)
    assert "spec" not in state and "subprocess_specs" not in state
    assert state["subprocesses"], "waits inside the resolution subprocess"
    assert len(instance.state) < 10_000, len(instance.state)


def test_a_reply_to_one_incident_does_not_change_how_others_run(desk):
    # SpiffWorkflow wires an event subprocess into the shared spec the first time it is
    # triggered; the engine pre-wires it so later instances still complete.
    first = desk.report()
    desk.categorize(first)
    desk.say(first, "user_reply", {"message": "hello"})
    second = desk.report(is_broken=False, short_description="How do I reset my password?")
    desk.complete(second, "try_self_help", {"solved": True}, actor="alice")
    assert desk.incident(second).state == "Closed"


def test_missed_status_updates_are_not_sent_in_a_burst(desk):
    number = desk.report(impact="high", urgency="medium")  # P2: status every hour
    desk.categorize(number)
    desk.advance(hours=5, minutes=30)  # the worker was down for hours
    updates = [n for n in desk.notifications(number) if n.template == "status_update"]
    assert len(updates) == 1
    desk.advance(minutes=31)  # and the rhythm goes on from there
    updates = [n for n in desk.notifications(number) if n.template == "status_update"]
    assert len(updates) == 2


def test_stored_state_equals_a_fresh_serialization_at_every_step(desk):
    # The runtime keeps restored workflows between commands and reuses the serialized
    # form of finished tasks; what it stores must be what a cold load-and-dump gives.
    from engine.spiff import CommandContext, dump_workflow, load_workflow

    number = desk.report()

    def check():
        with desk.db.reading() as session:
            instance = session.get(Instance, desk.incident(number).instance_id)
            definition = desk.runtime.definition(session, instance.definition_id)
        cold = load_workflow(
            instance.state, definition.spec, definition.subprocess_specs, CommandContext()
        )
        assert state_json(dump_workflow(cold)) == state_json(instance.state)

    check()
    desk.categorize(number)
    check()
    desk.say(number, "user_reply", {"message": "still broken"})
    check()
    desk.escalate(number)
    check()
    desk.advance(hours=3)
    check()
    desk.specialist_resolves(number)
    check()
    desk.say(number, "reopen", {"reason": "again"})
    check()
    assert desk.runtime.workflows.hits > 0


def test_the_major_incident_message_names_the_priority_set_in_the_same_command(desk):
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)  # the DMN sets P1 and stakeholders are told, in one command
    [message, *_] = [n for n in desk.notifications(number) if n.template == "major_incident"]
    assert "Priority:  1 (Critical)" in message.body


def test_a_declared_major_incident_is_priority_one_whatever_the_matrix_says(desk):
    number = desk.report(impact="low", urgency="low")  # P5 by the matrix
    desk.complete(
        number,
        "categorize_incident",
        {"category": "network", "subcategories": ["vpn"], "major_incident": True},
    )
    incident = desk.incident(number)
    assert incident.priority == 1 and incident.major_incident is True
    assert any(n.template == "major_incident" for n in desk.notifications(number))


def test_an_undeclared_incident_keeps_the_matrix_priority(desk):
    number = desk.report(impact="low", urgency="low")
    desk.categorize(number)  # the form's default: not a major incident
    assert desk.incident(number).priority == 5


def test_warnings_climb_the_hierarchy_at_half_and_three_quarters_of_the_target(desk):
    number = desk.report(impact="medium", urgency="high")  # P2: 8 h round the clock
    desk.categorize(number)
    desk.escalate(number)
    opened = desk.incident(number).opened_at
    desk.clock.set(opened + timedelta(hours=4, minutes=1))  # past 50 %
    desk.worker.sweep()
    first = [n for n in desk.notifications(number) if n.template in ("sla_warning", "sla_breach")]
    assert {n.recipient for n in first} == {"ned"}  # the assignee only
    desk.clock.set(opened + timedelta(hours=6, minutes=1))  # past 75 %
    desk.worker.sweep()
    told = {n.recipient for n in desk.notifications(number) if n.template == "sla_warning"}
    assert "nora" in told  # the network-ops manager joins
    events = [e["element"] for e in desk.history(number) if e["kind"] == "handler"]
    assert events.count("warn_sla") == 1 and events.count("escalate_warning") == 1
