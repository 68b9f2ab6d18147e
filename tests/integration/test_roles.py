"""Every role × every route: allowed, or refused (403 when logged in without the role; the
login page — or 401 on the API — when not logged in).

The table names every endpoint the app has: a route added without its line here fails.
Requests use ids that do not exist, so an allowed request reaches its view and ends in a
404 or a form error there, and nothing changes between the cases.
"""

from __future__ import annotations

import re

import pytest

from engine.desk import accounts
from engine.store.models import Membership, User
from web import create_app
from web.auth import ROLES

PASSWORD = "correct horse battery"
ANYONE = frozenset(ROLES)
WORKERS = frozenset({"technician", "specialist", "manager"})
DIAGRAM_READERS = WORKERS | {"auditor", "admin"}
PUBLIC = "public"

ALLOWED: dict[str, frozenset[str] | str] = {
    "health": PUBLIC,
    "static": PUBLIC,
    "auth.login": PUBLIC,
    "auth.logout": PUBLIC,
    "api.document": PUBLIC,
    "status.home": ANYONE,
    "portal.report": frozenset({"user"}),
    "portal.incidents": frozenset({"user"}),
    "portal.incident": frozenset({"user"}),
    "portal.answer": frozenset({"user"}),
    "portal.self_help": frozenset({"user"}),
    "portal.suggestions": frozenset({"user"}),
    "portal.article": frozenset({"user"}),
    "desk.home": WORKERS,
    "desk.queue": WORKERS,
    "desk.task": WORKERS,
    "desk.claim": WORKERS,
    "desk.unclaim": WORKERS,
    "desk.assign": WORKERS,
    "incidents.incident": WORKERS,
    "incidents.note": WORKERS,
    "incidents.escalate": WORKERS,
    "incidents.message": WORKERS,
    "incidents.automated_escalation": WORKERS,
    "incidents.report": frozenset({"technician", "manager"}),
    "diagram.diagram_page": DIAGRAM_READERS,
    "diagram.diagram_json": DIAGRAM_READERS,
    "admin.tokens": frozenset({"admin"}),
    "admin.revoke": frozenset({"admin"}),
    "admin.all_sessions": frozenset({"admin"}),
    "admin.end_session": frozenset({"admin"}),
    "account.home": ANYONE,
    "account.end": ANYONE,
    "account.end_others": ANYONE,
    "account.password": ANYONE,
    "failures.failed": frozenset({"technician", "manager", "admin"}),
    "failures.retry": frozenset({"technician", "manager", "admin"}),
    "audit.home": frozenset({"auditor"}),
    "audit.verify": frozenset({"auditor"}),
    "audit.run": frozenset({"auditor"}),
    "replay.find": frozenset({"auditor"}),
    "replay.replay_page": frozenset({"auditor"}),
    "replay.replay_json": frozenset({"auditor"}),
    "replay.heatmap_page": frozenset({"auditor"}),
    "replay.heatmap_json": frozenset({"auditor"}),
    "audit_export.page": frozenset({"auditor"}),
    "audit_export.history_csv": frozenset({"auditor"}),
    "audit_export.history_xes": frozenset({"auditor"}),
    "api.report_incident": ANYONE,
    "api.list_incidents": ANYONE,
    "api.show_incident": ANYONE,
    "api.send_message": ANYONE,
    "api.list_tasks": ANYONE,
    "api.show_task": ANYONE,
    "api.claim_task": ANYONE,
    "api.complete_task": ANYONE,
    **{
        f"process.{name}": frozenset({"process_owner"})
        for name in (
            "versions_page",
            "rollback",
            "create_draft",
            "delete_draft",
            "modeler",
            "diff_page",
            "migrate_page",
            "migrate",
            "draft_forms",
        )
    },
    **{
        f"process_api.{name}": frozenset({"process_owner"})
        for name in (
            "list_versions",
            "show_version",
            "rollback",
            "create_draft",
            "list_drafts",
            "show_draft",
            "save_draft",
            "delete_draft",
            "validate_draft",
            "deploy_draft",
            "list_operators",
            "diff",
            "dry_run",
            "migrate",
            "what_if_report",
            "unknown",
        )
    },
}
VALUES = {
    "number": "INC9999999",
    "task_id": "no-such-task",
    "token_id": "999999",
    "session_id": "999999",
    "article_id": "KB9999",
    "message": "hold",
    "filename": "deskflow.css",
    "run_id": "999999",
    "version": "999999",
    "draft_id": "999999",
    "rest": "nothing",
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def app(runtime):
    with runtime.db.writing() as session:
        for role in ROLES:
            session.add(User(username=f"only-{role}", full_name=role, email="", roles=[role]))
        session.flush()
        session.add(Membership(group_name="service-desk", username="only-technician"))
        session.add(Membership(group_name="network-ops", username="only-specialist"))
    for role in ROLES:
        accounts.set_password(runtime.db, f"only-{role}", PASSWORD)
    return create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "test secret"})


def client_as(app, role: str | None):
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    if role:
        answer = client.post(
            "/login",
            data={"username": f"only-{role}", "password": PASSWORD, "csrf_token": token},
        )
        assert answer.status_code == 302
        client.get("/login")  # a page with a form: the new session's CSRF token
    with client.session_transaction() as session:
        client.token = session["csrf"]
    return client


def routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: VALUES[m.group(1)], rule.rule)
            yield rule.endpoint, method, path


def test_the_table_names_every_route(app):
    assert {endpoint for endpoint, _, _ in routes(app)} == set(ALLOWED)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_route_lets_in_only_its_roles(app, role):
    client = client_as(app, role)
    wrong = []
    for endpoint, method, path in routes(app):
        if endpoint in ("auth.login", "auth.logout"):
            continue  # they log people in and out; tested in test_web
        answer = client.open(path, method=method, headers={"X-CSRF-Token": client.token})
        answer.get_data()  # a streamed download runs to its end
        answer.close()
        allowed = ALLOWED[endpoint]
        refused_login = answer.status_code == 302 and "/login" in answer.location
        verdict = (
            "refused"
            if answer.status_code in (401, 403) or refused_login
            else f"reached ({answer.status_code})"
        )
        if allowed == PUBLIC or (role is not None and role in allowed):
            if verdict == "refused":
                wrong.append(f"{method} {path}: {answer.status_code}, expected to be let in")
        elif role is None:
            expected = 401 if path.startswith("/api/") else 302
            if not (answer.status_code == expected and (expected == 401 or refused_login)):
                wrong.append(f"{method} {path}: {answer.status_code}, expected {expected}")
        elif answer.status_code != 403:
            wrong.append(f"{method} {path}: {answer.status_code}, expected 403")
    assert not wrong, "\n".join(wrong)
