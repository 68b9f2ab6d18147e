"""The desk, for technicians, specialists and their managers: the work queues, claiming
and assigning tasks, and completing a task with the form its diagram names."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from engine import clock
from engine.desk import access, queries, queues, suggestions
from engine.errors import Conflict, DeskflowError, FormInvalid
from engine.store.models import Group, HumanTask, Incident, Instance, Membership, User
from handlers.catalog import catalog
from web.auth import current_user, requires
from web.database import database, runtime
from web.form_fields import fields_of, shown_values, submitted
from web.notes import work_notes
from web.params import Choice, Flag, Pattern, Text, Whole, args, given, query
from web.redirects import same_site
from web.timeline import customer_timeline

bp = Blueprint("desk", __name__, url_prefix="/desk")

STAFF = ("technician", "specialist", "manager")
QUEUE_TITLES = {"mine": "My tasks", "groups": "My groups' unassigned", "all": "All open"}
REFRESH_SECONDS = 30  # how often an open queue page asks for its rows again


def me() -> access.Person:
    user = current_user()
    assert user is not None  # every route here requires a log-in
    with database().reading() as session:
        return access.person(session, user)


@bp.get("/")
@requires(*STAFF)
def home():
    return redirect(url_for("desk.queue"))


@bp.get("/queue")
@requires(*STAFF)
@query(
    q=Choice(queues.QUEUES),
    lane=Text(100),
    group=Text(100),
    priority=Whole(1, 5),
    category=Text(100),
    sla=Choice(queues.SLA_STATES),
    fragment=Flag(),  # only the rows, for the page's refresh
)
def queue():
    who = me()
    name = args()["q"] or ("all" if who.is_manager else "mine")
    if name == "all" and not who.is_manager:
        abort(403, "the queue of all open work is for managers")
    filters = _filters()
    with database().reading() as session:
        rows, total = queues.queue(session, who, name, filters, clock.now())
        groups = list(session.scalars(select(Group.name).order_by(Group.name)))
    refresh = current_app.config.get("DESK_REFRESH_SECONDS", REFRESH_SECONDS)
    shown = f", the {len(rows)} most urgent shown" if total > len(rows) else ""
    back_args: dict[str, Any] = {k: v for k, v in given().items() if k != "fragment"}
    values = {
        "summary": f"{total} open task{'' if total == 1 else 's'}{shown}. "
        f"Updates every {refresh} s.",
        "rows": rows,
        "total": total,
        "queue": name,
        "filters": filters,
        "titles": QUEUE_TITLES,
        "who": who,
        "groups": groups,
        "categories": sorted(catalog().categories),
        "priorities": catalog().priorities,
        "sla_states": queues.SLA_STATES,
        "refresh": refresh,
        "now": clock.now(),
        "may_work": lambda task, incident: access.may_work(who, task, incident.caller),
        "back": url_for("desk.queue", **back_args),
    }
    if args()["fragment"]:
        return render_template("desk/_queue_rows.html", **values)
    return render_template("desk/queue.html", **values)


def _filters() -> queues.Filters:
    asked = args()
    return queues.Filters(
        lane=asked["lane"],
        group=asked["group"],
        priority=asked["priority"],
        category=asked["category"],
        sla=asked["sla"] or "",
    )


def open_task(task_id: str) -> tuple[HumanTask, Incident]:
    """The open task and its incident. A task no longer open answers 410 with a link to
    its incident when the link to the task named it (`?incident=`: Back to a finished
    task's form, or a form sent twice), else 404 saying the task is not open."""
    with database().reading() as session:
        task = session.get(HumanTask, task_id)
        incident = session.get(Incident, task.incident_id) if task else None
        if task is None and (number := args().get("incident")):
            incident = session.scalars(select(Incident).where(Incident.number == number)).first()
            if incident is not None:
                page = render_template("desk/task_done.html", incident=incident)
                abort(make_response(page, 410))
    if task is None or incident is None:
        abort(404, f"task {task_id} is not open (it was completed, or never existed)")
    return task, incident


def _workable(task_id: str) -> tuple[access.Person, HumanTask, Incident]:
    who = me()
    task, incident = open_task(task_id)
    if not access.may_work(who, task, incident.caller):
        abort(403, f"'{task.name}' is for {task.group_name or task.lane}, not for you")
    return who, task, incident


def _back(incident: Incident):
    if target := same_site(request.form.get("back"), under="/desk/"):
        return redirect(target)
    return redirect(url_for("incidents.incident", number=incident.number))


@bp.post("/tasks/<task_id>/claim")
@requires(*STAFF)
def claim(task_id: str):
    who, task, incident = _workable(task_id)
    try:
        runtime().claim_task(task_id, who.username, actor=who.username, taking=True)
    except Conflict as taken:
        flash(f"Not claimed: {taken}.", "error")
    else:
        flash(f"You have '{task.name}' of {incident.number}.", "info")
    return _back(incident)


@bp.post("/tasks/<task_id>/unclaim")
@requires(*STAFF)
def unclaim(task_id: str):
    who, task, incident = _workable(task_id)
    if task.assignee != who.username and not who.is_manager:
        abort(403, "only the person who has it (or a manager) can give it back")
    try:
        runtime().claim_task(task_id, None, actor=who.username)
    except Conflict as gone:
        flash(f"Not changed: {gone}.", "error")
    else:
        flash(f"'{task.name}' of {incident.number} is back in the group's queue.", "info")
    return _back(incident)


@bp.post("/tasks/<task_id>/assign")
@requires(*STAFF)
def assign(task_id: str):
    who, task, incident = _workable(task_id)
    colleague = request.form.get("assignee", "").strip()
    with database().reading() as session:
        allowed = access.may_assign_to(session, task, colleague)
    if not allowed:
        flash(f"Not assigned: '{colleague}' is not in {task.group_name or task.lane}.", "error")
        return _back(incident)
    try:
        runtime().claim_task(task_id, colleague, actor=who.username)
    except Conflict as gone:
        flash(f"Not assigned: {gone}.", "error")
    else:
        flash(f"'{task.name}' of {incident.number} is assigned to {colleague}.", "info")
    return _back(incident)


def colleagues(group: str | None) -> list[str]:
    """Who a task of `group` can be assigned to: the group's members."""
    if not group:
        return []
    with database().reading() as session:
        return list(
            session.scalars(
                select(Membership.username)
                .where(Membership.group_name == group)
                .order_by(Membership.username)
            )
        )


LATEST_NOTES = 3  # work notes and caller-facing entries shown on a task's form
INCIDENT_NUMBER = Pattern(r"INC[0-9]{7,12}", "an incident number such as INC0000042")


@bp.route("/tasks/<task_id>", methods=["GET", "POST"])
@requires(*STAFF)
@query(incident=INCIDENT_NUMBER)
def task(task_id: str):
    who, task, incident = _workable(task_id)
    with database().reading() as session:
        schema = (
            runtime()
            .definition(session, _definition_id(session, incident))
            .forms.get(task.form or "", {"type": "object", "properties": {}})
        )
        story = queries.history_of(session, incident.instance_id)
        suggested = (
            suggestions.category(story) if "category" in schema.get("properties", {}) else None
        )
        caller = session.get(User, incident.caller)
    errors: dict[str, str] = {}
    values: dict[str, Any] = _prefilled(suggested)
    if request.method == "POST":
        data = submitted(schema, request.form)
        values = shown_values(data)
        try:
            runtime().complete_task(task_id, data, actor=who.username)
        except FormInvalid as invalid:
            errors = invalid.errors
        except Conflict as gone:
            flash(f"Not saved: {gone}.", "error")
            return redirect(url_for("incidents.incident", number=incident.number))
        except DeskflowError as failed:
            errors = {"(form)": str(failed)}
        else:
            flash(f"'{task.name}' of {incident.number} is done.", "info")
            return redirect(url_for("desk.queue"))
    page = render_template(
        "desk/task.html",
        task=task,
        incident=incident,
        schema=schema,
        fields=fields_of(schema),
        values=values,
        errors=errors,
        suggested=suggested,
        notes=work_notes(story)[-LATEST_NOTES:],
        heard=customer_timeline(
            story, incident.caller, about=caller.full_name if caller else incident.caller
        )[-LATEST_NOTES:],
    )
    return page, 422 if errors else 200


def _prefilled(suggested: suggestions.CategorySuggestion | None) -> dict[str, Any]:
    """The form's inputs as the suggestion fills them, for the person to check."""
    if suggested is None:
        return {}
    data: dict[str, Any] = {"category": suggested.category}
    if suggested.subcategory:
        data["subcategories"] = [suggested.subcategory]
    return shown_values(data)


def _definition_id(session, incident: Incident) -> int:
    instance = session.get(Instance, incident.instance_id)
    assert instance is not None  # the foreign key guarantees it
    return instance.definition_id
