"""In a real browser: one very long word does not widen the queue or the incident page, at
1366 px and at 390 px, and keyboard focus in the queue survives its live refresh."""

from __future__ import annotations

import pytest

from engine.desk import accounts
from web import create_app

from .browser import chromium, live_server
from .desk import Desk

PASSWORD = "correct horse battery"
LONG_WORD = "x" * 160


def log_in(page, base: str, path: str) -> None:
    page.goto(f"{base}{path}")
    page.get_by_label("User name").fill("tom")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}{path}")


@pytest.mark.parametrize("width", [1366, 390])
def test_a_long_word_wraps_and_the_buttons_stay_in_view(runtime, frozen_clock, screenshots, width):
    desk = Desk(runtime, frozen_clock)
    number = desk.report(short_description=LONG_WORD, description=LONG_WORD * 3)
    desk.categorize(number)
    accounts.set_password(runtime.db, "tom", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 900})
        log_in(page, base, "/desk/queue?q=groups")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        work = page.locator(f'tr[data-incident="{number}"]').get_by_role("link", name="Work on it")
        box = work.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width
        page.screenshot(path=screenshots / f"queue-long-word-{width}.png", full_page=True)
        page.goto(f"{base}/desk/incidents/{number}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=screenshots / f"incident-long-word-{width}.png", full_page=True)


def test_keyboard_focus_survives_the_queue_refresh(runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    first = desk.report(short_description="Wi-Fi drops in room 3")
    desk.categorize(first)
    accounts.set_password(runtime.db, "tom", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test", "DESK_REFRESH_SECONDS": 1})
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        log_in(page, base, "/desk/queue?q=groups")
        row = f'tr[data-incident="{first}"]'
        page.locator(row).get_by_role("button", name="Claim").focus()
        second = desk.report(short_description="Monitor flickers")  # the refresh brings it
        page.locator(f'tr[data-incident="{second}"]').wait_for(timeout=5000)
        focused = page.evaluate(
            "[document.activeElement.textContent.trim(),"
            " document.activeElement.closest('tr')?.dataset.incident]"
        )
        assert focused == ["Claim", first]
