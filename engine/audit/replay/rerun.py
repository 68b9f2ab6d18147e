"""Re-run one incident in memory from its recorded inputs; nothing is written anywhere.

The workflow is built from a compiled definition (`new_workflow`'s way, with a script
engine that serves handler calls) and fed the recorded process commands in order, each at
its recorded clock time:

- `start_incident`: the recorded start data on the READY start task(s);
- `complete_task`: the recorded form on the READY user task of that element (task ids
  are random, so the task is found by its BPMN id), then `task.run()`;
- `send_message`: the message with its recorded payload, if the process waits for it;
- `fire_due_timers`: `refresh_timers()` with the clock at the recorded firing time.

Each is followed by engine steps until every path waits, as `Runtime._step` does
(`skip_missed_cycles` first). Handlers run for real, except the ones that read what the
desk learned or stored (`knowledge`, `articles` parameters: the category suggestion, the
knowledge-base search): those return the result recorded for the same element, in order.

The incident record the handlers are given (`CommandContext.incident`) is kept as the
runtime keeps it (`Shadow`): fields from the process data and the handlers' incident
updates after each command, the group of new open tasks, claims and escalations from
the recorded events between commands.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import clock
from engine import spiff as bpmn
from engine.audit.replay.fastwalk import ReplayWorkflow, fast, plain
from engine.audit.replay.recorded import Event, Step
from engine.instances import history, projection, record, steps
from engine.instances.history import Entry
from engine.process.definitions import ProcessDefinition
from engine.spiff import CommandContext, HandlerCall, ScriptEngine, _fill_in_facts
from handlers import registry

# --- time -------------------------------------------------------------------------------

_local = threading.local()
_clock_lock = threading.Lock()
_clock_users = 0


class _ReplayClock(clock.WallClock):
    """The installed clock for every thread, except that a replaying thread reads the
    recorded time it set: a replay in the web app does not move anyone else's clock."""

    def __init__(self, inner: clock.WallClock | clock.FrozenClock) -> None:
        self.inner = inner

    def now(self) -> datetime:
        moment = getattr(_local, "now", None)
        return moment if moment is not None else self.inner.now()


@contextlib.contextmanager
def replay_clock() -> Iterator[None]:
    """While inside, `set_now` moves this thread's clock (and only this thread's)."""
    global _clock_users
    with _clock_lock:
        if _clock_users == 0 and not isinstance(clock.current(), _ReplayClock):
            clock.install(_ReplayClock(clock.current()))
        _clock_users += 1
    try:
        yield
    finally:
        _local.now = None
        with _clock_lock:
            _clock_users -= 1
            current = clock.current()
            if _clock_users == 0 and isinstance(current, _ReplayClock):
                clock.install(current.inner)


def set_now(moment: datetime) -> None:
    _local.now = moment


# --- a command-line run ----------------------------------------------------------------


def _quiet_set_state(task, value: int) -> None:
    """SpiffWorkflow's `Task._set_state` without its log record per state change (which
    costs about a tenth of a replay); `engine.spiff` still hears of every change."""
    if value != task._state:
        task.last_state_change = time.time()
        task._state = value


@contextlib.contextmanager
def batch_mode() -> Iterator[None]:
    """Process-wide tuning for a command-line replay, undone after: the garbage collector
    runs between batches only, SpiffWorkflow logs no state changes. Never in the web app,
    where other threads run commands meanwhile."""
    enabled = gc.isenabled()
    inner = bpmn._set_state
    gc.disable()
    bpmn._set_state = _quiet_set_state
    try:
        yield
    finally:
        bpmn._set_state = inner
        if enabled:
            gc.enable()


# --- handlers ---------------------------------------------------------------------------

READS_STORED_STATE = (registry.KNOWLEDGE_PARAMETER, registry.ARTICLES_PARAMETER)


def reuses_recorded_result(operator: str | None) -> bool:
    """Whether a replay takes `operator`'s recorded result instead of running it: the
    handlers that read what the desk learned or stored, which has changed since."""
    func = registry.OPERATORS.get(operator or "")
    return func is not None and _reads_stored_state(func)


@functools.lru_cache(maxsize=256)
def _reads_stored_state(func) -> bool:
    """Judged once per function (not per name: a handler registered anew is judged anew)."""
    return any(name in inspect.signature(func).parameters for name in READS_STORED_STATE)


class RecordedResults:
    """The recorded results of the handlers a replay does not run, taken in order: by
    element first, else (another version calls it elsewhere) by operator."""

    def __init__(self, events: list[Event]) -> None:
        self._calls = [
            [event.element, event.payload.get("operator"), event.payload.get("result")]
            for event in events
            if event.kind == "handler" and reuses_recorded_result(event.payload.get("operator"))
        ]

    def take(self, element: str, operator: str) -> tuple[bool, Any]:
        for match_element in (True, False):
            for call in self._calls:
                if call[1] == operator and (call[0] == element or not match_element):
                    self._calls.remove(call)
                    return True, call[2]
        return False, None


