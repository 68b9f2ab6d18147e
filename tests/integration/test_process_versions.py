"""Process owners change the process safely: drafts, server-side validation, deploying
with a comment, the versions list, diffs, rolling back, and moving running incidents to
another version (from the browser's JSON endpoints, the HTML pages and the CLI)."""

from __future__ import annotations

import json
import re

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from engine.desk import queries
from engine.process import definitions
from engine.process.definitions import Bundle, SourceFile
from engine.store.models import Base, Definition, Draft, Incident, Instance

from .desk import Desk
from .web_client import app_with_accounts, logged_in, post

CONFIRM_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Confirm impact",
    "description": "The service desk confirms the impact before the priority is set.",
    "type": "object",
    "properties": {"impact_confirmed": {"title": "Impact confirmed", "type": "boolean"}},
    "required": ["impact_confirmed"],
    "additionalProperties": False,
}

CONFIRM_TASK = """    <bpmn:userTask id="confirm_impact" name="Confirm impact">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="form" value="confirm_impact" />
          <spiffworkflow:property name="incident_state" value="New" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_categorized</bpmn:incoming>
      <bpmn:outgoing>flow_impact_confirmed</bpmn:outgoing>
    </bpmn:userTask>
"""


def edit(text: str, *replacements: tuple[str, str]) -> str:
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def with_confirm_impact(bpmn: str) -> str:
    """The bundled diagram with a user task "Confirm impact" (Service Desk lane, its own
    form) between categorizing and prioritizing: element, lane membership, flows, DI."""
    return edit(
        bpmn,
        (
            "        <bpmn:flowNodeRef>categorize_incident</bpmn:flowNodeRef>\n",
            "        <bpmn:flowNodeRef>categorize_incident</bpmn:flowNodeRef>\n"
            "        <bpmn:flowNodeRef>confirm_impact</bpmn:flowNodeRef>\n",
        ),
        (
            '    <bpmn:businessRuleTask id="prioritize" name="Prioritize">',
            CONFIRM_TASK + '    <bpmn:businessRuleTask id="prioritize" name="Prioritize">',
        ),
        (
            "      <bpmn:incoming>flow_categorized</bpmn:incoming>\n"
            "      <bpmn:outgoing>flow_prioritized</bpmn:outgoing>",
            "      <bpmn:incoming>flow_impact_confirmed</bpmn:incoming>\n"
            "      <bpmn:outgoing>flow_prioritized</bpmn:outgoing>",
        ),
        (
            '<bpmn:sequenceFlow id="flow_categorized" sourceRef="categorize_incident" '
            'targetRef="prioritize" />',
            '<bpmn:sequenceFlow id="flow_categorized" sourceRef="categorize_incident" '
            'targetRef="confirm_impact" />\n'
            '    <bpmn:sequenceFlow id="flow_impact_confirmed" sourceRef="confirm_impact" '
            'targetRef="prioritize" />',
        ),
        (
            '      <bpmndi:BPMNShape id="prioritize_di" bpmnElement="prioritize">',
            '      <bpmndi:BPMNShape id="confirm_impact_di" bpmnElement="confirm_impact">\n'
            '        <dc:Bounds x="630" y="1080" width="100" height="80" />\n'
            "      </bpmndi:BPMNShape>\n"
            '      <bpmndi:BPMNShape id="prioritize_di" bpmnElement="prioritize">',
        ),
        (
            '      <bpmndi:BPMNEdge id="flow_categorized_di" bpmnElement="flow_categorized">\n'
            '        <di:waypoint x="660" y="980" />\n'
            '        <di:waypoint x="700" y="980" />\n'
            "      </bpmndi:BPMNEdge>",
            '      <bpmndi:BPMNEdge id="flow_categorized_di" bpmnElement="flow_categorized">\n'
            '        <di:waypoint x="610" y="1020" />\n'
            '        <di:waypoint x="610" y="1120" />\n'
            '        <di:waypoint x="630" y="1120" />\n'
            "      </bpmndi:BPMNEdge>\n"
            '      <bpmndi:BPMNEdge id="flow_impact_confirmed_di" '
            'bpmnElement="flow_impact_confirmed">\n'
            '        <di:waypoint x="730" y="1120" />\n'
            '        <di:waypoint x="750" y="1120" />\n'
            '        <di:waypoint x="750" y="1020" />\n'
            "      </bpmndi:BPMNEdge>",
        ),
    )


