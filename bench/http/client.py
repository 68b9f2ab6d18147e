"""A small HTTP client for the benchmark: one logged-in person, timed requests.

http.client from the standard library, the session cookie kept by hand, the CSRF token
read from the pages (every page carries it in a hidden `csrf_token` field). A request's
time is from sending it to having read the whole body: what a browser would wait for,
less rendering. Redirects are not followed: a completed task answers 302.
"""

from __future__ import annotations

import http.client
import re
import time
from dataclasses import dataclass
from urllib.parse import urlencode

CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Response:
    status: int
    location: str
    body: bytes
    ms: float


class Client:
    """One person's browser session against the server at `address` ('host:port')."""

    def __init__(self, address: str, timeout: float = 120) -> None:
        host, port = address.rsplit(":", 1)
        self.connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.username = ""

    def request(self, method: str, path: str, form: dict | None = None) -> Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            answer = self.connection.getresponse()
            content = answer.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # a kept-alive connection the server closed: once more
            started = time.perf_counter()
            self.connection.request(method, path, body=body, headers=headers)
            answer = self.connection.getresponse()
            content = answer.read()
        ms = (time.perf_counter() - started) * 1000
        for header in answer.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value:
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        if found := CSRF.search(content):
            self.csrf = found.group(1).decode()
        return Response(answer.status, answer.getheader("Location") or "", content, ms)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: dict) -> Response:
        return self.request("POST", path, {**form, "csrf_token": self.csrf})

    def log_in(self, username: str, password: str) -> None:
        self.get("/login")
        answer = self.post("/login", {"username": username, "password": password})
        if answer.status != 302:
            raise RuntimeError(f"{username} could not log in: HTTP {answer.status}")
        self.username = username
        self.get("/desk/queue?q=mine")  # a page with the new session's CSRF token

    def close(self) -> None:
        self.connection.close()
