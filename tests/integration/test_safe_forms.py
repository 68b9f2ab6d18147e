"""Forms that do not trip people up: a field the form says may be left empty can be, and
a task's form reached again after it was done (Back, or sent twice) says so and links to
its incident instead of a bare 404."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from engine.store.models import HistoryEvent, Incident
from web import create_app

from .desk import Desk
from .web_client import app_with_accounts, logged_in, post


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "tina")


def test_log_a_call_with_the_description_left_empty(app, db):
    tina = logged_in(app, "tina")
    page = tina.get("/desk/report").get_data(as_text=True)
    assert "May be left empty" in page
    answer = post(
        tina,
        "/desk/report",
        caller="alice",
        channel="phone",
        short_description="Printer on floor 2 offline",
        description="",
        is_broken="yes",
        impact="low",
        urgency="low",
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    with db.reading() as session:
        incident = session.scalars(select(Incident)).one()
    assert (incident.short_description, incident.description) == ("Printer on floor 2 offline", "")


def history_rows(db) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(HistoryEvent))


def test_a_finished_task_says_so_and_links_to_its_incident(app, runtime, frozen_clock, db):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    task = desk.task(number, "categorize_incident")
    tina = logged_in(app, "tina")
    queue = tina.get("/desk/queue?q=groups").get_data(as_text=True)
    link = f"/desk/tasks/{task.id}?incident={number}"
    assert link in queue  # the queue's "Work on it" names the incident
    form = {"category": "network", "subcategories": "vpn"}
    assert post(tina, link, **form).status_code == 302
    rows = history_rows(db)

    back = tina.get(link)  # Back to the form of the task just done
    assert back.status_code == 410
    page = back.get_data(as_text=True)
    assert "This task is done" in page and f'href="/desk/incidents/{number}"' in page

    again = post(tina, link, **form)  # the same form sent once more
    assert again.status_code == 410 and "This task is done" in again.get_data(as_text=True)
    assert history_rows(db) == rows  # nothing happened twice

    bare = tina.get(f"/desk/tasks/{task.id}")  # a link that did not name its incident
    assert bare.status_code == 404 and "is not open" in bare.get_data(as_text=True)
    wrong = tina.get(f"/desk/tasks/{task.id}?incident=INC9999999")
    assert wrong.status_code == 404


REPORT_FORM = {
    "short_description": "Laptop does not start",
    "description": "",
    "is_broken": "yes",
    "impact": "low",
    "urgency": "medium",
}


def incidents(db) -> list[str]:
    with db.reading() as session:
        return list(session.scalars(select(Incident.number).order_by(Incident.id)))


def submission_of(page: str) -> str:
    return re.search(r'name="submission" value="([^"]+)"', page).group(1)


def test_the_same_report_form_sent_twice_opens_one_incident(runtime, db):
    app = app_with_accounts(runtime, "alice", "tina")
    alice = logged_in(app, "alice")
    key = submission_of(alice.get("/portal/report").get_data(as_text=True))
    first = post(alice, "/portal/report", submission=key, **REPORT_FORM)
    again = post(alice, "/portal/report", submission=key, **REPORT_FORM)  # Back, send
    assert first.status_code == again.status_code == 302
    assert first.location == again.location
    assert len(incidents(db)) == 1
    other = submission_of(alice.get("/portal/report").get_data(as_text=True))
    assert other != key  # a new form is a new report
    assert post(alice, "/portal/report", submission=other, **REPORT_FORM).status_code == 302
    assert len(incidents(db)) == 2

    tina = logged_in(app, "tina")  # the desk's Log a call, the same way
    desk_key = submission_of(tina.get("/desk/report").get_data(as_text=True))
    call = REPORT_FORM | {"caller": "alice", "channel": "phone"}
    one = post(tina, "/desk/report", submission=desk_key, **call)
    two = post(tina, "/desk/report", submission=desk_key, **call)
    assert one.location == two.location and len(incidents(db)) == 3
    # Keys are per person: tina's key sent by alice is alice's own new report.
    assert post(alice, "/portal/report", submission=desk_key, **REPORT_FORM).status_code == 302
    assert len(incidents(db)) == 4


def test_a_malformed_submission_key_is_refused(runtime, db):
    alice = logged_in(app_with_accounts(runtime, "alice"), "alice")
    answer = post(alice, "/portal/report", submission="short", **REPORT_FORM)
    assert answer.status_code == 422 and incidents(db) == []


def test_two_commands_with_one_key_at_once_open_one_incident(runtime, db):
    """The engine's side, without HTTP: two threads start an incident with the same
    submission key at the same moment; one claims the key, the other waits on it and
    gets the same number (on PostgreSQL through the unique index and IntegrityError)."""
    report = {
        "caller": "alice",
        "channel": "portal",
        "short_description": "Laptop does not start",
        "description": "",
        "is_broken": True,
        "impact": "low",
        "urgency": "low",
    }
    barrier, numbers = threading.Barrier(2), []

    def start() -> None:
        barrier.wait()
        numbers.append(runtime.start_incident(report, actor="alice", submission="k" * 22))

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(numbers) == 2 and numbers[0] == numbers[1]
    assert len(incidents(db)) == 1


def test_a_retried_api_report_with_its_idempotency_key_opens_one_incident(runtime, db):
    from engine.desk import api_tokens

    _, token = api_tokens.create_token(db, "alice", "retries", "admin", scope="write")
    client = create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "x"}).test_client()
    body = {k: v for k, v in REPORT_FORM.items() if k != "is_broken"} | {"is_broken": True}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-0001-abcd"}
    first = client.post("/api/incidents", json=body, headers=headers)
    retried = client.post("/api/incidents", json=body, headers=headers)
    assert first.status_code == retried.status_code == 201
    assert first.get_json() == retried.get_json() and len(incidents(db)) == 1
    fresh = client.post("/api/incidents", json=body, headers={"Authorization": f"Bearer {token}"})
    assert fresh.status_code == 201 and len(incidents(db)) == 2  # no key: a new report
    bad = client.post("/api/incidents", json=body, headers=headers | {"Idempotency-Key": "x y"})
    assert bad.status_code == 400 and "Idempotency-Key" in bad.get_json()["error"]
    assert len(incidents(db)) == 2


def test_the_categorize_form_opens_on_the_suggestion_with_its_confidence(
    app, runtime, frozen_clock
):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()  # "VPN keeps disconnecting when working from home"
    task = desk.task(number, "categorize_incident")
    tina = logged_in(app, "tina")
    page = tina.get(f"/desk/tasks/{task.id}?incident={number}").get_data(as_text=True)
    shown = re.search(r'<p class="info" id="suggestion">(.*?)</p>', page, re.S).group(1)
    assert "network / vpn" in shown and re.search(r"\(\d+ % sure\)", shown)
    assert re.search(r'<option value="network"[^>]*selected', page)
    assert re.search(r'value="vpn"[^>]*checked|checked[^>]*value="vpn"', page)


def test_no_suggestion_when_the_report_says_nothing_known(app, runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    number = desk.report(short_description="Hmm", description="Something odd.")
    task = desk.task(number, "categorize_incident")
    page = logged_in(app, "tina").get(f"/desk/tasks/{task.id}").get_data(as_text=True)
    assert 'id="suggestion"' not in page and "— choose —" in page


def test_the_staff_page_tells_what_the_caller_sees_about_the_caller(app, runtime, frozen_clock):
    """Not "You wrote" on the desk: the caller's entries name the caller."""
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    page = logged_in(app, "tina").get(f"/desk/incidents/{number}").get_data(as_text=True)
    assert "Alice Archer reported it." in page and "You reported it." not in page


def test_a_task_form_shows_the_latest_notes_and_what_the_caller_heard(app, runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    desk.complete(
        number,
        "categorize_incident",
        {"category": "network", "subcategories": ["vpn"], "work_notes": "Checked the VPN log."},
    )
    task = desk.task(number, "diagnose")
    page = logged_in(app, "tina").get(f"/desk/tasks/{task.id}").get_data(as_text=True)
    latest = page[page.index('id="latest"') :]
    assert "Checked the VPN log." in latest  # the work note from categorizing
    assert "Alice Archer reported it." in latest and "The service desk took it on." in latest
