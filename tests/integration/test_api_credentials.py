"""API credentials: tokens expire, may be read-only, die with their owner's lock or
deactivation (not with a password change); a call without credentials gets 401 with
`WWW-Authenticate: Bearer`, never a CSRF 400; a cookie session still needs the CSRF
token (engine.desk.api_tokens, web.api, web.security)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import select, text

from cli.main import main
from engine.desk import account_state, accounts, api_tokens
from engine.errors import DeskflowError
from engine.store.migrate import alembic_config
from engine.store.models import ApiToken

from .web_client import app_with_accounts, logged_in

REPORT = {
    "short_description": "VPN drops every few minutes",
    "description": "Since Monday, when working from home.",
    "is_broken": True,
    "impact": "medium",
    "urgency": "medium",
}


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "alice", "tina", "admin")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["error"]
    return response.json["error"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_call_without_credentials_gets_401_with_a_bearer_challenge(app, method):
    client = app.test_client()
    client.get("/login")  # a cookie, but no logged-in session in it
    answer = client.open("/api/incidents", method=method, json=REPORT)
    message = refused(answer, 401)
    assert "Authorization: Bearer" in message
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")
    bare = app.test_client().open("/api/incidents", method=method, json=REPORT)  # no cookie
    assert bare.status_code == 401 and bare.headers["WWW-Authenticate"].startswith("Bearer ")


def test_a_bad_token_gets_401_saying_it_is_invalid(app):
    answer = app.test_client().post("/api/incidents", json=REPORT, headers=bearer("dfk_nope"))
    assert "unknown" in refused(answer, 401)
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]


def test_a_cookie_session_still_needs_the_csrf_token_on_the_api(app):
    alice = logged_in(app, "alice")
    assert alice.post("/api/incidents", json=REPORT).status_code == 400
    sent = alice.post("/api/incidents", json=REPORT, headers={"X-CSRF-Token": alice.token})
    assert sent.status_code == 201, sent.get_data(as_text=True)


def test_a_read_only_token_may_only_read(app, db):
    _, token = api_tokens.create_token(db, "tina", "dashboard", "admin")  # read unless asked
    client = app.test_client()
    assert client.get("/api/incidents", headers=bearer(token)).status_code == 200
    assert client.head("/api/incidents", headers=bearer(token)).status_code == 200
    assert "read-only" in refused(
        client.post("/api/incidents", json=REPORT, headers=bearer(token)), 403
    )
    _, writer = api_tokens.create_token(db, "tina", "bot", "admin", scope="write")
    assert client.post("/api/incidents", json=REPORT, headers=bearer(writer)).status_code == 201


def test_a_token_expires(app, db, frozen_clock):
    _, token = api_tokens.create_token(db, "alice", "short", "admin", days=2)
    client = app.test_client()
    frozen_clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert client.get("/api/incidents", headers=bearer(token)).status_code == 200
    frozen_clock.advance(timedelta(seconds=1))
    assert "expired on" in refused(client.get("/api/incidents", headers=bearer(token)), 401)
    with db.reading() as session:
        made = session.scalars(select(ApiToken)).one()
    assert made.expires_at - made.created_at == timedelta(days=2)


def test_expiry_and_scope_are_bounded(db, frozen_clock):
    with pytest.raises(DeskflowError, match="1 to 365 days"):
        api_tokens.create_token(db, "alice", "x", "admin", days=api_tokens.MAX_DAYS + 1)
    with pytest.raises(DeskflowError, match="1 to 365 days"):
        api_tokens.create_token(db, "alice", "x", "admin", days=0)
    with pytest.raises(DeskflowError, match="read or write"):
        api_tokens.create_token(db, "alice", "x", "admin", scope="admin")
    token_id, _ = api_tokens.create_token(db, "alice", "default", "admin")
    with db.reading() as session:
        made = session.get(ApiToken, token_id)
    assert made.scope == "read"
    assert made.expires_at == frozen_clock.now() + timedelta(days=api_tokens.DEFAULT_DAYS)


@pytest.mark.parametrize("close", [account_state.lock, account_state.deactivate])
def test_a_token_dies_with_its_owners_lock_or_deactivation(app, db, close):
    _, token = api_tokens.create_token(db, "alice", "bot", "admin", scope="write")
    client = app.test_client()
    assert client.get("/api/incidents", headers=bearer(token)).status_code == 200
    close(db, "alice")
    assert "revoked" in refused(client.get("/api/incidents", headers=bearer(token)), 401)
    with db.reading() as session:
        made = session.scalars(select(ApiToken)).one()
    assert made.revoked_at is not None and "alice" not in made.revoke_reason
    assert made.revoke_reason in (api_tokens.OWNER_LOCKED, api_tokens.OWNER_DEACTIVATED)
    account_state.unlock(db, "alice")
    account_state.activate(db, "alice")
    refused(client.get("/api/incidents", headers=bearer(token)), 401)  # revoked for good
    close(db, "tina")
    with pytest.raises(DeskflowError, match="locked or deactivated"):
        api_tokens.create_token(db, "tina", "after the lock", "admin")


def test_a_locked_owners_token_stops_at_once_even_unrevoked(app, db):
    """Should a token escape the revocation (a race), the lock still refuses it."""
    _, token = api_tokens.create_token(db, "alice", "bot", "admin")
    account_state.lock(db, "alice")
    with db.writing() as session:
        session.execute(text("UPDATE api_tokens SET revoked_at = NULL"))
    message = refused(app.test_client().get("/api/incidents", headers=bearer(token)), 401)
    assert "locked or deactivated" in message


def test_a_password_change_leaves_tokens_working(app, db):
    _, token = api_tokens.create_token(db, "alice", "bot", "admin")
    accounts.set_password(db, "alice", "another long password")
    assert app.test_client().get("/api/incidents", headers=bearer(token)).status_code == 200


def test_the_cli_creates_tokens_with_a_scope_and_an_expiry(app, db):
    def run(*args):
        return CliRunner().invoke(main, ["--database", db.url, "token", *args])

    made = run("create", "alice", "--name", "sync", "--scope", "write", "--days", "30")
    assert made.exit_code == 0 and "write, for 30 days" in made.output
    assert run("create", "alice", "--name", "x", "--days", "366").exit_code == 2
    assert run("create", "alice", "--name", "x", "--scope", "root").exit_code == 2
    listing = run("list").output
    assert "write" in listing and "expires" in listing


def test_the_admin_page_creates_a_read_token_for_so_many_days(app, db):
    admin = logged_in(app, "admin")
    form = {"csrf_token": admin.token, "username": "alice", "name": "wall screen"}
    page = admin.post("/admin/tokens", data=form | {"scope": "read", "days": "7"})
    assert page.status_code == 200 and "Copy it now" in page.get_data(as_text=True)
    bad = admin.post("/admin/tokens", data=form | {"days": "999"})
    assert bad.status_code == 422 and "1 to 365 days" in bad.get_data(as_text=True)
    nonsense = admin.post("/admin/tokens", data=form | {"days": "²"})
    assert nonsense.status_code == 422
    with db.reading() as session:
        [made] = session.scalars(select(ApiToken)).all()
    assert made.scope == "read" and made.expires_at - made.created_at == timedelta(days=7)


def test_the_upgrade_keeps_existing_tokens_working_with_write_scope(db):
    config = alembic_config(db)
    command.downgrade(config, "0010")
    try:
        with db.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_tokens (username, name, token_hash, created_by, created_at)"
                    " VALUES ('alice', 'old', :hash, 'admin', :at)"
                ),
                {"hash": "0" * 64, "at": datetime(2025, 1, 1, tzinfo=UTC)},
            )
    finally:
        command.upgrade(config, "head")
    with db.reading() as session:
        old = session.scalars(select(ApiToken)).one()
    assert old.scope == "write"
    days = (old.expires_at - datetime.now(UTC)).days
    assert api_tokens.DEFAULT_DAYS - 1 <= days <= api_tokens.DEFAULT_DAYS
