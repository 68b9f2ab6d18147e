"""Logging in and out, and the role every route checks (`requires`)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from engine.desk.accounts import LoginRefused, log_in
from engine.store.models import User
from web.database import database
from web.redirects import same_site

ROLES = ("user", "technician", "specialist", "manager", "process_owner", "auditor", "admin")

bp = Blueprint("auth", __name__)


def current_user() -> User | None:
    """The logged-in user; None when not logged in, or when the password changed since
    the log-in (every session of that account ends with the change)."""
    if "user" not in g:
        username = session.get("username")
        user = None
        if username:
            with database().reading() as s:
                user = s.get(User, username)
            if user is None or session.get("credential") != _fingerprint(user):
                session.clear()
                user = None
        g.user = user
    return g.user


def current_username() -> str:
    """The logged-in user's name, in a view that `requires` a log-in."""
    user = current_user()
    assert user is not None  # requires(...) let the request in
    return user.username


def _fingerprint(user: User) -> str:
    """Ties a session to the password it was opened with, without holding the hash."""
    key = current_app.secret_key
    secret = key.encode() if isinstance(key, str) else bytes(key or b"")
    message = f"{user.username}\0{user.password_hash or ''}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


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
def login():
    error = None
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
            session.clear()  # a new session on login: no fixation
            session["username"] = user.username
            session["credential"] = _fingerprint(user)
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("login.html", error=error, next=request.args.get("next")), status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"))
