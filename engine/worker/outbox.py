"""The notification outbox, delivered: claimed for a lease, sent outside any transaction,
each mail's outcome recorded as soon as it is known. The worker (`engine.worker.scheduler`)
runs it each sweep.

How the outbox is delivered (`Outbox.deliver`); every time is `engine.clock`'s:

- **Coalescing.** A notification is written due one coalescing window after the command
  (`DESKFLOW_NOTIFY_COALESCE_SECONDS`, default 120 s). When the oldest waiting
  notification for a recipient about an incident is due, every notification waiting for
  that recipient and incident goes with it, in one mail: the notification itself when it
  is alone, else a digest listing each. The first of a burst waits at most one window.
- **Status updates.** When it is first claimed, a `status_update` to a recipient about
  an incident is marked `suppressed` (not sent; `suppressed_by` names the notification
  that made it redundant) if a newer status update to them about the incident is
  waiting, or if another notification to them about the incident, written in this one's
  status interval, was delivered or is waiting. The status interval runs from the
  previous status update to them about the incident (by written time, exclusive; with no
  previous one, from the start) until now.
- **Retries.** Each claim counts an attempt. A failed attempt stores `last_error` and
  moves `due_at` (the next attempt time) by `DESKFLOW_NOTIFY_RETRY_SECONDS` (60 s),
  doubled after each further failure, at most 1 h. After `DESKFLOW_NOTIFY_MAX_ATTEMPTS`
  (8, about two hours) attempts, or at once when the server refuses the message for good
  (5xx) or the recipient has no address, the notification is `failed` (`failed_at`): the
  sweep reports it and `failed_notifications` lists it.
- **Once.** A mail's Message-ID, `<deskflow-notification-{first id}@{sender domain}>`, is
  fixed on its notifications when they are first claimed (`message_id`), and a retry
  sends the same notifications again under the same Message-ID: a digest never gains
  members. Sending and recording cannot be one transaction, so delivery is at least
  once: a worker that dies after the server accepted a mail and before the `delivered`
  mark commits leaves the claim to expire (`CLAIM_LEASE`), and the mail is sent again,
  identical Message-ID included. Receivers that drop a Message-ID they already have
  (mail stores, list servers, our tests) make that effectively once; a receiver that does
  not shows the duplicate. A worker stops sending from a batch when half its lease is
  gone, so a slow server does not let another worker claim what it is still sending.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, or_, select, tuple_, update

from engine import clock
from engine.errors import describe
from engine.store.db import Database
from engine.store.models import Incident, Notification, User
from engine.worker.mail import (
    MailSettings,
    Outgoing,
    Transport,
    Undeliverable,
    compose,
    message_id_for,
    transport_for,
)

log = logging.getLogger("deskflow.worker")

CLAIM_LEASE = timedelta(minutes=2)
BATCH = 200
STATUS_UPDATE = "status_update"

_UNCLAIMED = (Notification.status == "pending") & (
    Notification.claimed_until.is_(None) | (Notification.claimed_until < bindparam("now"))
)
_PENDING = (
    select(
        Notification.id, Notification.incident_id, Notification.recipient, Notification.message_id
    )
    .where(_UNCLAIMED, Notification.due_at <= bindparam("now"))
    .order_by(Notification.due_at)
)
_PARTS = (
    Notification.id,
    Notification.incident_id,
    Notification.recipient,
    Notification.template,
    Notification.subject,
    Notification.body,
    Notification.html,
    Notification.message_id,
    Notification.attempts,
)


@dataclass
class Delivery:
    """What one pass over the outbox did."""

    delivered: int = 0  # notifications delivered; a digest counts each it lists
    mails: int = 0  # mails the transport accepted
    suppressed: int = 0
    retrying: int = 0
    failed: int = 0
    problems: list[str] = field(default_factory=list)  # one line per failed attempt


@dataclass(frozen=True)
class FailedNotification:
    id: int
    incident: str | None
    recipient: str
    template: str
    attempts: int
    failed_at: datetime | None
    last_error: str | None


@dataclass
class _Claimed:
    message: Outgoing
    attempts: int


class Outbox:
    """Delivers due notifications through `transport` (default: SMTP when
    DESKFLOW_SMTP_HOST is set, else a log line); `settings` default to the environment's
    (`MailSettings.from_env`)."""

    def __init__(
        self,
        db: Database,
        transport: Transport | None = None,
        settings: MailSettings | None = None,
    ) -> None:
        self.db = db
        self.settings = settings or MailSettings.from_env()
        self.transport = transport or transport_for(self.settings)

    def deliver(self, limit: int = BATCH) -> Delivery:
        """Claim due notifications for a lease, send them outside any transaction, and
        record each mail's outcome as soon as it is known (the module docstring says how)."""
        report = Delivery()
        now = clock.now()
        with self.db.engine.connect() as connection:  # the usual case, nothing to do
            if connection.execute(_PENDING.limit(1), {"now": now}).first() is None:
                return report
        claimed = self._claim(now, limit, report)
        send_by = now + CLAIM_LEASE / 2
        try:
            for index, mail in enumerate(claimed):
                if clock.now() >= send_by:  # the rest goes in the next sweep, still unsent
                    self._release(claimed[index:])
                    break
                self._send(mail, report)
        finally:
            close = getattr(self.transport, "close", None)
            if close is not None:
                close()
        return report

    # --- step by step -----------------------------------------------------------------

    def _claim(self, now: datetime, limit: int, report: Delivery) -> list[_Claimed]:
        """One transaction: lock the due rows and what joins them, suppress redundant
        status updates, claim the rest mail by mail; returns the mails to send."""
        with self.db.writing() as session:
            connection = session.connection()
            due = connection.execute(
                _PENDING.limit(limit).with_for_update(skip_locked=True), {"now": now}
            ).all()
            if not due:
                return []
            rows = connection.execute(
                _joining(due).with_for_update(skip_locked=True), {"now": now}
            ).all()
            groups: dict[tuple[Any, ...], list[Any]] = {}
            for row in rows:
                groups.setdefault(_mail_key(row), []).append(row)
            suppressed: dict[int, int] = {}
            for key, parts in groups.items():
                if key[0] == "new":
                    suppressed.update(_redundant_status_updates(connection, parts))
            if suppressed:
                connection.execute(
                    update(Notification)
                    .where(Notification.id == bindparam("row_id"))
                    .values(status="suppressed", suppressed_by=bindparam("by")),
                    [{"row_id": row_id, "by": by} for row_id, by in suppressed.items()],
                )
                report.suppressed += len(suppressed)
            mails = []
            for parts in groups.values():
                kept = [part for part in parts if part.id not in suppressed]
                if kept:
                    mid = kept[0].message_id or message_id_for(kept[0].id, self.settings.domain)
                    mails.append((mid, kept))
            if not mails:
                return []
            connection.execute(
                update(Notification)
                .where(Notification.id == bindparam("row_id"))
                .values(
                    claimed_until=now + CLAIM_LEASE,
                    attempts=Notification.attempts + 1,
                    message_id=bindparam("mid"),
                ),
                [{"row_id": part.id, "mid": mid} for mid, kept in mails for part in kept],
            )
            incidents = _incidents(connection, {kept[0].incident_id for _, kept in mails})
            addresses = _addresses(connection, {kept[0].recipient for _, kept in mails})
        claimed = []
        for mid, kept in mails:
            try:
                message = compose(
                    kept,
                    recipient=kept[0].recipient,
                    address=addresses.get(kept[0].recipient),
                    incident=incidents.get(kept[0].incident_id),
                    message_id=mid,
                )
            except Exception as err:  # one mail that cannot be written never blocks the others
                self._unwritable([part.id for part in kept], describe(err), report)
                continue
            claimed.append(_Claimed(message, attempts=max(part.attempts for part in kept) + 1))
        return claimed

    def _unwritable(self, ids: list[int], error: str, report: Delivery) -> None:
        with self.db.writing() as session:
            session.connection().execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(
                    status="failed",
                    failed_at=clock.now(),
                    claimed_until=None,
                    last_error=f"could not be written: {error}",
                )
            )
        report.failed += 1
        problem = f"notifications {', '.join(map(str, ids))}: could not be written: {error}"
        report.problems.append(problem)
        log.error("%s", problem)

    def _send(self, mail: _Claimed, report: Delivery) -> None:
        message = mail.message
        try:
            self.transport(message)
        except Undeliverable as err:
            self._failed(mail, f"undeliverable: {err}", report)
            return
        except Exception as err:  # the server is down, refused for now, timed out, ...
            error = f"{type(err).__name__}: {err}"
            if mail.attempts >= self.settings.max_attempts:
                self._failed(mail, f"gave up after {mail.attempts} attempt(s): {error}", report)
            else:
                self._retry_later(mail, error, report)
            return
        self._settle(
            mail, status="delivered", delivered_at=clock.now(), claimed_until=None, last_error=None
        )
        report.delivered += len(message.notification_ids)
        report.mails += 1

    def _retry_later(self, mail: _Claimed, error: str, report: Delivery) -> None:
        due = clock.now() + self.settings.retry_delay(mail.attempts)
        self._settle(mail, due_at=due, claimed_until=None, last_error=error)
        report.retrying += 1
        problem = (
            f"{_label(mail.message)}: attempt {mail.attempts} of {self.settings.max_attempts} "
            f"failed, next at {due:%Y-%m-%d %H:%M:%S} UTC: {error}"
        )
        report.problems.append(problem)
        log.warning("%s", problem)

    def _failed(self, mail: _Claimed, error: str, report: Delivery) -> None:
        self._settle(
            mail, status="failed", failed_at=clock.now(), claimed_until=None, last_error=error
        )
        report.failed += 1
        problem = f"{_label(mail.message)}: failed, will not be retried: {error}"
        report.problems.append(problem)
        log.error("%s", problem)

    def _settle(self, mail: _Claimed, **values: Any) -> None:
        """Record what became of a mail's notifications (its own short transaction)."""
        with self.db.writing() as session:
            session.connection().execute(
                update(Notification)
                .where(Notification.id.in_(mail.message.notification_ids))
                .where(Notification.status == "pending")
                .values(**values)
            )

    def _release(self, unsent: list[_Claimed]) -> None:
        """Give back claims that were not tried: no attempt was made."""
        ids = [i for mail in unsent for i in mail.message.notification_ids]
        with self.db.writing() as session:
            session.connection().execute(
                update(Notification)
                .where(Notification.id.in_(ids))
                .values(claimed_until=None, attempts=Notification.attempts - 1)
            )


