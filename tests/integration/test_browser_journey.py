"""In a real browser, the whole journey: a user reports a problem and sees a self-help
suggestion; a technician claims it, categorizes it and escalates it; the specialist it
was given to resolves it; the user confirms; the technician's queue no longer shows it;
the incident page's diagram marks the path it took. Screenshots of each key page."""

from __future__ import annotations

from playwright.sync_api import Page

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"
PEOPLE = ("alice", "tina", "ned", "nick")


def log_in(browser, base: str, username: str) -> Page:
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    return page


def test_report_claim_categorize_escalate_resolve_confirm(runtime, frozen_clock, screenshots):
    desk = Desk(runtime, frozen_clock)
    for name in PEOPLE:
        accounts.set_password(runtime.db, name, PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        alice = log_in(browser, base, "alice")
        alice.goto(f"{base}/portal/report")
        alice.get_by_label("What happened? (one line)").fill("VPN disconnects every few minutes")
        alice.get_by_role("heading", name="Maybe this helps").wait_for(timeout=5000)
        assert alice.locator("#suggestions a").count() >= 1
        alice.get_by_label("I cannot work").check()
        alice.screenshot(path=screenshots / "journey-1-report.png")
        alice.get_by_role("button", name="Report").click()
        alice.wait_for_url(f"{base}/portal/incidents/INC*")
        number = alice.url.rsplit("/", 1)[1]

        tina = log_in(browser, base, "tina")
        assert tina.url.startswith(f"{base}/desk/queue")  # a technician starts at her queue
        tina.get_by_role("link", name="My groups' unassigned").click()
        row = tina.locator(f'tr[data-incident="{number}"]')
        assert row.get_by_text("Categorize incident").is_visible()
        tina.screenshot(path=screenshots / "journey-2-queue.png")
        row.get_by_role("button", name=f"Claim Categorize incident of {number}").click()
        tina.get_by_role("link", name="My tasks").click()
        tina.locator(f'tr[data-incident="{number}"]').get_by_role("link", name="Work on it").click()
        tina.get_by_label("Category (required)").select_option("network")
        assert not tina.get_by_label("printer-offline").is_visible()  # other categories' choices
        tina.get_by_label("vpn").check()
        tina.get_by_label("Work notes").fill("Caller on home broadband.")
        tina.screenshot(path=screenshots / "journey-3-categorize.png", full_page=True)
        tina.get_by_role("button", name="Complete “Categorize incident”").click()
        assert "is done" in tina.get_by_role("status").inner_text()

        tina.goto(f"{base}/desk/incidents/{number}")
        tina.locator("summary", has_text="Escalate").click()
        tina.get_by_label("Reason").fill("The VPN concentrator needs network-ops.")
        tina.get_by_role("button", name="Escalate", exact=True).click()
        assert "Escalated to the specialist group" in tina.get_by_role("status").inner_text()
        specialist = desk.task(number, "investigate_and_resolve").assignee
        assert specialist in ("ned", "nick")

        expert = log_in(browser, base, specialist)
        expert.locator(f'tr[data-incident="{number}"]').get_by_role(
            "link", name="Work on it"
        ).click()
        expert.get_by_label("Resolution code (required)").select_option("solved-permanently")
        expert.get_by_label("Resolution notes (required)").fill("Renewed the VPN certificate.")
        expert.get_by_role("button", name="Complete “Investigate and resolve”").click()
        assert "is done" in expert.get_by_role("status").inner_text()

        alice.goto(f"{base}/portal/incidents/{number}")
        alice.get_by_role("button", name="Yes, it is fixed").click()
        assert "the incident is closed" in alice.get_by_role("status").inner_text()
        alice.screenshot(path=screenshots / "journey-4-confirmed.png")
        assert desk.incident(number).state == "Closed"

        for queue in ("My tasks", "My groups' unassigned"):
            tina.goto(f"{base}/desk/queue")
            tina.get_by_role("link", name=queue).click()
            assert tina.locator(f'tr[data-incident="{number}"]').count() == 0

        tina.goto(f"{base}/desk/incidents/{number}")
        tina.wait_for_selector('div.diagram[data-ready="true"]', timeout=15000)
        for element in ("categorize_incident", "diagnose", "investigate_and_resolve"):
            assert tina.locator(f'.df-passed[data-element-id="{element}"]').count() == 1
        assert tina.locator(".djs-connection.df-passed").count() >= 5
        tina.screenshot(path=screenshots / "journey-5-incident.png", full_page=True)
