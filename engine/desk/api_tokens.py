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
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import clock
from engine.desk.access import Person, person
from engine.errors import DeskflowError, NotFound
from engine.store.db import Database
from engine.store.models import ApiToken, User

PREFIX = "dfk_"  # says what it is when one turns up in a log or a repository
NAME_MAX = 100
TOKEN_MAX = 200  # longer than any token we hand out: refused without hashing


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def create_token(db: Database, username: str, name: str, created_by: str) -> tuple[int, str]:
    """A new token for `username`: (its id, the token). Show the token to the admin now:
    it cannot be shown again."""
    username = username.strip().lower()
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise DeskflowError(f"name the token (what it is for) in 1 to {NAME_MAX} characters")
    plaintext = PREFIX + secrets.token_urlsafe(32)
    with db.writing() as session:
        if session.get(User, username) is None:
            raise DeskflowError(f"no user '{username}'")
        token = ApiToken(
            username=username,
            name=name,
            token_hash=_digest(plaintext),
            created_by=created_by,
            created_at=clock.now(),
        )
        session.add(token)
        session.flush()
        return token.id, plaintext


def authenticate(db: Database, plaintext: str) -> Person | None:
    """The person a token acts as, if it is a token we gave out and not revoked; None
    otherwise. Records when it was used."""
    if not plaintext.startswith(PREFIX) or len(plaintext) > TOKEN_MAX:
        return None
    with db.writing() as session:
        token = session.scalars(
            select(ApiToken).where(ApiToken.token_hash == _digest(plaintext))
        ).first()
        if token is None or token.revoked_at is not None:
            return None
        user = session.get(User, token.username)
        if user is None:
            return None
        token.last_used_at = clock.now()
        return person(session, user)


def list_tokens(session: Session, username: str | None = None) -> list[ApiToken]:
    """Every token (or `username`'s), newest first, revoked ones included."""
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if username is not None:
        query = query.where(ApiToken.username == username)
    return list(session.scalars(query))


def revoke_token(db: Database, token_id: int) -> ApiToken:
    """Revoke a token for good: requests carrying it are refused from now on. Revoking
    a revoked token changes nothing. Returns the token (who it was for, its name)."""
    with db.writing() as session:
        token = session.get(ApiToken, token_id)
        if token is None:
            raise NotFound(f"no API token {token_id}")
        if token.revoked_at is None:
            token.revoked_at = clock.now()
        return token
