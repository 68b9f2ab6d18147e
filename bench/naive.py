"""(d) The naive baseline: each command loads and stores the whole workflow, spec included.

One table (`naive_instances`: id, state text) on SQLite in WAL with the same settings as
Deskflow's (`synchronous=FULL`, `BEGIN IMMEDIATE` for writes). The state is the stock
`BpmnWorkflowSerializer(configure(SPIFF_CONFIG)).serialize_json(workflow)`, which embeds
the spec; every load parses it back from the JSON (what storing the spec implies). No
projections, no history, no outbox: the incident facts the handlers need ride along in
the root task's `internal_data`. Forms are still validated, as in Deskflow.

The worker has no timers table: it reads each running instance's JSON and looks for a
due deadline (`naive_reads.timers_due`), and only then runs the fire command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select, update
from sqlalchemy.engine import Connection

from engine import clock
from engine.instances.projection import parse_time
from engine.process.definitions import ProcessDefinition
from engine.process.forms import validate_form
from engine.spiff import ScriptEngine, new_workflow
from engine.store.db import make_engine

from . import naive_reads, spiff
from .lifecycle import Outcome, TaskRef
from .timing import CommandTimer

TABLE = Table(
    "naive_instances",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("state", Text, nullable=False),
)


def stock_serializer() -> BpmnWorkflowSerializer:
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))


class Naive:
    name = "d  naive: whole JSON+spec/command"

    def __init__(self, url: str, definition: ProcessDefinition, timer: CommandTimer) -> None:
        self.engine = make_engine(url)
        TABLE.metadata.create_all(self.engine)
        self.definition = definition
        self.timer = timer
        self.serializer = stock_serializer()
        self.ids: dict[str, int] = {}
        self.running: set[int] = set()

    # --- storage ----------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(deskflow_write=True)  # BEGIN IMMEDIATE, as Deskflow
            with conn.begin():
                yield conn

    def _text(self, number: str) -> str:
        with self.engine.connect() as conn, conn.begin():
            return conn.scalar(select(TABLE.c.state).where(TABLE.c.id == self.ids[number]))

    def _load(self, conn: Connection, instance_id: int):
        text = conn.scalar(select(TABLE.c.state).where(TABLE.c.id == instance_id))
        return self.serializer.deserialize_json(text)  # parses the embedded spec

    def _store(self, conn: Connection, instance_id: int, workflow) -> None:
        conn.execute(
            update(TABLE)
            .where(TABLE.c.id == instance_id)
            .values(state=self.serializer.serialize_json(workflow))
        )

    def _command(self, kind: str, number: str, apply: Callable, run: bool = True) -> None:
        instance_id = self.ids[number]
        with self.timer.command(kind), self._writing() as conn:
            workflow = self._load(conn, instance_id)
            facts = workflow.task_tree.internal_data["facts"]
            context = spiff.context_for(facts)
            workflow.script_engine = ScriptEngine(context)
            spiff.prepare(workflow)
            apply(workflow, facts)
            if run:
                spiff.absorb(facts, workflow, context, self.definition)
            self._store(conn, instance_id, workflow)
        if workflow.is_completed():
            self.running.discard(instance_id)

    def _validate(self, element: str, form: dict[str, Any]) -> dict[str, Any]:
        name = self.definition.elements[element].properties.get("form")
        schema = self.definition.forms.get(name or "")
        return validate_form(name, schema, form) if schema is not None else form

    # --- commands ---------------------------------------------------------------------

    def start(self, report: dict[str, Any], actor: str) -> str:
        with self.timer.command("start_incident"), self._writing() as conn:
            report = validate_form("report", self.definition.forms["report"], report)
            instance_id = conn.execute(insert(TABLE).values(state="")).inserted_primary_key[0]
            number = f"INC{instance_id:07d}"
            facts = spiff.new_facts(report, number)
            context = spiff.context_for(facts)
            workflow = new_workflow(self.definition.spec, self.definition.subprocess_specs, context)
            spiff.begin(workflow, spiff.start_data(report, actor, number, clock.now()))
            spiff.run_until_waiting(workflow)
            spiff.absorb(facts, workflow, context, self.definition)
            workflow.task_tree.internal_data["facts"] = facts
            self._store(conn, instance_id, workflow)
        self.ids[number] = instance_id
        self.running.add(instance_id)
        return number

    def complete(self, number: str, task: TaskRef, form: dict[str, Any], actor: str) -> None:
        form = self._validate(task.element, form)
        self._command(
            "complete_task",
            number,
            lambda wf, facts: spiff.complete(wf, task.id, form, self.definition.forms),
        )

    def message(self, number: str, name: str, payload: dict[str, Any], actor: str) -> None:
        self._command("send_message", number, lambda wf, facts: spiff.deliver(wf, name, payload))

    def sweep(self) -> None:
        now = clock.now()
        for number, instance_id in sorted(self.ids.items()):
            if instance_id not in self.running:
                continue
            with self.timer.section("poll"):
                due = naive_reads.timers_due(json.loads(self._text(number)), now)
            if due:
                self._command("fire_due_timers", number, lambda wf, facts: spiff.fire_timers(wf))

    # --- reads (off the JSON, see naive_reads) ----------------------------------------

    def open_task(self, number: str, element: str) -> TaskRef:
        task_id, data = naive_reads.ready_task(json.loads(self._text(number)), element)
        return TaskRef(UUID(task_id), element, (data.get("assignment") or {}).get("group"))

    def resolution_due(self, number: str) -> datetime:
        data = naive_reads.live_data(json.loads(self._text(number)))
        return parse_time(data["sla"]["resolution_due"])

    def suggestion(self, number: str) -> dict[str, Any]:
        return naive_reads.live_data(json.loads(self._text(number))).get("suggestion") or {}

    def state_size(self, number: str) -> tuple[int, int] | None:
        size = len(self._text(number).encode())
        return size, size

    def outcome(self, number: str) -> Outcome:
        workflow = self.serializer.deserialize_json(self._text(number))
        return spiff.outcome(workflow.task_tree.internal_data["facts"], workflow)

    def stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            sizes = [len(s.encode()) for s in conn.scalars(select(TABLE.c.state))]
        average = sum(sizes) / len(sizes) if sizes else None
        return {
            "end_state_bytes": average,
            "end_json_bytes": average,
            "history_rows_per_incident": None,
        }

    def close(self) -> None:
        self.engine.dispose()
