"""A real browser for the tests: Playwright driving the machine's Chromium, headless.

Chromium comes from the system (`apt-get install chromium`, which `.ci/run` does), never a
download at test time. A missing Chromium fails the browser tests; it does not skip them.
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
        try:
            yield browser
        finally:
            browser.close()
