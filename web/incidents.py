"""The desk's incident page and what staff do on it: read everything about an incident
(fields, SLA clocks, work notes apart from what the caller sees, the history, the
diagram), write a work note or a comment to the caller, escalate (functionally to the
specialists, hierarchically to the manager), put on hold and resume, change the
priority, add an automated escalation; and log an incident on a caller's behalf."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine import clock
from engine.desk import queries, queues, sla_view
from engine.errors import Conflict, DeskflowError, FormInvalid, NotFound
from engine.process import versions
from engine.store.models import Incident, Instance, User
from web.auth import requires
from web.database import database, runtime
from web.desk import STAFF, colleagues, me
from web.form_fields import fields_of, new_submission, shown_values, submitted
from web.notes import work_notes
from web.timeline import customer_timeline

bp = Blueprint("incidents", __name__, url_prefix="/desk")

REPORTERS = ("technician", "manager")  # the service desk logs calls, mails and walk-ins


@bp.get("/incidents/<number>")
@requires(*STAFF)
def incident(number: str):
    try:
        view = queries.incident_view(database(), number.upper())
    except NotFound:
        abort(404, f"there is no incident {number}")
    with database().reading() as session:
        row = session.scalars(select(Incident).where(Incident.number == number.upper())).one()
        users = {u.username: u.full_name for u in session.scalars(select(User))}
    now = clock.now()
    tasks = view["open_tasks"]
    for task in tasks:
        task["colleagues"] = colleagues(task["group"])
    return render_template(
        "desk/incident.html",
        view=view,
        incident=view["incident"],
        tasks=tasks,
        badge=queues.sla_badge(row, now),
        clocks=sla_view.clocks(view["history"], now),
        work_notes=work_notes(view["history"]),
        conversation=customer_timeline(
            view["history"], row.caller, about=users.get(row.caller, row.caller)
        ),
        story=[queries.story_line(e) for e in view["history"]],
        users=users,
        diagnosing=next((t for t in tasks if t["task"] == "diagnose"), None),
        who=me(),
        now=now,
    )


def _incident_number(number: str) -> str:
    with database().reading() as session:
        found = session.scalar(select(Incident.number).where(Incident.number == number.upper()))
    if found is None:
        abort(404, f"there is no incident {number}")
    return found


def _done(number: str, said: str):
    flash(said, "info")
    return redirect(url_for("incidents.incident", number=number))


def _refused(number: str, why: Exception | str):
    flash(f"Not done: {why}", "error")
    return redirect(url_for("incidents.incident", number=number))


@bp.post("/incidents/<number>/notes")
@requires(*STAFF)
def note(number: str):
    number = _incident_number(number)
    kind = request.form.get("kind", "")
    try:
        runtime().add_note(number, kind, request.form.get("text", ""), actor=me().username)
    except DeskflowError as bad:
        return _refused(number, bad)
    said = "Comment sent to the caller." if kind == "comment" else "Work note added."
    return _done(number, said)


@bp.post("/incidents/<number>/escalate")
@requires(*STAFF)
def escalate(number: str):
    """Functional: the diagnosis ends unresolved, the specialists' group gets it.
    Hierarchical: the manager of the group holding it is told, with the reason."""
    number = _incident_number(number)
    kind, reason = request.form.get("kind", ""), request.form.get("reason", "").strip()
    who = me().username
    try:
        if kind == "functional":
            task_id = _diagnose_task(number)
            if task_id is None:
                raise Conflict("it can go to the specialists only while it is being diagnosed")
            if len(reason) < 3:
                raise DeskflowError("say why in a few words")
            runtime().complete_task(task_id, {"resolved": False, "work_notes": reason}, actor=who)
            return _done(number, "Escalated to the specialist group.")
        if kind == "hierarchical":
            manager = runtime().escalate_to_manager(number, reason, actor=who)
            return _done(number, f"Escalated to {manager}, the group's manager.")
    except FormInvalid as invalid:
        return _refused(number, "; ".join(invalid.errors.values()))
    except DeskflowError as bad:
        return _refused(number, bad)
    abort(400, f"unknown escalation '{kind}' (known: functional, hierarchical)")


def _diagnose_task(number: str) -> str | None:
    view = queries.incident_view(database(), number)
    return next((t["id"] for t in view["open_tasks"] if t["task"] == "diagnose"), None)


MESSAGE_SAID = {
    "hold": "On hold: the resolution clock is stopped.",
    "resume": "Work resumed: the resolution clock runs again.",
    "reprioritize": "The priority was changed; the SLA targets follow.",
}


@bp.post("/incidents/<number>/messages/<message>")
@requires(*STAFF)
def message(number: str, message: str):
    """Put on hold, resume, change the priority: a message to the process, its payload
    from the form the diagram names for it."""
    number = _incident_number(number)
    if message not in MESSAGE_SAID:
        abort(404, f"no action '{message}' (known: {', '.join(MESSAGE_SAID)})")
    try:
        with database().reading() as session:
            row = session.scalars(select(Incident).where(Incident.number == number)).one()
            schema = runtime().definition(session, _definition_of(session, row)).forms[message]
        payload = submitted(schema, request.form)
        runtime().send_message(number, message, payload, actor=me().username)
    except FormInvalid as invalid:
        return _refused(number, "; ".join(f"{f}: {m}" for f, m in invalid.errors.items()))
    except DeskflowError as bad:
        return _refused(number, bad)
    return _done(number, MESSAGE_SAID[message])


def _definition_of(session, incident: Incident) -> int:
    instance = session.get(Instance, incident.instance_id)
    assert instance is not None
    return instance.definition_id


@bp.post("/incidents/<number>/automated-escalations")
@requires(*STAFF)
def automated_escalation(number: str):
    """ "If not resolved by then, notify or reassign someone": fired by the worker."""
    number = _incident_number(number)
    form = request.form
    try:
        due = datetime.fromisoformat(form.get("due_at", ""))
    except ValueError:
        return _refused(number, "give the time as YYYY-MM-DD HH:MM (UTC)")
    if due.tzinfo is None:
        due = due.replace(tzinfo=UTC)
    try:
        runtime().add_escalation(
            number,
            due,
            form.get("action", ""),
            form.get("target", "").strip(),
            form.get("note", "").strip(),
            actor=me().username,
        )
    except DeskflowError as bad:
        return _refused(number, bad)
    return _done(number, f"Automated escalation set for {due:%Y-%m-%d %H:%M} UTC.")


@bp.route("/report", methods=["GET", "POST"])
@requires(*REPORTERS)
def report():
    """A technician logs a call, a mail or a walk-in for a caller."""
    with database().reading() as session:
        schema = runtime().definition(session, _latest_id(session)).forms["report"]
        callers = list(
            session.execute(select(User.username, User.full_name).order_by(User.username))
        )
    fields = [f for f in fields_of(schema) if f.name not in ("reported_by",)]
    for field in fields:
        if field.name == "caller":
            field.kind, field.options = "select", [name for name, _ in callers]
        if field.name == "channel":
            field.options = [c for c in field.options if c != "portal"]
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"is_broken": "yes", "channel": "phone"}
    submission = request.form.get("submission") or new_submission()
    if request.method == "POST":
        data = submitted(schema, request.form) | {"reported_by": me().username}
        values = shown_values(data)
        try:
            number = runtime().start_incident(data, actor=me().username, submission=submission)
        except FormInvalid as invalid:
            errors = invalid.errors
        except DeskflowError as refused:
            errors = {"(form)": str(refused)}
        else:
            flash(f"{number} logged for {data['caller']}.", "info")
            return redirect(url_for("incidents.incident", number=number))
    names = dict(callers)
    page = render_template(
        "desk/report.html",
        fields=fields,
        values=values,
        errors=errors,
        names=names,
        submission=submission,
    )
    return page, 422 if errors else 200


def _latest_id(session) -> int:
    return versions.latest(session, versions.PROCESS_KEY).id
