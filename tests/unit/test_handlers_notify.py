"""Notifications: who receives them and what they say."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from handlers import notify as notify_module
from handlers.catalog import catalog
from handlers.errors import HandlerInputError
from handlers.notify import PLACEHOLDERS, known_templates, notify, template_text

INCIDENT = {
    "number": "INC0001042",
    "caller": "alice",
    "short_description": "Printer on floor 3 offline",
    "priority": 3,
    "category": "printing",
    "state": "In Progress",
    "group": "print-services",
    "assignee": "pete",
}


def test_caller_gets_a_status_update():
    result = notify("status_update", "caller", INCIDENT)
    assert result["notified"] == ["alice"]
    [message] = result["notifications"]
    assert message == {
        "recipient": "alice",
        "template": "status_update",
        "subject": "Update on your incident INC0001042",
        "body": message["body"],
    }
    assert "Hello Alice Archer," in message["body"]
    assert "Printer on floor 3 offline" in message["body"]
    assert "print-services" in message["body"]
    assert "pete" in message["body"]
    assert "incident_update" not in result


def test_sla_warning_goes_to_the_assignee():
    result = notify("sla_warning", "assignee", INCIDENT)
    assert result["notified"] == ["pete"]
    message = result["notifications"][0]
    assert "approaching SLA violation" in message["subject"] + message["body"]
    assert "3 (Moderate)" in message["body"]
    assert result["incident_update"] == {"sla_warned": True}


def test_without_assignee_the_whole_group_is_told():
    result = notify("sla_warning", "assignee", {**INCIDENT, "assignee": None})
    assert result["notified"] == list(catalog().groups["print-services"].members)
    assert "(not set)" in result["notifications"][0]["body"]


def test_unassigned_incident_without_group_belongs_to_the_service_desk():
    result = notify("user_reply", "assignee", {**INCIDENT, "assignee": None, "group": None})
    assert result["notified"] == list(catalog().groups["service-desk"].members)
    assert result["notifications"][0]["subject"] == "alice replied on INC0001042"


def test_group_manager():
    assert notify("sla_warning", "group_manager", INCIDENT)["notified"] == ["pam"]


def test_stakeholders_hear_of_a_major_incident():
    cat = catalog()
    result = notify("major_incident", "stakeholders", {**INCIDENT, "priority": 1})
    assert result["notified"] == [*cat.stakeholders, cat.major_incident_manager]
    assert result["incident_update"] == {"major_incident": True}
    assert all(
        m["subject"] == "Major incident INC0001042: Printer on floor 3 offline"
        for m in result["notifications"]
    )
    assert "1 (Critical)" in result["notifications"][0]["body"]


def test_recipients_are_deduplicated_in_order(monkeypatch):
    cat = catalog()
    repeated = ("victor", "claire", "victor", cat.major_incident_manager)
    monkeypatch.setattr(notify_module, "catalog", lambda: replace(cat, stakeholders=repeated))
    result = notify("major_incident", "stakeholders", INCIDENT)
    assert result["notified"] == ["victor", "claire", cat.major_incident_manager]
    assert len(result["notifications"]) == 3


def test_missing_incident_fields_do_not_crash_rendering():
    result = notify("major_incident", "stakeholders", None)
    body = result["notifications"][0]["body"]
    assert "Incident:  (not set)" in body
    assert "$" not in body
    partial = notify("resolved", "caller", {"caller": "bob"})["notifications"][0]
    assert partial["subject"] == "Your incident (not set) has been resolved"


def test_unknown_template_lists_the_known_ones():
    with pytest.raises(HandlerInputError) as caught:
        notify("sla_warn", "assignee", INCIDENT)
    assert "unknown template 'sla_warn'" in str(caught.value)
    assert "major_incident, resolved, sla_breach, sla_warning, status_update, user_reply" in str(
        caught.value
    )


def test_unknown_role_lists_the_known_ones():
    with pytest.raises(HandlerInputError, match="unknown recipient role 'boss'.*caller, assignee"):
        notify("resolved", "boss", INCIDENT)


def test_caller_role_needs_an_incident_with_a_caller():
    with pytest.raises(HandlerInputError, match="needs the incident record"):
        notify("resolved", "caller", None)
    with pytest.raises(HandlerInputError, match="no caller"):
        notify("resolved", "caller", {**INCIDENT, "caller": None})


def test_required_templates_exist():
    assert {"major_incident", "sla_warning", "status_update", "resolved", "user_reply"} <= set(
        known_templates()
    )


@pytest.mark.parametrize("name", known_templates())
def test_templates_use_only_known_placeholders(name):
    subject, body = template_text(name)
    assert subject and body.strip()
    used = set(re.findall(r"\$\{?([a-z_]+)", subject + body))
    assert used <= set(PLACEHOLDERS), used - set(PLACEHOLDERS)
