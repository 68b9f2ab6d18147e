"""Read-only views of incidents for the CLI (and later the web UI and API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.desk import sla_view
from engine.errors import NotFound
from engine.instances import history
from engine.store.db import Database
from engine.store.models import HumanTask, Incident, Instance

FIELDS = (
    "number",
    "kind",
    "state",
    "caller",
    "reported_by",
    "channel",
    "short_description",
    "description",
    "category",
    "subcategories",
    "impact",
    "urgency",
    "priority",
    "major_incident",
    "assignment_group",
    "assignee",
    "opened_at",
    "responded_at",
    "response_due",
    "resolution_due",
    "resolved_at",
    "closed_at",
    "response_breached",
    "resolution_breached",
    "sla_warned",
    "reopen_count",
    "reassignment_count",
    "resolution_code",
    "resolution_notes",
    "close_reason",
    "last_error",
)


def incident_view(db: Database, number: str) -> dict[str, Any]:
    """Everything known about one incident: fields, open tasks, history (oldest first)."""
    with db.reading() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).first()
        if incident is None:
            raise NotFound(f"no incident {number}")
        instance = session.get(Instance, incident.instance_id)
        assert instance is not None  # the foreign key guarantees it
        tasks = session.scalars(
            select(HumanTask)
            .where(HumanTask.instance_id == incident.instance_id)
            .order_by(HumanTask.created_at)
        )
        return {
            "incident": {name: getattr(incident, name) for name in FIELDS},
            "instance": {
                "id": instance.id,
                "version": instance.version,
                "status": instance.status,
                "definition_id": instance.definition_id,
            },
            "open_tasks": [
                {
                    "id": t.id,
                    "task": t.element,
                    "name": t.name,
                    "lane": t.lane,
                    "group": t.group_name,
                    "assignee": t.assignee,
                    "form": t.form,
                }
                for t in tasks
            ],
            "history": history_of(session, incident.instance_id),
        }


def history_of(session: Session, instance_id: int) -> list[dict[str, Any]]:
    """An instance's history events as dicts, oldest first."""
    return [
        {
            "seq": e.seq,
            "at": e.at,
            "kind": e.kind,
            "element": e.element,
            "actor": e.actor,
            "payload": e.payload,
        }
        for e in history.story(session, instance_id)
    ]


def render_incident(view: dict[str, Any]) -> str:
    """The incident as a person reads it: fields, what is open, then its story."""
    inc = view["incident"]
    lines = [
        f"{inc['number']}  {inc['short_description']}",
        f"  {inc['kind']} · state {inc['state']} · priority {inc['priority'] or '-'}"
        f" · caller {inc['caller']}",
    ]
    for name in FIELDS[6:]:
        value = inc[name]
        if value not in (None, "", [], False, 0):
            lines.append(f"  {name:<20} {value}")
    sla = sla_view.clocks(view["history"], clock.now())
    if sla:
        lines.append("SLA (recomputed from the history):")
        lines += [f"  {sla_view.describe(name, state)}" for name, state in sla.items()]
    lines.append("open tasks:" if view["open_tasks"] else "open tasks: none")
    for task in view["open_tasks"]:
        holder = task["assignee"] or task["group"] or "-"
        lines.append(
            f"  {task['name']} [{task['lane']}] for {holder} (form {task['form']}) id {task['id']}"
        )
    lines.append("history:")
    for event in view["history"]:
        lines.append("  " + story_line(event))
    return "\n".join(lines)


def story_line(event: dict[str, Any]) -> str:
    at = event["at"].strftime("%Y-%m-%d %H:%M")
    payload = event["payload"]
    actor = f" by {event['actor']}" if event["actor"] else ""
    kind = event["kind"]
    if kind == "command":
        detail = payload.get("command", "")
        if payload.get("task"):
            detail += f" {payload['task']}"
        if payload.get("message"):
            detail += f" '{payload['message']}'"
        inputs = payload.get("inputs")
        if inputs and payload.get("command") != "start_incident":
            detail += f" {inputs}"
        return f"{at} #{event['seq']:<3} {detail}{actor}"
    if kind in ("task", "timer"):
        what = "timer fired" if kind == "timer" else payload.get("state", "").lower()
        lane = f" [{payload['lane']}]" if payload.get("lane") else ""
        return f"{at} #{event['seq']:<3}   {payload.get('name')}{lane}: {what}"
    if kind == "handler":
        return (
            f"{at} #{event['seq']:<3}     {payload.get('operator')}"
            f"({_short(payload.get('params'))}) -> {_short(payload.get('result'))}"
        )
    if kind == "escalation":
        return (
            f"{at} #{event['seq']:<3}   escalated ({payload.get('kind')}) to "
            f"{payload.get('assignee')}: {payload.get('reason')}"
        )
    if kind == "error":
        return f"{at} #{event['seq']:<3} ERROR {payload.get('error')}"
    return f"{at} #{event['seq']:<3} {kind} {payload}"


def _short(value: Any, limit: int = 90) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_lines(db: Database, state: str | None = None, limit: int = 20) -> list[str]:
    with db.reading() as session:
        query = select(Incident).order_by(Incident.id.desc()).limit(limit)
        if state:
            query = query.where(Incident.state == state)
        return [
            f"{i.number}  P{i.priority or '-'}  {i.state:<12} {i.assignment_group or '-':<16} "
            f"{i.short_description}"
            for i in session.scalars(query)
        ]
