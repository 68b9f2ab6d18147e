"""A report form sent twice at the same moment (a double click), through the real HTTP
stack (gunicorn, several workers): exactly one incident, and both answers lead to it."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from engine.desk import accounts
from engine.store.models import Incident

from . import served

pytestmark = pytest.mark.xdist_group("races")

PASSWORD = "correct horse battery"
TRIALS = 3
FORM = {
    "short_description": "Laptop does not start",
    "description": "Black screen.",
    "is_broken": "yes",
    "impact": "low",
    "urgency": "medium",
}


def count(db) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Incident)) or 0


def double_click(alice: served.Client, key: str) -> list[served.Answer]:
    """The report form with `key`, sent twice at the same moment."""
    barrier, answers = threading.Barrier(2), []

    def send() -> None:
        barrier.wait()
        answers.append(alice.post_form("/portal/report", submission=key, **FORM))

    clicks = [threading.Thread(target=send) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    return answers


def test_a_double_click_on_report_opens_one_incident(runtime, db, tmp_path):
    accounts.set_password(db, "alice", PASSWORD)
    with served.gunicorn(db.url, tmp_path / "gunicorn.log") as server:
        alice = served.browser(server.address, "alice", PASSWORD, "/portal/report")
        for trial in range(1, TRIALS + 1):
            page = alice.get("/portal/report").body
            key = re.search(r'name="submission" value="([^"]+)"', page).group(1)
            answers = double_click(alice, key)
            assert [a.status for a in answers] == [302, 302], [a.error() for a in answers]
            assert answers[0].location == answers[1].location
            assert count(db) == trial  # one incident per form, however the two raced