def bundle_v2() -> Bundle:
    b = definitions.bundled()
    return Bundle(
        SourceFile(b.bpmn.filename, with_confirm_impact(b.bpmn.text)),
        b.dmns,
        {**b.forms, "confirm_impact": CONFIRM_FORM},
    )


XXE = """<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>
"""
BOMB = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n<lolz>&lol9;</lolz>\n"
)


# --- fixtures and helpers -------------------------------------------------------------


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "owen", "tina")


@pytest.fixture
def owen(app):
    return logged_in(app, "owen")


def send(client, method: str, path: str, body=None):
    """A JSON call from the modeler page: session cookie plus the X-CSRF-Token header."""
    return client.open(path, method=method, json=body, headers={"X-CSRF-Token": client.token})


def new_draft(client, base: int = 1) -> dict:
    answer = send(client, "POST", "/process/api/drafts", {"base_version": base})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()


def version_of(db, number: str) -> int:
    with db.reading() as session:
        return session.scalar(
            select(Definition.version)
            .join(Instance, Instance.definition_id == Definition.id)
            .join(Incident, Incident.instance_id == Instance.id)
            .where(Incident.number == number)
        )


def is_json_error(answer, status: int) -> dict:
    assert answer.status_code == status, answer.get_data(as_text=True)
    assert answer.mimetype == "application/json"
    body = answer.get_json()
    assert isinstance(body.get("error"), str) and body["error"]
    return body


def deploy_v2(client) -> dict:
    draft = new_draft(client)
    v2 = bundle_v2()
    saved = send(
        client,
        "PUT",
        f"/process/api/drafts/{draft['id']}",
        {"bpmn": v2.bpmn.text, "forms": v2.forms},
    )
    assert saved.status_code == 200
    checked = send(client, "POST", f"/process/api/drafts/{draft['id']}/validate").get_json()
    assert checked == {"ok": True, "errors": [], "warnings": []}
    answer = send(
        client,
        "POST",
        f"/process/api/drafts/{draft['id']}/deploy",
        {"comment": "confirm the impact before prioritizing"},
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert answer.get_json() == {"version": 2, "created": True}
    return draft


def run_cli(db, *args):
    return CliRunner().invoke(main, ["--database", db.url, *args], catch_exceptions=False)


# --- drafts ---------------------------------------------------------------------------


def test_the_drafts_table_matches_its_model(db):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if "drafts" in repr(d)] == []


def test_drafts_are_created_read_saved_listed_and_deleted(owen, db):
    draft = new_draft(owen)
    bundled = definitions.bundled()
    assert draft["base_version"] == 1
    assert draft["bpmn"] == bundled.bpmn.text
    assert draft["bpmn_filename"] == "service_desk.bpmn"
    assert draft["dmn"] == {"priority.dmn": bundled.dmns[0].text}
    assert draft["forms"] == bundled.forms
    assert draft["updated_by"] == "owen" and draft["updated_at"]

    # saving checks only that it is text / an object: a draft may be broken
    broken = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": "<not xml"})
    assert broken.status_code == 200 and broken.get_json()["bpmn"] == "<not xml"
    forms = {**bundled.forms, "extra": {"type": "object"}}
    saved = send(
        owen,
        "PUT",
        f"/process/api/drafts/{draft['id']}",
        {"forms": forms, "dmn": {"priority.dmn": "<dmn/>"}, "comment": "work in progress"},
    )
    body = saved.get_json()
    assert (body["bpmn"], body["forms"], body["dmn"]) == (
        "<not xml",
        forms,
        {"priority.dmn": "<dmn/>"},
    )
    assert owen.get(f"/process/api/drafts/{draft['id']}").get_json() == body
    assert [d["id"] for d in owen.get("/process/api/drafts").get_json()] == [draft["id"]]

    wrong = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": 42})
    assert "must be text" in is_json_error(wrong, 422)["problems"][0]["message"]
    wrong = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"forms": {"a": [1]}})
    assert "JSON object" in is_json_error(wrong, 422)["problems"][0]["message"]
    too_many = {f"form_{i}": {} for i in range(101)}
    wrong = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"forms": too_many})
    assert "the limit is 100" in is_json_error(wrong, 422)["problems"][0]["message"]

    assert send(owen, "DELETE", f"/process/api/drafts/{draft['id']}").status_code == 204
    is_json_error(owen.get(f"/process/api/drafts/{draft['id']}"), 404)
    with db.reading() as session:
        assert session.scalars(select(Draft)).all() == []


