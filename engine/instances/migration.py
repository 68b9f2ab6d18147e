"""Moving running instances from one version of a process to another (same key).

By default nothing moves: an instance finishes on the version it started on. A process
owner may move the running instances of a source version to a target version:

- `Migrator.dry_run` says, for each running instance on the source, whether it can move
  and why (not). SpiffWorkflow's `diff_workflow` (`SpecDiff` + `WorkflowDiff`; here with
  event subprocesses aligned too, which the library's traversal misses) aligns the
  instance's tasks with the target's task specs (by BPMN id, then by structure) and says
  which attributes of each changed (`SpecDiff.changed`); the instance can move when every
  element it waits in still exists in the target with the same type, and nothing it
  already passed was removed or now goes on differently (a changed outgoing flow, gateway
  condition or element type: the instance would have taken a path the target does not
  have). Changes that do not matter for the way it went (a name, a lane, an operator's
  parameters of a task it already passed) do not stop it. Then the move is tried in
  memory: `migrate_workflow` puts the target's specs on the tasks and re-plans what
  waits (its data and armed timers are kept), and the result must be restorable with
  the target's specs.
- `Migrator.migrate` moves those that can, each in its own transaction under the
  instance lock, re-checking there: the instance row gets the target definition and the
  new state (and a new version, so no workflow cache serves the old one), the open-task
  and timer projections follow the moved workflow, and one history `command` entry
  `{"command": "migrate", "from": "key:1", "to": "key:2", ...}` records it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import Conflict, DeskflowError
from engine.instances import history, projection, writeback
from engine.instances.history import Entry
from engine.instances.locks import InstanceLocks, facts
from engine.instances.runtime import Runtime
from engine.process.definitions import ProcessDefinition
from engine.process.drafts import version_row
from engine.process.specs import timers_of
from engine.process.versions import PROCESS_KEY
from engine.spiff import REGISTRY, CommandContext, dump_workflow, load_workflow
from engine.store.models import HumanTask, Incident, Instance

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
NOT_REACHED = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE
WAY_ON = ("outputs", "cond_task_specs", "default_task_spec")  # how an element goes on


@dataclass
class Check:
    """Whether one running instance can move to the target version, and why (not)."""

    instance: int
    incident: str | None
    waiting_at: list[str]
    can_move: bool
    why: str

    def as_json(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "incident": self.incident,
            "waiting_at": self.waiting_at,
            "can_move": self.can_move,
            "why": self.why,
        }


@dataclass
class Outcome:
    moved: list[Check] = field(default_factory=list)
    refused: list[Check] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "moved": [c.as_json() for c in self.moved],
            "refused": [c.as_json() for c in self.refused],
        }


@dataclass
class _Pair:
    """The source and target versions, compiled, with their spec diffs (by spec name)."""

    key: str
    source_version: int
    target_version: int
    target_id: int
    source_id: int
    source: ProcessDefinition
    target: ProcessDefinition
    changes: dict[str, dict[str, list[str]]]  # process spec name -> task spec -> changed

    @property
    def labels(self) -> tuple[str, str]:
        return f"{self.key}:{self.source_version}", f"{self.key}:{self.target_version}"


class Migrator(InstanceLocks):
    """Dry runs and migrations of running instances between two versions of a process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db

    def dry_run(self, source: int, target: int, key: str = PROCESS_KEY) -> list[Check]:
        """For each running instance on version `source`: can it move to `target`?"""
        with self.db.reading() as session:
            pair = self._pair(session, key, source, target)
            rows = session.execute(
                select(Instance, Incident)
                .join(Incident, Incident.instance_id == Instance.id)
                .where(Instance.definition_id == pair.source_id, Instance.status == "running")
                .order_by(Instance.id)
            ).all()
            return [self._trial(instance, incident, pair)[0] for instance, incident in rows]

    def migrate(
        self,
        source: int,
        target: int,
        actor: str,
        key: str = PROCESS_KEY,
        only: Iterable[int] | None = None,
    ) -> Outcome:
        """Move every running instance on `source` that can move (or those of `only`,
        instance ids) to `target`, each in its own transaction; the others stay."""
        with self.db.reading() as session:
            pair = self._pair(session, key, source, target)
            ids = list(
                session.scalars(
                    select(Instance.id)
                    .where(Instance.definition_id == pair.source_id, Instance.status == "running")
                    .order_by(Instance.id)
                )
            )
        if only is not None:
            wanted = set(only)
            ids = [i for i in ids if i in wanted]
        outcome = Outcome()
        for instance_id in ids:
            check = self._migrate_one(instance_id, pair, actor)
            (outcome.moved if check.can_move else outcome.refused).append(check)
        return outcome

    # --- the machinery ------------------------------------------------------------------

    def _pair(self, session: Session, key: str, source: int, target: int) -> _Pair:
        if source == target:
            raise DeskflowError(f"the source and target are both version {source}; pick two")
        source_row = version_row(session, source, key)
        target_row = version_row(session, target, key)
        old = self.runtime.definition(session, source_row.id)
        new = self.runtime.definition(session, target_row.id)
        changes = {old.spec.name: _spec_changes(old.spec, new.spec)}
        for name, spec in old.subprocess_specs.items():
            if name in new.subprocess_specs:
                changes[name] = _spec_changes(spec, new.subprocess_specs[name])
        return _Pair(key, source, target, target_row.id, source_row.id, old, new, changes)

    def _migrate_one(self, instance_id: int, pair: _Pair, actor: str) -> Check:
        try:
            with self._command() as session:
                instance, incident = self._locked(session, instance_id)
                if instance.definition_id != pair.source_id:
                    return Check(
                        instance_id,
                        incident.number,
                        [],
                        False,
                        f"it is no longer on version {pair.source_version} (moved meanwhile)",
                    )
                check, moved = self._trial(instance, incident, pair)
                if moved is None:
                    return check
                self._write(session, instance, incident, pair, moved, actor, check)
                forget = self.runtime.workflows.forget
                session.info.setdefault("after_commit", []).append(lambda: forget(instance_id))
                return check
        except Conflict as err:  # closed meanwhile
            return Check(instance_id, None, [], False, str(err))

    def _trial(self, instance: Instance, incident: Incident, pair: _Pair):
        """(check, moved) — `moved` is (workflow on the target, its state, what the
        workflow waited on before) when the instance can move, else None."""
        context = CommandContext(incident=facts(incident))
        try:
            workflow = load_workflow(
                instance.state, pair.source.spec, pair.source.subprocess_specs, context
            )
            waiting = _waiting_at(workflow)
            before = projection.waiting_on(
                workflow, pair.source, incident.caller, incident.assignment_group
            )
            top, subs = diff_workflow(workflow, pair.target.spec, pair.target.subprocess_specs)
            reasons = _judge(workflow, top, pair)
            for sub_id, sub_diff in subs.items():
                sub = workflow.subprocesses[sub_id]
                if sub_diff is None:
                    reasons.append(
                        f"it is inside subprocess '{sub.spec.name}', which version "
                        f"{pair.target_version} removes"
                    )
                else:
                    reasons += _judge(sub, sub_diff, pair)
        except Exception as err:  # a state this code does not understand: leave it alone
            why = f"cannot be compared: {type(err).__name__}: {err}"
            return Check(instance.id, incident.number, [], False, why), None
        if reasons:
            why = "; ".join(dict.fromkeys(reasons))
            return Check(instance.id, incident.number, waiting, False, why), None
        try:
            moved, state = _move(workflow, top, subs, pair, context)
        except Exception as err:
            why = f"version {pair.target_version} cannot take it over: {type(err).__name__}: {err}"
            return Check(instance.id, incident.number, waiting, False, why), None
        named = [_label_of(pair.source, e) for e in waiting[:3]]
        if len(waiting) > 3:
            named.append(f"{len(waiting) - 3} more (timers, events)")
        where = ", ".join(named) or "nothing"
        why = (
            f"it waits at {where}, which version {pair.target_version} keeps, and nothing it "
            "already passed changed in a way that matters"
        )
        return Check(instance.id, incident.number, waiting, True, why), (moved, state, before)

    def _write(
        self,
        session: Session,
        instance: Instance,
        incident: Incident,
        pair: _Pair,
        moved: tuple,
        actor: str,
        check: Check,
    ) -> None:
        workflow, state, before = moved
        now = clock.now()
        after = projection.waiting_on(
            workflow, pair.target, incident.caller, incident.assignment_group
        )
        instance.definition_id = pair.target_id
        instance.state = state
        instance.version += 1  # the workflow cache's entries for the old version are stale
        instance.updated_at = now
        incident.state = projection.incident_state(workflow, pair.target)
        incident.updated_at = now
        _sync_projections(session, instance, incident, before, after, now)
        source, target = pair.labels
        history.append(
            session,
            instance,
            now,
            [
                Entry(
                    "command",
                    actor=actor,
                    payload={
                        "command": "migrate",
                        "from": source,
                        "to": target,
                        "waiting_at": check.waiting_at,
                        "why": check.why,
                    },
                )
            ],
        )


