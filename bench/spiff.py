"""The engine part of a command without Deskflow's store, for variants (a) and (d).

What `engine.runtime` does around SpiffWorkflow, reduced to what the handlers need: the
start data, running engine steps until every path waits, and the incident facts
(`CommandContext.incident`) that the runtime would read from the incident row. Here
those facts are a plain dict kept beside the workflow and updated after each command
from the workflow data and the handlers' `incident_update` results.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.instances import projection
from engine.instances.record import INCIDENT_UPDATES
from engine.instances.steps import run_until_waiting, skip_missed_cycles
from engine.process.definitions import ProcessDefinition
from engine.process.forms import validate_form
from engine.spiff import CommandContext

from .lifecycle import Outcome


def prepare(workflow) -> None:
    """What the runtime does to a restored workflow before every command: a cycle timer
    that missed occurrences fires once, not once per missed cycle (`skip_missed_cycles`)."""
    skip_missed_cycles(workflow, clock.now())


def start_data(report: dict[str, Any], actor: str, number: str, now: datetime) -> dict[str, Any]:
    """The variables `Runtime.start_incident` puts on the start task."""
    return {
        "reported_by": report.get("reported_by") or actor,
        "channel": report.get("channel", "portal"),
        "description": report.get("description", ""),
        **report,
        "incident_number": number,
        "opened_at": now.isoformat(),
    }


def new_facts(report: dict[str, Any], number: str) -> dict[str, Any]:
    """The incident record's facts at the start (`engine.locks.facts`)."""
    return {
        "number": number,
        "caller": report["caller"],
        "short_description": report["short_description"],
        "priority": None,
        "category": None,
        "state": "New",
        "group": None,
        "assignee": None,
        "major_incident": False,
        "resolution_breached": False,
        "sla_warned": False,
    }


def context_for(facts: dict[str, Any]) -> CommandContext:
    keys = (
        "number",
        "caller",
        "short_description",
        "priority",
        "category",
        "state",
        "group",
        "assignee",
    )
    return CommandContext(incident={k: facts.get(k) for k in keys})


def begin(workflow, data: dict[str, Any]) -> None:
    """Put the start data on the READY start task(s), as `Runtime.start_incident` does."""
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)


def ready_user_task(workflow, element: str):
    for task in projection.all_tasks(workflow):
        if (
            task.has_state(TaskState.READY)
            and task.task_spec.manual
            and task.task_spec.bpmn_id == element
        ):
            return task
    raise RuntimeError(f"expected an open task '{element}'")


def complete(workflow, task_id, form: dict[str, Any], forms: dict[str, dict]) -> None:
    """`Runtime.complete_task`'s engine part: the form checked (its defaults filled in)
    against the schema the task names, into the task data, run, steps."""
    task = workflow.get_task_from_id(task_id)
    if task is None or not task.has_state(TaskState.READY):
        raise RuntimeError(f"task {task_id} is not open")
    name = (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}).get("form")
    if name in forms:
        form = validate_form(name, forms[name], form)
    task.data.update(form)
    task.run()
    run_until_waiting(workflow)


def deliver(workflow, name: str, payload: dict[str, Any]) -> None:
    workflow.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload))
    run_until_waiting(workflow)


def fire_timers(workflow) -> None:
    workflow.refresh_timers()
    run_until_waiting(workflow)


def timers_due(workflow, now: datetime) -> bool:
    return any(t.due_at <= now for t in projection.armed_timers(workflow))


def absorb(
    facts: dict[str, Any], workflow, context: CommandContext, definition: ProcessDefinition
) -> None:
    """Update the facts after a command, as `Runtime._write_back` updates the incident."""
    data = projection.current_data(workflow)
    for name in ("priority", "category"):
        if data.get(name) is not None:
            facts[name] = data[name]
    group = (data.get("assignment") or {}).get("group")
    if group and group != facts.get("group"):
        facts["group"], facts["assignee"] = group, None
    for call in context.calls:
        update = call.result.get("incident_update") if isinstance(call.result, dict) else None
        for field, value in (update or {}).items():
            if field not in INCIDENT_UPDATES:
                raise RuntimeError(f"handler {call.operator} changed incident field {field}")
            facts["group" if field == "assignment_group" else field] = value
    facts["state"] = projection.incident_state(workflow, definition)
    facts["reopen_count"] = int((data.get("sla") or {}).get("reopens") or 0)
    facts["close_reason"] = (data.get("closure") or {}).get("reason")


def outcome(facts: dict[str, Any], workflow) -> Outcome:
    return Outcome(
        completed=workflow.is_completed(),
        close_reason=facts.get("close_reason"),
        priority=facts.get("priority"),
        major_incident=bool(facts.get("major_incident")),
        resolution_breached=bool(facts.get("resolution_breached")),
        reopen_count=facts.get("reopen_count", 0),
    )