def failed_notifications(db: Database, limit: int = 100) -> list[FailedNotification]:
    """Notifications given up on, newest first, with the incident number and last error."""
    with db.reading() as session:
        rows = session.execute(
            select(
                Notification.id,
                Incident.number,
                Notification.recipient,
                Notification.template,
                Notification.attempts,
                Notification.failed_at,
                Notification.last_error,
            )
            .outerjoin(Incident, Incident.id == Notification.incident_id)
            .where(Notification.status == "failed")
            .order_by(Notification.failed_at.desc(), Notification.id.desc())
            .limit(limit)
        ).all()
    return [FailedNotification(*row) for row in rows]


def _joining(due: Sequence[Any]) -> Select:
    """The pending rows that go out with the due ones: their retries' fellow members, and
    whatever else waits, unclaimed, for the same recipient and incident."""
    pairs = {(r.incident_id, r.recipient) for r in due if not r.message_id and r.incident_id}
    mids = {r.message_id for r in due if r.message_id}
    joins: list[ColumnElement[bool]] = [Notification.id.in_([r.id for r in due])]
    if pairs:
        joins.append(
            and_(
                Notification.message_id.is_(None),
                tuple_(Notification.incident_id, Notification.recipient).in_(sorted(pairs)),
            )
        )
    if mids:
        joins.append(Notification.message_id.in_(sorted(mids)))
    return select(*_PARTS).where(_UNCLAIMED, or_(*joins)).order_by(Notification.id)


