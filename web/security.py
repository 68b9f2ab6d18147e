"""Sessions and CSRF: the secret key, cookie flags, and a token on every state change.

The secret key comes from `DESKFLOW_SECRET_KEY`, else from the file `DESKFLOW_SECRET_FILE`
(default `deskflow.secret` in the working directory, created with mode 0600 on first use),
so sessions survive a restart. Cookies are HttpOnly and SameSite=Lax; set
`DESKFLOW_HTTPS=1` behind TLS to mark them Secure, and `DESKFLOW_BEHIND_PROXY=1` behind
one reverse proxy so that its X-Forwarded-For gives the client's address (log-in
throttling counts failures per address).

Every POST, PUT, PATCH or DELETE must carry the session's CSRF token, as the form field
`csrf_token` or the header `X-CSRF-Token`; one without it is refused with 400 and
changes nothing. CSRF is an attack through the cookie a browser adds by itself, so on the
JSON API (`/api/`) the check applies to calls made in a logged-in cookie session only: a
call with `Authorization: Bearer` carries its credential itself, and a call with neither
goes on to the API's 401 (`web.api`).

The cookie is signed with HMAC-SHA-256 (Flask's default is SHA-1), and named
`__Host-deskflow` behind TLS (`DESKFLOW_HTTPS=1`: Secure, no Domain, Path=/, so no other
host or path can set or read it). It lives as long as a server-side session may
(`engine.desk.sessions.limits`); the session row decides whether it still opens anything.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from flask import Flask, abort, request, session
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.desk import sessions
from web.auth import current_user

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed cookie, signed with HMAC-SHA-256 instead of SHA-1."""

    digest_method = staticmethod(hashlib.sha256)


def secret_key() -> str:
    if key := os.environ.get("DESKFLOW_SECRET_KEY"):
        return key
    path = Path(os.environ.get("DESKFLOW_SECRET_FILE", "deskflow.secret"))
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _bearer_api_call() -> bool:
    scheme = request.headers.get("Authorization", "").split(" ", 1)[0]
    return request.path.startswith("/api/") and scheme.lower() == "bearer"


def _check_csrf() -> None:
    if request.method in SAFE_METHODS or _bearer_api_call():
        return
    if request.path.startswith("/api/") and current_user() is None:
        return  # no cookie session to ride on: the API refuses it with 401
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not expected or not hmac.compare_digest(sent, expected):
        abort(
            400,
            "the form's security token is missing or out of date: reload the page and try again",
        )


def protect(app: Flask) -> None:
    """Install the secret key, cookie flags and the CSRF check on `app`."""
    app.config.setdefault("SECRET_KEY", None)
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secret_key()
    https = os.environ.get("DESKFLOW_HTTPS") == "1"
    app.session_interface = SessionCookies()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_NAME="__Host-deskflow" if https else "session",
        PERMANENT_SESSION_LIFETIME=sessions.limits().lifetime,  # a bad setting stops here
        MAX_CONTENT_LENGTH=app.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024,
    )
    if os.environ.get("DESKFLOW_BEHIND_PROXY") == "1":  # the client's address, for throttling
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    app.before_request(_check_csrf)
    app.jinja_env.globals["csrf_token"] = csrf_token
