"""Log-in sessions, kept on the server: a browser holds a session's secret id in its
(signed) cookie, the database holds a row per session with only the secret's SHA-256, so
a session ends when the desk says so, whatever copies of the cookie exist.

A session ends when its person logs out or ends it (from `/account`, any of theirs), when
an admin ends it (`/admin/sessions`), and with every session of the person when their
password changes (`engine.desk.accounts.set_password`; from `/account` the session that
changed it stays), when an admin locks or deactivates the account or changes its roles
(`engine.desk.account_state`). The throttle after wrong passwords does not end sessions:
it only refuses new log-ins, or anyone who knows a user name could log that person out.

It also ends by itself:

- after `DESKFLOW_SESSION_IDLE_MINUTES` (default 30) without a request: the idle limit of
  NIST SP 800-63B at AAL2 and OWASP ASVS 3.3.2 — a desk left open at lunch in an open
  office does not stay open to whoever passes by;
- `DESKFLOW_SESSION_LIFETIME_HOURS` (default 12) after the log-in, however busy: a long
  shift fits, no session lives into the next day (the same NIST bound).

When a request last came is written at most once a minute (`TOUCH_EVERY`) per session, so
a busy page does not write on every request; the idle limit is therefore exact to a
minute. Finding a session is one indexed read joined with its person.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import NotFound
from engine.store.db import Database
from engine.store.models import LoginSession, User

IDLE_DEFAULT_MINUTES = 30
LIFETIME_DEFAULT_HOURS = 12
TOUCH_EVERY = timedelta(minutes=1)
SECRET_MAX = 100  # longer than any secret we hand out: refused without hashing
ADDRESS_MAX, USER_AGENT_MAX = 64, 200

# Why a session ended (`LoginSession.end_reason`).
LOGGED_OUT = "logged out"
ENDED_BY_OWNER = "ended by its owner"
ENDED_BY_ADMIN = "ended by an admin"
PASSWORD_CHANGED = "password changed"
ACCOUNT_LOCKED = "account locked"
ACCOUNT_DEACTIVATED = "account deactivated"
ROLES_CHANGED = "roles changed"
IDLE = "idle too long"
EXPIRED = "lifetime over"


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    lifetime: timedelta


def limits() -> Limits:
    """The idle timeout and the absolute lifetime, from the environment (see the module
    docstring); ValueError naming the variable when one is not a positive whole number."""
    return Limits(
        idle=timedelta(minutes=_positive("DESKFLOW_SESSION_IDLE_MINUTES", IDLE_DEFAULT_MINUTES)),
        lifetime=timedelta(
            hours=_positive("DESKFLOW_SESSION_LIFETIME_HOURS", LIFETIME_DEFAULT_HOURS)
        ),
    )


def _positive(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number from 1 up, not {raw!r}")
    return int(raw)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Found:
    """A live session and its person, as a request needs them."""

    session_id: int
    user: User


def start(db: Database, username: str, address: str = "", user_agent: str = "") -> str:
    """A new session for `username` (who just proved who they are): its secret id, for
    the cookie. Only the secret's hash is stored."""
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    with db.writing() as session:
        session.add(
            LoginSession(
                secret_hash=_digest(secret),
                username=username,
                created_at=now,
                last_seen_at=now,
                address=address[:ADDRESS_MAX],
                user_agent=user_agent[:USER_AGENT_MAX],
            )
        )
    return secret


def find(db: Database, secret: str, active: bool = True) -> Found | None:
    """The live session whose secret id is `secret`, with its person; None when there is
    none, it ended, it was idle too long or lived too long (then it is ended), or its
    account is locked or deactivated. Notes the request (at most once a minute) when it is
    the person's own doing (`active`), not a page refreshing itself: a queue left open
    does not keep its session from going idle."""
    if not secret or len(secret) > SECRET_MAX:
        return None
    now, bounds = clock.now(), limits()
    with db.reading() as session:
        row = session.execute(
            select(LoginSession, User)
            .join(User, User.username == LoginSession.username)
            .where(LoginSession.secret_hash == _digest(secret), LoginSession.ended_at.is_(None))
        ).first()
    if row is None:
        return None
    login, user = row
    if user.locked_at is not None or user.deactivated_at is not None:
        return None  # ended with the lock; a row left over from a race is refused all the same
    over = (
        EXPIRED
        if now - login.created_at > bounds.lifetime
        else IDLE
        if now - login.last_seen_at > bounds.idle
        else None
    )
    if over is not None:
        _end_where(db, over, LoginSession.id == login.id)
        return None
    if active and now - login.last_seen_at >= TOUCH_EVERY:
        with db.writing() as session:
            session.execute(
                update(LoginSession)
                .where(LoginSession.id == login.id, LoginSession.ended_at.is_(None))
                .values(last_seen_at=now)
            )
    return Found(login.id, user)


