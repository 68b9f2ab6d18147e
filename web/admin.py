"""The admin's pages: API tokens — create one for a user (read or write, for so many days;
shown once), see every token with when it was last used and when it expires, revoke one —
and every active session, any of which the admin can end."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from engine.desk import api_tokens, sessions
from engine.errors import DeskflowError, NotFound
from engine.store.models import User
from web.auth import current_session_id, current_user, current_username, requires
from web.database import database

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/tokens", methods=["GET", "POST"])
@requires("admin")
def tokens():
    """The tokens; a POST creates one and shows it on this page, this once."""
    blank = {"username": "", "name": "", "scope": "read", "days": str(api_tokens.DEFAULT_DAYS)}
    form, created, error = dict(blank), None, None
    if request.method == "POST":
        form = {key: request.form.get(key, default).strip() for key, default in blank.items()}
        me = current_user()
        assert me is not None  # requires("admin")
        try:
            token_id, plaintext = api_tokens.create_token(
                database(),
                form["username"],
                form["name"],
                created_by=me.username,
                scope=form["scope"],
                days=_days(form["days"]),
            )
        except DeskflowError as refused:
            error = str(refused)
        else:
            created = {"id": token_id, "token": plaintext, **form}
            form = dict(blank)
    with database().reading() as session:
        rows = api_tokens.list_tokens(session)
        usernames = list(session.scalars(select(User.username).order_by(User.username)))
    page = render_template(
        "admin/tokens.html",
        tokens=rows,
        usernames=usernames,
        form=form,
        created=created,
        error=error,
        max_days=api_tokens.MAX_DAYS,
        state=api_tokens.state,
    )
    response = make_response(page, 422 if error else 200)
    response.headers["Cache-Control"] = "no-store"  # the new token must not be kept
    return response


def _days(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise DeskflowError(f"a token lasts 1 to {api_tokens.MAX_DAYS} days: give a number")
    return int(raw)


@bp.post("/tokens/<int:token_id>/revoke")
@requires("admin")
def revoke(token_id: int):
    try:
        token = api_tokens.revoke_token(
            database(), token_id, reason=f"revoked by {current_username()}"
        )
    except NotFound as missing:
        abort(404, str(missing))
    owner, name = token.username, token.name
    flash(f"Token {token_id} of {owner} ({name}) is revoked: it opens nothing any more.", "info")
    return redirect(url_for("admin.tokens"))


@bp.get("/sessions")
@requires("admin")
def all_sessions():
    """Every active session, of everyone; the admin ends any."""
    with database().reading() as s:
        rows = sessions.active(s)
    return render_template(
        "admin/sessions.html",
        sessions=rows,
        this_session=current_session_id(),
        browser=sessions.browser,
    )


@bp.post("/sessions/<int:session_id>/end")
@requires("admin")
def end_session(session_id: int):
    try:
        owner = sessions.end_by_admin(database(), session_id)
    except NotFound as missing:
        abort(404, str(missing))
    flash(f"Session {session_id} of {owner} ended: that browser has to log in again.", "info")
    if session_id == current_session_id():
        return redirect(url_for("auth.login"))
    return redirect(url_for("admin.all_sessions"))
