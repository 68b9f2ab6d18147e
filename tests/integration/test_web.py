"""The status page the embedded set-up serves (the technicians' UI comes later)."""

from __future__ import annotations

from web import create_app

from .desk import Desk


def test_health_counts_incidents_by_state(runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    desk.categorize(number)
    client = create_app(runtime.db, {"TESTING": True}).test_client()
    health = client.get("/health").get_json()
    assert health["status"] == "ok"
    assert health["incidents"] == 1 and health["by_state"] == {"In Progress": 1}
    assert health["open_tasks"] == 1 and health["armed_timers"] == 4
    page = client.get("/")
    assert page.status_code == 200 and b"Open human tasks" in page.data
    assert b"alice" not in page.data  # counts only, no personal data before sign-in exists
