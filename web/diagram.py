"""The process diagram of one incident, for staff: the BPMN of the version its instance
is pinned to, with where it waits now and the way it came (see `engine.audit.diagram_path`).
Drawn in the browser by bpmn-js, served from web/static/vendor (`make install`)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template
from sqlalchemy import select

from engine.audit import diagram_path
from engine.errors import NotFound
from engine.store.models import Incident
from web.auth import requires
from web.database import database

bp = Blueprint("diagram", __name__)

STAFF = ("technician", "specialist", "manager", "auditor", "admin")


@bp.get("/incidents/<number>/diagram.json")
@requires(*STAFF)
def diagram_json(number: str):
    with database().reading() as session:
        try:
            path = diagram_path.for_incident(session, number)
        except NotFound as missing:
            abort(404, str(missing))
    answer = jsonify(path.as_json())
    answer.headers["Cache-Control"] = "no-store"  # it moves on with the incident
    return answer


@bp.get("/incidents/<number>/diagram")
@requires(*STAFF)
def diagram_page(number: str):
    with database().reading() as session:
        row = session.scalars(
            select(Incident.number).where(Incident.number == number.upper())
        ).one_or_none()
    if row is None:
        abort(404, f"there is no incident {number}")
    return render_template("diagram.html", incident_number=row)
