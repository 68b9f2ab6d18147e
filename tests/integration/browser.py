"""A real browser for the tests: Playwright driving the machine's Chromium, headless.

Chromium comes from the system (`apt-get install chromium`, which `.ci/run` does), never a
download at test time. A missing Chromium fails the browser tests; it does not skip them.
Every page the tests open is watched for what the Content-Security-Policy refused (an
inline script, an `eval`, a file from another site): a browser test fails on any.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from werkzeug.serving import make_server

CHROMIUM = os.environ.get("DESKFLOW_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def live_server(app) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


class WatchedBrowser:
    """The Playwright browser, its pages' refusals by the Content-Security-Policy noted in
    `refused` (Chromium reports each as a console error)."""

    def __init__(self, browser) -> None:
        self._browser = browser
        self.refused: list[str] = []

    def new_context(self, **options):
        context = self._browser.new_context(**options)
        context.on("console", self._noted)
        return context

    def new_page(self, **options):
        page = self._browser.new_page(**options)
        page.on("console", self._noted)
        return page

    def _noted(self, message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            self.refused.append(f"{message.location.get('url')}: {message.text}")

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise AssertionError(
            f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) or set "
            "DESKFLOW_CHROMIUM; browser tests never skip"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        watched = WatchedBrowser(browser)
        try:
            yield watched
        finally:
            browser.close()
        assert not watched.refused, "the Content-Security-Policy refused:\n" + "\n".join(
            watched.refused
        )