def test_validation_finds_an_unknown_operator_with_its_element_and_line(owen):
    draft = new_draft(owen)
    bpmn = draft["bpmn"].replace(
        'serviceTaskOperator id="sla_targets"', 'serviceTaskOperator id="sla_targetz"', 1
    )
    send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": bpmn})
    answer = send(owen, "POST", f"/process/api/drafts/{draft['id']}/validate")
    assert answer.status_code == 200
    result = answer.get_json()
    assert result["ok"] is False and result["warnings"] == []
    [problem] = [e for e in result["errors"] if "sla_targetz" in e["message"]]
    assert problem["element"] == "set_sla_targets"
    assert problem["file"] == "service_desk.bpmn"
    assert (
        bpmn.splitlines()[problem["line"] - 1]
        .strip()
        .startswith('<bpmn:serviceTask id="set_sla_targets"')
    )


def test_validation_checks_each_form_as_a_json_schema(owen):
    draft = new_draft(owen)
    forms = {**draft["forms"], "broken": {"type": "nonsense"}}
    send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"forms": forms})
    result = send(owen, "POST", f"/process/api/drafts/{draft['id']}/validate").get_json()
    messages = {e["file"]: e["message"] for e in result["errors"]}
    assert messages["forms/broken.json"].startswith("not a valid JSON Schema: 'nonsense'")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("xxe", XXE, "DOCTYPE and entity declarations are not allowed"),
        ("entity bomb", BOMB, "DOCTYPE and entity declarations are not allowed"),
        ("malformed", "<bpmn:definitions><unclosed>", "not well-formed XML"),
        ("nested deep", "<a>" * 5000 + "</a>" * 5000, "not well-formed XML"),
    ],
)
def test_hostile_xml_is_refused_with_a_clear_422(owen, db, name, text, expected):
    draft = new_draft(owen)
    saved = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": text})
    assert saved.status_code == 200  # a draft may be broken; it is never parsed on save
    result = send(owen, "POST", f"/process/api/drafts/{draft['id']}/validate").get_json()
    assert result["ok"] is False
    assert any(expected in e["message"] for e in result["errors"]), result
    deploy = send(owen, "POST", f"/process/api/drafts/{draft['id']}/deploy", {"comment": "evil"})
    body = is_json_error(deploy, 422)
    assert any(expected in p["message"] for p in body["problems"])
    diff = owen.get(f"/process/api/diff?from=1&to=draft:{draft['id']}")
    assert any(expected in p["message"] for p in is_json_error(diff, 422)["problems"])
    with db.reading() as session:
        assert session.scalars(select(Definition.version)).all() == [1]


def test_huge_files_are_refused_with_a_clear_error(owen):
    draft = new_draft(owen)
    huge = draft["bpmn"] + "<!--" + "x" * (2 * 1024 * 1024) + "-->"
    answer = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": huge})
    [problem] = is_json_error(answer, 422)["problems"]
    assert "the limit is 2,097,152" in problem["message"]
    assert owen.get(f"/process/api/drafts/{draft['id']}").get_json()["bpmn"] == draft["bpmn"]
    lone = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": "<a>\ud800</a>"})
    assert "not UTF-8 text" in is_json_error(lone, 422)["problems"][0]["message"]
    enormous = send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": "x" * 9_000_000})
    assert "too large" in is_json_error(enormous, 413)["error"]


# --- deploying, versions, pinning and migrating ---------------------------------------


