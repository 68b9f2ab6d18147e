"""In a real browser: log in, land on the desk's queue, log out (screenshots kept)."""

from __future__ import annotations

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"


def test_a_technician_logs_in_sees_the_desk_and_logs_out(runtime, frozen_clock, screenshots):
    shots = screenshots
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    desk.categorize(number)
    accounts.set_password(runtime.db, "tina", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/")
        assert page.url.startswith(f"{base}/login")  # sent to log in first
        page.get_by_label("User name").fill("tina")
        page.get_by_label("Password").fill("wrong password")
        page.get_by_role("button", name="Log in").click()
        assert "wrong user name or password" in page.get_by_role("alert").inner_text()
        page.screenshot(path=shots / "login-refused.png")
        page.get_by_label("User name").fill("tina")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/desk/queue")  # a technician starts at her queue
        assert page.get_by_role("heading", name="My tasks").is_visible()
        page.get_by_role("link", name="My groups' unassigned").click()
        assert page.locator(f'tr[data-incident="{number}"]').get_by_text("Diagnose").is_visible()
        page.screenshot(path=shots / "queue.png")
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/")
        assert page.url.startswith(f"{base}/login")  # the session is gone
