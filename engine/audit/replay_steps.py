"""One incident's way through its process, step by step, for the auditor's replay.

A step is a history event (`engine.instances.history`) that concerns a BPMN element: a task event
(an element became ready, started, waits, completed, was cancelled), a timer that fired,
a handler a service task called, an escalation of a task, an error at an element, and a
command naming its element (a form submitted, a task claimed), and a timer the worker's
command says it fired when no other row records it (a cycle timer). Other rows (a message
or the report that started it all, a note) are not steps; they are the `cause` of the
steps they led to, and the data they brought in goes with the first of those steps.

Each step holds its time, its actor (for a completed user task, whoever submitted its
form), what happened in words, the data that changed (a form's inputs, a handler's
result, the incident fields a handler changed when it says so), the SLA clocks at that
moment recomputed from the history up to it (`engine.desk.sla_view`), and how far the way
had come: the first `passed` elements of `Replay.passed` and the first `flows` flow ids
of `Replay.flows` (the same way `engine.audit.diagram_path` draws: those lists only grow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import diagram_path
from engine.desk import sla_view
from engine.errors import NotFound
from engine.instances.history import story
from engine.process.definitions import BPMN_NS, bundle_from_json, parse_xml
from engine.store.models import Definition, Incident, Instance

HUMAN = frozenset({"UserTask", "ManualTask"})
STEP_KINDS = frozenset({"task", "timer", "handler", "escalation", "error", "command"})
STATES = {
    "READY": "ready",
    "STARTED": "entered",
    "WAITING": "waiting",
    "COMPLETED": "completed",
    "CANCELLED": "cancelled",
    "ERROR": "failed",
}


@dataclass(frozen=True)
class Step:
    step: int  # 1, 2, 3, ...
    seq: int  # the history row's
    at: datetime
    kind: str  # the history row's: task | timer | handler | escalation | error | command
    element: str
    name: str
    what: str
    actor: str | None
    cause: dict[str, Any] | None  # the command whose work this step was
    data: dict[str, Any]
    incident: dict[str, Any]  # incident fields the step changed, as recorded
    clocks: dict[str, Any]
    passed: int  # how many of Replay.passed were passed by then
    flows: int  # how many of Replay.flows were taken by then

    def as_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "seq": self.seq,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "element": self.element,
            "name": self.name,
            "what": self.what,
            "actor": self.actor,
            "cause": self.cause,
            "data": self.data,
            "incident": self.incident,
            "clocks": self.clocks,
            "passed": self.passed,
            "flows": self.flows,
        }


@dataclass(frozen=True)
class Replay:
    number: str
    key: str
    version: int
    xml: str
    steps: list[Step]
    passed: list[str]  # every element passed, in the order first passed
    flows: list[str]  # every flow taken, in the order first taken

    def passed_at(self, step: Step) -> list[str]:
        return self.passed[: step.passed]

    def flows_at(self, step: Step) -> list[str]:
        return self.flows[: step.flows]

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "key": self.key,
            "version": self.version,
            "xml": self.xml,
            "passed": self.passed,
            "flows": self.flows,
            "steps": [step.as_json() for step in self.steps],
        }


def for_incident(session: Session, number: str) -> Replay:
    """The incident's steps on the version it is pinned to; NotFound for an unknown one."""
    incident = session.scalars(
        select(Incident).where(Incident.number == number.strip().upper())
    ).one_or_none()
    if incident is None or incident.number is None:
        raise NotFound(f"there is no incident {number}")
    instance = session.get(Instance, incident.instance_id)
    assert instance is not None  # a foreign key
    definition = session.get(Definition, instance.definition_id)
    assert definition is not None
    bpmn = bundle_from_json(definition.bundle).bpmn
    names = {
        node.get("id", ""): node.get("name") or ""
        for node in parse_xml(bpmn).iter(f"{{{BPMN_NS}}}*")
        if node.get("id")
    }
    events = story(session, instance.id)
    steps, passed, flows = replay_steps(events, diagram_path.sequence_flows(bpmn), names)
    return Replay(
        incident.number, definition.key, definition.version, bpmn.text, steps, passed, flows
    )


