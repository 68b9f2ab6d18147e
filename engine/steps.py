"""What each process command does to a workflow, and the engine steps after it.

Live commands (`engine.runtime`) and re-execution (`engine.replay.rerun`, which replay and
what-if use) run the very same functions: an `apply` from this module, then `advance`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import clock, projection
from engine.bpmn import CommandContext, StateChange, TaskLog, run_until_waiting, skip_missed_cycles

Apply = Callable[[BpmnWorkflow], None]


def start(data: dict[str, Any]) -> Apply:
    """`start_incident`: the report's data on the READY start task(s)."""

    def apply(workflow: BpmnWorkflow) -> None:
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)

    return apply


def complete(task, form: dict[str, Any]) -> Apply:
    """`complete_task`: the form's data on the READY user task, which then runs."""

    def apply(_workflow: BpmnWorkflow) -> None:
        task.data.update(form)
        task.run()

    return apply


def deliver(message: str, payload: dict[str, Any]) -> Apply:
    """`send_message`: the message and its payload to whatever catches it."""

    def apply(workflow: BpmnWorkflow) -> None:
        workflow.send_event(BpmnEvent(MessageEventDefinition(message), payload=payload))

    return apply


def fire_timers(workflow: BpmnWorkflow) -> None:
    """`fire_due_timers`: the timers due by the (held) clock become ready."""
    workflow.refresh_timers()


def advance(
    workflow: BpmnWorkflow,
    elements: set[str],
    context: CommandContext,
    open_tasks: tuple[projection.OpenTask, ...],
    apply: Apply,
) -> list[StateChange]:
    """Apply a command, then run the engine until every path waits (handlers run here,
    seeing `open_tasks` as the work open when the command began); returns the state
    changes of the diagram's elements, in order."""
    context.incident["open_tasks"] = [{"element": t.element, "lane": t.lane} for t in open_tasks]
    log = TaskLog(elements, projection.live_task_ids(workflow))
    with log:
        skip_missed_cycles(workflow, clock.now())
        apply(workflow)
        run_until_waiting(workflow)
    return log.changes


def waits_for(workflow: BpmnWorkflow, message: str) -> bool:
    """Whether a live catch event (or event subprocess start) would catch `message`."""
    waiting = TaskState.WAITING | TaskState.READY  # predicted catch events do not catch yet
    for task in projection.all_tasks(workflow):
        event = getattr(task.task_spec, "event_definition", None)
        names = {
            getattr(child, "name", None)
            for child in getattr(event, "event_definitions", None) or [event]
        }
        if message in names and task.state & waiting:
            return True
    for name in workflow.spec.start.trigger_specs:  # event subprocesses: always listening
        for start_event in workflow.subprocess_specs[name].bpmn_start_events:
            if getattr(start_event.event_definition, "name", None) == message:
                return True
    return False
