"""The auditor's pages: verify the history's hash chains and anchors (`engine.audit`), see
earlier verifications, and who looked at what here — every view is itself recorded.

A verification of up to `AUDIT_INLINE_ROWS` history rows (default 100,000: a few seconds)
runs in the request. A larger one runs in a background thread of this process; its run
row in the database carries the progress, so the run page (which reloads itself) shows it
whichever web process answers, and a run whose process died shows as interrupted.
"""

from __future__ import annotations

import logging
import threading

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.audit import anchors, auditors
from engine.store.db import Database
from engine.store.models import AuditRun, Incident
from web.auth import current_username, requires
from web.database import database

bp = Blueprint("audit", __name__, url_prefix="/audit")
log = logging.getLogger("deskflow.audit")

INLINE_ROWS = 100_000


@bp.get("/")
@requires("auditor")
def home():
    db = database()
    auditors.record_view(db, current_username(), "audit page")
    with db.reading() as session:
        sealed = anchors.anchor_status(session)
        runs = auditors.recent_runs(session)
        views = auditors.recent_views(session)
    return render_template(
        "audit/home.html",
        anchors=sealed,
        runs=runs,
        views=views,
        rows=auditors.history_rows(db),
        interrupted=auditors.interrupted,
    )


@bp.post("/verify")
@requires("auditor")
def verify():
    """Start a verification of every chain, or of one incident's (`number`)."""
    db = database()
    number = request.form.get("number", "").strip().upper()
    instance_id = None
    if number:
        with db.reading() as session:
            instance_id = session.scalar(
                select(Incident.instance_id).where(Incident.number == number)
            )
        if instance_id is None:
            flash(f"There is no incident {number}.", "error")
            return redirect(url_for("audit.home"))
    run_id = auditors.start_run(db, current_username(), instance_id)
    limit = current_app.config.get("AUDIT_INLINE_ROWS", INLINE_ROWS)
    if auditors.history_rows(db, instance_id) <= limit:
        auditors.run(db, run_id)
    else:
        threading.Thread(
            target=_run_in_background, args=(db, run_id), daemon=True, name=f"audit-run-{run_id}"
        ).start()
    return redirect(url_for("audit.run", run_id=run_id))


def _run_in_background(db: Database, run_id: int) -> None:
    try:
        auditors.run(db, run_id)
    except Exception:  # recorded on the run as failed; the thread just ends
        log.exception("verification run %d failed", run_id)


@bp.get("/runs/<int:run_id>")
@requires("auditor")
def run(run_id: int):
    db = database()
    with db.reading() as session:
        job = session.get(AuditRun, run_id)
        if job is not None and job.instance_id is not None:
            number = session.scalar(
                select(Incident.number).where(Incident.instance_id == job.instance_id)
            )
        else:
            number = None
    if job is None:
        abort(404, f"there is no verification run {run_id}")
    stale = auditors.interrupted(job)
    if job.status != "running":  # the outcome is looked at: recorded
        auditors.record_view(
            db, current_username(), "verification result", f"run {run_id}: {job.summary or ''}"
        )
    return render_template(
        "audit/run.html",
        job=job,
        number=number,
        interrupted=stale,
        problems=(job.problems or "").splitlines(),
    )
