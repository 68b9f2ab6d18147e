"""Hostile parameters and bodies get a 4xx that says what is wrong, never a 5xx: the
regressions of issue 11 (found against main on both databases, behind gunicorn), each
checked here on the database the suite runs on (NUL bytes broke PostgreSQL only).

`web.params` checks paths and query strings, `web.bodies` bodies; the streamed export
checks its whole query before its first byte (`web.audit_export`, `engine.audit.export`).
"""

from __future__ import annotations

import http.client
import json
from html import unescape

import pytest
from sqlalchemy import func, select

from engine import clock
from engine.audit import event_log, export
from engine.desk import api_tokens
from engine.errors import DeskflowError
from engine.store.models import AuditView, Incident

from . import served
from .web_client import app_with_accounts, logged_in, post

HUGE = 2**70
REPORT = {
    "short_description": "VPN drops every few minutes",
    "impact": "low",
    "urgency": "medium",
}


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "alice", "tina", "owen", "audrey", "admin")


@pytest.fixture
def api(app, db):
    """The API as tina (a token of hers): a test client and its headers."""
    _, token = api_tokens.create_token(db, "tina", "hostile", created_by="admin", scope="write")
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def refused(response, status: int) -> str:
    """The answer is `status`; returns what it says (the API's JSON error, else the page)."""
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    return response.json["error"] if response.is_json else unescape(body)


# --- NUL and other control characters ---------------------------------------------------


def test_a_nul_in_a_path_is_no_such_page(app, api):
    assert "control character" in refused(api.get("/api/incidents/INC%00"), 404)
    assert "control character" in refused(api.get("/api/tasks/a%00b"), 404)
    tina = logged_in(app, "tina")
    refused(tina.get("/desk/incidents/INC0000001%00"), 404)
    refused(tina.get("/incidents/%00/diagram.json"), 404)
    refused(app.test_client().get("/static/desk.js%00"), 404)


def test_a_control_character_in_a_query_is_400_naming_the_parameter(app, api):
    assert "?state holds a control character" in refused(api.get("/api/incidents?state=a%00b"), 400)
    assert "?lane" in refused(api.get("/api/tasks?lane=%00"), 400)
    assert "control character" in refused(api.get("/api/incidents?st%00ate=x"), 400)
    tina = logged_in(app, "tina")
    for query in ("lane=%00", "group=x%0Ay", "category=%7F", "q=%C2%85"):
        assert "control character" in refused(tina.get(f"/desk/queue?{query}"), 400)
    alice = logged_in(app, "alice")
    refused(alice.get("/portal/suggestions?q=vpn%00"), 400)


def test_a_nul_in_a_form_field_is_refused_before_the_view(app, db):
    tina = logged_in(app, "tina")
    number = _report(app)
    answer = post(tina, f"/desk/incidents/{number}/notes", kind="work_note", text="a\x00b")
    assert "NUL character" in refused(answer, 400)


# --- numbers ----------------------------------------------------------------------------


def test_ids_beyond_64_bits_are_not_found(app, api):
    owen, audrey = logged_in(app, "owen"), logged_in(app, "audrey")
    refused(audrey.get(f"/audit/runs/{HUGE}"), 404)
    refused(audrey.get(f"/audit/runs/{2**63}"), 404)
    refused(audrey.get(f"/audit/runs/{2**63 - 1}"), 404)  # the largest id: looked up
    refused(owen.get(f"/process/api/drafts/{HUGE}"), 404)
    refused(owen.get(f"/process/api/versions/{2**31}"), 404)  # a version is 32 bits
    refused(owen.get("/process/api/versions/²"), 404)
    refused(owen.get("/process/api/versions/٣"), 404)  # not an ASCII digit


def test_an_offset_beyond_64_bits_is_400_and_the_largest_is_an_empty_page(api):
    said = refused(api.get(f"/api/incidents?offset={HUGE}"), 400)
    assert said == "?offset must be a whole number from 0 up (at most 9223372036854775807)"
    refused(api.get(f"/api/tasks?offset={HUGE}"), 400)
    answer = api.get(f"/api/incidents?offset={2**63 - 1}")
    assert answer.status_code == 200 and answer.json["incidents"] == []


def test_a_superscript_digit_is_not_a_priority(app, api):
    tina = logged_in(app, "tina")
    said = refused(tina.get("/desk/queue?priority=²"), 400)
    assert "?priority must be a whole number from 1 to 5" in said
    refused(tina.get("/desk/queue?priority=٣"), 400)
    refused(tina.get(f"/desk/queue?priority={HUGE}"), 400)
    assert tina.get("/desk/queue?priority=3").status_code == 200
    said = refused(api.get("/api/incidents?priority=²"), 400)
    assert said == "?priority must be a whole number from 1 to 5"
    audrey = logged_in(app, "audrey")
    refused(audrey.get("/audit/heatmap?priority=²"), 400)
    refused(audrey.get(f"/audit/heatmap?version={HUGE}"), 400)


def test_version_numbers_in_process_pages_are_checked(app):
    owen = logged_in(app, "owen")
    refused(owen.get(f"/process/migrate?from=1&to={HUGE}"), 400)
    refused(owen.get("/process/migrate?from=²&to=1"), 400)
    refused(owen.get(f"/process/modeler?version={2**31}"), 400)
    refused(owen.get("/process/diff?from=1&to=draft:²"), 400)
    refused(owen.get("/process/api/diff?from=1"), 400)  # both ends are required
    said = refused(post(owen, "/process/migrate", **{"from": "²", "to": "1"}), 400)
    assert "'from' must be a whole number" in said
    refused(post(owen, "/process/drafts", base_version=str(HUGE)), 400)


