"""Accounts under concurrency, through the real HTTP stack (gunicorn, several workers):
wrong passwords sent at once are each counted, so guessing in parallel does not get
past the lockout (the account row is read after its lock is held, `engine.desk.accounts`)."""

from __future__ import annotations

import threading

import pytest

from engine.desk import accounts
from engine.store.models import User

from . import served

pytestmark = pytest.mark.xdist_group("races")

PASSWORD = "correct horse battery"
GUESSES = accounts.MAX_FAILURES - 1  # at once: one short of the lockout
TRIALS = 3


def guess_at_once(address: str, count: int) -> list[int]:
    """`count` browsers send a wrong password for tina at the same moment; their statuses."""
    clients = [served.Client(address) for _ in range(count)]
    for client in clients:
        client.get("/login")  # the CSRF token of its own session
    barrier, statuses = threading.Barrier(count), []

    def guess(client: served.Client) -> None:
        barrier.wait()
        statuses.append(client.post_form("/login", username="tina", password="a guess").status)

    threads = [threading.Thread(target=guess, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def failed_logins(db) -> int:
    with db.reading() as session:
        return session.get(User, "tina").failed_logins


def test_wrong_passwords_sent_at_once_are_each_counted(db, tmp_path):
    with served.gunicorn(db.url, tmp_path / "gunicorn.log") as server:
        for _ in range(TRIALS):
            accounts.set_password(db, "tina", PASSWORD)  # and the count back to 0
            assert guess_at_once(server.address, GUESSES) == [401] * GUESSES
            assert failed_logins(db) == GUESSES  # none lost to a concurrent write
        refused = guess_at_once(server.address, 1)
        assert refused == [401]
        browser = served.Client(server.address)
        browser.get("/login")
        locked = browser.post_form("/login", username="tina", password=PASSWORD)
        assert locked.status == 401 and "locked" in locked.body
