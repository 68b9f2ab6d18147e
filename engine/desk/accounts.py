"""Accounts: passwords (hashed with scrypt) and logging in, throttled per account and
per address.

After `MAX_FAILURES` wrong passwords in a row an account is locked for `LOCKOUT`; a
right password while locked does not open it. An address (the client's IP) with
`MAX_ADDRESS_FAILURES` failed log-ins — any names — within `LOCKOUT` is refused until
the oldest of them is that old, so guessing across many accounts is slowed too. An
unknown user name costs the same hash check as a known one, so timing does not tell
which names exist. The throttle refuses new log-ins only: it does not end the account's
sessions (`engine.desk.sessions`), or anyone who knows a user name could log that
person out by guessing wrong.

An account an admin locked or deactivated (`engine.desk.account_state`) cannot log in;
it says so only to whoever gives its right password, so the message does not tell a
stranger which accounts are locked. A password change ends every session of the
account — but the one it was changed from, when a person changes their own
(`change_own_password`) — and leaves its API tokens alone (see `engine.desk.api_tokens`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine import clock
from engine.desk import sessions
from engine.errors import DeskflowError
from engine.store.db import Database
from engine.store.models import LoginFailure, User

MAX_FAILURES = 5
MAX_ADDRESS_FAILURES = 20
LOCKOUT = timedelta(minutes=15)
MIN_LENGTH = 8
_NOBODY = generate_password_hash("not a password of anyone")


class LoginRefused(DeskflowError):
    """Wrong name or password, or the account is locked for a while."""


class AccountClosed(LoginRefused):
    """The right password, but an admin locked or deactivated the account."""


def set_password(db: Database, username: str, password: str) -> None:
    """Give `username` a new password (at least MIN_LENGTH characters); lifts the
    throttle's lockout (not an admin's lock). Every session of the account ends."""
    password_hash = _new_hash(password)  # scrypt outside the transaction
    with db.writing() as session:
        user = session.get(User, username, with_for_update=True)
        if user is None:
            raise DeskflowError(f"no user '{username}'")
        _replace(session, user, password_hash, keep=None)


def change_own_password(
    db: Database, username: str, current: str, new: str, keep_session: int | None
) -> None:
    """A logged-in person changes their password, giving the current one; their other
    sessions end, `keep_session` (the one they use) stays. A wrong current password is
    refused (LoginRefused) and counted like a wrong log-in, so this is no way round the
    throttle; so is one asked for while the account is locked out."""
    password_hash = _new_hash(new)
    with db.writing() as session:
        user = session.get(User, username, with_for_update=True)
        if user is None or user.password_hash is None:
            raise DeskflowError(f"no user '{username}' with a password")
        now = clock.now()
        if user.locked_until is not None and user.locked_until > now:
            raise LoginRefused("too many wrong passwords: try again in a few minutes")
        if check_password_hash(user.password_hash, current):
            _replace(session, user, password_hash, keep=keep_session)
            return
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.failed_logins, user.locked_until = 0, now + LOCKOUT
    raise LoginRefused("your current password is not right: nothing changed")


def _new_hash(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise DeskflowError(f"a password needs at least {MIN_LENGTH} characters")
    return generate_password_hash(password)


def _replace(session: Session, user: User, password_hash: str, keep: int | None) -> None:
    user.password_hash = password_hash
    user.failed_logins, user.locked_until = 0, None
    sessions.end_all_of(session, user.username, sessions.PASSWORD_CHANGED, keep=keep)


def log_in(db: Database, username: str, password: str, address: str = "") -> User:
    """The account, if `password` is theirs and neither the account nor the `address` is
    locked out; else LoginRefused, raised after the failure is counted (committed)."""
    with db.writing() as session:
        try:
            name = _log_in(session, username, password, address)
        except LoginRefused as refused:
            failure = refused
        else:
            user = session.get(User, name)
            assert user is not None  # just found
            return user
    raise failure


def _log_in(session: Session, username: str, password: str, address: str) -> str:
    now = clock.now()
    if address:
        _check_address(session, address, now)
    try:
        return _check_password(session, username, password, now)
    except LoginRefused as refused:
        if address and not isinstance(refused, AccountClosed):
            session.add(LoginFailure(address=address[:64], at=now))
        raise


def _check_address(session: Session, address: str, now: datetime) -> None:
    since = now - LOCKOUT
    session.execute(delete(LoginFailure).where(LoginFailure.at < since))
    failures, oldest = session.execute(
        select(func.count(), func.min(LoginFailure.at)).where(
            LoginFailure.address == address[:64], LoginFailure.at >= since
        )
    ).one()
    if failures >= MAX_ADDRESS_FAILURES:
        minutes = max(1, int((oldest + LOCKOUT - now).total_seconds() // 60) + 1)
        raise LoginRefused(
            f"too many failed log-ins from your address: try again in {minutes} minute(s)"
        )


def _check_password(session: Session, username: str, password: str, now: datetime) -> str:
    # Locked before it is read: concurrent wrong passwords each count (READ COMMITTED).
    user = session.get(User, username.strip().lower(), with_for_update=True)
    if user is None or user.password_hash is None:
        check_password_hash(_NOBODY, password)
        raise LoginRefused("wrong user name or password")
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
    if user.deactivated_at is not None:
        raise AccountClosed("this account is deactivated: ask an admin if you need it again")
    if user.locked_at is not None:
        raise AccountClosed("this account is locked by an admin: ask an admin to unlock it")
    return user.username


DEMO_PASSWORD = "deskflow-demo"


def without_password(session: Session) -> int:
    """How many accounts have no password (they cannot log in)."""
    return session.scalar(select(func.count()).where(User.password_hash.is_(None))) or 0


def give_demo_passwords(db: Database) -> list[str]:
    """Give every account without a password the public demo password (`deskflow demo`,
    for trying Deskflow out); returns their names. An account whose password was set (or
    changed) keeps it. The password is public, so one hash (one salt) serves them all:
    scrypt once, not once per account."""
    demo_hash = generate_password_hash(DEMO_PASSWORD)
    with db.writing() as session:
        return _give(session, demo_hash)


def _give(session: Session, demo_hash: str) -> list[str]:
    users = session.scalars(
        select(User).where(User.password_hash.is_(None)).order_by(User.username)
    )
    named = []
    for user in users:
        user.password_hash = demo_hash
        named.append(user.username)
    return named