# --- judging an instance ----------------------------------------------------------------


class _SpecDiff(SpecDiff):
    """SpiffWorkflow's SpecDiff, which aligns the specs it reaches from the start event's
    outputs: an event subprocess (started by its trigger, not by a flow) is not reached,
    and `WorkflowDiff` then fails on an instance that ran one. Align those by id too."""

    def __init__(self, registry, original, new) -> None:
        super().__init__(registry, original, new)
        for spec in original.task_specs.values():
            if spec not in self.alignment:
                candidate = new.task_specs.get(spec.name)
                self.alignment[spec] = candidate
                if candidate is not None:
                    self.comparisons[spec] = self._compare_task_specs(spec, candidate)


def diff_workflow(
    workflow: Any, new_spec: Any, new_dependencies: dict[str, Any]
) -> tuple[WorkflowDiff, dict[Any, WorkflowDiff | None]]:
    """SpiffWorkflow's `diff_workflow` (the top workflow and each subprocess against the
    target's specs), with the alignment of `_SpecDiff`."""
    top = WorkflowDiff(workflow, _SpecDiff(REGISTRY, workflow.spec, new_spec))
    subs: dict[Any, WorkflowDiff | None] = {}
    for sub_id, sub in workflow.subprocesses.items():
        new = new_dependencies.get(sub.spec.name)
        subs[sub_id] = (
            WorkflowDiff(sub, _SpecDiff(REGISTRY, sub.spec, new)) if new is not None else None
        )
    return top, subs


