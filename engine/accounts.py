"""Accounts: passwords (hashed with scrypt) and logging in, throttled per account.

After `MAX_FAILURES` wrong passwords in a row an account is locked for `LOCKOUT`; a
right password while locked does not open it. An unknown user name costs the same hash
check as a known one, so timing does not tell which names exist.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.errors import DeskflowError
from engine.store.models import User

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_LENGTH = 8
_NOBODY = generate_password_hash("not a password of anyone")


class LoginRefused(DeskflowError):
    """Wrong name or password, or the account is locked for a while."""


def set_password(session: Session, username: str, password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise DeskflowError(f"a password needs at least {MIN_LENGTH} characters")
    user = session.get(User, username)
    if user is None:
        raise DeskflowError(f"no user '{username}'")
    user.password_hash = generate_password_hash(password)
    user.failed_logins, user.locked_until = 0, None


def log_in(session: Session, username: str, password: str) -> str:
    """The user name, if `password` is theirs and the account is not locked; else
    LoginRefused. The caller commits either way: failures are counted."""
    user = session.get(User, username.strip().lower())
    if user is None or user.password_hash is None:
        check_password_hash(_NOBODY, password)
        raise LoginRefused("wrong user name or password")
    now = clock.now()
    if user.locked_until is not None and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60))
        raise LoginRefused(
            f"too many wrong passwords: this account is locked for {minutes} more minute(s)"
        )
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
        raise LoginRefused("wrong user name or password")
    user.failed_logins, user.locked_until = 0, None
    return user.username


DEMO_PASSWORD = "deskflow-demo"


def give_demo_passwords(session: Session) -> list[str]:
    """Give every account without a password the demo password; returns their names.
    An account whose password was set (or changed) keeps it. The password is public, so
    one hash (one salt) serves them all: scrypt once, not once per account."""
    users = session.scalars(
        select(User).where(User.password_hash.is_(None)).order_by(User.username)
    )
    named, demo_hash = [], generate_password_hash(DEMO_PASSWORD)
    for user in users:
        user.password_hash = demo_hash
        named.append(user.username)
    return named
