"""In a real browser: a person logged in twice ends the other session from /account and
that browser lands on the log-in page; the admin's session list, on a laptop and on a
phone (screenshots kept)."""

from __future__ import annotations

from engine.desk import accounts, api_tokens
from web import create_app

from .browser import chromium, live_server

PASSWORD = "correct horse battery"
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def no_sideways_scroll(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the screen"


def test_a_person_ends_their_other_session_from_the_account_page(runtime, screenshots):
    accounts.set_password(runtime.db, "tina", PASSWORD)
    accounts.set_password(runtime.db, "admin", PASSWORD)
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})
    with live_server(app) as base, chromium() as browser:
        office = browser.new_context(viewport=LAPTOP)
        phone = browser.new_context(viewport=PHONE, user_agent="Mozilla/5.0 (iPhone) Mobile")
        desk, pocket = office.new_page(), phone.new_page()
        log_in(desk, base, "tina")
        log_in(pocket, base, "tina")
        pocket.get_by_role("link", name="My account").click()
        pocket.wait_for_url(f"{base}/account")
        no_sideways_scroll(pocket)
        pocket.screenshot(path=screenshots / "account-phone.png", full_page=True)

        desk.get_by_role("link", name="My account").click()
        desk.wait_for_url(f"{base}/account")
        assert desk.locator("tr[aria-current]").get_by_text("(this session)").is_visible()
        assert desk.locator("tr[data-session]").count() == 2
        desk.screenshot(path=screenshots / "account.png", full_page=True)
        other = desk.locator("tr[data-session]:not([aria-current])")
        other.get_by_role("button").click()
        desk.wait_for_load_state()
        assert "ended" in desk.get_by_role("status").first.inner_text()
        assert desk.locator("tr[data-session]").count() == 1

        pocket.reload()
        assert pocket.url.startswith(f"{base}/login")  # the phone has to log in again
        assert pocket.get_by_role("button", name="Log in").is_visible()

        admin = office.new_page()  # the same browser: the admin's log-in replaces tina's
        log_in(admin, base, "admin")
        admin.get_by_role("link", name="Sessions").click()
        admin.wait_for_url(f"{base}/admin/sessions")
        assert admin.get_by_role("heading", name="Active sessions").is_visible()
        admin.screenshot(path=screenshots / "admin-sessions.png", full_page=True)
        admin.set_viewport_size(PHONE)
        no_sideways_scroll(admin)
        admin.screenshot(path=screenshots / "admin-sessions-phone.png", full_page=True)
        token_id, _ = api_tokens.create_token(runtime.db, "tina", "wall screen", "admin")
        admin.goto(f"{base}/admin/tokens")
        revoke = f"Revoke token {token_id} of tina (wall screen)"
        admin.get_by_role("button", name=revoke).click()
        admin.wait_for_load_state()
        assert admin.get_by_role("status").count() == 1  # the flash, once
        no_sideways_scroll(admin)
        admin.screenshot(path=screenshots / "admin-tokens-phone.png", full_page=True)