def _spec_changes(old, new) -> dict[str, list[str]]:
    """Task spec name -> the attributes SpecDiff found changed."""
    diff = _SpecDiff(REGISTRY, old, new)
    return {spec.name: list(changed) for spec, changed in diff.changed.items()}


def _judge(workflow, diff, pair: _Pair) -> list[str]:
    """Why the instance (or one of its subprocesses) cannot move; empty when it can."""
    target = pair.target_version
    changes = pair.changes.get(workflow.spec.name, {})
    reasons = []
    for task in diff.removed:
        if task.state & NOT_REACHED:
            continue  # not reached yet: re-planned on the target
        label = _label(task.task_spec)
        if task.state & LIVE:
            reasons.append(f"it waits at {label}, which version {target} removes")
        elif task.state & TaskState.COMPLETED:
            reasons.append(f"it already passed {label}, which version {target} removes")
        else:
            reasons.append(f"its history holds {label}, which version {target} removes")
    for task in diff.changed:
        changed = changes.get(task.task_spec.name, [])
        new_spec = diff.alignment.get(task)
        if task.state & NOT_REACHED or new_spec is None:
            continue
        label = _label(task.task_spec)
        if "typename" in changed:
            kind = f"from a {_kind(task.task_spec)} into a {_kind(new_spec)}"
            if task.state & LIVE:
                reasons.append(f"it waits at {label}, which version {target} turns {kind}")
            elif task.state & TaskState.COMPLETED:
                reasons.append(f"it already passed {label}, which version {target} turns {kind}")
        elif task.state & TaskState.COMPLETED and set(changed) & set(WAY_ON):
            old_to = [_label(s) for s in task.task_spec.outputs]
            new_to = [_label(s) for s in new_spec.outputs]
            gained = [to for to in new_to if to not in old_to]
            lost = [to for to in old_to if to not in new_to]
            if gained and lost:
                how = f"goes on to {', '.join(gained)} instead of {', '.join(lost)}"
            elif gained:
                how = f"also goes on to {', '.join(gained)}"
            elif lost:
                how = f"no longer goes on to {', '.join(lost)}"
            else:
                how = "chooses the way on by other conditions"
            reasons.append(
                f"it already passed {label}, after which version {target} {how}: "
                "it would skip that change"
            )
    return reasons


def _kind(spec) -> str:
    return type(spec).__name__


