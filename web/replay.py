"""The auditor's process views, read-only: one incident's replay on its diagram, step by
step (`engine.audit.replay_steps`), and the heatmap of many incidents on one version: how many
passed each element, and the median time spent there (`engine.audit.heatmap`).

The diagrams are drawn by bpmn-js from web/static/vendor (`make install`). Every page and
every data download here is recorded as an audit view (`engine.audit.auditors.record_view`).
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    url_for,
)
from sqlalchemy import select

from engine.audit import auditors, heatmap, replay_steps
from engine.errors import NotFound
from engine.store.models import Group, Incident
from handlers.catalog import catalog
from web import case_filters
from web.auth import current_username, requires
from web.database import database
from web.params import Text, args, given, query

bp = Blueprint("replay", __name__, url_prefix="/audit")

# The heatmap's form: which incidents (`web.case_filters`).
FILTERS = case_filters.declared("from", "to")


def _no_store(body) -> Response:
    answer = make_response(body)
    answer.headers["Cache-Control"] = "no-store"  # incidents move on
    return answer


# --- one incident ---------------------------------------------------------------------


@bp.get("/replay")
@requires("auditor")
@query(number=Text(40))
def find():
    """The audit page's "Replay incident number" form lands here."""
    number = args()["number"].upper()
    if not number:
        flash("Give the number of the incident to replay.", "error")
        return redirect(url_for("audit.home"))
    return redirect(url_for("replay.replay_page", number=number))


@bp.get("/incidents/<number>/replay")
@requires("auditor")
def replay_page(number: str):
    db = database()
    with db.reading() as session:
        found = session.scalar(select(Incident.number).where(Incident.number == number.upper()))
    if found is None:
        abort(404, f"there is no incident {number}")
    auditors.record_view(db, current_username(), "replay page", found)
    return _no_store(render_template("audit/replay.html", incident_number=found))


@bp.get("/incidents/<number>/replay.json")
@requires("auditor")
def replay_json(number: str):
    db = database()
    with db.reading() as session:
        try:
            replay = replay_steps.for_incident(session, number)
        except NotFound as missing:
            abort(404, str(missing))
    auditors.record_view(
        db, current_username(), "replay data", f"{replay.number}: {len(replay.steps)} step(s)"
    )
    return _no_store(jsonify(replay.as_json()))


# --- many incidents -------------------------------------------------------------------


def _heatmap(what: str) -> heatmap.Heatmap:
    filters = case_filters.filters(args(), "from", "to")
    db = database()
    with db.reading() as session:
        try:
            result = heatmap.heatmap(session, filters)
        except NotFound as missing:
            abort(404, str(missing))
    auditors.record_view(
        db, current_username(), what, f"{result.filters.describe()}: {result.incidents} incident(s)"
    )
    return result


@bp.get("/heatmap")
@requires("auditor")
@query(FILTERS)
def heatmap_page():
    result = _heatmap("heatmap page")
    with database().reading() as session:
        versions = heatmap.versions(session, result.key)
        groups = list(session.scalars(select(Group.name).order_by(Group.name)))
    return _no_store(
        render_template(
            "audit/heatmap.html",
            result=result,
            data=result.as_json(),
            args=given(),
            versions=versions,
            groups=groups,
            categories=sorted(catalog().categories),
            priorities=catalog().priorities,
            duration_text=heatmap.duration_text,
        )
    )


@bp.get("/heatmap.json")
@requires("auditor")
@query(FILTERS)
def heatmap_json():
    return _no_store(jsonify(_heatmap("heatmap data").as_json()))
