"""Mail: what goes into the outbox, how a claimed notification becomes a mail, SMTP.

Settings come from the environment (`MailSettings.from_env`):

| variable | default | meaning |
| --- | --- | --- |
| DESKFLOW_SMTP_HOST | unset | the SMTP server; unset: each mail is a log line |
| DESKFLOW_SMTP_PORT | 587 with STARTTLS, else 25 | |
| DESKFLOW_SMTP_STARTTLS | on when a user is set | `1/true/yes/on` or `0/false/no/off` |
| DESKFLOW_SMTP_USER, DESKFLOW_SMTP_PASSWORD | unset | login after STARTTLS |
| DESKFLOW_SMTP_FROM | deskflow@deskflow.local | sender; its domain is the Message-ID's |
| DESKFLOW_NOTIFY_COALESCE_SECONDS | 120 | how long a notification waits for others to join it |
| DESKFLOW_NOTIFY_MAX_ATTEMPTS | 8 | attempts before a notification is `failed` |
| DESKFLOW_NOTIFY_RETRY_SECONDS | 60 | wait after the first failed attempt; doubles, at most 1 h |

The delivery rules (coalescing, status updates, retries, Message-IDs) are the worker's:
see `engine.worker.scheduler`.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any

from engine import clock
from engine.errors import DeskflowError
from handlers import notify
from handlers.errors import HandlerInputError

if TYPE_CHECKING:
    from engine.spiff import HandlerCall

mail_log = logging.getLogger("deskflow.mail")

SMTP_TIMEOUT = 30.0  # seconds per SMTP operation; well inside the worker's claim lease
RETRY_CAP = timedelta(hours=1)
DEFAULT_SENDER = "deskflow@deskflow.local"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class MailSettingsInvalid(DeskflowError):
    """An environment variable of the mail settings has a value that cannot be used."""


class Undeliverable(Exception):
    """This message can never be delivered as it is (no address; the server refused it
    for good): the notification is marked failed without further attempts."""


@dataclass(frozen=True)
class MailSettings:
    host: str | None = None
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = DEFAULT_SENDER
    coalesce_window: timedelta = timedelta(minutes=2)
    max_attempts: int = 8
    retry_after: timedelta = timedelta(minutes=1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> MailSettings:
        """The settings the DESKFLOW_SMTP_* and DESKFLOW_NOTIFY_* variables give."""
        user = environ.get("DESKFLOW_SMTP_USER") or None
        starttls = _flag(environ, "DESKFLOW_SMTP_STARTTLS", default=user is not None)
        return cls(
            host=environ.get("DESKFLOW_SMTP_HOST") or None,
            port=_number(environ, "DESKFLOW_SMTP_PORT", 587 if starttls else 25, minimum=1),
            starttls=starttls,
            user=user,
            password=environ.get("DESKFLOW_SMTP_PASSWORD") or None,
            sender=environ.get("DESKFLOW_SMTP_FROM") or DEFAULT_SENDER,
            coalesce_window=coalesce_window(environ),
            max_attempts=_number(environ, "DESKFLOW_NOTIFY_MAX_ATTEMPTS", 8, minimum=1),
            retry_after=timedelta(
                seconds=_number(environ, "DESKFLOW_NOTIFY_RETRY_SECONDS", 60, minimum=1)
            ),
        )

    @property
    def domain(self) -> str:
        """The sender's domain, which Message-IDs use."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "deskflow.local"

    def retry_delay(self, attempts: int) -> timedelta:
        """How long to wait after the `attempts`-th failed attempt (1, 2, ...)."""
        return min(self.retry_after * 2 ** max(attempts - 1, 0), RETRY_CAP)


def coalesce_window(environ: Mapping[str, str] = os.environ) -> timedelta:
    """How long a new notification waits for others to the same person and incident."""
    return timedelta(seconds=_number(environ, "DESKFLOW_NOTIFY_COALESCE_SECONDS", 120, minimum=0))


def message_id_for(notification_id: int, domain: str) -> str:
    """The Message-ID of the mail that first carries notification `notification_id`."""
    return f"<deskflow-notification-{notification_id}@{domain}>"


# --- into the outbox ------------------------------------------------------------------


def outbox_rows(
    calls: Iterable[HandlerCall], incident: dict[str, Any], incident_id: int, now: datetime
) -> list[dict[str, Any]]:
    """Outbox rows for the messages the handlers of one command returned.

    The text (subject, body) is the handler's; the HTML body is rendered here from the
    same template with the same incident record and note the handler had, so both parts
    say the same. Each row waits the coalescing window before it is due.
    """
    rows = []
    for call in calls:
        note = call.params.get("note")
        for message in call.notifications():
            html = _html(message, incident, note if isinstance(note, str) else None)
            rows.append(outbox_row(incident_id, message, html, now))
    return rows


