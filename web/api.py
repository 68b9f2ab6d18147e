"""The JSON API under /api/: report and follow incidents, work tasks, send the process
messages — for programs, with the rules of the web pages (`engine.desk.access`) and through
the same engine commands.

A request is made by a person: the owner of the API token in `Authorization: Bearer`
(see `engine.desk.api_tokens`), or else the logged-in user of the browser session. Every
answer is JSON, errors included: `{"error": "..."}` with the status that fits, and for
form data that does not fit its schema 422 with `fields`. `web.openapi` documents it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from engine.desk import access, api_tokens, queries
from engine.desk.access import Person
from engine.errors import Conflict, DeskflowError, FormInvalid, NotFound
from engine.instances import submissions
from engine.instances.runtime import MESSAGES
from engine.process.forms import validate_form
from engine.store.models import HumanTask, Incident, Instance, User
from web import openapi
from web.auth import current_user
from web.bodies import json_body
from web.database import database, runtime
from web.params import Flag, Text, Whole, args, query

bp = Blueprint("api", __name__, url_prefix="/api")

LIMIT_DEFAULT, LIMIT_MAX = 50, 200
# As on the desk's pages: the service desk logs problems for callers, and the people who
# work incidents send every message (auditors and admins see everything, change nothing).
REPORTER_ROLES = frozenset({"technician", "manager"})
SUMMARY = (
    "number",
    "kind",
    "state",
    "priority",
    "caller",
    "short_description",
    "assignment_group",
    "assignee",
    "opened_at",
    "resolution_due",
)


# --- who is asking --------------------------------------------------------------------


@bp.before_request
def _identify() -> None:
    if request.endpoint != "api.document":
        g.api_person = _person()


def _person() -> Person:
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme:
        if scheme.lower() != "bearer":
            abort(401, "send the API token as: Authorization: Bearer <token>")
        try:
            bearer = api_tokens.authenticate(database(), credential.strip())
        except api_tokens.TokenRefused as refused:
            abort(401, str(refused))
        if bearer.read_only and request.method not in api_tokens.READ_METHODS:
            abort(403, "this API token is read-only: it may only GET; ask for a write token")
        return bearer.person
    user = current_user()
    if user is None:
        abort(401, "send an API token (Authorization: Bearer <token>) or log in")
    with database().reading() as session:
        return access.person(session, user)


def _who() -> Person:
    return g.api_person


def _works_incidents(who: Person) -> bool:
    return bool(who.roles & access.WORKER_ROLES)


# --- reading requests -----------------------------------------------------------------


def _body(*fields: str) -> dict[str, Any]:
    """The JSON object sent (`web.bodies.json_body`), with no field but `fields`."""
    body = json_body()
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    if unknown := sorted(set(body) - set(fields)):
        abort(400, f"unknown field(s) {', '.join(unknown)}; known: {', '.join(fields)}")
    return body


# The query parameters of the lists (`web.params`): paging, and what to filter by.
PAGING = {"limit": Whole(1, LIMIT_MAX, default=LIMIT_DEFAULT), "offset": Whole(0, default=0)}
NAME = Text(100)  # a state, a lane, a group: matched as written


# --- writing answers ------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """`value` with its datetimes in ISO 8601 (Flask would write HTTP dates)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _incident_url(number: str) -> str:
    return url_for("api.show_incident", number=number)


def _summary(incident: Incident) -> dict[str, Any]:
    fields = {name: getattr(incident, name) for name in SUMMARY}
    return _plain(fields) | {"url": _incident_url(incident.number or "")}


def _task(task: HumanTask, incident: Incident, who: Person) -> dict[str, Any]:
    return _plain(
        {
            "id": task.id,
            "task": task.element,
            "name": task.name,
            "lane": task.lane,
            "group": task.group_name,
            "assignee": task.assignee,
            "form": task.form,
            "number": incident.number,
            "created_at": task.created_at,
            "due_at": task.due_at,
            "may_work": access.may_work(who, task, incident.caller),
            "url": url_for("api.show_task", task_id=task.id),
        }
    )


def _outcome(number: str) -> dict[str, Any]:
    with database().reading() as session:
        state = session.scalar(select(Incident.state).where(Incident.number == number))
    return {"number": number, "state": state, "url": _incident_url(number)}


def _visible_incident(session: Session, who: Person, number: str) -> Incident:
    """The incident, if `who` may see it; someone else's looks like no incident."""
    number = number.upper()
    incident = session.scalars(select(Incident).where(Incident.number == number)).first()
    if incident is None or not access.may_see(who, incident):
        abort(404, f"no incident {number}")
    return incident


