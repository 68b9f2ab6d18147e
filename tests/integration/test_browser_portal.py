"""In a real browser: a user reports a problem through the portal, finds it in their list
and confirms the fix."""

from __future__ import annotations

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"


def test_a_user_reports_a_problem_follows_it_and_confirms_the_fix(
    runtime, frozen_clock, screenshots
):
    shots = screenshots
    accounts.set_password(runtime.db, "alice", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/portal/report")
        page.get_by_label("User name").fill("alice")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/portal/report")  # back where she wanted to go
        page.get_by_role("button", name="Report").click()  # nothing typed yet
        assert "Please correct" in page.get_by_role("alert").inner_text()
        page.get_by_label("What happened? (one line)").fill("Outlook receives no email")
        suggestions = page.get_by_role("heading", name="Maybe this helps")
        suggestions.wait_for(timeout=5000)  # self-help while typing
        assert page.locator("#suggestions a").count() >= 1
        page.get_by_label("My team or several people").check()
        page.get_by_label("I cannot work").check()
        page.screenshot(path=shots / "report.png")
        page.get_by_role("button", name="Report").click()
        page.wait_for_url(f"{base}/portal/incidents/INC*")
        number = page.url.rsplit("/", 1)[1]
        assert page.get_by_role("heading", name=f"{number}: Outlook receives no email").is_visible()
        page.get_by_role("link", name="My incidents", exact=True).click()
        assert page.get_by_role("link", name=number).is_visible()
        page.screenshot(path=shots / "my-incidents.png")
        desk = Desk(runtime, frozen_clock)  # the service desk fixes it
        desk.categorize(number, "email", ("mailbox",))
        desk.resolve_first_line(number)
        page.get_by_role("link", name=number).click()
        assert page.get_by_role("heading", name="Is it fixed?").is_visible()
        page.get_by_label("Comment — optional").fill("Mail arrives again, thanks!")
        page.get_by_role("button", name="Yes, it is fixed").click()
        assert "the incident is closed" in page.get_by_role("status").inner_text()
        page.screenshot(path=shots / "confirmed.png")
        assert desk.incident(number).state == "Closed"
