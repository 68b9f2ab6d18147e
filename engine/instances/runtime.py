"""The commands that change incidents. One command, one transaction (see DESIGN.md):

lock the instance and check its version; restore the workflow (spec from the cache);
apply the command and run engine steps until every path waits (handlers run here); write
back the state, the projections, the outbox and the history; commit. A command that fails
rolls back whole and leaves one `error` history event; the instance stays where it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.desk import assignment, knowledge, knowledge_base
from engine.errors import Conflict, DeskflowError, HandlerFailed, NotFound, ProcessError
from engine.instances import history, notices, projection, writeback
from engine.instances.desk_commands import DeskCommands
from engine.instances.history import Entry
from engine.instances.locks import facts
from engine.instances.steps import run_until_waiting, skip_missed_cycles
from engine.instances.workflow_cache import WorkflowCache
from engine.process import versions
from engine.process.definitions import (
    Bundle,
    ProcessDefinition,
)
from engine.process.forms import validate_form
from engine.process.versions import PROCESS_KEY, Deployed
from engine.spiff import (
    CommandContext,
    ScriptEngine,
    TaskLog,
    load_workflow,
    new_workflow,
)
from engine.store.db import Database
from engine.store.models import (
    Incident,
    Instance,
    Timer,
)

MESSAGES = ("confirm", "reopen", "user_reply", "hold", "resume", "reprioritize")


def recorded_failures(method: Callable) -> Callable:
    """Wrap a command so that a failure leaves its error event after the rollback."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (HandlerFailed, ProcessError) as err:
            failure = getattr(err, "failure", None)
            if failure is not None:
                self._record_failure(failure, err)
            raise

    return wrapper


