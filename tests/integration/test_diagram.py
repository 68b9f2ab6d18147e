"""The process diagram of an incident: the pinned version's BPMN, where the incident waits
now and the way it came, for staff only; the viewer's files are public static assets."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from lxml import etree

from engine.process import definitions

from .desk import Desk
from .web_client import app_with_accounts, logged_in

PASSWORD = "correct horse battery"
VIEWER = "/static/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js"


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "alice", "tina", "audrey")


def sequence_flows(xml: str) -> dict[str, tuple[str, str]]:
    root = etree.fromstring(xml.encode())
    return {
        f.get("id"): (f.get("sourceRef"), f.get("targetRef"))
        for f in root.iter(f"{{{definitions.BPMN_NS}}}sequenceFlow")
    }


def test_staff_see_where_an_incident_waits_and_the_way_it_came(app, desk):
    number = desk.report()
    desk.categorize(number)
    desk.escalate(number)
    tina = logged_in(app, "tina")
    answer = tina.get(f"/incidents/{number}/diagram.json")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    path = answer.get_json()
    assert path["xml"] == definitions.bundled().bpmn.text
    assert (path["key"], path["version"]) == ("service_desk", 1)
    assert path["current"][0] == "investigate_and_resolve"  # the open task, then the timers
    assert {t.element for t in desk.timers(number)} <= set(path["current"])
    assert "sla_breach_timer" in path["current"]
    passed = path["passed"]
    steps = ["problem_reported", "categorize_incident", "diagnose", "escalate_to_specialists"]
    assert [p for p in passed if p in steps] == steps  # in the order passed
    assert "investigate_and_resolve" not in passed  # entered, not passed yet
    flows = sequence_flows(path["xml"])
    assert set(path["flows"]) <= set(flows)
    for flow in path["flows"]:  # each taken flow leads from a passed element
        source, target = flows[flow]
        assert source in passed
        assert target in passed or target in path["current"]
    into_current = [f for f in path["flows"] if flows[f][1] == "investigate_and_resolve"]
    assert len(into_current) == 1
    assert flows[into_current[0]][0] == "escalate_to_specialists"
    assert any(flows[f] == ("categorize_incident", "prioritize") for f in path["flows"])


def test_a_fired_timer_and_its_branch_are_on_the_path(app, desk):
    number = desk.report(impact="high", urgency="medium")  # P2: a status update every hour
    desk.categorize(number)
    desk.advance(minutes=61)
    path = logged_in(app, "audrey").get(f"/incidents/{number}/diagram.json").get_json()
    assert {"status_update_timer", "inform_user"} <= set(path["passed"])
    flows = sequence_flows(path["xml"])
    assert any(flows[f] == ("status_update_timer", "inform_user") for f in path["flows"])
    assert "diagnose" in path["current"]


def test_the_diagram_is_the_version_the_incident_is_pinned_to(app, runtime, desk):
    old = desk.report()
    bundle = definitions.bundled()
    changed = bundle.bpmn.text.replace("<bpmn:process", "<!-- version 2 -->\n<bpmn:process", 1)
    assert changed != bundle.bpmn.text
    deployed = runtime.deploy(replace(bundle, bpmn=replace(bundle.bpmn, text=changed)), "test")
    assert deployed.version == 2
    new = desk.report()
    tina = logged_in(app, "tina")
    pinned = tina.get(f"/incidents/{old}/diagram.json").get_json()
    assert pinned["version"] == 1 and pinned["xml"] == bundle.bpmn.text
    latest = tina.get(f"/incidents/{new.lower()}/diagram.json").get_json()
    assert latest["version"] == 2 and latest["xml"] == changed


def test_only_staff_get_the_diagram(app, desk):
    number = desk.report()
    anonymous = app.test_client().get(f"/incidents/{number}/diagram.json")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    alice = logged_in(app, "alice")  # the caller herself: not staff
    assert alice.get(f"/incidents/{number}/diagram.json").status_code == 403
    assert alice.get(f"/incidents/{number}/diagram").status_code == 403
    tina = logged_in(app, "tina")
    assert tina.get("/incidents/INC9999999/diagram.json").status_code == 404
    assert tina.get("/incidents/INC9999999/diagram").status_code == 404
    page = tina.get(f"/incidents/{number}/diagram")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-src="/incidents/{number}/diagram.json"' in html
    assert VIEWER in html and "/static/diagram.js" in html
    assets = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets)  # no CDN, all local


def test_the_viewer_files_are_public_static_assets(app):
    anonymous = app.test_client()
    for path in (
        "/static/diagram.js",
        "/static/diagram.css",
        VIEWER,
        "/static/vendor/bpmn-js/dist/assets/bpmn-js.css",
        "/static/vendor/bpmn-js/dist/assets/diagram-js.css",
        "/static/vendor/bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
        "/static/vendor/bpmn-js/dist/assets/bpmn-font/font/bpmn.woff2",
    ):
        answer = anonymous.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code} (run `make install`)"
        answer.close()
