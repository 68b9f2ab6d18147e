"""Server-side sessions: a session ends when it should — log-out, a password change, an
admin's lock, a deactivation, a role change, idle and absolute limits — and a cookie
copied before then opens nothing after (engine.desk.sessions, web.auth, web.account)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from engine.desk import account_state, accounts, sessions
from engine.store.models import LoginSession, User

from .web_client import PASSWORD, TOKEN, app_with_accounts, logged_in, post


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "tina", "audrey", "admin")


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def opens_the_desk(client) -> bool:
    answer = client.get("/account")
    if answer.status_code == 302:
        assert answer.location.startswith("/login")
        return False
    assert answer.status_code == 200
    return True


def cli(db, *args):
    return CliRunner().invoke(main, ["--database", db.url, *args])


def rows(db, username: str) -> list[LoginSession]:
    with db.reading() as session:
        query = select(LoginSession).where(LoginSession.username == username)
        return list(session.scalars(query.order_by(LoginSession.id)))


def test_a_cookie_copied_before_log_out_opens_nothing_after(app, db):
    tina = logged_in(app, "tina")
    thief = copy_of(app, tina)
    assert opens_the_desk(thief)  # the copy works while the session lives
    assert post(tina, "/logout").status_code == 302
    assert not opens_the_desk(thief)
    assert not opens_the_desk(tina)
    [row] = rows(db, "tina")
    assert row.ended_at is not None and row.end_reason == sessions.LOGGED_OUT


def test_the_cookie_holds_a_secret_and_the_database_only_its_hash(app, db):
    tina = logged_in(app, "tina")
    with tina.session_transaction() as cookie:
        secret = cookie["sid"]
        assert set(cookie) <= {"sid", "csrf", "_permanent", "_flashes"}
    [row] = rows(db, "tina")
    assert secret not in row.secret_hash and len(row.secret_hash) == 64
    assert row.user_agent and row.address == "127.0.0.1"


def test_a_forged_or_unknown_session_id_opens_nothing(app):
    stranger = app.test_client()
    stranger.get("/login")
    with stranger.session_transaction() as cookie:
        cookie["sid"] = "made-up"
    assert not opens_the_desk(stranger)
    with stranger.session_transaction() as cookie:
        cookie["sid"] = "x" * 5000
    assert not opens_the_desk(stranger)


@pytest.mark.parametrize(
    "command, reason",
    [
        (("user", "password", "tina", "--password", "a brand new password"), "password changed"),
        (("user", "lock", "tina"), "account locked"),
        (("user", "deactivate", "tina"), "account deactivated"),
        (("user", "roles", "tina", "technician", "manager"), "roles changed"),
    ],
)
def test_the_cli_ends_every_session_of_the_person(app, db, command, reason):
    first, second = logged_in(app, "tina"), logged_in(app, "tina")
    audrey = logged_in(app, "audrey")
    done = cli(db, *command)
    assert done.exit_code == 0, done.output
    assert not opens_the_desk(first) and not opens_the_desk(second)
    assert opens_the_desk(audrey)  # only that person's sessions
    assert {row.end_reason for row in rows(db, "tina")} == {reason}


def test_the_same_roles_again_end_nothing(app, db):
    tina = logged_in(app, "tina")
    with db.reading() as session:
        current = session.get(User, "tina").roles
    assert account_state.set_roles(db, "tina", current) == 0
    assert opens_the_desk(tina)


def test_a_locked_or_deactivated_account_cannot_log_in_and_says_so(app, db):
    account_state.lock(db, "tina")
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    form = {"username": "tina", "password": PASSWORD, "csrf_token": token}
    locked = client.post("/login", data=form)
    assert locked.status_code == 401 and "locked by an admin" in locked.get_data(as_text=True)
    wrong = client.post("/login", data=form | {"password": "not her password"})
    assert "locked by an admin" not in wrong.get_data(as_text=True)  # strangers learn nothing
    account_state.unlock(db, "tina")
    account_state.deactivate(db, "tina")
    gone = client.post("/login", data=form)
    assert gone.status_code == 401 and "deactivated" in gone.get_data(as_text=True)
    account_state.activate(db, "tina")
    assert client.post("/login", data=form).status_code == 302


def test_the_cli_refuses_unknown_users_and_roles(db):
    unknown = cli(db, "user", "lock", "nobody")
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output
    bad = cli(db, "user", "roles", "tina", "wizard")
    assert bad.exit_code == 1 and "unknown role(s) wizard" in bad.output
    assert cli(db, "user", "unlock", "tina").exit_code == 0
    assert cli(db, "user", "activate", "tina").exit_code == 0


def test_wrong_passwords_lock_out_new_log_ins_but_end_no_session(app, db):
    tina = logged_in(app, "tina")
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(accounts.LoginRefused):
            accounts.log_in(db, "tina", "guessing wrong")
    assert opens_the_desk(tina)  # a stranger guessing cannot log her out


def test_an_idle_session_ends(app, db, frozen_clock):
    tina = logged_in(app, "tina")
    frozen_clock.advance(timedelta(minutes=sessions.IDLE_DEFAULT_MINUTES - 1))
    assert opens_the_desk(tina)  # a request in time keeps it alive
    frozen_clock.advance(timedelta(minutes=sessions.IDLE_DEFAULT_MINUTES - 1))
    assert opens_the_desk(tina)
    frozen_clock.advance(timedelta(minutes=sessions.IDLE_DEFAULT_MINUTES + 1))
    answer = tina.get("/desk/queue", follow_redirects=True)
    assert "Your session ended (idle too long): log in again" in answer.get_data(as_text=True)
    assert not opens_the_desk(tina)
    assert rows(db, "tina")[0].end_reason == sessions.IDLE


def test_a_page_refreshing_itself_does_not_keep_its_session_alive(app, db, frozen_clock):
    """The queue's refresh (`X-Deskflow-Background: 1`) is not the person's doing: a desk
    left open at lunch still goes idle."""
    tina = logged_in(app, "tina")
    refresh = {"X-Deskflow-Background": "1"}
    for _ in range(sessions.IDLE_DEFAULT_MINUTES // 5):
        frozen_clock.advance(timedelta(minutes=5))
        assert tina.get("/desk/queue?fragment=1", headers=refresh).status_code == 200
    frozen_clock.advance(timedelta(minutes=5))
    answer = tina.get("/desk/queue?fragment=1", headers=refresh)
    assert answer.status_code == 302 and answer.location.startswith("/login")
    assert rows(db, "tina")[0].end_reason == sessions.IDLE


def test_a_busy_session_still_ends_after_its_lifetime(app, db, frozen_clock):
    tina = logged_in(app, "tina")
    for _ in range(sessions.LIFETIME_DEFAULT_HOURS * 3):
        assert opens_the_desk(tina)
        frozen_clock.advance(timedelta(minutes=20))
    frozen_clock.advance(timedelta(minutes=1))
    assert not opens_the_desk(tina)
    assert rows(db, "tina")[0].end_reason == sessions.EXPIRED


def test_the_limits_come_from_the_environment(app, frozen_clock, monkeypatch):
    monkeypatch.setenv("DESKFLOW_SESSION_IDLE_MINUTES", "5")
    tina = logged_in(app, "tina")
    frozen_clock.advance(timedelta(minutes=6))
    assert not opens_the_desk(tina)
    monkeypatch.setenv("DESKFLOW_SESSION_LIFETIME_HOURS", "0")
    with pytest.raises(ValueError, match="DESKFLOW_SESSION_LIFETIME_HOURS"):
        sessions.limits()


def test_last_seen_is_written_at_most_once_a_minute(app, db, frozen_clock):
    tina = logged_in(app, "tina")
    started = rows(db, "tina")[0].last_seen_at
    frozen_clock.advance(timedelta(seconds=30))
    assert opens_the_desk(tina)
    assert rows(db, "tina")[0].last_seen_at == started
    frozen_clock.advance(timedelta(seconds=31))
    assert opens_the_desk(tina)
    assert rows(db, "tina")[0].last_seen_at == started + timedelta(seconds=61)


def test_a_person_sees_and_ends_their_own_sessions(app, db):
    here, there, elsewhere = (logged_in(app, "tina") for _ in range(3))
    audrey = logged_in(app, "audrey")
    page = here.get("/account").get_data(as_text=True)
    assert page.count("data-session=") == 3 and "(this session)" in page
    there_id = max(row.id for row in rows(db, "tina")[:2])
    assert post(here, f"/account/sessions/{there_id}/end").status_code == 302
    assert not opens_the_desk(there) and opens_the_desk(here) and opens_the_desk(elsewhere)
    audreys = rows(db, "audrey")[0].id
    refused = post(here, f"/account/sessions/{audreys}/end")  # not hers
    assert refused.status_code == 404 and opens_the_desk(audrey)
    assert post(here, "/account/sessions/end-others").status_code == 302
    assert not opens_the_desk(elsewhere) and opens_the_desk(here)
    here_id = rows(db, "tina")[0].id
    out = post(here, f"/account/sessions/{here_id}/end")
    assert out.location.startswith("/login") and not opens_the_desk(here)


def test_changing_ones_own_password_renews_this_session_and_ends_the_others(app, db):
    """This browser stays logged in, under a new session id (ASVS V7.2.4): a copy of
    its cookie from before the change opens nothing."""
    here, there = logged_in(app, "tina"), logged_in(app, "tina")
    before = copy_of(app, here)
    new = "a fresh long password"
    form = {"current_password": PASSWORD, "new_password": new, "new_password_again": new}
    differ = post(here, "/account/password", **form | {"new_password_again": "other"})
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    wrong = post(here, "/account/password", **form | {"current_password": "not it at all"})
    assert wrong.status_code == 422 and "current password" in wrong.get_data(as_text=True)
    assert opens_the_desk(there)  # nothing changed yet
    assert post(here, "/account/password", **form).status_code == 302
    assert opens_the_desk(here) and not opens_the_desk(there)
    assert not opens_the_desk(before)
    assert accounts.log_in(db, "tina", new).username == "tina"


def test_an_admin_sees_every_session_and_ends_any(app, db):
    admin, tina = logged_in(app, "admin"), logged_in(app, "tina")
    page = admin.get("/admin/sessions").get_data(as_text=True)
    assert page.count("data-session=") == 2 and "tina" in page
    tinas = rows(db, "tina")[0].id
    assert post(admin, f"/admin/sessions/{tinas}/end").status_code == 302
    assert not opens_the_desk(tina) and opens_the_desk(admin)
    assert post(admin, f"/admin/sessions/{tinas}/end").status_code == 404  # ended already
    assert logged_in(app, "audrey").get("/admin/sessions").status_code == 403


def test_session_pages_need_the_csrf_token(app, db):
    tina, other = logged_in(app, "tina"), logged_in(app, "tina")
    other_id = rows(db, "tina")[-1].id
    assert tina.post(f"/account/sessions/{other_id}/end").status_code == 400
    assert tina.post("/account/sessions/end-others").status_code == 400
    assert opens_the_desk(other)


def test_an_old_style_cookie_opens_nothing(app):
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as cookie:  # what a cookie held before 0011
        cookie["username"], cookie["credential"] = "tina", "whatever"
    assert not opens_the_desk(client)
