"""The portal: a user reports a problem in plain words and follows their own incidents."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.desk import accounts
from engine.store.models import Incident
from web import create_app

PASSWORD = "correct horse battery"
REPORT = {
    "short_description": "The printer on floor 2 shows offline",
    "description": "Since this morning, for everyone on the floor.",
    "is_broken": "yes",
    "impact": "medium",
    "urgency": "high",
}


@pytest.fixture
def app(runtime):
    for name in ("alice", "bob", "tina"):
        accounts.set_password(runtime.db, name, PASSWORD)
    return create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "test secret"})


def browser_for(app, username: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    client.token = token_of(client)
    return client


def token_of(client) -> str:
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def report(client, **changes):
    return client.post("/portal/report", data={**REPORT, "csrf_token": client.token, **changes})


def count(db) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Incident))


def test_a_user_reports_a_problem_and_follows_it(app, runtime):
    alice = browser_for(app, "alice")
    assert alice.get("/portal/report").status_code == 200
    answer = report(alice)
    assert answer.status_code == 302
    number = answer.location.rsplit("/", 1)[1]
    with runtime.db.reading() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).one()
    assert (incident.caller, incident.reported_by, incident.channel) == ("alice", "alice", "portal")
    assert (incident.kind, incident.impact, incident.urgency) == ("incident", "medium", "high")
    page = alice.get(answer.location).get_data(as_text=True)
    assert "The printer on floor 2 shows offline" in page and "Received" in page
    listing = alice.get("/portal/incidents").get_data(as_text=True)
    assert number in listing


def test_something_needed_rather_than_broken_is_a_request(app, runtime):
    alice = browser_for(app, "alice")
    answer = report(alice, is_broken="no", short_description="I need Visio installed")
    number = answer.location.rsplit("/", 1)[1]
    with runtime.db.reading() as session:
        kind = session.scalars(select(Incident.kind).where(Incident.number == number)).one()
    assert kind == "request"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"short_description": ""}, "short_description"),
        ({"short_description": "x" * 161}, "short_description"),
        ({"impact": "huge"}, "impact"),
        ({"urgency": ""}, "urgency"),
    ],
)
def test_a_bad_report_is_shown_again_and_nothing_opens(app, runtime, changes, field):
    alice = browser_for(app, "alice")
    before = count(runtime.db)
    answer = report(alice, **changes)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'class="field-error"' in page and "Please correct" in page
    assert count(runtime.db) == before
    if field == "short_description":
        assert 'aria-invalid="true"' in page


def test_a_report_without_the_csrf_token_opens_nothing(app, runtime):
    alice = browser_for(app, "alice")
    before = count(runtime.db)
    assert alice.post("/portal/report", data=REPORT).status_code == 400
    assert count(runtime.db) == before


def test_a_user_sees_only_their_own_incidents(app):
    alice, bob = browser_for(app, "alice"), browser_for(app, "bob")
    number = report(alice).location.rsplit("/", 1)[1]
    assert bob.get(f"/portal/incidents/{number}").status_code == 404
    assert number not in bob.get("/portal/incidents").get_data(as_text=True)


def test_the_portal_is_for_users(app):
    tina = browser_for(app, "tina")  # a technician
    assert tina.get("/portal/report").status_code == 403
    assert tina.get("/portal/incidents").status_code == 403
    anonymous = app.test_client().get("/portal/incidents")
    assert anonymous.status_code == 302 and "/login" in anonymous.location


def test_html_in_a_report_is_shown_as_text(app):
    alice = browser_for(app, "alice")
    script = "<script>alert('x')</script> printer down"
    number = report(alice, short_description=script).location.rsplit("/", 1)[1]
    for path in (f"/portal/incidents/{number}", "/portal/incidents"):
        page = alice.get(path).get_data(as_text=True)
        assert "<script>alert" not in page and "&lt;script&gt;" in page


def test_a_user_starts_at_their_incidents_and_staff_at_their_queue(app):
    assert browser_for(app, "alice").get("/").location == "/portal/incidents"
    assert browser_for(app, "tina").get("/").location == "/desk/queue"


def answer(client, number: str, action: str, **fields):
    data = {"action": action, "csrf_token": client.token, **fields}
    return client.post(f"/portal/incidents/{number}/answer", data=data, follow_redirects=True)


def test_the_caller_reopens_with_a_reason_then_confirms_the_fix(app, runtime, frozen_clock):
    from .desk import Desk

    desk = Desk(runtime, frozen_clock)
    alice = browser_for(app, "alice")
    number = report(alice).location.rsplit("/", 1)[1]
    desk.categorize(number)
    desk.resolve_first_line(number)
    assert "Is it fixed?" in alice.get(f"/portal/incidents/{number}").get_data(as_text=True)
    empty = answer(alice, number, "reopen", reason="  ").get_data(as_text=True)
    assert "Please write a reason" in empty
    assert desk.incident(number).state == "Resolved"
    reopened = answer(alice, number, "reopen", reason="It dropped again at noon.")
    assert "open again" in reopened.get_data(as_text=True)
    assert (desk.incident(number).state, desk.incident(number).reopen_count) == ("In Progress", 1)
    replied = answer(alice, number, "reply", message="I am at my desk until 5.")
    assert "was sent" in replied.get_data(as_text=True)
    assert {"message": "I am at my desk until 5."} in [
        e["payload"].get("inputs") for e in desk.history(number) if e["actor"] == "alice"
    ]
    desk.resolve_first_line(number)
    closed = answer(alice, number, "confirm", comment="Works, thanks.")
    assert "the incident is closed" in closed.get_data(as_text=True)
    assert desk.incident(number).state == "Closed"


def test_an_answer_the_process_is_not_waiting_for_is_refused_clearly(app, runtime):
    alice = browser_for(app, "alice")
    number = report(alice).location.rsplit("/", 1)[1]
    page = answer(alice, number, "confirm").get_data(as_text=True)
    assert "not possible any more" in page
    assert answer(alice, number, "delete").status_code == 400


def test_nobody_answers_for_someone_else(app):
    alice, bob = browser_for(app, "alice"), browser_for(app, "bob")
    number = report(alice).location.rsplit("/", 1)[1]
    assert answer(bob, number, "reply", message="hijack").status_code == 404


def test_suggestions_while_typing_come_from_the_knowledge_base(app):
    alice = browser_for(app, "alice")
    hits = alice.get("/portal/suggestions?q=how do I reset my password").get_data(as_text=True)
    assert "Maybe this helps" in hits and "/portal/articles/KB" in hits
    assert alice.get("/portal/suggestions?q=the").get_data(as_text=True).strip() == ""
    article = re.search(r"/portal/articles/(KB\d{4})", hits).group(1)
    assert alice.get(f"/portal/articles/{article}").status_code == 200
    assert alice.get("/portal/articles/KB9999").status_code == 404


def test_an_article_that_solved_a_request_closes_it_as_deflected(app, runtime, frozen_clock):
    from .desk import Desk

    alice = browser_for(app, "alice")
    answer_ = report(alice, is_broken="no", short_description="How do I reset my password?")
    number = answer_.location.rsplit("/", 1)[1]
    page = alice.get(answer_.location).get_data(as_text=True)
    assert "Try these first" in page
    article = re.search(r'name="helped_by" value="(KB\d{4})"', page).group(1)
    done = alice.post(
        f"/portal/incidents/{number}/self-help",
        data={"helped_by": article, "csrf_token": alice.token},
        follow_redirects=True,
    )
    assert "the request is closed" in done.get_data(as_text=True)
    incident = Desk(runtime, frozen_clock).incident(number)
    assert (incident.state, incident.close_reason) == ("Closed", "deflected")


def test_when_no_article_helped_the_desk_fulfils_the_request(app, runtime, frozen_clock):
    from .desk import Desk

    alice = browser_for(app, "alice")
    answer_ = report(alice, is_broken="no", short_description="Please install Visio")
    number = answer_.location.rsplit("/", 1)[1]
    alice.post(
        f"/portal/incidents/{number}/self-help",
        data={"helped_by": "", "comment": "I need the 2021 edition", "csrf_token": alice.token},
    )
    desk = Desk(runtime, frozen_clock)
    assert [t.element for t in desk.open_tasks(number)] == ["fulfil_request"]
    again = alice.post(
        f"/portal/incidents/{number}/self-help",
        data={"helped_by": "", "csrf_token": alice.token},
        follow_redirects=True,
    )
    assert "not possible any more" in again.get_data(as_text=True)  # nothing sent twice
    forged = report(alice, is_broken="no", short_description="How do I reset my password?")
    bad = alice.post(
        f"{forged.location}/self-help",
        data={"helped_by": "not-an-article", "csrf_token": alice.token},
        follow_redirects=True,
    )
    assert "Not sent" in bad.get_data(as_text=True)
    assert [t.element for t in desk.open_tasks(forged.location.rsplit("/", 1)[1])] == [
        "try_self_help"
    ]


def test_the_timeline_shows_what_people_did_but_no_internal_notes(app, runtime, frozen_clock):
    from .desk import Desk

    desk = Desk(runtime, frozen_clock)
    alice = browser_for(app, "alice")
    number = report(alice).location.rsplit("/", 1)[1]
    desk.categorize(number)
    desk.complete(number, "diagnose", {"resolved": False, "work_notes": "SECRET: blame the vendor"})
    desk.specialist_resolves(number)
    answer(alice, number, "reopen", reason="Still offline on floor 2.")
    page = alice.get(f"/portal/incidents/{number}").get_data(as_text=True)
    timeline = page[page.index("What happened so far") :]
    for said in (
        "You reported it.",
        "The service desk took it on.",
        "Passed to a specialist team.",
        "Solved by the specialists: Replaced the faulty gateway config.",
        "You said it is not fixed: Still offline on floor 2.",
    ):
        assert said in timeline, said
    assert timeline.index("You reported it.") < timeline.index("You said it is not fixed")
    assert "SECRET" not in page and "network" not in timeline  # no work notes, no category
