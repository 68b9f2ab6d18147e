"""A person's own account (`/account`): their active sessions — ended one by one or all
but this one — and their password, changed by giving the current one.

Changing the password here ends every session of the person, and this browser carries on
in a new one (a new session id, ASVS V7.2.4): they just proved who they are, and logging
them out of the page they are on would only make them type the new password at once
(`engine.desk.accounts.change_own_password`).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from engine.desk import accounts, sessions
from engine.errors import DeskflowError, NotFound
from web.auth import current_session_id, current_username, open_session, requires
from web.database import database

bp = Blueprint("account", __name__, url_prefix="/account")


def _page(error: str | None = None, status: int = 200):
    with database().reading() as s:
        rows = sessions.active(s, current_username())
    page = render_template(
        "account.html",
        sessions=rows,
        this_session=current_session_id(),
        browser=sessions.browser,
        error=error,
    )
    return page, status


@bp.get("")
@requires()
def home():
    """My sessions, and the form to change my password."""
    return _page()


@bp.post("/sessions/<int:session_id>/end")
@requires()
def end(session_id: int):
    """End one of my sessions; ending this one logs me out."""
    try:
        sessions.end_own(database(), current_username(), session_id)
    except NotFound as missing:
        return _page(str(missing), 404)
    if session_id == current_session_id():
        session.clear()
        return redirect(url_for("auth.login"))
    flash(f"Session {session_id} ended: that browser has to log in again.", "info")
    return redirect(url_for("account.home"))


@bp.post("/sessions/end-others")
@requires()
def end_others():
    """End every session of mine but this one."""
    this = current_session_id()
    assert this is not None  # requires() let the request in
    ended = sessions.end_others(database(), current_username(), keep=this)
    flash(f"{ended} other session(s) ended.", "info")
    return redirect(url_for("account.home"))


@bp.post("/password")
@requires()
def password():
    """Change my password: the current one, and the new one twice."""
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password_again", ""):
        return _page("the two new passwords differ: type the same one twice", 422)
    try:
        accounts.change_own_password(
            database(),
            current_username(),
            request.form.get("current_password", ""),
            new,
            keep_session=None,
        )
    except DeskflowError as refused:
        return _page(str(refused), 422)
    open_session(current_username())
    flash("Password changed; your other sessions ended.", "info")
    return redirect(url_for("account.home"))