def outbox_row(
    incident_id: int,
    message: Mapping[str, str],
    html: str | None,
    now: datetime,
    due: datetime | None = None,
) -> dict[str, Any]:
    """One pending outbox row for a rendered message (`handlers.notify.render`); due after
    the coalescing window unless `due` says otherwise."""
    return {
        "incident_id": incident_id,
        "recipient": message["recipient"],
        "template": message["template"],
        "subject": message["subject"],
        "body": message["body"],
        "html": html,
        "status": "pending",
        "created_at": now,
        "due_at": due or now + coalesce_window(),
        "attempts": 0,
    }


def _html(message: Mapping[str, str], incident: dict[str, Any], note: str | None) -> str | None:
    try:
        return notify.render_html(message["template"], message["recipient"], incident, note)
    except HandlerInputError:  # a template with no HTML part: the mail is text only
        return None


# --- out of the outbox ----------------------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """One mail the worker hands a transport: one notification, or a digest of several."""

    id: int  # the first notification's id
    notification_ids: tuple[int, ...]
    recipient: str  # username
    address: str | None  # from the directory; None when the user has none
    incident: str | None  # the incident number
    template: str  # the notification's template, or "digest"
    subject: str
    body: str  # plain text
    html: str | None  # complete HTML document
    message_id: str


def compose(
    parts: Sequence[Any],
    *,
    recipient: str,
    address: str | None,
    incident: Mapping[str, Any] | None,
    message_id: str,
) -> Outgoing:
    """The mail for the outbox rows `parts` (attributes id, template, subject, body,
    html) to one recipient about one incident (`{"number", "short_description"}`)."""
    number = incident.get("number") if incident else None
    if len(parts) == 1:
        [part] = parts
        template, subject, body, fragment = part.template, part.subject, part.body, part.html
    else:
        template = "digest"
        subject, body, fragment = notify.render_digest(
            recipient,
            dict(incident or {}),
            [{"subject": p.subject, "body": p.body, "html": p.html} for p in parts],
        )
    return Outgoing(
        id=parts[0].id,
        notification_ids=tuple(p.id for p in parts),
        recipient=recipient,
        address=address,
        incident=number,
        template=template,
        subject=subject,
        body=body,
        html=notify.html_document(subject, fragment, number) if fragment else None,
        message_id=message_id,
    )


def to_email(message: Outgoing, sender: str) -> EmailMessage:
    """The RFC 5322 message: text, plus HTML as an alternative when there is one."""
    email = EmailMessage()
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(clock.now())
    email["From"] = sender
    email["To"] = message.address or message.recipient
    email["Subject"] = message.subject
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    if message.incident:
        domain = message.message_id.rstrip(">").rpartition("@")[2]
        email["References"] = f"<deskflow-incident-{message.incident}@{domain}>"  # one thread
        email["X-Deskflow-Incident"] = message.incident
    email["X-Deskflow-Notifications"] = ",".join(str(i) for i in message.notification_ids)
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


Transport = Callable[[Outgoing], None]


def log_transport(message: Outgoing) -> None:
    """Delivery until a mail server is configured: one log line per mail."""
    mail_log.info(
        "to=%s subject=%s message-id=%s", message.recipient, message.subject, message.message_id
    )


class SmtpTransport:
    """Sends mails over one SMTP connection, opened when first needed and kept until
    `close` (the worker closes it after each batch) or an error."""

    def __init__(self, settings: MailSettings) -> None:
        if not settings.host:
            raise MailSettingsInvalid("DESKFLOW_SMTP_HOST is not set: there is no server")
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __call__(self, message: Outgoing) -> None:
        if not message.address:
            raise Undeliverable(f"{message.recipient!r} has no email address in the directory")
        email = to_email(message, self.settings.sender)
        smtp = self._connection()
        try:
            smtp.send_message(
                email, from_addr=parseaddr(self.settings.sender)[1], to_addrs=[message.address]
            )
        except smtplib.SMTPRecipientsRefused as err:  # the session is still usable
            code, reply = next(iter(err.recipients.values()))
            if 500 <= code < 600:
                raise Undeliverable(
                    f"the server refused {message.address}: {code} {reply!r}"
                ) from err
            raise
        except smtplib.SMTPDataError as err:
            self.close()
            if 500 <= err.smtp_code < 600:
                raise Undeliverable(f"the server refused the message: {err.smtp_code}") from err
            raise
        except OSError:  # smtplib's errors are OSErrors too; the connection is suspect
            self.close()
            raise

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except OSError:
            smtp.close()

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.host or "", settings.port, timeout=SMTP_TIMEOUT)
            try:
                if settings.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.user:
                    smtp.login(settings.user, settings.password or "")
            except BaseException:
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp


def transport_for(settings: MailSettings) -> Transport:
    """SMTP when a host is configured, else the log line."""
    return SmtpTransport(settings) if settings.host else log_transport


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE | _FALSE:
        return value in _TRUE
    raise MailSettingsInvalid(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {raw!r}")


def _number(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise MailSettingsInvalid(
            f"{name} must be a whole number of at least {minimum}, not {raw!r}"
        )
    return value
