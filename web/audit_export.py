"""The auditor's export of the history as an event log (`engine.audit.export`): a page with the
filters and the download links, and the downloads, streamed as they are written so a
large export never sits in memory. Every page view and download is recorded as an
audit view (`engine.audit.auditors.record_view`), with the filters and whether people were in."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request, stream_with_context
from sqlalchemy import select

from engine import clock
from engine.audit import auditors, event_log, export
from engine.errors import DeskflowError
from engine.store.models import Definition, Group
from handlers.catalog import catalog
from web.auth import current_username, requires
from web.database import database

bp = Blueprint("audit_export", __name__, url_prefix="/audit/export")

BREACHED = {"yes": True, "no": False}


def _filters() -> event_log.Filters:
    """The filters of the query string (the page's form), or 400 when unreadable."""
    args = request.args
    try:
        version = args.get("version", "").strip()
        since = args.get("since", "").strip()
        until = args.get("until", "").strip()
        return event_log.Filters(
            version=int(version) if version else None,
            since=event_log.parse_time(since) if since else None,
            until=event_log.parse_time(until, end_of_day=True) if until else None,
            priorities=tuple(int(p) for p in args.getlist("priority") if p.strip()),
            categories=tuple(c.strip() for c in args.getlist("category") if c.strip()),
            groups=tuple(g.strip() for g in args.getlist("group") if g.strip()),
            breached=BREACHED.get(args.get("breached", "")),
        )
    except (ValueError, DeskflowError) as err:
        abort(400, f"cannot read the filters: {err}")


def _people() -> bool:
    return request.args.get("people") == "1"


@bp.get("/")
@requires("auditor")
def page():
    filters, people = _filters(), _people()
    db = database()
    auditors.record_view(db, current_username(), "export page", filters.describe())
    with event_log.snapshot(db) as connection:
        matching = event_log.count_cases(connection, filters)
        versions = list(
            connection.scalars(
                select(Definition.version)
                .where(Definition.key == filters.key)
                .order_by(Definition.version.desc())
            )
        )
        groups = list(connection.scalars(select(Group.name).order_by(Group.name)))
    query = request.query_string.decode()
    return render_template(
        "audit/export.html",
        filters=filters,
        people=people,
        args=request.args,
        matching=matching,
        versions=versions,
        groups=groups,
        categories=sorted(catalog().categories),
        priorities=catalog().priorities,
        query=f"?{query}" if query else "",
    )


@bp.get("/history.csv")
@requires("auditor")
def history_csv():
    return _download("csv")


@bp.get("/history.xes")
@requires("auditor")
def history_xes():
    return _download("xes")


def _download(fmt: str) -> Response:
    filters, people = _filters(), _people()
    db = database()
    detail = filters.describe() + (", with people" if people else "")
    auditors.record_view(db, current_username(), f"export {fmt}", detail)
    chunks = export.export(db, fmt, filters, people)
    response = Response(stream_with_context(chunks), content_type=export.MEDIA_TYPES[fmt])
    stamp = clock.now().strftime("%Y%m%dT%H%MZ")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="deskflow-history-{stamp}.{fmt}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