# --- JSON bodies ------------------------------------------------------------------------


def test_a_deeply_nested_json_body_is_400_not_a_crash(app, api, db):
    for depth in (33, 5_000, 100_000):
        body = '{"short_description": ' + "[" * depth + "]" * depth + "}"
        answer = api.post("/api/incidents", data=body, content_type="application/json")
        assert "nested too deeply" in refused(answer, 400)
    owen = logged_in(app, "owen")
    deep = '{"comment": ' + '{"a": ' * 50 + "1" + "}" * 50 + "}"
    answer = owen.post(
        "/process/api/drafts",
        data=deep,
        content_type="application/json",
        headers={"X-CSRF-Token": owen.token},
    )
    assert "nested too deeply" in refused(answer, 400)
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Incident)) == 0


def test_json_values_no_database_can_hold_are_400(api, db):
    for text, said in (
        ('{"short_description": "a\\u0000b"}', "NUL character at short_description"),
        ('{"short_description": NaN}', "not valid JSON"),
        ('{"short_description": 1e999}', "too large"),
        (f'{{"short_description": {HUGE}}}', "beyond 64 bits"),
    ):
        answer = api.post("/api/incidents", data=text, content_type="application/json")
        assert said in refused(answer, 400)


# --- the streamed export ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        f"version={HUGE}",
        f"version={2**31}",
        f"priority={HUGE}",
        "priority=²",
        "since=2026-02-30",
        "until=9999-12-31",
        "category=a%00b",
        "breached=maybe",
    ],
)
def test_an_export_with_a_bad_filter_is_400_before_any_byte(app, runtime, query):
    _report(app)
    audrey = logged_in(app, "audrey")
    for fmt in ("xes", "csv"):
        answer = audrey.get(f"/audit/export/history.{fmt}?{query}")
        body = refused(answer, 400)
        assert "<?xml" not in body and "Content-Disposition" not in answer.headers
    with runtime.db.reading() as session:  # a refused export is not recorded as one
        views = session.scalars(select(AuditView.what)).all()
    assert not [what for what in views if what.startswith("export ")]


def test_the_engine_checks_the_filters_before_the_first_chunk(db):
    for filters in (
        event_log.Filters(version=HUGE),
        event_log.Filters(priorities=(1, 2**31)),
        event_log.Filters(groups=("a\x00b",)),
    ):
        with pytest.raises(DeskflowError):
            export.export(db, "xes", filters)  # raises at the call, not while iterating
    with pytest.raises(DeskflowError, match="ISO 8601"):
        event_log.parse_time("9999-12-31", end_of_day=True)


def test_a_good_export_still_streams_whole(app, runtime):
    _report(app)
    audrey = logged_in(app, "audrey")
    answer = audrey.get("/audit/export/history.xes?priority=3&priority=4&since=2026-01-01")
    assert answer.status_code == 200
    assert answer.get_data(as_text=True).rstrip().endswith("</log>")
    page = audrey.get("/audit/export/?priority=3&people=1&since=2026-01-01&unknown=x")
    assert page.status_code == 200
    assert 'href="/audit/export/history.xes?priority=3&amp;people=1&amp;since=2026-01-01"' in (
        page.get_data(as_text=True)
    )


# --- chunked bodies, through gunicorn ---------------------------------------------------


def test_a_chunked_body_over_the_limit_is_413_like_one_with_a_length(db, runtime, tmp_path):
    """Werkzeug's stream stopped a chunked body at the limit and handed over what it had
    read (a cut JSON body: 400); `web.bodies` makes it 413, through a real gunicorn."""
    frozen = clock.install(clock.WallClock())  # gunicorn checks the token's expiry on it
    try:
        _, token = api_tokens.create_token(db, "tina", "chunked", "admin", scope="write")
    finally:
        clock.install(frozen)
    bearer = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    big = json.dumps({"short_description": "x" * (2 * 1024 * 1024)}).encode()
    small = json.dumps(REPORT | {"caller": "alice"}).encode()
    with served.gunicorn(db.url, tmp_path / "gunicorn.log", workers=1) as server:
        status, said = _chunked(server.address, "/api/incidents", big, bearer)
        assert status == 413 and "too large" in said
        status, said = _chunked(server.address, "/api/incidents", small, bearer)
        assert status == 201, said
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _ = _chunked(server.address, "/login", b"username=" + b"x" * 2**21, form)
        assert status == 413
        status, said = _sent(server.address, "/api/incidents", big, bearer)
        assert status == 413 and "too large" in said  # with a Content-Length: as before


def _chunked(address: str, path: str, body: bytes, headers: dict) -> tuple[int, str]:
    """POST `body` in 64 KiB chunks (Transfer-Encoding: chunked, no Content-Length)."""
    pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
    return _sent(address, path, pieces, headers, chunked=True)


def _sent(address, path, body, headers, chunked=False) -> tuple[int, str]:
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _report(app) -> str:
    """An incident for alice, reported by tina through the API; its number."""
    db = app.extensions["deskflow.db"]
    _, token = api_tokens.create_token(db, "tina", "report", created_by="admin", scope="write")
    answer = app.test_client().post(
        "/api/incidents",
        json=REPORT | {"caller": "alice"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.json["number"]
