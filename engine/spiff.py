"""Every way Deskflow extends SpiffWorkflow, in one place; `install()` applies the two
process-wide patches.

Extension points the library offers (subclasses, used where workflows are made):

- `Parser` (`SpiffBpmnParser`): tasks inside an embedded subprocess take their lane from
  the subprocess's own laneSet; `prewire_event_subprocesses` wires event subprocesses at
  compile time, so the spec every instance shares never changes.
- `ScriptEngine` (`PythonScriptEngine`) with `_Environment`: expressions are checked,
  compiled once and bounded by `engine.process.expressions`; scripts never run; service
  tasks call the handler registry, and every call is recorded (`CommandContext.calls`).
- `_SpecFreeWorkflowConverter` and `_TaskConverter` (the serializer's converters):
  instance JSON without the spec, deflated (`dump_workflow`, `load_workflow`), finished
  tasks converted once.

Patches (the library has no hook for these), applied by `install()`:

- the timer module's `datetime` (`SpiffWorkflow.bpmn.specs.event_definitions.timer`)
  becomes `_ClockDatetime`, whose `now()` reads `engine.clock`, so timers follow the
  injected clock (SPIFF_NOTES "Timers");
- `Task._set_state` also tells the active `TaskLog` about every real state change, for
  the history (the library's `spiff.task` logger costs a tenth of each command).

`install()` is idempotent and cheap; `new_workflow` and `load_workflow` call it, and so
does everything else that builds a workflow (the replayer), so the patches are in effect
whenever a workflow runs — in the web app, the worker, the CLI, replay, tests and bench —
and importing this module changes nothing.
"""

from __future__ import annotations

import contextvars
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnWorkflowConverter,
    TaskConverter,
    WorkflowConverter,
)
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, WorkflowException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

import handlers
from engine import clock
from engine.errors import HandlerFailed
from engine.process import expressions, whitelist

# --- time -----------------------------------------------------------------------------


class _ClockDatetime(datetime):
    """`datetime` whose `now()` asks Deskflow's clock (SpiffWorkflow has no clock hook)."""

    @classmethod
    def now(cls, tz=None):  # noqa: D102 - same contract as datetime.now
        moment = clock.now()
        return moment.astimezone(tz) if tz is not None else moment.replace(tzinfo=None)


# --- parsing ----------------------------------------------------------------------------


class Parser(SpiffBpmnParser):
    """Tasks inside an embedded subprocess take their lane from the subprocess's laneSet.

    The stock parser gives every inner task the lane of the subprocess itself, so a
    subprocess spanning Service Desk and Specialist Support could not say which inner
    task belongs to which queue.
    """

    def create_parser(self, node, filename=None, lane=None):
        return super().create_parser(node, filename=filename, lane=None)


def prewire_event_subprocesses(spec) -> None:
    """Connect event subprocesses to their process's start and end once, at compile time.

    SpiffWorkflow connects them the first time one is triggered, which changes the spec
    that every instance shares: later instances then wait for the event subprocess and
    never complete. Wiring the inputs (not the start's outputs) up front keeps the spec
    the same for every instance.
    """
    start = spec.start
    for name in start.trigger_specs:
        task_spec = spec.task_specs[name]
        if start.name not in task_spec._inputs:  # `inputs` is a computed copy
            task_spec._inputs.append(start.name)
            task_spec.connect(spec.end)


# --- expressions and service tasks ----------------------------------------------------


@dataclass
class HandlerCall:
    """One service task's call to a handler, as the history records it."""

    element: str
    operator: str
    params: dict[str, Any]
    result: Any

    def notifications(self) -> list[dict[str, str]]:
        """The messages the handler asked to send (see docs/diagram-contract.md)."""
        return self.result.get("notifications", []) if isinstance(self.result, dict) else []


@dataclass
class CommandContext:
    """What the script engine needs to know about the command it serves."""

    incident: dict[str, Any] = field(default_factory=dict)
    calls: list[HandlerCall] = field(default_factory=list)
    knowledge: Callable[[], Any] | None = None  # learned categorization, read on demand
    articles: Callable[[dict[str, Any]], Any] | None = None  # knowledge-base search


