"""Deskflow served for real, for tests that need the whole HTTP stack: gunicorn with sync
workers (`web.wsgi:app`, started by `bench.http.server.serving`: a free loopback port,
the database and a shared DESKFLOW_SECRET_KEY in its environment, ready once /health
answers, stopped when the block ends), and small clients that talk to it as programs
(an API token) and as browsers (a session cookie and the CSRF token) do.

Every request opens its own connection and is sent once: a POST in a race must never be
sent again behind the test's back. Each answer carries the moments it was sent and fully
read (`time.monotonic`), so a test can tell whether two requests were in flight at once.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.http.server import Served, ServerConfig, serving

WORKERS = 3  # sync workers: enough for two requests (and a page) at once
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FLASH = re.compile(r'<p class="(error|info)" role="(?:alert|status)">(.*?)</p>', re.S)


@contextmanager
def gunicorn(url: str, log: Path, workers: int = WORKERS) -> Iterator[Served]:
    """gunicorn serving `web.wsgi:app` on the database at `url`, logging to `log`."""
    with serving(url, ServerConfig(workers=workers, threads=1), log) as served:
        yield served


@dataclass(frozen=True)
class Answer:
    """What came back, and when the request was in flight."""

    status: int
    body: str
    location: str
    started: float
    ended: float

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def error(self) -> str:
        """What a refusal says: the API's `error`, an HTML page's alert (error pages and
        flashed messages), or else the start of the body."""
        parsed = self.json()
        if isinstance(parsed, dict) and "error" in parsed:
            return str(parsed["error"])
        alerts = [text for kind, text in flashed(self.body) if kind == "error"]
        return "; ".join(alerts) or " ".join(self.body.split())[:300]


class Client:
    """One person's connection to the server: a cookie jar, and headers sent each time."""

    def __init__(self, address: str, headers: dict[str, str] | None = None) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.headers = dict(headers or {})
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict[str, str] | None = None,
    ) -> Answer:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if json_body is not None:
            body = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=120)
        started = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        ended = time.monotonic()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        if found := CSRF.search(content):
            self.csrf = found.group(1)
        return Answer(
            response.status, content, response.getheader("Location") or "", started, ended
        )

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post_json(self, path: str, body: Any) -> Answer:
        return self.request("POST", path, json_body=body)

    def post_form(self, path: str, **fields: str) -> Answer:
        """A form POST as the browser sends it, with the session's CSRF token."""
        return self.request("POST", path, form={**fields, "csrf_token": self.csrf})


def api_client(address: str, token: str) -> Client:
    """A program using the JSON API with `token` (Authorization: Bearer)."""
    return Client(address, {"Authorization": f"Bearer {token}"})


def browser(address: str, username: str, password: str, landing: str = "/") -> Client:
    """A browser session logged in as `username`, holding the new session's CSRF token
    (read from `landing`, a page the person may see)."""
    client = Client(address)
    client.get("/login")
    answer = client.post_form("/login", username=username, password=password)
    if answer.status != 302:
        raise RuntimeError(f"{username} could not log in: HTTP {answer.status}")
    page = client.get(landing)
    if page.status != 200 or not client.csrf:
        raise RuntimeError(f"{username}: no CSRF token on {landing} (HTTP {page.status})")
    return client


def flashed(page: str) -> list[tuple[str, str]]:
    """The flashed messages on a page: (category 'error' or 'info', text)."""
    return [(kind, unescape(" ".join(text.split()))) for kind, text in FLASH.findall(page)]