def _open_tasks(session: Session, incident: Incident) -> list[HumanTask]:
    query = select(HumanTask).where(HumanTask.incident_id == incident.id)
    return list(session.scalars(query.order_by(HumanTask.created_at, HumanTask.id)))


# --- incidents ------------------------------------------------------------------------


@bp.post("/incidents")
def report_incident():
    """Open an incident; staff may report for a caller (then they are `reported_by`)."""
    who = _who()
    fields = ("short_description", "description", "is_broken", "impact", "urgency")
    body = _body(*fields, "caller", "channel")
    caller = body.pop("caller", who.username)
    if caller != who.username:
        if not who.roles & REPORTER_ROLES:
            abort(403, "you can report your own problems only: leave out 'caller'")
        with database().reading() as session:
            known = isinstance(caller, str) and session.get(User, caller) is not None
        if not known:
            raise FormInvalid("report", {"caller": f"no user '{caller}'"})
    report = {"channel": "portal", "description": "", "is_broken": True, **body}
    report |= {"caller": caller, "reported_by": who.username}
    number = runtime().start_incident(report, actor=who.username, submission=_idempotency_key())
    url = _incident_url(number)
    return jsonify(number=number, url=url), 201, {"Location": url}


def _idempotency_key() -> str | None:
    """The `Idempotency-Key` header: a retried report with the same key answers with the
    incident the first one opened (`engine.instances.submissions`); 400 when malformed."""
    sent = request.headers.get("Idempotency-Key")
    if sent is None:
        return None
    try:
        submissions.scoped("", sent)
    except DeskflowError as bad:
        abort(400, str(bad))
    return sent


@bp.get("/incidents")
@query(PAGING, state=NAME, priority=Whole(1, 5), group=NAME)
def list_incidents():
    """Newest first: every incident for staff, their own for people who report problems."""
    who = _who()
    asked = args()
    limit, offset = asked["limit"], asked["offset"]
    chosen = select(Incident)
    if not who.is_staff:
        chosen = chosen.where(Incident.caller == who.username)
    if asked["state"]:
        chosen = chosen.where(Incident.state == asked["state"])
    if asked["priority"] is not None:
        chosen = chosen.where(Incident.priority == asked["priority"])
    if asked["group"]:
        chosen = chosen.where(Incident.assignment_group == asked["group"])
    with database().reading() as session:
        total = session.scalar(select(func.count()).select_from(chosen.subquery()))
        page = session.scalars(chosen.order_by(Incident.id.desc()).limit(limit).offset(offset))
        incidents = [_summary(incident) for incident in page]
    return jsonify(incidents=incidents, total=total, limit=limit, offset=offset)


@bp.get("/incidents/<number>")
def show_incident(number: str):
    """Its fields, its open tasks, and for staff its history."""
    who = _who()
    with database().reading() as session:
        incident = _visible_incident(session, who, number)
        tasks = [_task(task, incident, who) for task in _open_tasks(session, incident)]
    view = queries.incident_view(database(), incident.number or "")
    fields = view["incident"]
    if not who.is_staff:
        fields.pop("last_error")  # the engine's words, for the desk
    answer = {
        "incident": _plain(fields),
        "version": view["instance"]["version"],
        "status": view["instance"]["status"],
        "open_tasks": tasks,
    }
    if who.is_staff:
        answer["history"] = _plain(view["history"])
    return jsonify(answer)


@bp.post("/incidents/<number>/messages")
def send_message(number: str):
    """confirm, reopen, user_reply (the caller, or the desk); hold, resume, reprioritize
    (the desk)."""
    who = _who()
    body = _body("message", "payload")
    message, payload = body.get("message"), body.get("payload", {})
    if message not in MESSAGES:
        raise FormInvalid("message", {"message": f"one of {', '.join(MESSAGES)}"})
    if not isinstance(payload, dict):
        raise FormInvalid("message", {"payload": "the payload must be a JSON object"})
    with database().reading() as session:
        incident = _visible_incident(session, who, number)
    theirs = message in openapi.CALLER_MESSAGES and incident.caller == who.username
    if not (theirs or _works_incidents(who)):
        abort(403, f"'{message}' is for the service desk, not for you to send")
    if message in openapi.MESSAGE_PAYLOADS:
        payload = validate_form(message, openapi.MESSAGE_PAYLOADS[message], payload)
    number = incident.number or ""
    runtime().send_message(number, message, payload, actor=who.username)
    return jsonify(_outcome(number))


# --- tasks ----------------------------------------------------------------------------


