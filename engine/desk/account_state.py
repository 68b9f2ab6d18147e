"""What an admin does to an account: lock and unlock it, deactivate and reactivate it,
change its roles (`deskflow user lock|unlock|deactivate|activate|roles`).

- **Lock**: the person is shut out for now (a stolen laptop, a suspected break-in) until an
  admin unlocks the account. Their sessions end and their API tokens are revoked for good
  (`engine.desk.api_tokens`), in the same transaction: nothing they held opens the desk
  any more. Unlocking lets them log in again; the tokens stay revoked — an admin creates
  new ones, knowing the old ones may have leaked.
- **Deactivate**: the person left; the account stays (their incidents, the history name
  them) but cannot log in. Sessions end and tokens are revoked, as with a lock.
- **Roles**: a new set of roles ends every session of the person: what they may see
  changed, so the pages they hold open are out of date; they log in again.

This lock is not the throttle after wrong passwords (`engine.desk.accounts`), which
locks for a while and ends no session.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine import clock
from engine.desk import api_tokens, sessions
from engine.errors import DeskflowError, NotFound
from engine.store.db import Database
from engine.store.models import User

ROLES = ("user", "technician", "specialist", "manager", "process_owner", "auditor", "admin")


def _user(session: Session, username: str) -> User:
    user = session.get(User, username.strip().lower(), with_for_update=True)  # read locked
    if user is None:
        raise NotFound(f"no user '{username.strip().lower()}'")
    return user


def lock(db: Database, username: str) -> int:
    """Lock `username` until unlocked; ends their sessions and revokes their API tokens.
    Returns how many sessions ended. Locking a locked account changes nothing."""
    with db.writing() as session:
        user = _user(session, username)
        if user.locked_at is None:
            user.locked_at = clock.now()
        return _shut_out(session, user, api_tokens.OWNER_LOCKED, sessions.ACCOUNT_LOCKED)


def unlock(db: Database, username: str) -> None:
    """Let `username` log in again (their revoked tokens stay revoked); also lifts the
    throttle's lockout after wrong passwords."""
    with db.writing() as session:
        user = _user(session, username)
        user.locked_at, user.locked_until, user.failed_logins = None, None, 0


def deactivate(db: Database, username: str) -> int:
    """Deactivate `username` (they left): no log-in, sessions ended, tokens revoked.
    Returns how many sessions ended."""
    with db.writing() as session:
        user = _user(session, username)
        if user.deactivated_at is None:
            user.deactivated_at = clock.now()
        return _shut_out(session, user, api_tokens.OWNER_DEACTIVATED, sessions.ACCOUNT_DEACTIVATED)


def _shut_out(session: Session, user: User, token_reason: str, session_reason: str) -> int:
    """Revoke the person's API tokens and end their sessions; how many sessions ended."""
    api_tokens.revoke_all_of(session, user.username, token_reason)
    return sessions.end_all_of(session, user.username, session_reason)


def activate(db: Database, username: str) -> None:
    """Reactivate `username`: they may log in again (with a password they know)."""
    with db.writing() as session:
        _user(session, username).deactivated_at = None


def set_roles(db: Database, username: str, roles: list[str]) -> int:
    """Give `username` exactly `roles` (at least one); when they differ from before, every
    session of the person ends. Returns how many sessions ended."""
    wanted = sorted({role.strip().lower() for role in roles if role.strip()})
    if not wanted:
        raise DeskflowError(f"name at least one role: {', '.join(ROLES)}")
    if unknown := [role for role in wanted if role not in ROLES]:
        raise DeskflowError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    with db.writing() as session:
        user = _user(session, username)
        if sorted(user.roles) == wanted:
            return 0
        user.roles = wanted
        return sessions.end_all_of(session, user.username, sessions.ROLES_CHANGED)


def state(user: User) -> str:
    """How an account stands, in a word: active, locked or deactivated."""
    if user.deactivated_at is not None:
        return "deactivated"
    return "locked" if user.locked_at is not None else "active"
