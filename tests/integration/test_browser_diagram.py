"""In a real browser: a technician opens an incident's process diagram, drawn by bpmn-js
from the project's own static files, and sees where the incident waits and the way it came."""

from __future__ import annotations

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"
ORANGE, GREEN = "rgb(239, 108, 0)", "rgb(46, 125, 50)"


def test_a_technician_sees_the_diagram_with_the_incidents_path(runtime, frozen_clock, screenshots):
    shots = screenshots
    desk = Desk(runtime, frozen_clock)
    number = desk.report()
    desk.categorize(number)  # now it waits at "diagnose"
    accounts.set_password(runtime.db, "tina", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        elsewhere: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith(base) else elsewhere.append(r.url))
        page.goto(f"{base}/incidents/{number}/diagram")
        page.get_by_label("User name").fill("tina")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/incidents/{number}/diagram")
        diagram = page.locator("div.diagram")
        page.wait_for_selector("div.diagram .djs-container svg", timeout=15000)  # bpmn-js drew
        page.wait_for_selector('div.diagram[data-ready="true"]', timeout=15000)
        assert "diagnose" in (diagram.get_attribute("data-current") or "").split()
        current = page.locator('.djs-element.df-current[data-element-id="diagnose"]')
        assert current.count() == 1
        assert (
            current.locator(".djs-visual > :nth-child(1)").evaluate(
                "e => getComputedStyle(e).stroke"
            )
            == ORANGE
        )
        passed = page.locator(".djs-element.df-passed")
        assert passed.count() >= 5
        assert page.locator('.df-passed[data-element-id="categorize_incident"]').count() == 1
        taken = page.locator(".djs-connection.df-passed")
        assert taken.count() >= 3
        assert (
            taken.first.locator(".djs-visual > path").evaluate("e => getComputedStyle(e).stroke")
            == GREEN
        )
        page.screenshot(path=shots / "diagram.png", full_page=True)
        assert errors == []
        assert elsewhere == []  # every file came from Deskflow itself: no CDN

        # A failed load says so inside the frame, in words.
        page.route("**/diagram.json", lambda route: route.fulfill(status=500, body="boom"))
        page.reload()
        page.wait_for_selector('div.diagram[data-ready="error"]', timeout=15000)
        assert diagram.get_by_role("alert").is_visible()
        alert = diagram.get_by_role("alert").inner_text()
        assert "cannot be shown" in alert and "500" in alert
        page.screenshot(path=shots / "diagram-error.png")