def why_ended(db: Database, secret: str) -> str | None:
    """Why the session with secret id `secret` ended (`LoginSession.end_reason`), to tell
    the person on the log-in page; None when there is no such session or it did not end
    (its account is locked or deactivated: the log-in page says that itself)."""
    if not secret or len(secret) > SECRET_MAX:
        return None
    with db.reading() as session:
        return session.scalar(
            select(LoginSession.end_reason).where(LoginSession.secret_hash == _digest(secret))
        )


def _end_where(db: Database, reason: str, *where) -> int:
    with db.writing() as session:
        return end_in(session, reason, *where)


def end_in(session: Session, reason: str, *where) -> int:
    """End the live sessions matching `where`, in the caller's transaction; how many."""
    result = session.execute(
        update(LoginSession)
        .where(LoginSession.ended_at.is_(None), *where)
        .values(ended_at=clock.now(), end_reason=reason)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def end_all_of(session: Session, username: str, reason: str, keep: int | None = None) -> int:
    """End every live session of `username` (but `keep`'s), in the caller's transaction."""
    where = [LoginSession.username == username]
    if keep is not None:
        where.append(LoginSession.id != keep)
    return end_in(session, reason, *where)


def log_out(db: Database, session_id: int) -> None:
    """End the session its person logs out of."""
    _end_where(db, LOGGED_OUT, LoginSession.id == session_id)


def end_own(db: Database, username: str, session_id: int) -> None:
    """`username` ends one of their live sessions; NotFound when it is not one."""
    ended = _end_where(
        db, ENDED_BY_OWNER, LoginSession.id == session_id, LoginSession.username == username
    )
    if not ended:
        raise NotFound(f"you have no active session {session_id}: it may have ended already")


def end_others(db: Database, username: str, keep: int) -> int:
    """`username` ends every live session of theirs but `keep` (the one they use)."""
    with db.writing() as session:
        return end_all_of(session, username, ENDED_BY_OWNER, keep=keep)


def end_by_admin(db: Database, session_id: int) -> str:
    """An admin ends any live session; whose it was. NotFound when none is live."""
    with db.writing() as session:
        login = session.get(LoginSession, session_id)
        if login is None or login.ended_at is not None:
            raise NotFound(f"no active session {session_id}: it may have ended already")
        end_in(session, ENDED_BY_ADMIN, LoginSession.id == session_id)
        return login.username


def active(session: Session, username: str | None = None) -> list[LoginSession]:
    """The sessions not ended nor past their limits (of `username`, or everyone's),
    most recently seen first."""
    now, bounds = clock.now(), limits()
    query = (
        select(LoginSession)
        .join(User, User.username == LoginSession.username)
        .where(
            LoginSession.ended_at.is_(None),
            LoginSession.created_at >= now - bounds.lifetime,
            LoginSession.last_seen_at >= now - bounds.idle,
            User.locked_at.is_(None),
            User.deactivated_at.is_(None),
        )
        .order_by(LoginSession.last_seen_at.desc(), LoginSession.id.desc())
    )
    if username is not None:
        query = query.where(LoginSession.username == username)
    return list(session.scalars(query))


_BROWSERS = (
    ("Edge", r"Edg/(\d+)"),
    ("Firefox", r"Firefox/(\d+)"),
    ("Chromium", r"Chromium/(\d+)"),
    ("Chrome", r"Chrome/(\d+)"),
    ("Safari", r"Version/(\d+)[.\d]* .*Safari/"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("macOS", "Mac OS X"),
    ("Linux", "Linux"),
)


def browser(user_agent: str) -> str:
    """A short name for the browser a user agent string names ("Firefox 128 on Linux"),
    or the string cut short when it names none we know."""
    name = next(
        (f"{label} {m.group(1)}" for label, rx in _BROWSERS if (m := re.search(rx, user_agent))),
        None,
    )
    system = next((label for label, mark in _SYSTEMS if mark in user_agent), None)
    if name is None:
        return (user_agent[:60] + "…") if len(user_agent) > 60 else (user_agent or "unknown")
    return f"{name} on {system}" if system else name
