"""The JSON API: tokens an admin creates (stored hashed), a whole incident worked through
/api/, and every kind of bad request answered with JSON and the right status."""

from __future__ import annotations

import hashlib
import re

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from cli.main import main
from engine.desk import api_tokens
from engine.store.migrate import alembic_config
from engine.store.models import ApiToken, Base, HumanTask, Incident, Instance

from .web_client import app_with_accounts

PASSWORD = "correct horse battery"
REPORT = {
    "short_description": "VPN drops every few minutes",
    "description": "Since Monday, when working from home.",
    "is_broken": True,
    "impact": "medium",
    "urgency": "medium",
}
CATEGORIZED = {"category": "network", "subcategories": ["vpn"]}
DIAGNOSED = {
    "resolved": True,
    "resolution_code": "solved-remotely",
    "resolution_notes": "Reinstalled the VPN client.",
}


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "alice", "admin", "tina")


def token_for(db, username: str, name: str = "test") -> str:
    _, plaintext = api_tokens.create_token(db, username, name, created_by="admin", scope="write")
    return plaintext


class Api:
    """A program calling the API with one token."""

    def __init__(self, app, token: str) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str):
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body=None, **kwargs):
        if body is not None:
            kwargs["json"] = body
        return self.client.post(path, headers=self.headers, **kwargs)


@pytest.fixture
def as_(app, db):
    """as_("alice"): the API as alice (a token of hers)."""
    return lambda username: Api(app, token_for(db, username))


