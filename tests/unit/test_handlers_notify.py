"""Notifications: who receives them and what they say."""

from __future__ import annotations

from dataclasses import replace

import pytest
from jinja2 import Environment, FileSystemLoader, meta

from handlers import notify as notify_module
from handlers.catalog import catalog
from handlers.errors import HandlerInputError
from handlers.notify import (
    PLACEHOLDERS,
    TEMPLATE_DIR,
    html_document,
    known_templates,
    notify,
    render,
    render_digest,
    render_html,
    template_text,
)

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
    known = "(known: assigned, closed, comment, escalated, escalated_to_manager, major_incident, "
    assert known in str(caught.value)
    with pytest.raises(HandlerInputError, match="unknown template '_layout'"):
        notify("_layout", "caller", INCIDENT)  # parts of templates are not kinds


def test_unknown_role_lists_the_known_ones():
    with pytest.raises(HandlerInputError, match="unknown recipient role 'boss'.*caller, assignee"):
        notify("resolved", "boss", INCIDENT)


def test_caller_role_needs_an_incident_with_a_caller():
    with pytest.raises(HandlerInputError, match="needs the incident record"):
        notify("resolved", "caller", None)
    with pytest.raises(HandlerInputError, match="no caller"):
        notify("resolved", "caller", {**INCIDENT, "caller": None})


def test_every_kind_the_issue_names_has_a_template():
    assert set(known_templates()) == {
        "received",
        "assigned",
        "status_update",
        "sla_warning",
        "sla_breach",
        "escalated",
        "resolved",
        "reopened",
        "closed",
        "major_incident",
        "major_incident_update",
        "user_reply",  # the diagram's forward_reply
        "comment",  # a technician writes to the caller from the desk
        "escalated_to_manager",  # hierarchical escalation by hand, from the desk
    }


@pytest.mark.parametrize("name", known_templates())
def test_each_kind_has_a_text_and_an_html_part_using_only_known_names(name):
    subject, body = template_text(name)
    assert subject and body.strip()
    html = (TEMPLATE_DIR / f"{name}.html").read_text(encoding="utf-8")
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR))
    for source in (subject, body, html):
        used = _names(env, source)
        assert used <= set(PLACEHOLDERS), used - set(PLACEHOLDERS)


@pytest.mark.parametrize("name", known_templates())
def test_each_kind_renders_without_any_incident_values(name):
    message = render(name, "nobody", None)
    html = render_html(name, "nobody", None)
    assert "(not set)" in message["subject"] + message["body"]
    assert "(not set)" in html
    assert "{{" not in message["body"] + html and "None" not in message["body"] + html


def test_html_is_escaped_and_text_is_not():
    hostile = {**INCIDENT, "short_description": 'Printer <img src=x onerror="alert(1)"> & co'}
    message = render("status_update", "alice", hostile)
    html = render_html("status_update", "alice", hostile)
    assert '<img src=x onerror="alert(1)"> & co' in message["body"]
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co" in html
    assert "<img" not in html
    document = html_document("Update <b>", html, "INC0001042")
    assert "<title>Update &lt;b&gt;</title>" in document and "<img" not in document


def test_a_subject_is_one_line_whatever_the_description_holds():
    message = render("major_incident", "claire", {**INCIDENT, "short_description": "a\nBcc: x"})
    assert message["subject"] == "Major incident INC0001042: a Bcc: x"


def test_a_note_is_shown_when_given_and_left_out_otherwise():
    with_note = notify("reopened", "assignee", INCIDENT, note="Still <offline>")
    [message] = with_note["notifications"]
    assert "Note: Still <offline>" in message["body"]
    assert "Still &lt;offline&gt;" in render_html("reopened", "pete", INCIDENT, "Still <offline>")
    assert "Note:" not in notify("reopened", "assignee", INCIDENT)["notifications"][0]["body"]
    assert "Note:" not in render_html("reopened", "pete", INCIDENT)


def test_resolved_asks_the_caller_to_confirm():
    [message] = notify("resolved", "caller", INCIDENT)["notifications"]
    assert "Please confirm that the problem is fixed" in message["body"]
    assert "Please confirm that the problem is fixed" in render_html("resolved", "alice", INCIDENT)


def test_a_digest_lists_each_message_in_both_parts():
    parts = [
        {**render(name, "pete", INCIDENT), "html": render_html(name, "pete", INCIDENT)}
        for name in ("user_reply", "sla_warning")
    ]
    parts.append({**render("reopened", "pete", INCIDENT), "html": None})  # text only
    subject, text, html = render_digest("pete", INCIDENT, parts)
    assert subject == "3 messages about INC0001042: Printer on floor 3 offline"
    assert "Hello Pete Porter," in text
    for index, part in enumerate(parts, start=1):
        assert f"--- {index} of 3: {part['subject']} ---" in text
        assert part["body"].strip() in text
        assert part["subject"] in html
    assert "<pre>alice does not accept the resolution" in html


def _names(env: Environment, source: str) -> set[str]:
    """Variables a template reads (loop variables and `loop` excluded)."""
    return meta.find_undeclared_variables(env.parse(source))


@pytest.mark.parametrize(
    ("part", "extra"),
    [
        ("_facts.txt", set()),
        ("_facts.html", set()),
        ("_note.txt", set()),
        ("_note.html", set()),
        ("_digest.txt", {"count", "parts"}),
        ("_digest.html", {"count", "parts"}),
        ("_layout.html", {"subject", "content"}),
    ],
)
def test_template_parts_use_only_known_names(part, extra):
    env = Environment(loader=FileSystemLoader(TEMPLATE_DIR))
    used = _names(env, (TEMPLATE_DIR / part).read_text(encoding="utf-8"))
    assert used <= set(PLACEHOLDERS) | extra, used - set(PLACEHOLDERS) - extra