class Runtime(DeskCommands):
    """Deskflow's command side. Every public method is one transaction."""

    def __init__(self, db: Database, workflows: WorkflowCache | None = None) -> None:
        self.db = db
        self.workflows = workflows if workflows is not None else WorkflowCache()
        self.definitions = versions.Compiled()

    # --- versions ----------------------------------------------------------------------

    def deploy(self, bundle: Bundle, deployed_by: str, comment: str = "") -> Deployed:
        """Validate and store a new version (see `engine.versions.deploy`)."""
        return versions.deploy(self.db, bundle, deployed_by, comment)

    def definition(self, session: Session, definition_id: int) -> ProcessDefinition:
        """The compiled definition of a stored version."""
        return self.definitions.get(session, definition_id)

    # --- commands ----------------------------------------------------------------------

    @recorded_failures
    def start_incident(self, report: dict[str, Any], actor: str, key: str = PROCESS_KEY) -> str:
        """Open an incident from a report (the `report` form); returns its number."""
        with self.db.writing() as session:
            row = versions.latest(session, key)
            definition = self.definition(session, row.id)
            report = validate_form("report", definition.forms["report"], report)
            now = clock.now()
            instance = Instance(definition_id=row.id, state=b"", created_at=now, updated_at=now)
            session.add(instance)
            session.flush()
            incident = Incident(
                instance_id=instance.id,
                caller=report["caller"],
                reported_by=report.get("reported_by") or actor,
                channel=report.get("channel", "portal"),
                short_description=report["short_description"],
                description=report.get("description", ""),
                impact=report["impact"],
                urgency=report["urgency"],
                opened_at=now,
                updated_at=now,
                kind="incident" if report.get("is_broken", True) else "request",
            )
            session.add(incident)
            session.flush()
            incident.number = f"INC{incident.id:07d}"
            data = {
                "reported_by": incident.reported_by,
                "channel": incident.channel,
                "description": incident.description,
                **report,
                "incident_number": incident.number,
                "opened_at": now.isoformat(),
            }
            context = CommandContext(
                incident=facts(incident),
                knowledge=functools.partial(knowledge.load, session),
                articles=functools.partial(knowledge_base.search_for, session),
            )
            workflow = new_workflow(definition.spec, definition.subprocess_specs, context)
            command = Entry(
                "command",
                actor=actor,
                payload={
                    "command": "start_incident",
                    "definition": f"{row.key}:{row.version}",
                    "inputs": data,
                },
            )

            def apply(wf):
                for task in wf.get_tasks(state=TaskState.READY):
                    task.data.update(data)

            self._advance(
                session, instance, incident, definition, workflow, context, command, apply
            )
            return incident.number

    @recorded_failures
    def complete_task(
        self,
        task_id: str,
        form_data: dict[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> None:
        """Complete an open user task with form data checked against the task's form."""
        with self.db.writing() as session:
            instance, incident, human = self._lock_task(session, task_id, expected_version)
            definition = self.definition(session, instance.definition_id)
            schema = definition.forms.get(human.form or "")
            if human.form and schema is not None:
                form_data = validate_form(human.form, schema, form_data)
            command = Entry(
                "command",
                element=human.element,
                actor=actor,
                payload={
                    "command": "complete_task",
                    "task": human.element,
                    "inputs": form_data,
                },
            )
            first_response = incident.responded_at is None and human.lane != "User"

            def apply(wf):
                task = wf.get_task_from_id(UUID(task_id))
                if task is None or not task.has_state(TaskState.READY):  # checked under the lock
                    raise Conflict(f"task {task_id} was completed by someone else just now")
                task.data.update(form_data)
                task.run()

            self._run(session, instance, incident, definition, command, apply)
            if first_response:
                incident.responded_at = clock.now()
                if incident.response_due and incident.responded_at > incident.response_due:
                    incident.response_breached = True

    @recorded_failures
    def send_message(self, number: str, message: str, payload: dict[str, Any], actor: str) -> None:
        """Deliver a message (confirm, reopen, user_reply, hold, resume, reprioritize) to the
        incident's process; a payload is checked against the form named like the message."""
        if message not in MESSAGES:
            raise NotFound(f"unknown message '{message}' (known: {', '.join(MESSAGES)})")
        if not isinstance(payload, dict):
            raise DeskflowError("the message payload must be a JSON object")
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
            definition = self.definition(session, instance.definition_id)
            if message in definition.forms:  # a message may have a form for its payload
                payload = validate_form(message, definition.forms[message], payload)
            command = Entry(
                "command",
                actor=actor,
                payload={
                    "command": "send_message",
                    "message": message,
                    "inputs": payload,
                },
            )

            def apply(wf):
                if not _waits_for(wf, message):
                    raise Conflict(
                        f"{number} is not waiting for '{message}' now (state: {incident.state})"
                    )
                wf.send_event(BpmnEvent(MessageEventDefinition(message), payload=payload))

            self._run(session, instance, incident, definition, command, apply)

    @recorded_failures
    def fire_due_timers(self, instance_id: int, skip_locked: bool = False) -> int:
        """Fire the instance's timers that are due by the clock; returns how many fired.

        With `skip_locked` (the worker), an instance another process holds is skipped
        (PostgreSQL `FOR UPDATE SKIP LOCKED`) rather than waited for.
        """
        now = clock.now()
        try:
            with self.db.writing() as session:
                locked = self._lock(session, instance_id, None, skip_locked=skip_locked)
                if locked is None:
                    return 0
                instance, incident = locked
                due = session.scalars(
                    select(Timer).where(
                        Timer.instance_id == instance_id,
                        Timer.due_at < now,  # SpiffWorkflow fires once the time has passed
                        Timer.failed_at.is_(None),
                    )
                ).all()
                if not due:
                    return 0
                definition = self.definition(session, instance.definition_id)
                command = Entry(
                    "command",
                    actor="worker",
                    payload={
                        "command": "fire_due_timers",
                        "clock": now.isoformat(),
                        "timers": [
                            {"element": t.element, "due_at": t.due_at.isoformat()} for t in due
                        ],
                    },
                )
                self._run(
                    session, instance, incident, definition, command, lambda wf: wf.refresh_timers()
                )
                return len(due)
        except (HandlerFailed, ProcessError):
            with self.db.writing() as session:
                for timer in session.scalars(
                    select(Timer).where(Timer.instance_id == instance_id, Timer.due_at < now)
                ):
                    timer.failed_at = now
            raise

    # --- the machinery -----------------------------------------------------------------

    def _run(
        self,
        session: Session,
        instance: Instance,
        incident: Incident,
        definition: ProcessDefinition,
        command: Entry,
        apply: Callable,
    ) -> None:
        context = CommandContext(
            incident=facts(incident),
            knowledge=functools.partial(knowledge.load, session),
            articles=functools.partial(knowledge_base.search_for, session),
        )
        workflow = self.workflows.take(instance.id, instance.version)
        if workflow is None:
            workflow = load_workflow(
                instance.state, definition.spec, definition.subprocess_specs, context
            )
        else:
            workflow.script_engine = ScriptEngine(context)
        self._advance(session, instance, incident, definition, workflow, context, command, apply)

    def _advance(
        self,
        session,
        instance,
        incident,
        definition,
        workflow,
        context,
        command: Entry,
        apply: Callable,
    ) -> None:
        record_before = facts(incident) | {"reopen_count": incident.reopen_count}
        try:
            after, before = self._step(
                session, instance, incident, definition, workflow, context, command, apply
            )
        except (HandlerFailed, ProcessError) as err:
            err.failure = (instance.id, incident.id, command)
            raise
        new_tasks = [t for t in after.tasks if t.id not in before.task_ids]
        escalations = assignment.assign_escalated(session, incident, new_tasks)
        history.append(session, instance, clock.now(), escalations)
        if instance.status == "completed":
            knowledge.learn_from(session, incident)
        record_after = facts(incident) | {"reopen_count": incident.reopen_count}
        opened = (command.payload or {}).get("command") == "start_incident"
        changed = notices.changes(record_before, record_after, opened, bool(escalations))
        notices.send(session, incident.id, record_after, changed, clock.now())
        if instance.status == "running":
            keep = functools.partial(self.workflows.keep, instance.id, instance.version, workflow)
            session.info.setdefault("after_commit", []).append(keep)

    def _step(self, session, instance, incident, definition, workflow, context, command, apply):
        """Apply the command, run the engine until every path waits, write the result
        back; returns what the instance waits on (after, before)."""
        log = TaskLog(set(definition.elements), projection.live_task_ids(workflow))
        before = projection.waiting_on(
            workflow, definition, incident.caller, incident.assignment_group
        )
        context.incident["open_tasks"] = [
            {"element": t.element, "lane": t.lane} for t in before.tasks
        ]
        try:
            with log:
                skip_missed_cycles(workflow, clock.now())
                apply(workflow)
                run_until_waiting(workflow)
        except SpiffWorkflowException as err:
            raise ProcessError(_element_of(err), _spiff_message(err)) from err
        writeback.write_back(
            session,
            instance,
            incident,
            definition,
            workflow,
            before,
            context.calls,
            [command, *history.entries_for(log.changes, context.calls, definition)],
        )
        after = projection.waiting_on(
            workflow, definition, incident.caller, incident.assignment_group
        )
        return after, before

    def _record_failure(self, failure: tuple[int, int, Entry], err: Exception) -> None:
        """After the failed command rolled back: one error event, the reason on the incident."""
        instance_id, incident_id, command = failure
        with self.db.writing() as session:
            instance = session.scalars(
                select(Instance).where(Instance.id == instance_id).with_for_update()
            ).first()
            if instance is None:
                return  # the failing command was the one creating the incident
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "error",
                        element=getattr(err, "element", None),
                        actor=command.actor,
                        payload={"command": command.payload, "error": str(err)},
                    )
                ],
            )
            incident = session.get(Incident, incident_id)
            if incident is not None:
                incident.last_error = str(err)


def _waits_for(workflow, message: str) -> bool:
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
        for start in workflow.subprocess_specs[name].bpmn_start_events:
            if getattr(start.event_definition, "name", None) == message:
                return True
    return False


def _element_of(err: Exception) -> str | None:
    task = getattr(err, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None) if task else None


def _spiff_message(err: SpiffWorkflowException) -> str:
    notes = getattr(err, "__notes__", None) or []
    return "; ".join([str(err), *notes])
