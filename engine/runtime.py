"""The commands that change incidents. One command, one transaction (see DESIGN.md):

lock the instance and check its version; restore the workflow (spec from the cache);
apply the command and run engine steps until every path waits (handlers run here); write
back the state, the projections, the outbox and the history; commit. A command that fails
rolls back whole and leaves one `error` history event; the instance stays where it was.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import (
    assignment,
    clock,
    escalations,
    history,
    knowledge,
    projection,
    versions,
    writeback,
)
from engine.bpmn import (
    CommandContext,
    ScriptEngine,
    TaskLog,
    load_workflow,
    new_workflow,
    run_until_waiting,
    skip_missed_cycles,
)
from engine.definitions import (
    Bundle,
    ProcessDefinition,
)
from engine.errors import Conflict, DeskflowError, HandlerFailed, NotFound, ProcessError
from engine.forms import validate_form
from engine.history import Entry
from engine.store.db import Database
from engine.store.models import (
    EscalationRule,
    HumanTask,
    Incident,
    Instance,
    Timer,
)
from engine.versions import PROCESS_KEY, Deployed
from engine.workflow_cache import WorkflowCache

MESSAGES = ("confirm", "reopen", "user_reply")


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


class Runtime:
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
                incident=_facts(incident), knowledge=functools.partial(knowledge.load, session)
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
        """Deliver a message (confirm, reopen, user_reply) to the incident's process."""
        if message not in MESSAGES:
            raise NotFound(f"unknown message '{message}' (known: {', '.join(MESSAGES)})")
        if not isinstance(payload, dict):
            raise DeskflowError("the message payload must be a JSON object")
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
            definition = self.definition(session, instance.definition_id)
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

    def retry(self, number: str, actor: str) -> None:
        """Clear failed timers so the worker fires them again (after the cause is fixed)."""
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
            for timer in session.scalars(
                select(Timer).where(Timer.instance_id == instance.id, Timer.failed_at.is_not(None))
            ):
                timer.failed_at = None
            incident.last_error = None
            history.append(
                session,
                instance,
                clock.now(),
                [Entry("command", actor=actor, payload={"command": "retry"})],
            )

    def add_escalation(
        self, number: str, due_at: datetime, action: str, target: str, note: str, actor: str
    ) -> int:
        """Add "if not resolved by `due_at`, notify/reassign `target`" to an incident."""
        with self.db.writing() as session:
            incident = self._incident(session, number)
            instance, incident = self._locked(session, incident.instance_id)
            escalations.check_rule(session, incident, due_at, action, target)
            rule = EscalationRule(
                incident_id=incident.id,
                instance_id=instance.id,
                due_at=due_at,
                action=action,
                target=target,
                note=note,
                created_by=actor,
                created_at=clock.now(),
            )
            session.add(rule)
            session.flush()
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "command",
                        actor=actor,
                        payload={
                            "command": "add_escalation",
                            "rule": rule.id,
                            "due_at": due_at.isoformat(),
                            "action": action,
                            "target": target,
                            "note": note,
                        },
                    )
                ],
            )
            return rule.id

    def fire_escalation(self, rule_id: int, skip_locked: bool = False) -> bool:
        """Fire a due escalation rule (the worker); False when skipped or not due."""
        with self.db.writing() as session:
            rule = session.get(EscalationRule, rule_id)
            if rule is None or rule.fired_at is not None or rule.due_at >= clock.now():
                return False
            locked = self._lock(
                session, rule.instance_id, None, skip_locked=skip_locked, allow_finished=True
            )
            if locked is None:
                return False
            instance, incident = locked
            session.refresh(rule)
            if rule.fired_at is not None:
                return False  # another worker fired it while we waited for the lock
            entry = escalations.fire(session, rule, incident, _facts(incident))
            history.append(session, instance, clock.now(), [entry])
            return True

    def claim_task(self, task_id: str, username: str | None, actor: str) -> None:
        """Assign an open task to `username` (None: back to the group queue)."""
        with self.db.writing() as session:
            human = session.get(HumanTask, task_id)
            if human is None:
                raise Conflict(f"task {task_id} is not open")
            instance, incident = self._locked(session, human.instance_id)
            human.assignee = username
            if human.lane != "User":
                incident.assignee = username
            history.append(
                session,
                instance,
                clock.now(),
                [
                    Entry(
                        "command",
                        element=human.element,
                        actor=actor,
                        payload={"command": "claim_task", "assignee": username},
                    )
                ],
            )

    # --- the machinery -----------------------------------------------------------------

    def _incident(self, session: Session, number: str) -> Incident:
        incident = session.scalars(select(Incident).where(Incident.number == number)).first()
        if incident is None:
            raise NotFound(f"no incident {number}")
        return incident

    def _lock(
        self,
        session: Session,
        instance_id: int,
        expected_version: int | None,
        skip_locked: bool = False,
        allow_finished: bool = False,
    ) -> tuple[Instance, Incident] | None:
        """Lock the instance row (FOR UPDATE; SQLite: the write transaction already holds
        the database) and read it with its incident; None only when `skip_locked` skipped."""
        row = session.execute(
            select(Instance, Incident)
            .join(Incident, Incident.instance_id == Instance.id)
            .where(Instance.id == instance_id)
            .with_for_update(of=Instance, skip_locked=skip_locked)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            if skip_locked:
                return None
            raise NotFound(f"no process instance {instance_id}")
        instance, incident = row
        self._check(instance, expected_version, allow_finished)
        return instance, incident

    def _locked(self, session: Session, instance_id: int) -> tuple[Instance, Incident]:
        locked = self._lock(session, instance_id, None)
        assert locked is not None  # only skip_locked returns None
        return locked

    @staticmethod
    def _check(
        instance: Instance, expected_version: int | None, allow_finished: bool = False
    ) -> None:
        if expected_version is not None and instance.version != expected_version:
            raise Conflict(
                f"the incident changed since you loaded it (version "
                f"{expected_version}, now {instance.version}); reload and retry"
            )
        if instance.status != "running" and not allow_finished:
            raise Conflict("the incident is closed; nothing can change it any more")

    def _lock_task(
        self, session: Session, task_id: str, expected_version: int | None
    ) -> tuple[Instance, Incident, HumanTask]:
        """Lock the instance an open task belongs to; one round trip."""
        row = session.execute(
            select(Instance, Incident, HumanTask)
            .join(Incident, Incident.instance_id == Instance.id)
            .join(HumanTask, HumanTask.instance_id == Instance.id)
            .where(HumanTask.id == task_id)
            .with_for_update(of=Instance)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise Conflict(
                f"task {task_id} is not open (already completed, or no such task); "
                "reload the incident to see what is open now"
            )
        instance, incident, human = row
        self._check(instance, expected_version)
        return instance, incident, human

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
            incident=_facts(incident), knowledge=functools.partial(knowledge.load, session)
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
        log = TaskLog(set(definition.elements), projection.live_task_ids(workflow))
        before = projection.waiting_on(workflow, definition, incident.caller)
        try:
            with log:
                skip_missed_cycles(workflow, clock.now())
                apply(workflow)
                run_until_waiting(workflow)
        except (HandlerFailed, ProcessError) as err:
            err.failure = (instance.id, incident.id, command)
            raise
        except SpiffWorkflowException as err:
            failure = ProcessError(_element_of(err), _spiff_message(err))
            failure.failure = (instance.id, incident.id, command)
            raise failure from err
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
        after = projection.waiting_on(workflow, definition, incident.caller)
        new_tasks = [t for t in after.tasks if t.id not in before.task_ids]
        escalations = assignment.assign_escalated(session, incident, new_tasks)
        history.append(session, instance, clock.now(), escalations)
        if instance.status == "completed":
            knowledge.learn_from(session, incident)
        if instance.status == "running":
            keep = functools.partial(self.workflows.keep, instance.id, instance.version, workflow)
            session.info.setdefault("after_commit", []).append(keep)

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
    waiting = TaskState.WAITING | TaskState.READY | TaskState.FUTURE | TaskState.LIKELY
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


def _facts(incident: Incident) -> dict[str, Any]:
    return {
        "number": incident.number,
        "caller": incident.caller,
        "short_description": incident.short_description,
        "priority": incident.priority,
        "category": incident.category,
        "state": incident.state,
        "group": incident.assignment_group,
        "assignee": incident.assignee,
    }


def _element_of(err: Exception) -> str | None:
    task = getattr(err, "task", None)
    return getattr(getattr(task, "task_spec", None), "bpmn_id", None) if task else None


def _spiff_message(err: SpiffWorkflowException) -> str:
    notes = getattr(err, "__notes__", None) or []
    return "; ".join([str(err), *notes])