def _label(spec) -> str:
    """A task spec as people know it: its name and BPMN id, or what an internal step is."""
    bpmn_id = getattr(spec, "bpmn_id", None)
    if bpmn_id:
        name = getattr(spec, "bpmn_name", None)
        return f"'{name}' ({bpmn_id})" if name and name != bpmn_id else f"'{bpmn_id}'"
    name = spec.name
    if name.endswith(".BoundaryEventSplit"):
        return f"the boundary events of '{name.rsplit('.', 1)[0]}'"
    if name.endswith(".BoundaryEventJoin"):
        return f"the end of '{name.rsplit('.', 1)[0]}'"
    if name == "Start":
        return "the start"
    if name == "End" or name.endswith(".EndJoin"):
        return "the end"
    return f"the step {name}"


def _label_of(definition: ProcessDefinition, element: str) -> str:
    found = definition.elements.get(element)
    if found is None or found.name == element:
        return f"'{element}'"
    return f"'{found.name}' ({element})"


def _waiting_at(workflow) -> list[str]:
    """The BPMN elements the instance waits in (user tasks, events, subprocesses)."""
    order = {TaskState.READY: 0, TaskState.WAITING: 1, TaskState.STARTED: 2}
    live = sorted(
        (t for t in projection.all_tasks(workflow) if t.state & LIVE),
        key=lambda t: order.get(t.state, 3),
    )
    found: list[str] = []
    for task in live:
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if bpmn_id and bpmn_id not in found:
            found.append(bpmn_id)
    return found


# --- moving -----------------------------------------------------------------------------


def _move(workflow, top, subs, pair: _Pair, context: CommandContext):
    """Put the target's specs on the workflow (in place) and return it restored from its
    new state with the target's specs (proving that it can be), with that state."""
    kept = {
        task.id: (copy.deepcopy(task.data), copy.deepcopy(task.internal_data), task.task_spec)
        for task in projection.all_tasks(workflow)
        if task.state & (TaskState.READY | TaskState.WAITING)
    }
    live_before = {str(t.id) for t in projection.all_tasks(workflow) if t.state & TaskState.READY}
    migrate_workflow(top, workflow, pair.target.spec)
    for sub_id, sub_diff in subs.items():
        sub = workflow.subprocesses[sub_id]
        migrate_workflow(sub_diff, sub, pair.target.subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = pair.target.subprocess_specs
    _replan_started(workflow)
    # migrate_workflow re-plans what waits from its parent's data, which forgets data a
    # waiting task received meanwhile and restarts its timers: put them back.
    for task in projection.all_tasks(workflow):
        saved = kept.get(task.id)
        if saved is None or not task.state & (TaskState.READY | TaskState.WAITING):
            continue
        data, internal, old_spec = saved
        task.data = data
        if _timers(old_spec) == _timers(task.task_spec):  # else the new timer applies
            task.internal_data = internal
    state = dump_workflow(workflow)
    moved = load_workflow(state, pair.target.spec, pair.target.subprocess_specs, context)
    lost = live_before - {
        str(t.id) for t in projection.all_tasks(moved) if t.state & TaskState.READY
    }
    if lost:
        raise DeskflowError(f"{len(lost)} open task(s) would be lost")
    return moved, state


def _replan_started(workflow) -> None:
    """Re-plan what comes after the tasks that have started and not finished (a
    subprocess being worked in): `migrate_workflow` re-plans only what waits, so their
    planned successors would still follow the source's flows."""
    for task in list(projection.all_tasks(workflow)):
        if not task.state & TaskState.STARTED or task.id not in task.workflow.tasks:
            continue
        for child in list(task.children):
            if child.state & NOT_REACHED:
                task.workflow._remove_task(child.id)
        task.task_spec._predict(task, mask=TaskState.NOT_FINISHED_MASK)


def _timers(task_spec) -> list[tuple[str, str, str | None]]:
    return [
        (element, type(event).__name__, event.expression) for element, event in timers_of(task_spec)
    ]


def _sync_projections(session: Session, instance, incident, before, after, now) -> None:
    """Open tasks and timers follow the moved workflow; open tasks that stay keep their
    claims, and take the target's name, lane and form."""
    connection = session.connection()
    writeback.drop_closed_tasks(connection, before, after)
    for task in after.tasks:
        if task.id in before.task_ids:
            connection.execute(
                update(HumanTask)
                .where(HumanTask.id == task.id)
                .values(element=task.element, name=task.name, lane=task.lane, form=task.form)
            )
    new = [t for t in after.tasks if t.id not in before.task_ids]
    writeback.insert_open_tasks(connection, instance, incident, new, now)
    writeback.sync_timers(connection, instance, before, after)
