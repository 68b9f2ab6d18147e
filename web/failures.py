"""What the worker could not do, for the people who can fix it: incidents whose due work
failed (held back until someone retries them) and notifications given up on."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for

from engine.errors import DeskflowError
from engine.worker import failures
from engine.worker.outbox import failed_notifications
from web.auth import current_user, requires
from web.database import database, runtime

bp = Blueprint("failures", __name__, url_prefix="/failures")

FIXERS = ("technician", "manager", "admin")


@bp.get("/")
@requires(*FIXERS)
def failed():
    incidents = failures.failed_incidents(database())
    mails = failed_notifications(database())
    return render_template("failures.html", incidents=incidents, mails=mails)


@bp.post("/<number>/retry")
@requires(*FIXERS)
def retry(number: str):
    who = current_user()
    assert who is not None  # requires a log-in
    try:
        runtime().retry(number.upper(), actor=who.username)
    except DeskflowError as refused:
        flash(str(refused), "error")
    else:
        flash(f"{number.upper()}: the worker will try its due work again now.", "info")
    return redirect(url_for("failures.failed"))