class ServedEngine(ScriptEngine):
    """`engine.spiff.ScriptEngine` whose handlers that read stored state answer with their
    recorded results; the others run."""

    def __init__(self, context: CommandContext, results: RecordedResults) -> None:
        super().__init__(context)
        self.results = results

    def call_service(self, task, operation_name, operation_params, **kwargs):
        if not reuses_recorded_result(operation_name):
            return super().call_service(task, operation_name, operation_params, **kwargs)
        element = task.task_spec.bpmn_id or task.task_spec.name
        found, result = self.results.take(element, operation_name)
        if not found:  # not recorded: run it without what the desk learned or stored
            return super().call_service(task, operation_name, operation_params, **kwargs)
        params = {name: spec["value"] for name, spec in operation_params.items()}
        _fill_in_facts(self.context.incident, task.data)
        self.context.calls.append(HandlerCall(element, operation_name, params, result))
        return json.dumps(result)


# --- the incident record ----------------------------------------------------------------


class Shadow:
    """The incident row as the runtime keeps it, without a database."""

    def __init__(self, inputs: dict[str, Any], at: datetime) -> None:
        self.fields: dict[str, Any] = {
            "number": inputs.get("incident_number"),
            "caller": inputs.get("caller"),
            "short_description": inputs.get("short_description"),
            "kind": "incident" if inputs.get("is_broken", True) else "request",
            "impact": inputs.get("impact"),
            "urgency": inputs.get("urgency"),
            "state": "New",
            "category": None,
            "subcategories": [],
            "priority": None,
            "major_incident": False,
            "assignment_group": None,
            "assignee": None,
            "responded_at": None,
            "response_due": None,
            "resolution_due": None,
            "resolved_at": None,
            "closed_at": None,
            "response_breached": False,
            "resolution_breached": False,
            "sla_warned": False,
            "reopen_count": 0,
            "reassignment_count": 0,
            "resolution_code": None,
            "resolution_notes": None,
            "close_reason": None,
        }

    def facts(self) -> dict[str, Any]:
        """What handlers see (`engine.instances.locks.facts`)."""
        f = self.fields
        return {
            "number": f["number"],
            "caller": f["caller"],
            "short_description": f["short_description"],
            "priority": f["priority"],
            "category": f["category"],
            "state": f["state"],
            "group": f["assignment_group"],
            "assignee": f["assignee"],
            "sla_warned": f["sla_warned"],
            "resolution_breached": f["resolution_breached"],
        }


class CannotFeed(Exception):
    """A recorded input the re-run cannot give: its task is not open, the process does not
    wait for its message."""

    def __init__(self, element: str | None, expected: str, actual: str) -> None:
        super().__init__(f"{expected}: {actual}")
        self.element = element
        self.expected = expected
        self.actual = actual


