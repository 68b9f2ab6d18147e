"""(a) The ceiling: raw SpiffWorkflow in memory, same diagram, same handlers, no database.

The definition is parsed once; every incident's `BpmnWorkflow` stays in a dict. A command
is only its engine part: put the data in, run the task or deliver the event, run engine
steps until every path waits. A "sweep" fires the timers of running workflows that are
due by the clock. A finished workflow is dropped (its outcome kept for the checks), so
the heap does not grow with the run. Before each command, missed cycle-timer occurrences
are collapsed as the runtime does (`engine.spiff.skip_missed_cycles`), so every variant
runs the same handler calls. Nothing is stored: there is no instance size to report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from engine import clock
from engine.instances import projection
from engine.process.definitions import ProcessDefinition
from engine.spiff import new_workflow

from . import spiff
from .lifecycle import Outcome, TaskRef
from .timing import CommandTimer


class InMemory:
    name = "a  SpiffWorkflow in memory"

    def __init__(self, definition: ProcessDefinition, timer: CommandTimer) -> None:
        self.definition = definition
        self.timer = timer
        self.workflows: dict[str, Any] = {}
        self.facts: dict[str, dict[str, Any]] = {}
        self.running: set[str] = set()
        self.ended: dict[str, Outcome] = {}  # finished workflows are dropped, as a store would

    def _command(self, kind: str, number: str, apply) -> None:
        with self.timer.command(kind):
            workflow, facts = self.workflows[number], self.facts[number]
            context = spiff.context_for(facts)
            workflow.script_engine.context = context  # a fresh context per command
            spiff.prepare(workflow)
            apply(workflow)
            spiff.absorb(facts, workflow, context, self.definition)
        if workflow.is_completed():
            self.running.discard(number)
            self.ended[number] = spiff.outcome(facts, workflow)
            del self.workflows[number]

    # --- commands ---------------------------------------------------------------------

    def start(self, report: dict[str, Any], actor: str) -> str:
        with self.timer.command("start_incident"):
            number = f"INC{len(self.facts) + 1:07d}"  # facts outlive the workflows
            facts = spiff.new_facts(report, number)
            context = spiff.context_for(facts)
            workflow = new_workflow(self.definition.spec, self.definition.subprocess_specs, context)
            spiff.begin(workflow, spiff.start_data(report, actor, number, clock.now()))
            spiff.run_until_waiting(workflow)
            spiff.absorb(facts, workflow, context, self.definition)
            self.workflows[number], self.facts[number] = workflow, facts
        self.running.add(number)
        return number

    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None:
        self._command(
            "complete_task",
            number,
            lambda wf: spiff.complete(wf, task.id, form, self.definition.forms),
        )

    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None:
        self._command("send_message", number, lambda wf: spiff.deliver(wf, name, payload))

    def sweep(self) -> None:
        now = clock.now()
        for number in sorted(self.running):
            with self.timer.section("poll"):
                due = spiff.timers_due(self.workflows[number], now)
            if due:
                self._command("fire_due_timers", number, spiff.fire_timers)

    # --- reads ------------------------------------------------------------------------

    def open_task(self, number: str, element: str) -> TaskRef:
        workflow, caller = self.workflows[number], self.facts[number]["caller"]
        for task in projection.open_tasks(workflow, self.definition, caller):
            if task.element == element:
                return TaskRef(UUID(task.id), element, task.group)
        raise RuntimeError(f"{number}: expected an open task '{element}'")

    def _data(self, number: str) -> dict[str, Any]:
        return projection.current_data(self.workflows[number])

    def resolution_due(self, number: str) -> datetime:
        return projection.parse_time(self._data(number)["sla"]["resolution_due"])

    def suggestion(self, number: str) -> dict[str, Any]:
        return self._data(number).get("suggestion") or {}

    def state_size(self, number: str) -> tuple[int, int] | None:
        return None

    def outcome(self, number: str) -> Outcome:
        if number in self.ended:
            return self.ended[number]
        return spiff.outcome(self.facts[number], self.workflows[number])

    def stats(self) -> dict[str, Any]:
        return {"end_state_bytes": None, "end_json_bytes": None, "history_rows_per_incident": None}
