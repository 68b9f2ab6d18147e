"""In a real browser: the queue updates itself — new work appears and taken work goes
without a reload — its SLA badges count down, the keyboard reaches its actions, and it
fits a phone's screen."""

from __future__ import annotations

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"


def test_the_queue_updates_without_a_reload(runtime, frozen_clock, screenshots):
    desk = Desk(runtime, frozen_clock)
    first = desk.report(short_description="Wi-Fi drops in room 3")
    desk.categorize(first)
    accounts.set_password(runtime.db, "tom", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test", "DESK_REFRESH_SECONDS": 1})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/desk/queue?q=groups")
        page.get_by_label("User name").fill("tom")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/desk/queue?q=groups")
        row = page.locator(f'tr[data-incident="{first}"]')
        assert "due in" in row.locator(".countdown").inner_text()  # the live countdown
        page.evaluate("window.notReloaded = true")

        second = desk.report(short_description="Monitor flickers")  # new work arrives
        page.locator(f'tr[data-incident="{second}"]').wait_for(timeout=5000)
        desk.complete(first, "diagnose", {"resolved": False})  # taken elsewhere
        row.wait_for(state="detached", timeout=5000)
        assert page.evaluate("window.notReloaded") is True  # the same page all along
        assert page.locator("#queue-count").inner_text().startswith("1 open task.")
        page.screenshot(path=screenshots / "queue-updated.png")

        reached = []  # the keyboard alone gets to the row's actions
        for _ in range(40):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("document.activeElement.textContent.trim()"))
            if reached[-1] == "Claim":
                break
        assert reached[-1] == "Claim", reached
        assert "Work on it" in reached

        page.set_viewport_size({"width": 390, "height": 844})  # a phone
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"the page is {wide} px wide on a 390 px screen"
        page.screenshot(path=screenshots / "queue-phone.png", full_page=True)


def test_a_queue_left_open_goes_to_the_log_in_page_when_its_session_ends(runtime, frozen_clock):
    """The refresh does not keep showing incidents to whoever passes by (ASVS V14.3.1)."""
    desk = Desk(runtime, frozen_clock)
    desk.categorize(desk.report(short_description="Wi-Fi drops in room 3"))
    accounts.set_password(runtime.db, "tom", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test", "DESK_REFRESH_SECONDS": 1})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/desk/queue?q=groups")
        page.get_by_label("User name").fill("tom")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{base}/desk/queue?q=groups")
        accounts.set_password(runtime.db, "tom", "changed elsewhere")  # ends his sessions
        page.wait_for_url(f"{base}/login**", timeout=5000)
        assert page.locator("#queue").count() == 0
        said = page.get_by_text("Your session ended (password changed)")
        assert said.is_visible()
