"""Read what queries need off a workflow: incident fields, open human tasks, armed timers.

Pure functions over a restored `BpmnWorkflow` and its `ProcessDefinition`; the runtime
writes their results into the projection tables in the same transaction as the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from engine.errors import ProcessError
from engine.process.definitions import ProcessDefinition
from engine.process.specs import timers_of

DEFAULT_GROUPS = {"Service Desk": "service-desk"}
SPECIALIST_LANE = "Specialist Support"
USER_LANE = "User"


@dataclass(frozen=True)
class OpenTask:
    id: str
    element: str
    name: str
    lane: str | None
    group: str | None
    assignee: str | None
    form: str | None


@dataclass(frozen=True)
class ArmedTimer:
    element: str
    due_at: datetime


@dataclass(frozen=True)
class Waiting:
    """What a workflow waits on: the open user tasks and the armed timers."""

    tasks: tuple[OpenTask, ...]
    timers: frozenset[tuple[str, datetime]]

    @property
    def task_ids(self) -> set[str]:
        return {task.id for task in self.tasks}


def waiting_on(
    workflow, definition: ProcessDefinition, caller: str, group: str | None = None
) -> Waiting:
    return Waiting(
        tuple(open_tasks(workflow, definition, caller, group)),
        frozenset((t.element, t.due_at) for t in armed_timers(workflow)),
    )


def all_tasks(workflow):
    """Every task of the workflow and of its subprocesses (their id maps: no tree walk)."""
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def live_task_ids(workflow) -> set[str]:
    live = TaskState.READY | TaskState.WAITING | TaskState.STARTED
    return {str(t.id) for t in all_tasks(workflow) if t.state & live}


def current_data(workflow) -> dict[str, Any]:
    """The process variables as the newest live task sees them (last task's when finished)."""
    if workflow.is_completed():
        return dict(workflow.last_task.data) if workflow.last_task else dict(workflow.data)
    live = TaskState.READY | TaskState.WAITING | TaskState.STARTED
    tasks = sorted(
        (t for t in all_tasks(workflow) if t.state & live and t.task_spec.bpmn_id),
        key=lambda t: t.last_state_change,
    )
    data: dict[str, Any] = {}
    for task in tasks:
        data.update(task.data)
    return data


def incident_state(workflow, definition: ProcessDefinition) -> str:
    """The state the newest live element with an `incident_state` property stands for."""
    if workflow.is_completed():
        return "Closed"
    live = TaskState.READY | TaskState.WAITING | TaskState.STARTED
    best, best_time = "In Progress", -1.0
    for task in all_tasks(workflow):
        if not task.state & live or task.last_state_change <= best_time:
            continue
        state = _state_property(task.task_spec, definition)
        if state:
            best, best_time = state, task.last_state_change
    return best


def _state_property(task_spec, definition: ProcessDefinition) -> str | None:
    """The element's `incident_state`; an event-based gateway stands for its catch events'."""
    element = definition.elements.get(task_spec.bpmn_id or "")
    if element is None:
        return None
    if "incident_state" in element.properties:
        return element.properties["incident_state"]
    if element.kind == "EventBasedGateway":
        states = {_state_property(o, definition) for o in task_spec.outputs} - {None}
        return states.pop() if len(states) == 1 else None
    return None


def open_tasks(
    workflow, definition: ProcessDefinition, caller: str, group: str | None = None
) -> list[OpenTask]:
    """The user tasks waiting for a person, with the lane, group and form they name.

    A specialist task whose data names no group (work resumed after a hold, whose data
    is what the subprocess started with) stays with `group`, the incident's current one.
    """
    current_group = group
    found = []
    for task in all_tasks(workflow):
        if not (task.state & TaskState.READY and task.task_spec.manual):
            continue
        element = definition.elements[task.task_spec.bpmn_id]
        lane = element.lane
        group, assignee = None, None
        if lane == USER_LANE:
            assignee = caller
        elif "group" in element.properties:
            group = _group_of(workflow, task, element)
        elif lane == SPECIALIST_LANE:
            group = (task.data.get("assignment") or {}).get("group") or current_group
        else:
            group = DEFAULT_GROUPS.get(lane or "")
        found.append(
            OpenTask(
                id=str(task.id),
                element=element.id,
                name=element.name,
                lane=lane,
                group=group,
                assignee=assignee,
                form=element.properties.get("form"),
            )
        )
    return found


def _group_of(workflow, task, element) -> str | None:
    """The group a task's `group` property names (an expression on the task's data)."""
    try:
        return workflow.script_engine.evaluate(task, element.properties["group"])
    except Exception as err:  # a refused or failing expression: the command stops
        raise ProcessError(element.id, f"its group expression failed: {err}") from err


def armed_timers(workflow) -> list[ArmedTimer]:
    """Timers the workflow waits on, with the moment each is due."""
    found = []
    for task in all_tasks(workflow):
        if not task.state & TaskState.WAITING:
            continue
        for element, event in timers_of(task.task_spec):
            value = task.internal_data.get("event_value")
            if isinstance(event, CycleTimerEventDefinition) and isinstance(value, dict):
                value = value.get("next") if value.get("cycles") != 0 else None
            if value is None:
                continue
            due = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else value
            if due.tzinfo is None:
                due = due.replace(tzinfo=UTC)
            found.append(ArmedTimer(element, due.astimezone(UTC)))
    return found


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def incident_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Incident columns that follow from the process variables."""
    sla = data.get("sla") or {}
    resolution = data.get("resolution") or {}
    closure = data.get("closure") or {}
    assignment = data.get("assignment") or {}
    subcategories = data.get("subcategories") or []
    fields: dict[str, Any] = {
        "kind": "request" if data.get("is_broken") is False else "incident",
        "category": data.get("category"),
        "subcategories": list(subcategories),
        "impact": data.get("impact"),
        "urgency": data.get("urgency"),
        "priority": data.get("priority"),
        "response_due": parse_time(sla.get("response_due")),
        "resolution_due": parse_time(sla.get("resolution_due")),
        "reopen_count": int(sla.get("reopens") or 0),
        "resolution_code": closure.get("code")
        or resolution.get("code")
        or data.get("resolution_code"),
        "resolution_notes": closure.get("notes")
        or resolution.get("notes")
        or data.get("resolution_notes"),
        "resolved_at": parse_time(resolution.get("resolved_at")),
        "closed_at": parse_time(closure.get("closed_at")),
        "close_reason": closure.get("reason"),
    }
    if assignment.get("group"):
        fields["assignment_group"] = assignment["group"]
    return {k: v for k, v in fields.items() if v is not None}
