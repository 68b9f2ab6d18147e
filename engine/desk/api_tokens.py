"""API tokens: how a program acts as a person on the JSON API (`/api/`).

An admin creates a token for a user (`deskflow token create`, or `/admin/tokens`); the
program sends it as `Authorization: Bearer dfk_...` and may then do what that user may
do. The token is shown once, when it is created: only its SHA-256 is stored, so a copy
of the database gives nobody a working token.

A plain, fast hash is the right one here, unlike for passwords (scrypt, see
`engine.desk.accounts`): a token is 32 random bytes, far beyond any guessing, so slowing each
guess down buys nothing, while every API request pays for the hash. For the same reason
a token is found by looking its hash up (an index on `token_hash`) rather than by a
constant-time comparison: the lookup's timing could at most betray part of a stored
hash, and a hash does not lead back to its token.

A token expires: the admin gives it 1 to `MAX_DAYS` days (`DEFAULT_DAYS` unless they
choose), so a forgotten token does not work forever. Its scope is `read` — only GET and
HEAD on `/api/` (the API refuses anything else with 403) — or `write`, all its owner may
do; `read` unless the admin asks for more (least privilege). A token is refused once
expired or revoked, and at once when its owner is locked or deactivated; the lock and
the deactivation also revoke the owner's tokens for good, with the reason
(`engine.desk.account_state`), so unlocking does not bring them back.

A password change leaves tokens alone: a token is a credential of its own, held by a
program and not derived from the password, and a person who changes a password (often
just because it is time to) should not break the programs that act for them. A token
that may have leaked is revoked explicitly (`deskflow token revoke`, `/admin/tokens`),
as is a password that may have leaked changed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine import clock
from engine.desk.access import Person, person
from engine.errors import DeskflowError, NotFound
from engine.store.db import Database
from engine.store.models import ApiToken, User

PREFIX = "dfk_"  # says what it is when one turns up in a log or a repository
NAME_MAX = 100
TOKEN_MAX = 200  # longer than any token we hand out: refused without hashing
DEFAULT_DAYS, MAX_DAYS = 90, 365
SCOPES = ("read", "write")
READ_METHODS = frozenset({"GET", "HEAD"})
REASON_MAX = 200
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often
# Why a token was revoked (`ApiToken.revoke_reason`), besides an admin's own words.
OWNER_LOCKED = "its owner's account was locked"
OWNER_DEACTIVATED = "its owner's account was deactivated"


class TokenRefused(DeskflowError):
    """A bearer token that opens nothing: unknown, revoked, expired, or its owner's
    account is locked or deactivated. The message says which."""


@dataclass(frozen=True)
class Bearer:
    """Who a token acts as, and whether it may change anything."""

    person: Person
    scope: str

    @property
    def read_only(self) -> bool:
        return self.scope == "read"


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(
    db: Database,
    username: str,
    name: str,
    created_by: str,
    *,
    scope: str = "read",
    days: int = DEFAULT_DAYS,
) -> tuple[int, str]:
    """A new token for `username`, of `scope` ("read" or "write"), valid for `days` (1 to
    MAX_DAYS): (its id, the token). Show the token to the admin now: it cannot be shown
    again. A locked or deactivated account gets none."""
    username = username.strip().lower()
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise DeskflowError(f"name the token (what it is for) in 1 to {NAME_MAX} characters")
    if scope not in SCOPES:
        raise DeskflowError(f"a token's scope is read or write, not {scope!r}")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise DeskflowError(f"a token lasts 1 to {MAX_DAYS} days, not {days!r}")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    with db.writing() as session:
        user = session.get(User, username)
        if user is None:
            raise DeskflowError(f"no user '{username}'")
        if user.locked_at is not None or user.deactivated_at is not None:
            raise DeskflowError(f"the account '{username}' is locked or deactivated: no token")
        now = clock.now()
        token = ApiToken(
            username=username,
            name=name,
            token_hash=_digest(plaintext),
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=days),
            scope=scope,
        )
        session.add(token)
        session.flush()
        return token.id, plaintext


def authenticate(db: Database, plaintext: str) -> Bearer:
    """Who a token acts as, and with which scope, if it is a token we gave out, neither
    revoked nor expired, of an account neither locked nor deactivated; TokenRefused saying
    which otherwise. Notes when it was used (at most once a minute)."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > TOKEN_MAX:
        raise TokenRefused("this is not an API token of this desk")
    now = clock.now()
    with db.reading() as session:
        row = session.execute(
            select(ApiToken, User)
            .join(User, User.username == ApiToken.username)
            .where(ApiToken.token_hash == _digest(plaintext))
        ).first()
        if row is None:
            raise TokenRefused("this API token is not valid: unknown")
        token, user = row
        if token.revoked_at is not None:
            why = f": {token.revoke_reason}" if token.revoke_reason else ""
            raise TokenRefused(f"this API token was revoked{why}; ask an admin for a new one")
        if user.locked_at is not None or user.deactivated_at is not None:
            raise TokenRefused("the owner of this API token is locked or deactivated")
        if token.expires_at <= now:
            raise TokenRefused(
                f"this API token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC; "
                "ask an admin for a new one"
            )
        who = person(session, user)
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        with db.writing() as session:
            session.execute(
                update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
            )
    return Bearer(who, token.scope)


def list_tokens(session: Session, username: str | None = None) -> list[ApiToken]:
    """Every token (or `username`'s), newest first, revoked ones included."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if username is not None:
        query = query.where(ApiToken.username == username)
    return list(session.scalars(query))


def revoke_token(db: Database, token_id: int, reason: str = "revoked by an admin") -> ApiToken:
    """Revoke a token for good, for `reason`: requests carrying it are refused from now
    on. Revoking a revoked token changes nothing. Returns the token (who it was for, its
    name)."""
    with db.writing() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"no API token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = clock.now()
            token.revoke_reason = reason.strip()[:REASON_MAX] or None
        return token


def revoke_all_of(session: Session, username: str, reason: str) -> int:
    """Revoke every live token of `username`, for `reason`, in the caller's transaction;
    how many."""
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.username == username, ApiToken.revoked_at.is_(None))
        .values(revoked_at=clock.now(), revoke_reason=reason)
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


def state(token: ApiToken) -> str:
    """A token's state in a word: revoked, expired or active."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= clock.now() else "active"
