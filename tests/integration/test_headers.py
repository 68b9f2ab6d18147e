"""The security headers (web.headers): on pages, the API and static files; and in a real
browser the Content-Security-Policy stops an inline script."""

from __future__ import annotations

import pytest

from web import create_app, headers

from .browser import chromium, live_server
from .web_client import app_with_accounts, logged_in


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "tina")


@pytest.mark.parametrize("path", ["/login", "/health", "/api/openapi.json", "/static/desk.js"])
def test_every_answer_carries_the_security_headers(app, path):
    answer = app.test_client().get(path)
    assert answer.status_code == 200
    policy = answer.headers["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy
        and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in answer.headers  # not over plain HTTP


def test_pages_are_not_kept_in_the_browser_cache_but_static_files_are(app):
    tina = logged_in(app, "tina")
    assert tina.get("/desk/queue").headers["Cache-Control"] == "no-store"
    assert tina.get("/api/incidents").headers["Cache-Control"] == "no-store"
    assert "no-store" not in tina.get("/static/desk.js").headers.get("Cache-Control", "")


def test_errors_carry_them_too(app):
    tina = logged_in(app, "tina")
    for path in ("/no/such/page", "/admin/tokens", "/api/incidents/NOPE"):
        answer = tina.get(path)
        assert answer.status_code in (403, 404)
        assert "Content-Security-Policy" in answer.headers


def test_hsts_when_served_over_https(runtime, monkeypatch):
    monkeypatch.setenv("DESKFLOW_HTTPS", "1")
    app = create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "test secret"})
    answer = app.test_client().get("/login")
    assert answer.headers["Strict-Transport-Security"] == headers.HSTS


def test_the_browser_refuses_an_inline_script(runtime):
    """A page with an injected inline script: the script does not run, and the browser
    fixture notes the refusal (so every other browser test would fail on one)."""
    app = create_app(runtime.db, {"SECRET_KEY": "browser test"})

    @app.get("/injected")
    def injected():
        script = "document.getElementById('out').textContent = 'ran'"
        return f"<html><body><p id=out>safe</p><script>{script}</script></body></html>"

    with live_server(app) as base, chromium() as browser:
        page = browser.new_page()
        page.goto(f"{base}/injected")
        assert page.text_content("#out") == "safe"
        assert any("inline script" in refusal for refusal in browser.refused)
        browser.refused.clear()  # seen: the fixture's own check passes


def test_log_out_clears_what_the_browser_kept(app):
    tina = logged_in(app, "tina")
    answer = tina.post("/logout", data={"csrf_token": tina.token})
    assert answer.status_code == 302
    assert answer.headers["Clear-Site-Data"] == '"cache", "storage"'


def test_the_session_cookie_is_signed_with_sha256_and_host_only_over_https(runtime, monkeypatch):
    import hashlib

    app = app_with_accounts(runtime, "tina")
    assert app.session_interface.digest_method is hashlib.sha256
    monkeypatch.setenv("DESKFLOW_HTTPS", "1")
    secure = create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "test secret"})
    client = secure.test_client()
    page = client.get("/login", base_url="https://localhost")
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith("__Host-deskflow=") and "Secure" in cookie
    assert "Domain" not in cookie and "Path=/" in cookie