def test_a_new_version_runs_new_incidents_while_old_ones_stay_or_move(owen, desk, db, runtime):
    moving = desk.report()  # waits at "Categorize incident": nothing it passed changes
    staying = desk.report()
    desk.categorize(staying)  # passed "Categorize incident", whose way on changes
    draft = deploy_v2(owen)

    again = owen.post(  # the same content once more: no change, nothing stored
        f"/process/api/drafts/{draft['id']}/deploy",
        json={"comment": "again"},
        headers={"X-CSRF-Token": owen.token},
    )
    assert again.get_json()["created"] is False and again.get_json()["version"] == 2

    fresh = desk.report()
    assert (version_of(db, moving), version_of(db, staying), version_of(db, fresh)) == (1, 1, 2)
    desk.categorize(fresh)
    assert [t.element for t in desk.open_tasks(fresh)] == ["confirm_impact"]

    dry = send(owen, "POST", "/process/api/migrations/dry-run", {"from": 1, "to": 2})
    checks = {c["incident"]: c for c in dry.get_json()["instances"]}
    assert set(checks) == {moving, staying}
    assert checks[moving]["can_move"] is True
    assert checks[moving]["waiting_at"] == ["categorize_incident"]
    assert "Categorize incident" in checks[moving]["why"]
    assert checks[staying]["can_move"] is False
    assert "already passed 'Categorize incident'" in checks[staying]["why"]
    assert "'Confirm impact' (confirm_impact)" in checks[staying]["why"]
    assert "diagnose" in checks[staying]["waiting_at"]
    assert version_of(db, moving) == 1  # a dry run moves nothing

    result = send(owen, "POST", "/process/api/migrations", {"from": 1, "to": 2}).get_json()
    assert [c["incident"] for c in result["moved"]] == [moving]
    assert [c["incident"] for c in result["refused"]] == [staying]
    assert (version_of(db, moving), version_of(db, staying)) == (2, 1)
    [entry] = [e for e in desk.history(moving) if (e["payload"] or {}).get("command") == "migrate"]
    assert entry["kind"] == "command" and entry["actor"] == "owen"
    assert (entry["payload"]["from"], entry["payload"]["to"]) == (
        "service_desk:1",
        "service_desk:2",
    )

    # the runtime that worked `moving` before must not serve its cached v1 workflow now
    desk.categorize(moving)
    assert [t.element for t in desk.open_tasks(moving)] == ["confirm_impact"]
    for number in (moving, fresh):
        desk.complete(number, "confirm_impact", {"impact_confirmed": True})
        desk.resolve_first_line(number)
        desk.say(number, "confirm")
        assert desk.incident(number).state == "Closed"
    desk.resolve_first_line(staying)  # finishes on version 1, without the new task
    desk.say(staying, "confirm")
    assert desk.incident(staying).state == "Closed"
    assert version_of(db, staying) == 1
    assert not [e for e in desk.history(staying) if e["element"] == "confirm_impact"]

    versions = {v["version"]: v for v in owen.get("/process/api/versions").get_json()}
    assert (versions[1]["running"], versions[1]["completed"]) == (0, 1)
    assert (versions[2]["running"], versions[2]["completed"]) == (0, 2)
    assert versions[2]["deployed_by"] == "owen"
    assert versions[2]["comment"] == "confirm the impact before prioritizing"
    assert versions[2]["sha256"] == bundle_v2().sha256()


def test_a_moved_incident_keeps_its_armed_timers(owen, desk, db, monkeypatch):
    monkeypatch.setenv("DESKFLOW_SESSION_IDLE_MINUTES", "180")  # owen waits two hours
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)  # waits for the caller, with the auto-close timer
    armed = {(t.element, t.due_at) for t in desk.timers(number)}
    desk.advance(hours=2)
    draft = new_draft(owen)
    renamed = draft["bpmn"].replace('name="No answer in time"', 'name="No answer for days"', 1)
    send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": renamed})
    send(owen, "POST", f"/process/api/drafts/{draft['id']}/deploy", {"comment": "wording"})
    result = send(owen, "POST", "/process/api/migrations", {"from": 1, "to": 2}).get_json()
    assert [c["incident"] for c in result["moved"]] == [number]
    assert {(t.element, t.due_at) for t in desk.timers(number)} == armed
    desk.advance(days=4)
    assert desk.incident(number).state == "Closed"  # auto-closed on version 2