def _mail_key(row: Any) -> tuple[Any, ...]:
    """Rows with one key go out as one mail."""
    if row.message_id:
        return ("retry", row.message_id)  # a mail tried before keeps exactly its members
    if row.incident_id is None:
        return ("alone", row.id)
    return ("new", row.incident_id, row.recipient)


def _redundant_status_updates(connection, parts: list[Any]) -> dict[int, int]:
    """{status update id: id of the notification that makes it redundant} (see above)."""
    updates = [part for part in parts if part.template == STATUS_UPDATE]
    if not updates:
        return {}
    newest = updates[-1]
    redundant = {part.id: newest.id for part in updates[:-1]}
    mine = (Notification.incident_id == newest.incident_id) & (
        Notification.recipient == newest.recipient
    )
    since = connection.execute(
        select(func.max(Notification.created_at)).where(
            mine, Notification.template == STATUS_UPDATE, Notification.id < newest.id
        )
    ).scalar()
    heard = (
        select(Notification.id)
        .where(mine, Notification.template != STATUS_UPDATE)
        .where(Notification.status.in_(("pending", "delivered")))
        .order_by(Notification.id)
        .limit(1)
    )
    if since is not None:
        heard = heard.where(Notification.created_at > since)
    other = connection.execute(heard).scalar()
    if other is not None:
        redundant[newest.id] = other
    return redundant


def _incidents(connection, ids: set[int | None]) -> dict[int, dict[str, Any]]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = connection.execute(
        select(Incident.id, Incident.number, Incident.short_description).where(
            Incident.id.in_(wanted)
        )
    )
    return {
        row.id: {"number": row.number, "short_description": row.short_description} for row in rows
    }


def _addresses(connection, usernames: set[str]) -> dict[str, str]:
    """Recipient -> email address from the directory; a recipient that is an address
    already stands for itself."""
    found = dict(
        connection.execute(
            select(User.username, User.email).where(User.username.in_(sorted(usernames)))
        ).all()
    )
    for name in usernames:
        if name not in found and "@" in name:
            found[name] = name
    return {name: address for name, address in found.items() if address}


def _label(message: Outgoing) -> str:
    ids = ", ".join(str(i) for i in message.notification_ids)
    noun = "notification" if len(message.notification_ids) == 1 else "notifications"
    about = f", {message.incident}" if message.incident else ""
    return f"{noun} {ids} ({message.template} to {message.recipient}{about})"
