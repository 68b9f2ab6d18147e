"""The web app's front door: logging in and out, sessions, CSRF, roles, the status page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask

from engine.desk import accounts
from engine.store.models import User
from web import create_app
from web.auth import requires

from .desk import Desk

PASSWORD = "correct horse battery"


@pytest.fixture
def app(db, frozen_clock) -> Flask:
    accounts.set_password(db, "tina", PASSWORD)
    accounts.set_password(db, "audrey", PASSWORD)
    app = create_app(db, {"TESTING": True, "SECRET_KEY": "test secret"})

    @app.get("/auditors-only")
    @requires("auditor")
    def auditors_only():
        return "the audit trail"

    return app


@pytest.fixture
def client(app):
    return app.test_client()


def token(client, path: str = "/login") -> str:
    page = client.get(path, follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, username: str, password: str = PASSWORD, next_: str | None = None):
    path = f"/login?next={next_}" if next_ else "/login"
    form = {"username": username, "password": password, "csrf_token": token(client)}
    return client.post(path, data=form)


def test_health_is_public_and_says_only_ok(client):
    assert client.get("/health").get_json() == {"status": "ok"}


def test_the_status_page_needs_a_login_and_then_shows_the_counts(runtime, frozen_clock, client):
    desk = Desk(runtime, frozen_clock)
    desk.categorize(desk.report())
    anonymous = client.get("/")
    assert anonymous.status_code == 302 and anonymous.location.startswith("/login?next=/")
    logged_in = log_in(client, "audrey")  # an auditor: the counts, not a queue
    assert logged_in.status_code == 302 and logged_in.location == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Open human tasks" in page and "In Progress" in page
    assert "Audrey" in page  # who is logged in


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client):
    wrong = log_in(client, "tina", "not her password")
    assert wrong.status_code == 401
    assert "wrong user name or password" in wrong.get_data(as_text=True)
    nobody = log_in(client, "nobody", PASSWORD)
    assert nobody.status_code == 401
    assert "wrong user name or password" in nobody.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_five_wrong_passwords_lock_the_account_for_a_while(client, db, frozen_clock):
    for _ in range(accounts.MAX_FAILURES):
        assert log_in(client, "tina", "guess").status_code == 401
    locked = log_in(client, "tina")  # the right password does not open a locked account
    assert locked.status_code == 401 and "locked" in locked.get_data(as_text=True)
    frozen_clock.advance(accounts.LOCKOUT + timedelta(seconds=1))
    assert log_in(client, "tina").status_code == 302
    with db.reading() as session:
        assert session.get(User, "tina").failed_logins == 0


def test_many_failed_log_ins_from_one_address_are_throttled(client, db, frozen_clock):
    for attempt in range(accounts.MAX_ADDRESS_FAILURES):  # one guess at each of many names
        name = "tina" if attempt < 2 else f"someone{attempt}"
        assert log_in(client, name, f"guess {attempt}").status_code == 401
    refused = log_in(client, "audrey")  # even the right password, from this address
    assert refused.status_code == 401
    assert "too many failed log-ins from your address" in refused.get_data(as_text=True)
    other = client.application.test_client()  # another machine is not affected
    form = {"username": "audrey", "password": PASSWORD, "csrf_token": token(other)}
    assert (
        other.post("/login", data=form, environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 302
    )
    frozen_clock.advance(accounts.LOCKOUT + timedelta(seconds=1))
    assert log_in(client, "audrey").status_code == 302


def test_a_password_change_ends_the_accounts_sessions(client, db):
    log_in(client, "audrey")
    assert client.get("/").status_code == 200
    accounts.set_password(db, "audrey", "a new long password")
    answer = client.get("/")
    assert answer.status_code == 302 and answer.location.startswith("/login")


def test_passwords_are_stored_hashed(db, app):
    with db.reading() as session:
        stored = session.get(User, "tina").password_hash
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client, db):
    missing = client.post("/login", data={"username": "tina", "password": PASSWORD})
    assert missing.status_code == 400
    assert "security token" in missing.get_data(as_text=True)
    forged = client.post(
        "/login", data={"username": "tina", "password": PASSWORD, "csrf_token": "forged"}
    )
    assert forged.status_code == 400
    assert client.get("/").status_code == 302  # not logged in
    log_in(client, "tina")
    assert client.post("/logout").status_code == 400  # logging out needs the token too
    assert client.get("/", follow_redirects=True).status_code == 200


def test_logout_ends_the_session(client):
    log_in(client, "tina")
    out = client.post("/logout", data={"csrf_token": token(client, "/")})
    assert out.status_code == 302
    assert client.get("/").status_code == 302


def test_a_route_for_a_role_refuses_the_others(client):
    log_in(client, "tina")  # a technician
    refused = client.get("/auditors-only")
    assert refused.status_code == 403 and "auditor" in refused.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token(client, "/")})
    log_in(client, "audrey")
    assert client.get("/auditors-only").get_data(as_text=True) == "the audit trail"


def test_login_goes_back_where_it_was_asked_but_never_off_site(client):
    assert log_in(client, "tina", next_="/auditors-only").location == "/auditors-only"
    client.post("/logout", data={"csrf_token": token(client, "/")})
    assert log_in(client, "tina", next_="//evil.example/").location == "/"


def test_the_session_cookie_is_httponly_and_samesite(client):
    response = log_in(client, "tina")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_starts_a_new_session(client):
    before = token(client)
    log_in(client, "tina")
    assert token(client, "/") != before  # the anonymous session's token is gone


def test_html_in_a_name_is_escaped(client, db):
    with db.writing() as session:
        session.get(User, "tina").full_name = "<script>alert(1)</script>"
    log_in(client, "tina")
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_a_route_cannot_name_a_role_that_does_not_exist():
    with pytest.raises(ValueError, match="unknown role"):
        requires("superuser")