def test_incidents_on_hold_reopened_or_answered_can_move_and_finish(owen, desk, runtime):
    replied = desk.report()
    desk.categorize(replied)
    desk.escalate(replied)
    desk.say(replied, "user_reply", {"message": "Any news?"})  # ran the event subprocess
    held = desk.report()
    desk.categorize(held)
    desk.escalate(held)
    runtime.send_message(held, "hold", {"reason": "vendor part", "waiting_for": "vendor"}, "tina")
    reopened = desk.report()
    desk.categorize(reopened)
    desk.resolve_first_line(reopened)
    desk.say(reopened, "reopen", {"reason": "It happened again."})
    draft = new_draft(owen)
    renamed = draft["bpmn"].replace('name="Investigate and resolve"', 'name="Investigate"', 1)
    send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": renamed})
    send(owen, "POST", f"/process/api/drafts/{draft['id']}/deploy", {"comment": "shorter"})
    result = send(owen, "POST", "/process/api/migrations", {"from": 1, "to": 2}).get_json()
    assert result["refused"] == []
    assert {c["incident"] for c in result["moved"]} == {replied, held, reopened}
    assert desk.task(replied, "investigate_and_resolve").name == "Investigate"  # projection
    desk.say(replied, "user_reply", {"message": "Still broken."})
    desk.specialist_resolves(replied)
    runtime.send_message(held, "resume", {"note": "the part came"}, "tina")
    desk.specialist_resolves(held)
    desk.resolve_first_line(reopened)
    for number in (replied, held, reopened):
        desk.say(number, "confirm")
        assert desk.incident(number).state == "Closed"
        assert desk.incident(number).last_error is None


def test_a_draft_with_errors_cannot_be_deployed(owen, db):
    draft = new_draft(owen)
    bpmn = draft["bpmn"].replace(
        'serviceTaskOperator id="notify"', 'serviceTaskOperator id="tweet"'
    )
    send(owen, "PUT", f"/process/api/drafts/{draft['id']}", {"bpmn": bpmn})
    answer = send(owen, "POST", f"/process/api/drafts/{draft['id']}/deploy", {"comment": "x"})
    body = is_json_error(answer, 422)
    assert any("'tweet'" in p["message"] and p["element"] for p in body["problems"])
    assert set(body["problems"][0]) == {"file", "line", "element", "message"}
    no_comment = send(owen, "POST", f"/process/api/drafts/{draft['id']}/deploy", {"comment": ""})
    assert "comment" in is_json_error(no_comment, 400)["error"]
    with db.reading() as session:
        assert session.scalars(select(Definition.version)).all() == [1]


def test_rolling_back_deploys_an_older_version_again(owen, db):
    deploy_v2(owen)
    answer = post(owen, "/process/versions/1/rollback", comment="the new task slows the desk")
    assert answer.status_code == 302
    page = owen.get("/process/").get_data(as_text=True)
    assert "Version 3 deployed with version 1&#39;s content" in page
    with db.reading() as session:
        rows = {r.version: r for r in session.scalars(select(Definition))}
    assert rows[3].sha256 == rows[1].sha256 and rows[3].bundle == rows[1].bundle
    assert rows[3].deployed_by == "owen"
    assert rows[3].comment == "roll back to version 1: the new task slows the desk"

    post(owen, "/process/versions/1/rollback", comment="twice")
    assert "No change" in owen.get("/process/").get_data(as_text=True)
    post(owen, "/process/versions/2/rollback", comment="")
    assert "say why in a comment" in owen.get("/process/").get_data(as_text=True)
    with db.reading() as session:
        assert sorted(session.scalars(select(Definition.version))) == [1, 2, 3]

    again = send(owen, "POST", "/process/api/versions/2/rollback", {"comment": "after all"})
    assert again.status_code == 201 and again.get_json() == {"version": 4, "created": True}
    is_json_error(send(owen, "POST", "/process/api/versions/9/rollback", {"comment": "x"}), 404)


