"""One report form, one incident: a form (or an API call with an `Idempotency-Key`) sent
again — a double click, Back and send once more, a client retrying after a timeout —
finds the incident the first one opened instead of opening another.

A submission's key is the person's name and the key the form or the call carried (the
portal's and the desk's report forms carry a random one, made when the form is shown). The
command that opens the incident claims the key first, in its own transaction: a second
command with the same key waits on the row (PostgreSQL's unique index) or on the database
(SQLite) and then finds it taken, so exactly one incident is opened however the two race.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import DeskflowError
from engine.store.db import Database
from engine.store.models import Submission

KEY = re.compile(r"[\x21-\x7e]{8,200}")  # printable ASCII, no spaces


def scoped(actor: str, sent: str) -> str:
    """The key of `actor`'s submission `sent`; DeskflowError when `sent` is not a key."""
    if not KEY.fullmatch(sent):
        raise DeskflowError(
            "a submission key (Idempotency-Key) is 8 to 200 printable ASCII characters, "
            "without spaces"
        )
    return f"{actor} {sent}"


def opened_by(db: Database, key: str) -> str | None:
    """The number of the incident the submission `key` opened, if it did."""
    with db.reading() as session:
        return session.scalar(select(Submission.incident_number).where(Submission.key == key))


def claim(session: Session, key: str, now: datetime) -> None:
    """Take `key` for the incident this transaction opens (flushed at once, so a command
    racing with the same key waits here, not at the end of its work)."""
    session.add(Submission(key=key, incident_number=None, created_at=now))
    session.flush()


def fulfil(session: Session, key: str, number: str) -> None:
    """Note the number of the incident the submission `key` opened."""
    row = session.get(Submission, key)
    assert row is not None  # claimed in this transaction
    row.incident_number = number
