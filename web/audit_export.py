"""The auditor's export of the history as an event log (`engine.audit.export`): a page with the
filters and the download links, and the downloads, streamed as they are written so a
large export never sits in memory. Every page view and download is recorded as an
audit view (`engine.audit.auditors.record_view`), with the filters and whether people were in."""

from __future__ import annotations

from collections.abc import Generator, Iterator

from flask import Blueprint, Response, abort, render_template, stream_with_context
from sqlalchemy import select

from engine import clock
from engine.audit import auditors, event_log, export
from engine.errors import DeskflowError
from engine.store.models import Definition, Group
from handlers.catalog import catalog
from web import case_filters
from web.auth import current_username, requires
from web.database import database
from web.params import Flag, args, given, query, query_string

bp = Blueprint("audit_export", __name__, url_prefix="/audit/export")

# The page's form: which incidents, and whether with people (`web.case_filters`).
FILTERS = case_filters.declared("since", "until") | {"people": Flag()}


def _filters() -> event_log.Filters:
    return case_filters.filters(args(), "since", "until")


def _people() -> bool:
    return args()["people"]


@bp.get("/")
@requires("auditor")
@query(FILTERS)
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
    return render_template(
        "audit/export.html",
        filters=filters,
        people=people,
        args=given(),
        matching=matching,
        versions=versions,
        groups=groups,
        categories=sorted(catalog().categories),
        priorities=catalog().priorities,
        query=query_string(),
    )


@bp.get("/history.csv")
@requires("auditor")
@query(FILTERS)
def history_csv():
    return _download("csv")


@bp.get("/history.xes")
@requires("auditor")
@query(FILTERS)
def history_xes():
    return _download("xes")


def _download(fmt: str) -> Response:
    """The export, streamed. Everything that could refuse it happens before the first byte
    is sent — the filters are checked, the snapshot opened and the query run — so a bad
    request is a 4xx, never a 200 that breaks off in the middle of the file."""
    filters, people = _filters(), _people()
    db = database()
    try:
        chunks = export.export(db, fmt, filters, people)
    except DeskflowError as refused:
        abort(400, f"cannot export: {refused}")
    detail = filters.describe() + (", with people" if people else "")
    auditors.record_view(db, current_username(), f"export {fmt}", detail)
    first = next(chunks)
    response = Response(
        stream_with_context(_resumed(first, chunks)), content_type=export.MEDIA_TYPES[fmt]
    )
    stamp = clock.now().strftime("%Y%m%dT%H%MZ")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="deskflow-history-{stamp}.{fmt}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _resumed(first: bytes, rest: Generator[bytes, None, None]) -> Iterator[bytes]:
    """The chunks again from the one taken already; closing it closes the export (and its
    snapshot) when the client goes away."""
    try:
        yield first
        yield from rest
    finally:
        rest.close()