class ExpressionFailed(WorkflowException):
    """An expression refused or stopped by `engine.process.expressions` (a SpiffWorkflow error, so
    the runtime turns it into a ProcessError even when the library evaluates it directly)."""

    def __str__(self) -> str:
        return "; ".join([str(self.args[0]), *self.notes])


class ExpressionTaskFailed(WorkflowTaskException):
    """The same, raised with the task whose expression it was (names the element)."""

    def __str__(self) -> str:
        return "; ".join([str(self.args[0]), *self.notes])


NO_SCRIPTS = (
    "scripts are not allowed: deployed diagrams may not run scripts — use a service task "
    "with a handler instead"
)


class _Environment(TaskDataEnvironment):
    """Task data as variables, evaluated by `engine.process.expressions`: checked and compiled once
    per expression, only whitelisted functions, bounded operations. Scripts never run."""

    def __init__(self) -> None:
        super().__init__({"__builtins__": whitelist.BUILTINS})

    def evaluate(self, expression, context, external_context=None):
        if external_context:
            context = {**external_context, **context}
        try:
            return eval(expressions.compiled(expression), whitelist.GLOBALS, context)
        except whitelist.ExpressionError as err:
            err.expression = expression
            raise ExpressionFailed(str(err)) from err

    def execute(self, script, context, external_context=None):
        raise ExpressionFailed(NO_SCRIPTS)


class ScriptEngine(PythonScriptEngine):
    """Evaluates expressions through `engine.process.expressions`; refuses scripts; service tasks
    call handlers."""

    def __init__(self, context: CommandContext) -> None:
        super().__init__(_Environment())
        self.context = context

    def evaluate(self, task, expression, external_context=None):
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except ExpressionFailed as err:  # refused or stopped: say why, at which element
            raise ExpressionTaskFailed(str(err), task=task, exception=err) from err
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            raise WorkflowTaskException(
                f"Error evaluating expression '{expression}'", task=task, exception=err
            ) from err

    def execute(self, task, script, external_context=None):
        raise ExpressionTaskFailed(NO_SCRIPTS, task=task)

    def call_service(self, task, operation_name, operation_params, **_kwargs):
        params = {name: spec["value"] for name, spec in operation_params.items()}
        element = task.task_spec.bpmn_id or task.task_spec.name
        _fill_in_facts(self.context.incident, task.data)
        try:
            result = handlers.registry.call(
                operation_name,
                params,
                self.context.incident,
                self.context.knowledge,
                self.context.articles,
            )
            encoded = json.dumps(result)
        except Exception as err:  # any handler failure stops the command, see runtime
            raise HandlerFailed(element, operation_name, f"{type(err).__name__}: {err}") from err
        self.context.calls.append(HandlerCall(element, operation_name, params, result))
        return encoded


def _fill_in_facts(incident: dict[str, Any], data: dict[str, Any]) -> None:
    """Complete the incident record of the command's start with what this command decided
    so far (a priority set by the DMN a moment ago, a category, a group)."""
    for name in ("priority", "category"):
        if incident.get(name) is None and data.get(name) is not None:
            incident[name] = data[name]
    assignment = data.get("assignment")
    if not incident.get("group") and isinstance(assignment, dict) and assignment.get("group"):
        incident["group"] = assignment["group"]