@bp.get("/tasks")
@query(PAGING, lane=NAME, mine=Flag())
def list_tasks():
    """The open tasks `who` may work, oldest first (?lane=, ?mine=1)."""
    who = _who()
    asked = args()
    limit, offset = asked["limit"], asked["offset"]
    chosen = select(HumanTask, Incident).join(Incident, Incident.id == HumanTask.incident_id)
    if asked["lane"]:
        chosen = chosen.where(HumanTask.lane == asked["lane"])
    if asked["mine"]:
        chosen = chosen.where(HumanTask.assignee == who.username)
    if not who.is_staff:
        chosen = chosen.where(Incident.caller == who.username)
    with database().reading() as session:
        rows = session.execute(chosen.order_by(HumanTask.created_at, HumanTask.id)).all()
        workable = [(t, i) for t, i in rows if access.may_work(who, t, i.caller)]
        tasks = [_task(t, i, who) for t, i in workable[offset : offset + limit]]
    return jsonify(tasks=tasks, total=len(workable), limit=limit, offset=offset)


def _task_row(session: Session, task_id: str) -> tuple[HumanTask, Incident, Instance] | None:
    row = session.execute(
        select(HumanTask, Incident, Instance)
        .join(Incident, Incident.id == HumanTask.incident_id)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.id == task_id)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


@bp.get("/tasks/<task_id>")
def show_task(task_id: str):
    """The task, its incident, and the JSON Schema its completion's data must fit."""
    who = _who()
    with database().reading() as session:
        row = _task_row(session, task_id)
        if row is None or not access.may_see(who, row[1]):
            abort(404, f"no open task {task_id}")
        task, incident, instance = row
        forms = runtime().definition(session, instance.definition_id).forms
        answer = _task(task, incident, who) | {
            "version": instance.version,
            "incident": _summary(incident),
            "form_schema": forms.get(task.form) if task.form else None,
        }
    return jsonify(answer)


def _workable(task_id: str) -> tuple[HumanTask, Incident]:
    """The open task, if `who` may work it: else 409 (not open) or 403."""
    with database().reading() as session:
        row = _task_row(session, task_id)
    if row is None:
        raise Conflict(f"task {task_id} is not open (completed already, or no such task)")
    task, incident, _ = row
    if not access.may_work(_who(), task, incident.caller):
        abort(403, f"you may not work the task '{task.name}' of {incident.number}")
    return task, incident


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id: str):
    """Take the task: assign it to whoever asks, unless a colleague holds it (409)."""
    who = _who()
    _workable(task_id)
    runtime().claim_task(task_id, who.username, actor=who.username, taking=True)
    return jsonify(id=task_id, assignee=who.username)


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id: str):
    """Complete the task with `data` (checked against its form)."""
    who = _who()
    body = _body("data", "expected_version")
    data, version = body.get("data"), body.get("expected_version")
    if not isinstance(data, dict):
        abort(400, "'data' must be a JSON object: the task's form, filled in")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        abort(400, "'expected_version' must be a whole number")
    _, incident = _workable(task_id)
    runtime().complete_task(task_id, data, actor=who.username, expected_version=version)
    return jsonify(_outcome(incident.number or ""))


# --- the document, and errors as JSON -------------------------------------------------


@bp.get("/openapi.json")
def document():
    """The OpenAPI 3.1 document (no log-in needed)."""
    return jsonify(openapi.document())


def _refusal(status: int, message: str, **more: Any) -> Response:
    response = jsonify(error=message, **more)
    response.status_code = status
    return response


def refusal(error: HTTPException) -> Response:
    """An HTTP error as JSON, with its headers (Allow on 405; WWW-Authenticate on 401)."""
    status = error.code or 500
    message = error.description or error.name
    if isinstance(error, RequestEntityTooLarge):
        message = "the request body is too large"
    response = _refusal(status, message)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if status == 401:  # RFC 6750: say why when a credential was sent
        sent = 'Bearer realm="deskflow", error="invalid_token"'
        bare = 'Bearer realm="deskflow"'
        response.headers["WWW-Authenticate"] = sent if "Authorization" in request.headers else bare
    return response


bp.register_error_handler(HTTPException, refusal)


@bp.errorhandler(FormInvalid)
def _form_invalid(error: FormInvalid) -> Response:
    return _refusal(422, str(error), fields=error.errors)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Response:
    return _refusal(404, str(error))


@bp.errorhandler(Conflict)
def _conflict(error: Conflict) -> Response:
    return _refusal(409, str(error))


@bp.errorhandler(DeskflowError)
def _refused(error: DeskflowError) -> Response:
    return _refusal(400, str(error))
