"""Forms that do not trip people up: a field the form says may be left empty can be, and
a task's form reached again after it was done (Back, or sent twice) says so and links to
its incident instead of a bare 404."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.store.models import HistoryEvent, Incident

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