class Rerun:
    """One incident's workflow, re-run command by command in memory."""

    def __init__(self, definition: ProcessDefinition, results: RecordedResults) -> None:
        self.definition = definition
        self.results = results
        self._elements = set(definition.elements)
        self.workflow: BpmnWorkflow | None = None
        self.shadow: Shadow | None = None
        self.open: tuple[projection.OpenTask, ...] = ()

    # --- the commands --------------------------------------------------------------------

    def feed(self, step: Step) -> list[Entry]:
        """Re-run one recorded process command; the history entries it would write.

        Raises CannotFeed for an input the workflow cannot take, or whatever the engine
        raised."""
        payload = step.command.payload
        name = payload["command"]
        moment = step.command.at
        if name == "fire_due_timers" and payload.get("clock"):
            moment = datetime.fromisoformat(payload["clock"])
        set_now(moment)
        inputs = payload.get("inputs") or {}
        if name == "start_incident":
            return self._start(inputs, moment)
        if self.workflow is None or self.shadow is None:
            raise CannotFeed(None, f"{name} before start_incident", "no workflow yet")
        workflow = self.workflow
        lane = None
        if name == "complete_task":
            element = payload.get("task") or step.command.element or ""
            task = self._ready_user_task(element)
            lane = self.definition.elements[element].lane
            apply = steps.complete(task, inputs)
        elif name == "send_message":
            message = payload.get("message", "")
            if not steps.waits_for(workflow, message):
                raise CannotFeed(
                    None, f"deliver message '{message}'", f"not waiting for it ({self._where()})"
                )
            apply = steps.deliver(message, inputs)
        else:
            apply = steps.fire_timers
        responded = self.shadow.fields["responded_at"]
        entries = self._step(workflow, apply)
        if lane is not None:
            self.shadow.fields.update(
                record.first_response(responded, lane, moment, self.shadow.fields["response_due"])
            )
        return entries

    def _start(self, inputs: dict[str, Any], moment: datetime) -> list[Entry]:
        self.shadow = Shadow(inputs, moment)
        context = CommandContext(incident=self.shadow.facts())
        engine = ServedEngine(context, self.results)
        self.workflow = ReplayWorkflow(
            self.definition.spec, self.definition.subprocess_specs, script_engine=engine
        )

        self.open = tuple(self._open_tasks(self.workflow))
        return self._step(self.workflow, steps.start(inputs))

    def _step(self, workflow: BpmnWorkflow, apply: steps.Apply) -> list[Entry]:
        assert self.shadow is not None
        context = CommandContext(incident=self.shadow.facts())
        engine = workflow.script_engine
        assert isinstance(engine, ServedEngine)
        engine.context = context
        changes = steps.advance(workflow, self._elements, context, self.open, apply)
        self._write_back(workflow, context.calls)
        return history.entries_for(changes, context.calls, self.definition)

    # --- what the runtime writes back ----------------------------------------------------

    def _write_back(self, workflow: BpmnWorkflow, calls: list[HandlerCall]) -> None:
        """What the live write-back does to the incident row (`engine.instances.record`)."""
        assert self.shadow is not None
        before = {t.id for t in self.open}
        derived = record.derive(self.shadow.fields, workflow, self.definition, calls, before)
        self.shadow.fields.update(derived.changes)
        self.open = derived.waiting.tasks

    def _open_tasks(self, workflow: BpmnWorkflow) -> list[projection.OpenTask]:
        assert self.shadow is not None
        fields = self.shadow.fields
        return projection.open_tasks(
            workflow, self.definition, fields["caller"], fields["assignment_group"]
        )

    # --- what happened between the commands ----------------------------------------------

    def note(self, event: Event) -> None:
        """A recorded event that is not a process command: claims and escalations change
        the incident record (who holds it) the next handlers see."""
        if self.shadow is None:
            return
        fields = self.shadow.fields
        payload = event.payload
        if event.command == "claim_task":
            element = self.definition.elements.get(event.element or "")
            if element is None or element.lane != projection.USER_LANE:
                fields["assignee"] = payload.get("assignee")
        elif event.kind == "escalation":
            kind = payload.get("kind")
            if kind == "functional" and payload.get("assignee"):
                fields["assignee"] = payload["assignee"]
            elif (
                kind == "automated"
                and payload.get("action") == "reassign"
                and not str(payload.get("reason", "")).startswith("skipped")
            ):
                fields["assignee"] = payload.get("target")

    def migrate(self, target: ProcessDefinition) -> None:
        """A recorded migration: the workflow moves to `target` as `engine.migration` moved it."""
        from types import SimpleNamespace

        from engine.instances.migration import _move, diff_workflow

        assert self.workflow is not None and self.shadow is not None
        plain(self.workflow)  # the serializer knows the library's classes only
        top, subs = diff_workflow(self.workflow, target.spec, target.subprocess_specs)
        context = CommandContext(incident=self.shadow.facts())
        pair: Any = SimpleNamespace(target=target)  # what `_move` reads of a pair
        moved, _state = _move(self.workflow, top, subs, pair, context)
        fast(moved)
        moved.script_engine = ServedEngine(context, self.results)
        self.workflow = moved
        self.definition = target
        self._elements = set(target.elements)
        self.shadow.fields["state"] = projection.incident_state(moved, target)
        self.open = tuple(self._open_tasks(moved))

    def dispose(self) -> None:
        """Break the workflow's reference cycles (tasks <-> workflow), so that it is freed
        at once rather than by the garbage collector (a batch run pauses it)."""
        workflow, self.workflow = self.workflow, None
        if workflow is None:
            return
        for sub in workflow.subprocesses.values():
            sub.tasks.clear()
            sub.task_tree = None
        workflow.subprocesses.clear()
        workflow.tasks.clear()
        workflow.task_tree = None
        workflow.last_task = None

    # --- helpers -------------------------------------------------------------------------

    def _ready_user_task(self, element: str):
        assert self.workflow is not None
        for task in projection.all_tasks(self.workflow):
            if (
                task.state == TaskState.READY
                and task.task_spec.manual
                and task.task_spec.bpmn_id == element
            ):
                return task
        known = element in self.definition.elements
        raise CannotFeed(
            element,
            f"complete '{element}'",
            f"not open ({self._where()})" if known else "this version has no such task",
        )

    def _where(self) -> str:
        waiting = [t.element for t in self.open]
        return f"open: {', '.join(waiting)}" if waiting else "no task open"
