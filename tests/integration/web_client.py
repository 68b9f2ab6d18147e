"""Flask test clients logged in as someone, with the session's CSRF token at hand."""

from __future__ import annotations

import re

from engine.desk import accounts
from web import create_app

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def app_with_accounts(runtime, *usernames: str):
    """The web app on the runtime's database, `usernames` able to log in with PASSWORD."""
    for name in usernames:
        accounts.set_password(runtime.db, name, PASSWORD)
    return create_app(runtime.db, {"TESTING": True, "SECRET_KEY": "test secret"})


def logged_in(app, username: str):
    """A test client logged in as `username`; `client.token` is its CSRF token."""
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    answer = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    client.token = TOKEN.search(page).group(1)
    return client


def post(client, path: str, **data):
    """A form POST with the client's CSRF token."""
    return client.post(path, data={"csrf_token": client.token, **data})
