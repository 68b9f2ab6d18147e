"""Engine steps: what each process command does to a workflow (an `apply`), and running
the workflow until every path waits, as every command does after applying itself. Live
commands (`engine.instances.runtime`), re-execution (`engine.audit.replay.rerun`: replay
and what-if), migration and the benchmark's in-memory variants run these same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine.errors import ProcessError
from engine.instances import projection
from engine.instances.projection import all_tasks
from engine.process.specs import timers_of
from engine.spiff import CommandContext, StateChange, TaskLog

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


def skip_missed_cycles(workflow: BpmnWorkflow, now: datetime) -> None:
    """Move each waiting cycle timer to its latest occurrence that is due by `now`.

    SpiffWorkflow fires a cycle timer once per refresh and does not catch up, so after a
    long gap (a worker that was down, a clock jump) it would fire once per missed cycle,
    in a burst. A status update is about now: one is enough.
    """
    for task in all_tasks(workflow):
        if not task.has_state(TaskState.WAITING):
            continue
        for _element, event in timers_of(task.task_spec):
            value = task.internal_data.get("event_value")
            if not isinstance(event, CycleTimerEventDefinition) or not isinstance(value, dict):
                continue
            period = value.get("duration") or 0
            due = datetime.fromisoformat(value["next"]) if value.get("next") else None
            if period <= 0 or due is None or value.get("cycles") == 0 or due > now:
                continue
            missed = int((now - due).total_seconds() // period)
            if value["cycles"] > 0:
                missed = min(missed, value["cycles"] - 1)
                value["cycles"] -= missed
            value["next"] = (due + timedelta(seconds=missed * period)).isoformat()


MAX_ENGINE_ROUNDS = 100


def run_until_waiting(workflow: BpmnWorkflow) -> None:
    """Run engine steps until every path waits for a person, a message or a timer.

    `do_engine_steps` ends by refreshing timers, which can make a due timer READY without
    running it; the rounds run those too. A task left in ERROR raises ProcessError.
    """
    for _ in range(MAX_ENGINE_ROUNDS):
        workflow.do_engine_steps()
        if not any(
            t.has_state(TaskState.READY) and not t.task_spec.manual for t in all_tasks(workflow)
        ):
            break
    errored = [t for t in all_tasks(workflow) if t.has_state(TaskState.ERROR)]
    if errored:
        raise ProcessError(errored[0].task_spec.bpmn_id, "a task ended in error")