def replay_steps(
    events: list[Any],
    diagram: tuple[list[diagram_path.Flow], dict[str, str]],
    names: dict[str, str] | None = None,
) -> tuple[list[Step], list[str], list[str]]:
    """(steps, every element passed, every flow taken) from the history rows (oldest
    first; anything with seq, at, kind, element, actor and payload)."""
    names = names or {}
    rows = [
        {
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "element": e.element,
            "actor": e.actor,
            "payload": e.payload or {},
        }
        for e in events
    ]
    # Where each row ends on the way (diagram_path.steps reads one row at a time).
    ends: list[int] = []
    path: list[tuple[str, str]] = []
    for event in events:
        path += diagram_path.steps([event])
        ends.append(len(path))
    passed, flows, sizes = diagram_path.path_growth(diagram, path)

    steps: list[Step] = []
    cause: dict[str, Any] | None = None
    brought: dict[str, Any] = {}  # inputs of an element-less command, for its first step
    submitted_by: dict[str, str] = {}  # element -> who last submitted its form

    def add(i: int, element: str, kind: str, payload: dict[str, Any], what: str) -> None:
        nonlocal brought
        row = rows[i]
        data, incident = _changes(kind, payload)
        if brought and kind != "command":
            data, brought = {**brought, **data}, {}
        done = sizes[ends[i] - 1] if ends[i] else (0, 0)
        steps.append(
            Step(
                step=len(steps) + 1,
                seq=row["seq"],
                at=row["at"],
                kind=kind,
                element=element,
                name=payload.get("name") or names.get(element) or element,
                what=what,
                actor=_actor(kind, payload, row["actor"], submitted_by.get(element), cause),
                cause=cause,
                data=data,
                incident=incident,
                clocks=_clocks(rows[: i + 1], row["at"]),
                passed=done[0],
                flows=done[1],
            )
        )

    for i, row in enumerate(rows):
        payload, kind, element = row["payload"], row["kind"], row["element"]
        if kind == "command":
            cause = {
                "seq": row["seq"],
                "command": payload.get("command"),
                "actor": row["actor"],
                "message": payload.get("message"),
            }
            if payload.get("command") == "complete_task" and element and row["actor"]:
                submitted_by[element] = row["actor"]
            inputs = payload.get("inputs")
            brought = dict(inputs) if isinstance(inputs, dict) and not element else {}
            for fired in _unrecorded_timers(rows, i):  # a cycle timer leaves no other row
                add(i, fired["element"], "timer", {}, f"timer fired (due {fired['due_at']})")
            if not element:
                continue
        if kind in STEP_KINDS and element:
            add(i, element, kind, payload, _what(kind, payload, row["actor"]))
    return steps, passed, flows


def _unrecorded_timers(rows: list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    """The timers command row `i` (the worker's fire_due_timers) lists whose firing no row
    of that command records (a `timer` row, or the timer's task completed)."""
    timers = [
        t
        for t in rows[i]["payload"].get("timers") or []
        if isinstance(t, dict) and t.get("element")
    ]
    if not timers:
        return []
    recorded = set()
    for row in rows[i + 1 :]:
        if row["kind"] == "command":
            break  # the next command's rows
        if row["kind"] == "timer" or row["payload"].get("state") == "COMPLETED":
            recorded.add(row["element"])
    return [
        {"element": t["element"], "due_at": t.get("due_at")}
        for t in timers
        if t["element"] not in recorded
    ]


def _what(kind: str, payload: dict[str, Any], actor: str | None) -> str:
    if kind == "task":
        state = payload.get("state", "")
        if state == "WAITING" and payload.get("type") == "BoundaryEvent":
            return "armed"
        if state == "READY" and payload.get("type") in HUMAN:
            return "ready: waits for someone"
        return STATES.get(state, state.lower() or "changed")
    if kind == "timer":
        return "timer fired"
    if kind == "handler":
        return f"called {payload.get('operator')}"
    if kind == "escalation":
        return f"escalated ({payload.get('kind')}) to {payload.get('assignee')}"
    if kind == "error":
        return f"failed: {payload.get('error')}"
    command = payload.get("command")
    if command == "complete_task":
        return f"form submitted by {actor}"
    if command == "claim_task":
        assignee = payload.get("assignee")
        return f"assigned to {assignee}" if assignee else "returned to the group's queue"
    return f"{command} by {actor}"


def _actor(
    kind: str,
    payload: dict[str, Any],
    actor: str | None,
    submitted_by: str | None,
    cause: dict[str, Any] | None,
) -> str | None:
    """The row's actor; for a completed user task, who submitted its form; for a timer
    that fired, whoever fired it (the worker)."""
    if kind == "task" and payload.get("state") == "COMPLETED" and payload.get("type") in HUMAN:
        return submitted_by or (cause or {}).get("actor") or actor
    if kind == "timer":
        return actor or (cause or {}).get("actor")
    return actor


def _changes(kind: str, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the data that changed, the incident fields that changed) as the row records them."""
    if kind == "command":
        if payload.get("command") == "complete_task":
            inputs = payload.get("inputs")
            return (dict(inputs) if isinstance(inputs, dict) else {}), {}
        return {k: v for k, v in payload.items() if k != "command"}, {}
    if kind == "handler":
        result = payload.get("result")
        if not isinstance(result, dict):
            return ({"result": result} if result is not None else {}), {}
        update = result.get("incident_update")
        data = {k: v for k, v in result.items() if k != "incident_update"}
        return data, dict(update) if isinstance(update, dict) else {}
    if kind == "escalation":
        return {k: payload[k] for k in ("group", "assignee", "reason") if k in payload}, {}
    if kind == "error":
        return {"error": payload.get("error")}, {}
    return {}, {}


def _clocks(history: list[dict[str, Any]], at: datetime) -> dict[str, Any]:
    """The SLA clocks as they stood at `at`, from the history up to then, as plain JSON."""
    try:
        states = sla_view.clocks(history, at)
    except (KeyError, ValueError) as err:  # a history the clocks cannot read: say so
        return {"error": f"the SLA clocks cannot be recomputed here: {err}"}
    return {
        name: {
            "state": state.state,
            "used_minutes": _minutes(state.used),
            "target_minutes": _minutes(state.target) if state.target else None,
            "used": _hours(state.used),
            "target": _hours(state.target) if state.target else None,
            "due": state.due.isoformat() if state.due else None,
            "breached_at": state.breached_at.isoformat() if state.breached_at else None,
        }
        for name, state in states.items()
    }


def _minutes(amount: timedelta) -> int:
    return int(amount.total_seconds() // 60)


def _hours(amount: timedelta) -> str:
    minutes = _minutes(amount)
    return f"{minutes // 60}h{minutes % 60:02d}"
