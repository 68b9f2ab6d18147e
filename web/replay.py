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
    request,
    url_for,
)
from sqlalchemy import select

from engine.audit import auditors, heatmap, replay_steps
from engine.audit.event_log import Filters, parse_time
from engine.errors import DeskflowError, NotFound
from engine.store.models import Group, Incident
from handlers.catalog import catalog
from web.auth import current_username, requires
from web.database import database

bp = Blueprint("replay", __name__, url_prefix="/audit")

BREACHED = {"yes": True, "no": False}


def _no_store(body) -> Response:
    answer = make_response(body)
    answer.headers["Cache-Control"] = "no-store"  # incidents move on
    return answer


# --- one incident ---------------------------------------------------------------------


@bp.get("/replay")
@requires("auditor")
def find():
    """The audit page's "Replay incident number" form lands here."""
    number = request.args.get("number", "").strip().upper()
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


def _filters() -> Filters:
    """The heatmap's filters from the query string (its form), or 400 when unreadable."""
    args = request.args
    try:
        version = args.get("version", "").strip()
        since = args.get("from", "").strip()
        until = args.get("to", "").strip()
        return Filters(
            version=int(version) if version else None,
            since=parse_time(since) if since else None,
            until=parse_time(until, end_of_day=True) if until else None,
            priorities=tuple(int(p) for p in args.getlist("priority") if p.strip()),
            categories=tuple(c.strip() for c in args.getlist("category") if c.strip()),
            groups=tuple(g.strip() for g in args.getlist("group") if g.strip()),
            breached=BREACHED.get(args.get("breached", "")),
        )
    except (ValueError, DeskflowError) as err:
        abort(400, f"cannot read the filters: {err}")


def _heatmap(what: str) -> heatmap.Heatmap:
    filters = _filters()
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
            args=request.args,
            versions=versions,
            groups=groups,
            categories=sorted(catalog().categories),
            priorities=catalog().priorities,
            duration_text=heatmap.duration_text,
        )
    )


@bp.get("/heatmap.json")
@requires("auditor")
def heatmap_json():
    return _no_store(jsonify(_heatmap("heatmap data").as_json()))