def test_the_diff_shows_the_added_task(owen):
    draft = deploy_v2(owen)
    diff = owen.get("/process/api/diff?from=1&to=2").get_json()
    assert {"id": "confirm_impact", "name": "Confirm impact", "type": "userTask"} in diff["added"]
    assert "flow_impact_confirmed" in [e["id"] for e in diff["added"]]
    assert diff["removed"] == []
    [flow] = [c for c in diff["changed"] if c["id"] == "flow_categorized"]
    assert flow["changes"] == ["to: prioritize → confirm_impact"]
    assert diff["forms"]["added"] == ["confirm_impact"]
    against_draft = owen.get(f"/process/api/diff?from=2&to=draft:{draft['id']}").get_json()
    assert (against_draft["added"], against_draft["changed"]) == ([], [])
    page = owen.get("/process/diff?from=1&to=2").get_data(as_text=True)
    assert "confirm_impact" in page and "to: prioritize → confirm_impact" in page
    assert f'value="draft:{draft["id"]}"' in page  # drafts can be compared too
    is_json_error(owen.get("/process/api/diff?from=1&to=9"), 404)
    is_json_error(owen.get("/process/api/diff?from=1&to=draft:x"), 400)


def test_operators_list_what_a_service_task_may_call(owen):
    found = {o["name"]: o for o in owen.get("/process/api/operators").get_json()}
    assert {"notify", "sla_targets", "escalate", "close_incident"} <= set(found)
    notify = {p["name"]: p for p in found["notify"]["parameters"]}
    assert set(notify) == {"template", "to", "note"}  # `incident` comes from the engine
    assert notify["template"] == {"name": "template", "required": True, "default": None}
    assert notify["note"]["required"] is False
    assert found["notify"]["doc"]
    assert all(
        p["name"] not in ("incident", "knowledge", "articles")
        for o in found.values()
        for p in o["parameters"]
    )


# --- the HTML pages -------------------------------------------------------------------


def test_the_versions_page_lists_who_when_why_and_counts(owen, desk):
    desk.report()
    page = owen.get("/process/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(
        r"<td data-label=\"Running\">1</td>\s*<td data-label=\"Completed\">0</td>", html
    )  # one running, none completed
    assert 'href="/process/modeler?version=1"' in html
    assert 'name="csrf_token"' in html
    for field in re.findall(r'<input type="text" id="([^"]+)"', html):
        assert f'<label for="{field}">' in html


def test_the_migrate_page_shows_the_dry_run_and_moves_the_movable(owen, desk, db):
    moving = desk.report()
    staying = desk.report()
    desk.categorize(staying)
    deploy_v2(owen)
    page = owen.get("/process/migrate?from=1&to=2").get_data(as_text=True)
    assert moving in page and staying in page
    assert "Move the 1 incident(s) that can move" in page
    answer = post(owen, "/process/migrate", **{"from": "1", "to": "2"})
    assert answer.status_code == 200
    assert "1 moved, 1 stayed on version 1" in answer.get_data(as_text=True)
    assert (version_of(db, moving), version_of(db, staying)) == (2, 1)


def test_the_forms_editor_checks_json_and_schema_before_saving(owen):
    draft = new_draft(owen)
    path = f"/process/drafts/{draft['id']}/forms"
    page = owen.get(path).get_data(as_text=True)
    assert '<label for="form-report">' in page and 'id="form-report"' in page
    texts = {f"form-{n}": "{}" for n in draft["forms"]}
    bad = post(owen, path, **{**texts, "form-hold": "{not json", "form-resolve": '{"type": 5}'})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="error-hold"' in html and "not valid JSON" in html
    assert 'id="error-resolve"' in html and "not a valid JSON Schema" in html
    assert owen.get(f"/process/api/drafts/{draft['id']}").get_json()["forms"] == draft["forms"]

    good = post(
        owen,
        path,
        **{f"form-{n}": json.dumps(s) for n, s in draft["forms"].items()},
        **{"remove-hold": "1", "new_name": "confirm_impact", "new_schema": '{"type": "object"}'},
    )
    assert good.status_code == 302
    forms = owen.get(f"/process/api/drafts/{draft['id']}").get_json()["forms"]
    assert "hold" not in forms and forms["confirm_impact"] == {"type": "object"}


