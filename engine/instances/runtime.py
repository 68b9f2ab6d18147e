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

from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from engine import clock
from engine.desk import assignment, knowledge, knowledge_base
from engine.errors import (
    Conflict,
    DeskflowError,
    HandlerFailed,
    InstanceFailed,
    NotFound,
    ProcessError,
)
from engine.instances import (
    history,
    notices,
    projection,
    record,
    steps,
    submissions,
    writeback,
)
from engine.instances.desk_commands import DeskCommands
from engine.instances.history import Entry
from engine.instances.locks import facts
from engine.instances.workflow_cache import WorkflowCache
from engine.process import versions
from engine.process.definitions import (
    Bundle,
    ProcessDefinition,
)
from engine.process.forms import validate_form
from engine.process.versions import PROCESS_KEY, Deployed
from engine.spiff import CommandContext, ScriptEngine, load_workflow, new_workflow
from engine.store.db import Database
from engine.store.models import (
    Incident,
    Instance,
    Timer,
)

MESSAGES = ("confirm", "reopen", "user_reply", "hold", "resume", "reprioritize")


class Runtime(DeskCommands):
    """Deskflow's command side. Every public method is one transaction."""

    def __init__(self, db: Database, workflows: WorkflowCache | None = None) -> None:
        self.db = db
        self.workflows = workflows if workflows is not None else WorkflowCache()
        self.definitions = versions.Compiled()

    # --- versions ----------------------------------------------------------------------

    def deploy(self, bundle: Bundle, deployed_by: str, comment: str = "") -> Deployed:
        """Validate and store a new version (see `engine.process.versions.deploy`)."""
        return versions.deploy(self.db, bundle, deployed_by, comment)

    def definition(self, session: Session, definition_id: int) -> ProcessDefinition:
        """The compiled definition of a stored version."""
        return self.definitions.get(session, definition_id)

    # --- commands ----------------------------------------------------------------------

    def start_incident(
        self,
        report: dict[str, Any],
        actor: str,
        key: str = PROCESS_KEY,
        submission: str | None = None,
    ) -> str:
        """Open an incident from a report (the `report` form); returns its number. With a
        `submission` key (a form's, or an API call's Idempotency-Key), the same key sent
        again by the same person returns the incident the first one opened
        (`engine.instances.submissions`)."""
        claimed = submissions.scoped(actor, submission) if submission else None
        if claimed and (number := submissions.opened_by(self.db, claimed)):
            return number
        try:
            return self._start_incident(report, actor, key, claimed)
        except IntegrityError:
            if claimed and (number := submissions.opened_by(self.db, claimed)):
                return number  # the same form, sent at the same moment, opened it
            raise

    def _start_incident(
        self, report: dict[str, Any], actor: str, key: str, claimed: str | None
    ) -> str:
        with self._command() as session:
            if claimed:
                submissions.claim(session, claimed, clock.now())
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

            self._advance(
                session,
                instance,
                incident,
                definition,
                workflow,
                context,
                command,
                steps.start(data),
            )
            if claimed:
                submissions.fulfil(session, claimed, incident.number)
            return incident.number

    def complete_task(
        self,
        task_id: str,
        form_data: dict[str, Any],
        actor: str,
        expected_version: int | None = None,
    ) -> None:
        """Complete an open user task with form data checked against the task's form."""
        with self._command() as session:
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
            responded_at = incident.responded_at

            def apply(wf):
                task = wf.get_task_from_id(UUID(task_id))
                if task is None or not task.has_state(TaskState.READY):  # checked under the lock
                    raise Conflict(f"task {task_id} was completed by someone else just now")
                steps.complete(task, form_data)(wf)

            self._run(session, instance, incident, definition, command, apply)
            first = record.first_response(
                responded_at, human.lane, clock.now(), incident.response_due
            )
            for name, value in first.items():
                setattr(incident, name, value)

    def send_message(self, number: str, message: str, payload: dict[str, Any], actor: str) -> None:
        """Deliver a message (confirm, reopen, user_reply, hold, resume, reprioritize) to the
        incident's process; a payload is checked against the form named like the message."""
        if message not in MESSAGES:
            raise NotFound(f"unknown message '{message}' (known: {', '.join(MESSAGES)})")
        if not isinstance(payload, dict):
            raise DeskflowError("the message payload must be a JSON object")
        with self._command() as session:
            instance, incident = self._lock_incident(session, number)
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
                if not steps.waits_for(wf, message):
                    raise Conflict(
                        f"{number} is not waiting for '{message}' now (state: {incident.state})"
                    )
                steps.deliver(message, payload)(wf)

            self._run(session, instance, incident, definition, command, apply)

    def fire_due_timers(self, instance_id: int, skip_locked: bool = False) -> int:
        """Fire the instance's timers that are due by the clock; returns how many fired.

        With `skip_locked` (the worker), an instance another process holds is skipped
        (PostgreSQL `FOR UPDATE SKIP LOCKED`) rather than waited for. Whatever goes wrong
        while running the instance (not only a handler: an unreadable state, a bug) is
        recorded on it after the rollback, its due timers held back (`_on_failure`),
        and raised — as `InstanceFailed` when it is no DeskflowError — so that a sweep
        goes on with the others.
        """
        try:
            with self._command() as session:
                locked = self._lock(
                    session, instance_id, None, skip_locked=skip_locked, allow_finished=True
                )
                if locked is None or locked[0].status != "running":
                    return 0  # another worker has it, or it ended while we waited
                instance, incident = locked
                now = clock.now()  # the command's one reading, after the lock
                due = session.scalars(
                    select(Timer).where(
                        Timer.instance_id == instance_id,
                        Timer.due_at < now,  # SpiffWorkflow fires once the time has passed
                        Timer.failed_at.is_(None),
                    )
                ).all()
                if not due:
                    return 0
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
                self._on_failure(
                    session, instance_id, command, any_error=True, failed_timers_due=now
                )
                definition = self.definition(session, instance.definition_id)
                self._run(session, instance, incident, definition, command, steps.fire_timers)
                return len(due)
        except (DeskflowError, OperationalError):
            raise
        except Exception as err:
            raise InstanceFailed(instance_id, err) from err

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
        opened = (command.payload or {}).get("command") == "start_incident"
        try:
            derived, changes = self._step(
                session, instance, incident, definition, workflow, context, apply
            )
        except (HandlerFailed, ProcessError):
            # The incident stays where it was; an error event says why, after the rollback
            # (unless the command arranged its own record, as the worker's does).
            if not opened:
                self._on_failure(session, instance.id, command)
            raise
        escalations = assignment.assign_escalated(session, incident, list(derived.new_tasks))
        entries = history.entries_for(changes, context.calls, definition)
        history.append(session, instance, clock.now(), [command, *entries, *escalations])
        if instance.status == "completed":
            knowledge.learn_from(session, incident)
        record_after = facts(incident) | {"reopen_count": incident.reopen_count}
        changed = notices.changes(record_before, record_after, opened, bool(escalations))
        notices.send(session, incident.id, record_after, changed, clock.now())
        if instance.status == "running":
            keep = functools.partial(self.workflows.keep, instance.id, instance.version, workflow)
            session.info.setdefault("after_commit", []).append(keep)

    def _step(self, session, instance, incident, definition, workflow, context, apply):
        """Apply the command, run the engine until every path waits, write the result
        back; returns what was derived and the task state changes, in order."""
        before = projection.waiting_on(
            workflow, definition, incident.caller, incident.assignment_group
        )
        try:
            changes = steps.advance(workflow, definition.element_ids, context, before.tasks, apply)
        except SpiffWorkflowException as err:
            raise ProcessError(_element_of(err), _spiff_message(err)) from err
        derived = writeback.write_back(
            session, instance, incident, definition, workflow, before, context.calls
        )
        return derived, changes


def _element_of(err: Exception) -> str | None:
    task = getattr(err, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None) if task else None


def _spiff_message(err: SpiffWorkflowException) -> str:
    notes = getattr(err, "__notes__", None) or []
    return "; ".join([str(err), *notes])
