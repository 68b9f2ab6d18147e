"""The desk: queues, claiming, completing tasks with their forms, the incident page and its
actions — through the Flask test client, everything checked in the database after."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import clock
from engine.store.models import User
from tests.integration.desk import Desk
from tests.integration.web_client import app_with_accounts, logged_in, post

STAFF = ("tina", "tom", "sam", "nora", "ned", "nick", "ida")


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "alice", "bob", *STAFF)


def rows(client, queue: str, **filters) -> list[str]:
    """The incident numbers a queue page lists, in order."""
    page = client.get("/desk/queue", query_string={"q": queue, **filters})
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    return [part.split('"')[0] for part in html.split('data-incident="')[1:]]


def test_the_journey_from_report_to_confirmation(app, desk):
    number = desk.report(short_description="VPN drops every few minutes")
    tina = logged_in(app, "tina")
    assert number in rows(tina, "groups")
    assert number not in rows(tina, "mine")

    categorize = desk.task(number, "categorize_incident")
    assert post(tina, f"/desk/tasks/{categorize.id}/claim").status_code == 302
    assert number in rows(tina, "mine") and number not in rows(tina, "groups")
    assert desk.task(number, "categorize_incident").assignee == "tina"

    form = tina.get(f"/desk/tasks/{categorize.id}").get_data(as_text=True)
    assert 'name="category"' in form and 'value="vpn"' in form and "Work notes" in form
    refused = post(tina, f"/desk/tasks/{categorize.id}", category="network")
    assert refused.status_code == 422
    assert 'id="subcategories-error"' in refused.get_data(as_text=True)
    assert desk.task(number, "categorize_incident")  # still open: nothing changed

    done = tina.post(
        f"/desk/tasks/{categorize.id}",
        data={"csrf_token": tina.token, "category": "network", "subcategories": ["vpn", "wifi"]},
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    assert desk.incident(number).subcategories == ["vpn", "wifi"]

    escalated = post(
        tina, f"/desk/incidents/{number}/escalate", kind="functional", reason="needs network-ops"
    )
    assert escalated.status_code == 302
    specialist = desk.task(number, "investigate_and_resolve")
    assert specialist.group_name == "network-ops" and specialist.assignee in ("ned", "nick")
    assert number not in rows(tina, "mine")

    holder = logged_in(app, specialist.assignee)
    assert number in rows(holder, "mine")
    resolved = post(
        holder,
        f"/desk/tasks/{specialist.id}",
        resolution_code="solved-permanently",
        resolution_notes="Replaced the VPN concentrator's certificate.",
    )
    assert resolved.status_code == 302
    assert desk.incident(number).state == "Resolved"

    alice = logged_in(app, "alice")
    post(alice, f"/portal/incidents/{number}/answer", action="confirm")
    assert desk.incident(number).state == "Closed"
    assert number not in rows(logged_in(app, "sam"), "all")


def test_queues_are_sorted_by_time_to_breach_and_filtered(app, desk):
    low = desk.report(impact="low", urgency="low", short_description="Printer toner low")
    desk.categorize(low, "printing", ("print-quality",))
    high = desk.report(impact="high", urgency="high", short_description="Nobody can log in")
    desk.categorize(high, "access", ("password",))
    sam = logged_in(app, "sam")  # a manager sees all open work
    assert rows(sam, "all")[:2] == [high, low]
    assert rows(sam, "all", priority=desk.incident(low).priority) == [low]
    assert rows(sam, "all", category="access") == [high]
    counted = sam.get("/desk/queue?q=all&category=access").get_data(as_text=True)
    assert "1 open task." in counted
    assert "2 open tasks." in sam.get("/desk/queue?q=all&lane=Service+Desk").get_data(as_text=True)
    assert rows(sam, "all", sla="breached") == []
    desk.clock.advance(timedelta(days=30))
    sam = logged_in(app, "sam")  # a month later: her session ended long ago
    assert set(rows(sam, "all", sla="breached")) == {low, high}
    fragment = sam.get("/desk/queue?q=all&fragment=1").get_data(as_text=True)
    assert fragment.lstrip().startswith("<tbody") and "<html" not in fragment


def test_only_managers_see_all_open_work(app, desk):
    tina = logged_in(app, "tina")
    assert tina.get("/desk/queue?q=all").status_code == 403
    assert tina.get("/desk/queue?q=nonsense").status_code == 400
    assert tina.get("/desk/queue?sla=purple").status_code == 400
    assert logged_in(app, "alice").get("/desk/queue").status_code == 403


def test_a_claimed_task_cannot_be_taken_by_a_colleague(app, desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    tina, tom = logged_in(app, "tina"), logged_in(app, "tom")
    post(tina, f"/desk/tasks/{task.id}/claim")
    answer = post(tom, f"/desk/tasks/{task.id}/claim")
    assert "tina took this task already" in tom.get(answer.location).get_data(as_text=True)
    assert desk.task(number, "categorize_incident").assignee == "tina"
    assert post(tom, f"/desk/tasks/{task.id}/unclaim").status_code == 403
    post(tina, f"/desk/tasks/{task.id}/assign", assignee="tom")
    assert desk.task(number, "categorize_incident").assignee == "tom"
    post(tom, f"/desk/tasks/{task.id}/assign", assignee="ned")  # not in service-desk
    assert desk.task(number, "categorize_incident").assignee == "tom"


def test_specialists_work_only_their_groups_tasks(app, desk):
    number = desk.report()
    desk.categorize(number)
    diagnose = desk.task(number, "diagnose")
    ned = logged_in(app, "ned")
    assert ned.get(f"/desk/tasks/{diagnose.id}").status_code == 403  # a Service Desk task
    desk.complete(number, "diagnose", {"resolved": False})
    specialist = desk.task(number, "investigate_and_resolve")  # network-ops
    assert logged_in(app, "ida").get(f"/desk/tasks/{specialist.id}").status_code == 403
    assert logged_in(app, "nora").get(f"/desk/tasks/{specialist.id}").status_code == 200


def test_a_task_that_is_not_open_is_refused_and_changes_nothing(app, desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    desk.categorize(number)
    tina = logged_in(app, "tina")
    assert tina.get(f"/desk/tasks/{task.id}").status_code == 404
    answer = post(tina, f"/desk/tasks/{task.id}", category="network", subcategories="vpn")
    assert answer.status_code == 404
    assert post(tina, "/desk/tasks/no-such-task/claim").status_code == 404
    assert [t.element for t in desk.open_tasks(number)] == ["diagnose"]


def test_work_notes_stay_internal_and_comments_reach_the_caller(app, desk):
    number = desk.report()
    tina = logged_in(app, "tina")
    post(tina, f"/desk/incidents/{number}/notes", kind="work_note", text="Checked the <b>logs</b>")
    post(tina, f"/desk/incidents/{number}/notes", kind="comment", text="Please restart <i>now</i>")
    page = tina.get(f"/desk/incidents/{number}").get_data(as_text=True)
    assert "Checked the &lt;b&gt;logs&lt;/b&gt;" in page and "<b>logs" not in page
    caller_page = logged_in(app, "alice").get(f"/portal/incidents/{number}").get_data(as_text=True)
    assert "Please restart &lt;i&gt;now&lt;/i&gt;" in caller_page
    assert "logs" not in caller_page
    assert [n.template for n in desk.notifications(number)].count("comment") == 1
    refused = post(tina, f"/desk/incidents/{number}/notes", kind="gossip", text="x")
    assert "unknown kind of note" in tina.get(refused.location).get_data(as_text=True)


def test_hold_resume_and_hierarchical_escalation_from_the_incident_page(app, desk):
    number = desk.report()
    desk.categorize(number)
    desk.complete(number, "diagnose", {"resolved": False})
    nora = logged_in(app, "nora")
    post(nora, f"/desk/incidents/{number}/messages/hold", waiting_for="vendor", reason="a part")
    assert desk.incident(number).state == "On Hold"
    bad = post(nora, f"/desk/incidents/{number}/messages/hold", reason="again")
    assert "is not waiting for" in nora.get(bad.location).get_data(as_text=True)
    post(nora, f"/desk/incidents/{number}/messages/resume", note="the part arrived")
    assert desk.incident(number).state == "In Progress"
    post(nora, f"/desk/incidents/{number}/escalate", kind="hierarchical", reason="VIP caller")
    told = [n for n in desk.notifications(number) if n.template == "escalated_to_manager"]
    assert [n.recipient for n in told] == ["nora"]
    page = nora.get(f"/desk/incidents/{number}").get_data(as_text=True)
    assert "Escalated to nora: VIP caller" in page and "On hold. a part" in page


def test_an_automated_escalation_from_the_incident_page(app, desk):
    number = desk.report()
    tina = logged_in(app, "tina")
    due = (clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    post(
        tina,
        f"/desk/incidents/{number}/automated-escalations",
        due_at=due,
        action="notify",
        target="sam",
        note="chase it",
    )
    assert "Automated escalation: notify sam" in tina.get(f"/desk/incidents/{number}").get_data(
        as_text=True
    )
    answer = post(tina, f"/desk/incidents/{number}/automated-escalations", due_at="soon")
    assert "YYYY-MM-DD" in tina.get(answer.location).get_data(as_text=True)


def test_a_technician_logs_a_call_for_a_caller(app, desk):
    tina = logged_in(app, "tina")
    page = tina.get("/desk/report").get_data(as_text=True)
    assert 'name="caller"' in page and 'value="portal"' not in page
    answer = post(
        tina,
        "/desk/report",
        caller="bob",
        channel="phone",
        short_description="Laptop does not start",
        description="Black screen since the update.",
        is_broken="yes",
        impact="low",
        urgency="high",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    number = answer.location.rsplit("/", 1)[1]
    incident = desk.incident(number)
    assert (incident.caller, incident.reported_by, incident.channel) == ("bob", "tina", "phone")
    refused = post(tina, "/desk/report", caller="bob", channel="phone", impact="huge")
    assert refused.status_code == 422 and 'id="impact-error"' in refused.get_data(as_text=True)
    assert logged_in(app, "ned").get("/desk/report").status_code == 403


def test_html_in_text_fields_is_escaped_on_every_page(app, desk):
    number = desk.report(
        short_description="<script>alert(1)</script>", description="<img src=x onerror=alert(2)>"
    )
    task = desk.task(number, "categorize_incident")
    tina, alice = logged_in(app, "tina"), logged_in(app, "alice")
    post(tina, f"/desk/incidents/{number}/notes", kind="comment", text="<b onmouseover=x>hi</b>")
    pages = [
        tina.get("/desk/queue?q=groups"),
        tina.get("/desk/queue?q=groups&fragment=1"),
        tina.get(f"/desk/incidents/{number}"),
        tina.get(f"/desk/tasks/{task.id}"),
        alice.get("/portal/incidents"),
        alice.get(f"/portal/incidents/{number}"),
    ]
    for page in pages:
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "<b onmouseover" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_an_oversized_form_is_refused_and_changes_nothing(app, desk):
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    tina = logged_in(app, "tina")
    huge = "x" * (2 * 1024 * 1024)
    answer = post(tina, f"/desk/tasks/{task.id}", category="network", work_notes=huge)
    assert answer.status_code == 413
    assert desk.task(number, "categorize_incident")  # still open


def test_the_caller_sees_who_has_it_by_name(app, desk):
    number = desk.report()
    desk.categorize(number)
    desk.complete(number, "diagnose", {"resolved": False})
    alice = logged_in(app, "alice")
    assignee = desk.incident(number).assignee
    with desk.db.reading() as session:
        name = session.get(User, assignee).full_name
    assert name in alice.get("/portal/incidents").get_data(as_text=True)
    assert name in alice.get(f"/portal/incidents/{number}").get_data(as_text=True)