def refused(response, status: int) -> str:
    """The response is the JSON error `status`; returns its message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)[:200]
    assert isinstance(response.json["error"], str) and response.json["error"]
    return response.json["error"]


def report(api, **changes) -> str:
    answer = api.post("/api/incidents", {**REPORT, **changes})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.json["number"]


def open_task(api, number: str, element: str) -> dict:
    view = api.get(f"/api/incidents/{number}").json
    [task] = [t for t in view["open_tasks"] if t["task"] == element]
    return task


def version_of(db, number: str) -> int:
    with db.reading() as session:
        return session.scalar(
            select(Instance.version)
            .join(Incident, Incident.instance_id == Instance.id)
            .where(Incident.number == number)
        )


def logged_in(app, username: str):
    """A browser session; `client.token` is its CSRF token."""
    client = app.test_client()
    pattern = r'name="csrf_token" value="([^"]+)"'
    token = re.search(pattern, client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    client.token = re.search(pattern, page).group(1)  # a new session since logging in
    return client


# --- tokens ---------------------------------------------------------------------------


def test_a_token_is_stored_as_its_hash_only(app, db):
    plaintext = token_for(db, "alice", "laptop script")
    assert plaintext.startswith("dfk_") and len(plaintext) > 40
    with db.reading() as session:
        [row] = session.scalars(select(ApiToken)).all()
        dump = " ".join(str(v) for v in session.execute(text("SELECT * FROM api_tokens")).one())
    assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in dump and plaintext[4:] not in dump
    assert (row.username, row.name, row.created_by) == ("alice", "laptop script", "admin")
    assert row.last_used_at is None
    assert Api(app, plaintext).get("/api/incidents").status_code == 200
    with db.reading() as session:
        assert session.scalars(select(ApiToken)).one().last_used_at is not None


def test_a_revoked_or_unknown_token_gets_401_never_a_login_page(app, db):
    plaintext = token_for(db, "alice")
    api = Api(app, plaintext)
    assert api.get("/api/incidents").status_code == 200
    with db.reading() as session:
        [row] = session.scalars(select(ApiToken)).all()
    api_tokens.revoke_token(db, row.id)
    for response in (
        api.get("/api/incidents"),
        api.post("/api/incidents", REPORT),
        Api(app, plaintext[:-1] + "x").get("/api/incidents"),
        Api(app, "").get("/api/tasks"),
        app.test_client().get("/api/incidents"),  # no token, no session
        app.test_client().get("/api/tasks", headers={"Authorization": "Basic YWxpY2U6eA=="}),
    ):
        refused(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    with db.reading() as session:
        assert session.scalar(select(Incident.id)) is None


def test_tokens_need_a_known_user_and_a_name(db):
    with pytest.raises(api_tokens.DeskflowError, match="no user"):
        api_tokens.create_token(db, "nobody", "x", created_by="admin")
    with pytest.raises(api_tokens.DeskflowError, match="name"):
        api_tokens.create_token(db, "alice", "  ", created_by="admin")


# --- the journey ----------------------------------------------------------------------


def test_an_incident_from_report_to_confirmation_through_the_api(app, db, as_):
    alice, tina = as_("alice"), as_("tina")

    answer = alice.post("/api/incidents", REPORT)
    assert answer.status_code == 201
    number = answer.json["number"]
    assert answer.headers["Location"] == answer.json["url"] == f"/api/incidents/{number}"
    listed = alice.get("/api/incidents").json
    assert [i["number"] for i in listed["incidents"]] == [number] and listed["total"] == 1
    assert listed["incidents"][0]["opened_at"] == "2026-01-05T09:00:00+00:00"
    mine = alice.get(f"/api/incidents/{number}").json
    assert (mine["incident"]["caller"], mine["incident"]["reported_by"]) == ("alice", "alice")
    assert "history" not in mine and "last_error" not in mine["incident"]
    assert alice.get("/api/tasks").json["tasks"] == []  # nothing for her to do yet

    [task] = tina.get("/api/tasks?lane=Service Desk").json["tasks"]
    assert (task["number"], task["task"], task["may_work"]) == (
        number,
        "categorize_incident",
        True,
    )
    detail = tina.get(task["url"]).json
    assert detail["form_schema"]["title"] == "Categorize incident"
    assert detail["incident"]["number"] == number
    assert tina.post(f"/api/tasks/{task['id']}/claim").json["assignee"] == "tina"
    assert [t["id"] for t in tina.get("/api/tasks?mine=1").json["tasks"]] == [task["id"]]
    done = tina.post(f"/api/tasks/{task['id']}/complete", {"data": CATEGORIZED})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json["number"] == number

    diagnose = open_task(tina, number, "diagnose")
    version = tina.get(f"/api/incidents/{number}").json["version"]
    done = tina.post(
        f"/api/tasks/{diagnose['id']}/complete", {"data": DIAGNOSED, "expected_version": version}
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.json["state"] == "Resolved"

    closed = alice.post(
        f"/api/incidents/{number}/messages", {"message": "confirm", "payload": {"comment": "ok"}}
    )
    assert closed.status_code == 200, closed.get_data(as_text=True)
    assert closed.json == {"number": number, "state": "Closed", "url": f"/api/incidents/{number}"}
    story = tina.get(f"/api/incidents/{number}").json["history"]
    said = [(e["actor"], e["payload"].get("command")) for e in story if e["kind"] == "command"]
    assert said == [
        ("alice", "start_incident"),
        ("tina", "claim_task"),
        ("tina", "complete_task"),
        ("tina", "complete_task"),
        ("alice", "send_message"),
    ]


def test_the_service_desk_reports_for_a_caller_a_user_only_for_themselves(app, db, as_):
    tina, alice = as_("tina"), as_("alice")
    number = report(tina, caller="alice", channel="phone")
    with db.reading() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).one()
    assert (incident.caller, incident.reported_by, incident.channel) == ("alice", "tina", "phone")
    assert number in [i["number"] for i in alice.get("/api/incidents").json["incidents"]]
    refused(alice.post("/api/incidents", {**REPORT, "caller": "bob"}), 403)
    assert refused(tina.post("/api/incidents", {**REPORT, "caller": "nobody"}), 422)
    refused(alice.post("/api/incidents", {**REPORT, "reported_by": "bob"}), 400)


def test_staff_filter_every_incident_users_see_only_their_own(app, db, as_):
    alice, bob, tina = as_("alice"), as_("bob"), as_("tina")
    first, second = report(alice), report(bob, impact="high", urgency="high")
    assert [i["number"] for i in bob.get("/api/incidents").json["incidents"]] == [second]
    everyone = tina.get("/api/incidents").json
    assert [i["number"] for i in everyone["incidents"]] == [second, first]
    paged = tina.get("/api/incidents?limit=1&offset=1").json
    assert [i["number"] for i in paged["incidents"]] == [first] and paged["total"] == 2
    assert tina.get("/api/incidents?state=Closed").json["incidents"] == []
    assert tina.get("/api/incidents?group=nobody").json["total"] == 0
    for bad in ("limit=0", "limit=201", "limit=many", "offset=-1", "priority=9"):
        refused(tina.get(f"/api/incidents?{bad}"), 400)
    refused(tina.get("/api/tasks?mine=perhaps"), 400)


# --- refusals -------------------------------------------------------------------------


def test_someone_elses_incident_is_not_found_like_no_incident(app, db, as_):
    alice, bob = as_("alice"), as_("bob")
    number = report(alice)
    assert refused(bob.get(f"/api/incidents/{number}"), 404) == f"no incident {number}"
    assert refused(bob.get("/api/incidents/INC9999999"), 404) == "no incident INC9999999"
    refused(bob.post(f"/api/incidents/{number}/messages", {"message": "user_reply"}), 404)
    task = open_task(as_("tina"), number, "categorize_incident")
    refused(bob.get(task["url"]), 404)


def test_who_may_work_a_task_and_send_a_message(app, db, as_):
    alice, tina, ned = as_("alice"), as_("tina"), as_("ned")  # ned: network specialist
    number = report(alice)
    task = open_task(tina, number, "categorize_incident")
    refused(alice.post(f"/api/tasks/{task['id']}/complete", {"data": CATEGORIZED}), 403)
    refused(ned.post(f"/api/tasks/{task['id']}/complete", {"data": CATEGORIZED}), 403)
    refused(ned.post(f"/api/tasks/{task['id']}/claim"), 403)
    hold = {"message": "hold", "payload": {"reason": "awaiting vendor"}}
    refused(alice.post(f"/api/incidents/{number}/messages", hold), 403)
    assert refused(
        alice.post(f"/api/incidents/{number}/messages", {"message": "reopen", "payload": {}}), 422
    )
    not_waiting = {"message": "confirm"}  # nothing is resolved yet
    refused(alice.post(f"/api/incidents/{number}/messages", not_waiting), 409)
    assert task["id"] not in [t["id"] for t in ned.get("/api/tasks").json["tasks"]]


def test_form_values_outside_the_schema_are_422_with_fields_and_change_nothing(app, db, as_):
    tina = as_("tina")
    number = report(as_("alice"))
    task = open_task(tina, number, "categorize_incident")
    before = version_of(db, number)
    bad = {"data": {"category": "catering", "subcategories": [], "colour": "red"}}
    answer = tina.post(f"/api/tasks/{task['id']}/complete", bad)
    refused(answer, 422)
    assert set(answer.json["fields"]) == {"category", "subcategories", "colour"}
    assert version_of(db, number) == before
    assert open_task(tina, number, "categorize_incident")["id"] == task["id"]
    wrong_report = tina.post("/api/incidents", {**REPORT, "impact": "huge", "urgency": 3})
    refused(wrong_report, 422)
    assert set(wrong_report.json["fields"]) == {"impact", "urgency"}
    with db.reading() as session:
        assert len(session.scalars(select(Incident)).all()) == 1


def test_a_task_that_is_not_open_is_409(app, db, as_):
    tina = as_("tina")
    number = report(as_("alice"))
    task = open_task(tina, number, "categorize_incident")
    assert tina.post(f"/api/tasks/{task['id']}/complete", {"data": CATEGORIZED}).status_code == 200
    refused(tina.post(f"/api/tasks/{task['id']}/complete", {"data": CATEGORIZED}), 409)
    refused(tina.post("/api/tasks/no-such-task/complete", {"data": {}}), 409)
    refused(tina.get(f"/api/tasks/{task['id']}"), 404)
    diagnose = open_task(tina, number, "diagnose")
    stale = {"data": DIAGNOSED, "expected_version": version_of(db, number) - 1}
    refused(tina.post(f"/api/tasks/{diagnose['id']}/complete", stale), 409)


def test_malformed_and_oversized_bodies_are_refused_with_json(app, db, as_):
    tina = as_("tina")
    json_type = {"content_type": "application/json"}
    refused(tina.post("/api/incidents", data="{not json", **json_type), 400)
    refused(tina.post("/api/incidents", data="[1, 2]", **json_type), 400)
    refused(tina.post("/api/incidents", data="", **json_type), 400)
    refused(tina.post("/api/incidents", data={"short_description": "form data"}), 415)
    refused(tina.post("/api/incidents", data="x" * (1024 * 1024 + 1), **json_type), 413)
    number = report(as_("alice"))
    task = open_task(tina, number, "categorize_incident")
    refused(tina.post(f"/api/tasks/{task['id']}/complete", {"data": ["network"]}), 400)
    refused(tina.post(f"/api/tasks/{task['id']}/complete", CATEGORIZED), 400)
    not_whole = {"data": CATEGORIZED, "expected_version": "1"}
    refused(tina.post(f"/api/tasks/{task['id']}/complete", not_whole), 400)
    refused(tina.post(f"/api/incidents/{number}/messages", {"message": "shout"}), 422)
    with db.reading() as session:
        assert len(session.scalars(select(HumanTask)).all()) == 1


def test_unknown_paths_and_methods_under_api_are_json(app, db, as_):
    tina = as_("tina")
    refused(tina.get("/api/nothing-here"), 404)
    refused(app.test_client().get("/api/incidents/INC0000001/nothing"), 404)
    answer = tina.client.delete("/api/incidents", headers=tina.headers)
    refused(answer, 405)
    assert set(answer.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "<html" in app.test_client().get("/nothing-here").get_data(as_text=True).lower()


def test_a_browser_session_works_but_needs_the_csrf_header_to_change_anything(app, db):
    alice = logged_in(app, "alice")
    assert alice.get("/api/incidents").status_code == 200
    before = alice.post("/api/incidents", json=REPORT)
    refused(before, 400)
    with db.reading() as session:
        assert session.scalar(select(Incident.id)) is None
    answer = alice.post("/api/incidents", json=REPORT, headers={"X-CSRF-Token": alice.token})
    assert answer.status_code == 201, answer.get_data(as_text=True)


def test_a_bearer_token_decides_who_calls_not_the_session(app, db):
    alice = logged_in(app, "alice")
    answer = alice.post(
        "/api/incidents",
        json={**REPORT, "caller": "bob"},
        headers={"Authorization": f"Bearer {token_for(db, 'tina')}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    with db.reading() as session:
        assert session.scalar(select(Incident.reported_by)) == "tina"
    refused(alice.get("/api/incidents", headers={"Authorization": "Bearer dfk_nope"}), 401)


def test_the_openapi_document_needs_no_login(app):
    answer = app.test_client().get("/api/openapi.json")
    assert answer.status_code == 200 and answer.json["openapi"].startswith("3.1")


# --- the admin's page and the CLI -----------------------------------------------------


def test_the_admin_creates_a_token_on_the_page_sees_it_once_and_revokes_it(app, db):
    admin = logged_in(app, "admin")
    page = admin.get("/admin/tokens").get_data(as_text=True)
    for field in ("username", "name"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page
    created = admin.post(
        "/admin/tokens",
        data={"username": "alice", "name": "monitoring", "csrf_token": admin.token},
    )
    assert created.status_code == 200 and created.headers["Cache-Control"] == "no-store"
    plaintext = re.search(r'value="(dfk_[^"]+)"', created.get_data(as_text=True)).group(1)
    assert Api(app, plaintext).get("/api/incidents").status_code == 200
    listing = admin.get("/admin/tokens").get_data(as_text=True)
    assert plaintext not in listing
    assert "monitoring" in listing and "alice" in listing and "2026-01-05 09:00" in listing
    with db.reading() as session:
        token_id = session.scalars(select(ApiToken.id)).one()
    revoked = admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": admin.token})
    assert revoked.status_code == 302
    assert "is revoked" in admin.get("/admin/tokens").get_data(as_text=True)
    refused(Api(app, plaintext).get("/api/incidents"), 401)


def test_the_token_page_is_for_admins_and_checks_its_form(app, db):
    admin = logged_in(app, "admin")
    unknown = admin.post(
        "/admin/tokens", data={"username": "nobody", "name": "x", "csrf_token": admin.token}
    )
    assert unknown.status_code == 422 and "no user" in unknown.get_data(as_text=True)
    no_csrf = admin.post("/admin/tokens", data={"username": "alice", "name": "x"})
    assert no_csrf.status_code == 400
    assert (
        admin.post("/admin/tokens/999/revoke", data={"csrf_token": admin.token}).status_code == 404
    )
    with db.reading() as session:
        assert session.scalars(select(ApiToken)).all() == []
    assert logged_in(app, "tina").get("/admin/tokens").status_code == 403
    assert app.test_client().get("/admin/tokens").status_code == 302  # to the login page


def test_the_cli_creates_lists_and_revokes_tokens(app, db):
    def run(*args):
        return CliRunner().invoke(main, ["--database", db.url, "token", *args])

    created = run("create", "alice", "--name", "chat bot")
    assert created.exit_code == 0, created.output
    plaintext = re.search(r"^(dfk_\S+)$", created.output, re.M).group(1)
    assert "cannot be shown again" in created.output
    assert Api(app, plaintext).get("/api/incidents").status_code == 200
    listing = run("list")
    assert "alice" in listing.output and "chat bot" in listing.output
    assert plaintext not in listing.output
    token_id = re.search(r"API token (\d+)", created.output).group(1)
    assert run("revoke", token_id).exit_code == 0
    assert "REVOKED" in run("list").output
    refused(Api(app, plaintext).get("/api/incidents"), 401)
    missing = run("revoke", "999")
    assert missing.exit_code == 1 and "no API token 999" in missing.output
    assert run("create", "nobody", "--name", "x").exit_code == 1


def test_the_api_tokens_migration_matches_the_model_down_and_up(db):
    config = alembic_config(db)
    command.downgrade(config, "0006")
    try:
        with db.engine.connect() as connection:
            assert not inspect(connection).has_table("api_tokens")
    finally:
        command.upgrade(config, "head")
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "api_tokens" in repr(d)] == []