def test_the_modeler_page_opens_a_version_or_a_draft(owen):
    draft = new_draft(owen)
    on_draft = owen.get(f"/process/modeler?draft={draft['id']}")
    assert on_draft.status_code == 200
    assert f'data-draft="{draft["id"]}"' in on_draft.get_data(as_text=True)
    on_version = owen.get("/process/modeler?version=1")
    assert on_version.status_code == 200 and 'data-version="1"' in on_version.get_data(as_text=True)
    assert owen.get("/process/modeler?draft=999").status_code == 404
    missing = owen.get("/process/drafts/999/forms")
    assert missing.status_code == 404 and "there is no draft 999" in missing.get_data(as_text=True)
    assert owen.get("/process/modeler?version=x").status_code == 400


# --- who may, and errors --------------------------------------------------------------


def test_only_process_owners_get_in(app):
    tina = logged_in(app, "tina")
    for path in ("/process/", "/process/diff", "/process/migrate", "/process/modeler"):
        assert tina.get(path).status_code == 403
    is_json_error(tina.get("/process/api/versions"), 403)
    denied = send(tina, "POST", "/process/api/drafts", {"base_version": 1})
    is_json_error(denied, 403)
    anonymous = app.test_client()
    for path in ("/process/", "/process/api/versions"):
        answer = anonymous.get(path)
        assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_every_json_error_is_json(owen):
    is_json_error(owen.get("/process/api/drafts/999"), 404)
    is_json_error(owen.get("/process/api/versions/999"), 404)
    is_json_error(owen.get("/process/api/nothing/here"), 404)
    is_json_error(send(owen, "POST", "/process/api/drafts", {"base_version": "one"}), 400)
    is_json_error(send(owen, "POST", "/process/api/drafts", {"base_version": 9}), 404)
    is_json_error(send(owen, "POST", "/process/api/drafts", {"color": "red"}), 400)
    is_json_error(send(owen, "POST", "/process/api/drafts", [1, 2]), 400)
    not_json = owen.post(
        "/process/api/drafts", data="base_version=1", headers={"X-CSRF-Token": owen.token}
    )
    is_json_error(not_json, 415)
    deep = owen.post(
        "/process/api/drafts",
        data="[" * 100_000 + "]" * 100_000,
        content_type="application/json",
        headers={"X-CSRF-Token": owen.token},
    )
    is_json_error(deep, 400)
    no_token = owen.post("/process/api/drafts", json={"base_version": 1})
    assert "security token" in is_json_error(no_token, 400)["error"]
    is_json_error(send(owen, "POST", "/process/api/migrations/dry-run", {"from": 1, "to": 1}), 400)
    is_json_error(send(owen, "POST", "/process/api/migrations", {"from": 1, "to": 7}), 404)


# --- the command line -----------------------------------------------------------------


def test_the_cli_lists_diffs_migrates_and_rolls_back(runtime, desk, db):
    number = desk.report()
    runtime.deploy(bundle_v2(), deployed_by="owen", comment="confirm impact")

    listed = run_cli(db, "versions")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split()[0] == "2" and "confirm impact" in lines[0]
    assert "running    1" in lines[1] and "completed     0" in lines[1]

    diff = run_cli(db, "diff", "1", "2")
    assert diff.exit_code == 0
    assert "+ confirm_impact (userTask) Confirm impact" in diff.output
    assert "to: prioritize → confirm_impact" in diff.output

    dry = run_cli(db, "migrate", "--from", "1", "--to", "2", "--dry-run")
    assert dry.exit_code == 0 and f"{number}  can move" in dry.output
    assert version_of(db, number) == 1
    moved = run_cli(db, "migrate", "--from", "1", "--to", "2", "--by", "owen")
    assert moved.exit_code == 0 and "moved 1, left 0 on version 1" in moved.output
    assert version_of(db, number) == 2
    history = queries.incident_view(db, number)["history"]
    assert any((e["payload"] or {}).get("command") == "migrate" for e in history)

    back = run_cli(db, "rollback", "1", "--comment", "too slow", "--by", "owen")
    assert back.exit_code == 0 and "version 3 with version 1's content" in back.output

    for args, message in (
        (("diff", "1", "9"), "there is no version 9"),
        (("migrate", "--from", "2", "--to", "2"), "both version 2"),
        (("rollback", "8", "--comment", "x"), "there is no version 8"),
        (("rollback", "1", "--comment", " "), "say why in a comment"),
        (("diff", "1", "draft:5"), "there is no draft 5"),
    ):
        result = run_cli(db, *args)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
