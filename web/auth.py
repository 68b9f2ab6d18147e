"""Logging in and out, and the role every route checks (`requires`).

The session cookie carries only the secret id of a session kept on the server
(`engine.desk.sessions`), besides the CSRF token and flashed messages: log-out, an
admin, a password change or a lock ends the session there, whatever copies of the
cookie exist.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from engine.desk import sessions
from engine.desk.account_state import ROLES
from engine.desk.accounts import LoginRefused, log_in
from engine.store.models import User
from web import redirects
from web.database import database
from web.params import Text, args, query
from web.redirects import same_site

SESSION_KEY = "sid"  # the cookie's entry holding the session's secret id
# Sent by a page that refreshes itself (web/static/desk.js): not the person's activity.
BACKGROUND_HEADER = "X-Deskflow-Background"
# What the browser drops at log-out: pages it kept and anything stored for this site.
CLEAR_AT_LOG_OUT = '"cache", "storage"'

bp = Blueprint("auth", __name__)


def current_user() -> User | None:
    """The logged-in user: the person of the live server-side session the cookie names;
    None when not logged in, or when that session ended or expired (then the cookie's
    session id is dropped)."""
    if "user" not in g:
        found = None
        if secret := session.get(SESSION_KEY):
            by_hand = request.headers.get(BACKGROUND_HEADER) != "1"
            found = sessions.find(database(), str(secret), active=by_hand)
            if found is None:
                session.clear()
                _say_why_it_ended(str(secret))
        g.user = found.user if found else None
        g.session_id = found.session_id if found else None
    return g.user


def _say_why_it_ended(secret: str) -> None:
    """On a page (not the API), tell the person why they must log in again."""
    if request.path.startswith("/api/"):
        return
    if reason := sessions.why_ended(database(), secret):
        flash(f"Your session ended ({reason}): log in again to go on.", "info")


def current_session_id() -> int | None:
    """The id of the session this request is made in (None when not logged in)."""
    current_user()
    return g.session_id


def current_username() -> str:
    """The logged-in user's name, in a view that `requires` a log-in."""
    user = current_user()
    assert user is not None  # requires(...) let the request in
    return user.username


def open_session(username: str) -> None:
    """Start a server-side session for `username`, who just proved who they are, and put
    its secret id in a fresh cookie: a new id at every log-in or password change, so an id
    known before (fixation) opens nothing after."""
    secret = sessions.start(
        database(),
        username,
        address=request.remote_addr or "",
        user_agent=request.headers.get("User-Agent", ""),
    )
    session.clear()
    session[SESSION_KEY] = secret
    session.permanent = True
    g.pop("user", None)


def requires(*roles: str) -> Callable:
    """Only people logged in (with one of `roles`, if any are named) reach the view:
    others go to the login page, or get 403 when logged in without the role."""
    if unknown := set(roles) - set(ROLES):
        raise ValueError(f"unknown role(s) {sorted(unknown)}; roles are {', '.join(ROLES)}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            if roles and not set(roles) & set(user.roles):
                abort(403, f"this page is for: {', '.join(roles)}")
            return view(*args, **kwargs)

        return checked

    return decorate


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: only a path on this site (no open redirect)."""
    return same_site(target) or url_for("status.home")


@bp.route("/login", methods=["GET", "POST"])
@query(next=Text(redirects.MAX_LENGTH))
def login():
    error = None
    after = args()["next"]
    if request.method == "POST":
        try:
            user = log_in(  # a failure is counted (committed) before it is raised
                database(),
                request.form.get("username", ""),
                request.form.get("password", ""),
                address=request.remote_addr or "",
            )
        except LoginRefused as refused:
            error = str(refused)
        else:
            open_session(user.username)
            return redirect(_safe_next(after))
    status = 401 if error else 200
    return render_template("login.html", error=error, next=after), status


@bp.post("/logout")
def logout():
    if (session_id := current_session_id()) is not None:
        sessions.log_out(database(), session_id)
    session.clear()
    response = redirect(url_for("auth.login"))
    response.headers["Clear-Site-Data"] = CLEAR_AT_LOG_OUT
    return response