# --- serialization without the spec ---------------------------------------------------


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """Stores the task tree and data only; the spec is supplied on restore."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)  # skips converting the specs
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def restore(self, dct: dict, spec, subprocess_specs) -> BpmnWorkflow:
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _TaskConverter(TaskConverter):
    """Reuses the dict of a finished task for as long as the task stays as it was.

    A completed or cancelled task does not change (same state, same state-change time,
    same children), and most of an instance's tasks are finished: with the workflow
    cache, each dump converts only the tasks that moved.
    """

    FINISHED = TaskState.COMPLETED | TaskState.CANCELLED

    def to_dict(self, task):
        if not task._state & self.FINISHED:
            return super().to_dict(task)
        key = (task._state, task.last_state_change, tuple(task._children))
        cached = task.__dict__.get("_deskflow_dict")
        if cached is not None and cached[0] == key:
            return cached[1]
        dct = super().to_dict(task)
        task._deskflow_dict = (key, dct)
        return dct


REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)  # the converters, ours included
_TaskConverter(Task, REGISTRY)
_converter = _SpecFreeWorkflowConverter(BpmnWorkflow, REGISTRY)
_serializer = BpmnWorkflowSerializer(REGISTRY)


def dump_workflow(workflow: BpmnWorkflow) -> bytes:
    """The instance state: JSON without the spec, deflated (level 1: ~6x smaller, ~0.1 ms)."""
    return zlib.compress(_serializer.serialize_json(workflow).encode(), 1)


def state_json(state: bytes) -> dict:
    """The stored instance state as a dict, for inspection."""
    return json.loads(zlib.decompress(state))


def load_workflow(state: bytes, spec, subprocess_specs, context: CommandContext) -> BpmnWorkflow:
    """Rebuild a workflow from `dump_workflow` output and its definition's specs."""
    install()
    dct = state_json(state)
    version = dct.pop(BpmnWorkflowSerializer.VERSION_KEY, None)
    if version in MIGRATIONS:
        MIGRATIONS[version](dct)
    workflow = _converter.restore(dct, spec, subprocess_specs)
    workflow.script_engine = ScriptEngine(context)
    return workflow


def new_workflow(spec, subprocess_specs, context: CommandContext) -> BpmnWorkflow:
    """A new workflow of the definition's specs, its script engine serving `context`."""
    install()
    return BpmnWorkflow(spec, subprocess_specs, script_engine=ScriptEngine(context))


# --- the state changes of BPMN elements -----------------------------------------------


@dataclass(frozen=True)
class StateChange:
    task_id: str
    element: str
    state: str


_current_log: contextvars.ContextVar[TaskLog | None] = contextvars.ContextVar(
    "deskflow_task_log", default=None
)


class TaskLog:
    """Collects the state changes of BPMN elements during one command.

    Use as a context manager around the engine calls of one command. Predictions
    (FUTURE, LIKELY, MAYBE) are not recorded; CANCELLED only for a task that had been
    live (READY, WAITING, STARTED), so branches never taken stay out of the history.
    """

    RECORDED = {"READY", "WAITING", "STARTED", "COMPLETED", "ERROR", "CANCELLED"}
    LIVE = {"READY", "WAITING", "STARTED"}

    def __init__(self, elements: set[str], live_task_ids: set[str]) -> None:
        self.elements = elements
        self.live = set(live_task_ids)
        self.changes: list[StateChange] = []

    def __enter__(self) -> TaskLog:
        self._token = _current_log.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _current_log.reset(self._token)

    def add(self, task_id: str, element: str, state: str) -> None:
        if element not in self.elements or state not in self.RECORDED:
            return
        if state == "CANCELLED" and task_id not in self.live:
            return
        if state in self.LIVE:
            self.live.add(task_id)
        self.changes.append(StateChange(task_id, element, state))


_set_state = Task._set_state


def _set_state_and_log(self: Task, value: int) -> None:
    """SpiffWorkflow's `Task._set_state`, telling the active TaskLog about real changes.

    The library's own hook is the `spiff.task` logger, but it builds a log record for
    every change, predictions included, which cost about a tenth of each command.
    """
    changed = value != self._state
    _set_state(self, value)
    if changed:
        log = _current_log.get()
        if log is not None:
            log.add(str(self.id), self.task_spec.name, TaskState.get_name(value))


# --- installing the patches -------------------------------------------------------------

_installed = False


def install() -> None:
    """Route SpiffWorkflow's timer clock through `engine.clock` and its task state changes
    through `TaskLog`, process-wide; once (later calls return at once)."""
    global _installed
    if _installed:
        return
    spiff_timer.datetime = _ClockDatetime
    Task._set_state = _set_state_and_log
    _installed = True
