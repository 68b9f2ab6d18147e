"""What a parsed SpiffWorkflow task spec says that Deskflow reads in several places: the
timers it waits on, and its spiffworkflow properties."""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


def timers_of(task_spec) -> list[tuple[str, TimerEventDefinition]]:
    """The timers a task spec waits on, each with the id of the element that shows it.

    A boundary or catch event carries its own timer. An event-based gateway carries the
    timers of the catch events after it (SpiffWorkflow folds them into one
    MultipleEventDefinition, named by the catch events' names).
    """
    event = getattr(task_spec, "event_definition", None)
    if isinstance(event, TimerEventDefinition):
        return [(task_spec.bpmn_id, event)]
    if isinstance(event, MultipleEventDefinition):
        by_name = {o.bpmn_name: o.bpmn_id for o in task_spec.outputs}
        return [
            (by_name.get(child.name, task_spec.bpmn_id), child)
            for child in event.event_definitions
            if isinstance(child, TimerEventDefinition)
        ]
    return []


def properties(task_spec) -> dict[str, str]:
    """The spiffworkflow properties of a task spec (`form`, `group`, ...)."""
    return (getattr(task_spec, "extensions", None) or {}).get("properties", {})
