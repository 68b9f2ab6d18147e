"""Engine steps: running a workflow until every path waits, as every command does after
applying itself (the runtime, migration, replay and the benchmark's in-memory variants)."""

from __future__ import annotations

from datetime import datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.errors import ProcessError
from engine.instances.projection import all_tasks
from engine.process.specs import timers_of


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
