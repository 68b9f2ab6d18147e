"""Notifications travel by SMTP to a real server on loopback, and arrive as the rules say.

`mailbox` is an aiosmtpd server on 127.0.0.1 that keeps every message it accepts; it is
not started until a test says so, so "the server is down" is its natural state. Times
below are the frozen clock's; the coalescing window is the default two minutes.
"""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from cli.main import main
from engine.worker.mail import MailSettings
from engine.worker.outbox import CLAIM_LEASE, failed_notifications
from engine.worker.scheduler import Worker

from .desk import Desk

COALESCE = timedelta(minutes=2)


class Mailbox:
    """An SMTP server on a free loopback port; `received` is every message accepted."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.received: list[EmailMessage] = []
        self.envelopes: list[list[str]] = []
        self.refuse: set[str] = set()  # addresses answered "550 no such user"
        self._controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.envelopes.append(list(envelope.rcpt_tos))
        self.received.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides) -> MailSettings:
        return MailSettings(host="127.0.0.1", port=self.port, starttls=False, **overrides)

    def deduplicated(self) -> dict[str, EmailMessage]:
        """What a receiver that drops a Message-ID it already has would keep."""
        kept: dict[str, EmailMessage] = {}
        for message in self.received:
            kept.setdefault(message["Message-ID"], message)
        return kept

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


# These tests count mails: only the diagram's messages, not the record notices.
pytestmark = pytest.mark.usefixtures("without_record_notices")


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def later(desk: Desk, worker: Worker, **delta):
    """Move the clock, then one worker sweep (timers, then the outbox)."""
    desk.clock.advance(timedelta(**delta))
    return worker.sweep()


def statuses(desk: Desk, number: str) -> list[tuple[str, str, str]]:
    return [(n.template, n.recipient, n.status) for n in desk.notifications(number)]


def subject(message: EmailMessage) -> str:
    # Python folds a long Subject onto the next line whole; the parsed value keeps the
    # folding space (valid RFC 5322, and mail clients drop it too).
    return message["Subject"].strip()


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_a_major_incident_tells_each_person_once_in_as_few_mails_as_possible(desk, mailbox):
    mailbox.start()
    worker = Worker(desk.runtime, settings=mailbox.settings())
    # Victor is a stakeholder and, here, the caller: he hears of the major incident and
    # gets the status updates.
    number = desk.report(impact="high", urgency="high", caller="victor")
    desk.categorize(number)  # 09:00 P1: claire, victor and morgan are told
    assert later(desk, worker, minutes=1).delivered == 0  # 09:01, within the window
    assert mailbox.received == []
    desk.say(number, "user_reply", {"message": "Still down for the whole floor"})
    desk.clock.advance(timedelta(seconds=30))
    desk.say(number, "user_reply", {"message": "Now the phones too"})  # 09:01:30
    assert later(desk, worker, minutes=1).delivered == 3  # 09:02:30: the major incident
    assert sorted(m["To"] for m in mailbox.received) == [
        "claire@example.com",
        "morgan@example.com",
        "victor@example.com",
    ]
    assert all(subject(m).startswith(f"Major incident {number}") for m in mailbox.received)
    # 09:03: both replies reach each of the service desk in one digest
    assert later(desk, worker, seconds=30).delivered == 6
    for person in ("sam", "tina", "tom"):
        [digest] = mailbox.to(f"{person}@example.com")
        assert subject(digest).startswith(f"2 messages about {number}")
        text, html = text_and_html(digest)
        assert text.count(f"victor replied on {number}") == 2
        assert html.count(f"victor replied on {number}") == 2
        assert digest["X-Deskflow-Incident"] == number
    # 09:32: the first status update (timers fire once due time has passed) is not sent:
    # victor heard of the major incident since the incident began
    later(desk, worker, minutes=29)
    later(desk, worker, minutes=3)
    assert len(mailbox.to("victor@example.com")) == 1
    # about 10:05: the second one is: nothing else reached him since the last one
    later(desk, worker, minutes=30)
    later(desk, worker, minutes=3)
    victor = mailbox.to("victor@example.com")
    assert [subject(m) for m in victor][-1] == f"Update on your incident {number}"
    assert len(mailbox.received) == 3 + 3 + 1
    assert len(mailbox.deduplicated()) == len(mailbox.received)  # no Message-ID twice
    rows = desk.notifications(number)
    assert sorted({row.status for row in rows}) == ["delivered", "suppressed"]
    [suppressed] = [row for row in rows if row.status == "suppressed"]
    major_to_victor = next(
        r.id for r in rows if (r.template, r.recipient) == ("major_incident", "victor")
    )
    assert (suppressed.template, suppressed.suppressed_by) == ("status_update", major_to_victor)


def test_mail_has_a_text_part_and_an_escaped_html_part(desk, mailbox):
    mailbox.start()
    worker = Worker(desk.runtime, settings=mailbox.settings())
    number = desk.report(short_description="Portal shows <script>alert(1)</script> & more")
    desk.categorize(number)
    desk.resolve_first_line(number)
    later(desk, worker, minutes=2)
    [mail] = mailbox.received
    assert mail["Message-ID"].startswith("<deskflow-notification-")
    assert mail["Auto-Submitted"] == "auto-generated"
    text, html = text_and_html(mail)
    assert "<script>alert(1)</script> & more" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "<script>" not in html
    assert "Please confirm that the problem is fixed" in html


def test_a_server_that_is_down_is_retried_with_backoff_until_it_answers(desk, mailbox):
    worker = Worker(desk.runtime, settings=mailbox.settings())  # nothing listens yet
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)  # 09:00: "resolved" to alice
    sweep = later(desk, worker, minutes=2)
    [problem] = sweep.failures
    assert "notification" in problem and "(resolved to alice" in problem
    assert "attempt 1 of 8 failed, next at 2026-01-05 09:03:00 UTC" in problem
    [row] = desk.notifications(number)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "Connection" in row.last_error and row.due_at == desk.clock.now() + timedelta(minutes=1)
    assert later(desk, worker, seconds=59).failures == []  # not due yet
    assert (
        "attempt 2 of 8 failed, next at 2026-01-05 09:05:00"
        in later(desk, worker, seconds=1).failures[0]
    )
    mailbox.start()
    assert later(desk, worker, seconds=119).delivered == 0
    assert later(desk, worker, seconds=1).delivered == 1
    [mail] = mailbox.received
    assert subject(mail) == f"Your incident {number} has been resolved"
    [row] = desk.notifications(number)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)
    assert row.message_id == mail["Message-ID"]


class WorkerKilled(BaseException):
    """The worker process dies: nothing after this line of it runs."""


def test_a_mail_sent_again_after_a_crash_has_the_same_message_id(desk, mailbox, monkeypatch):
    mailbox.start()
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.clock.advance(COALESCE)
    doomed = Worker(desk.runtime, settings=mailbox.settings())

    def killed(*_args, **_values):  # the server took the mail; recording it never happens
        raise WorkerKilled

    monkeypatch.setattr(doomed.outbox, "_settle", killed)
    with pytest.raises(WorkerKilled):
        doomed.deliver()
    assert len(mailbox.received) == 1
    [row] = desk.notifications(number)
    assert (row.status, row.attempts) == ("pending", 1)  # claimed, not known to be sent

    # Another worker leaves the claim alone until its lease ends, then sends again.
    survivor = Worker(desk.runtime, settings=mailbox.settings())
    assert survivor.deliver_notifications() == 0
    desk.clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    assert survivor.deliver_notifications() == 1
    first, second = mailbox.received
    assert first["Message-ID"] == second["Message-ID"] == row.message_id
    assert text_and_html(first) == text_and_html(second)
    # At least once on the wire; once for a receiver that drops a Message-ID it has
    # (a receiver that does not would show the duplicate: that is the limit).
    assert list(mailbox.deduplicated()) == [row.message_id]
    [row] = desk.notifications(number)
    assert (row.status, row.attempts) == ("delivered", 2)


def test_a_mail_that_never_goes_through_ends_failed_and_is_reported(desk, mailbox, db):
    worker = Worker(desk.runtime, settings=mailbox.settings(max_attempts=3))  # server down
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.clock.advance(COALESCE)
    reports = []
    for wait in (timedelta(0), timedelta(minutes=1), timedelta(minutes=2)):
        desk.clock.advance(wait)
        reports.append(worker.sweep().failures)
    assert [len(r) for r in reports] == [1, 1, 1]
    assert (
        "will not be retried: gave up after 3 attempt(s): ConnectionRefusedError"
        in (reports[-1][0])
    )
    [row] = desk.notifications(number)
    assert (row.status, row.attempts, row.failed_at) == ("failed", 3, desk.clock.now())
    desk.clock.advance(timedelta(hours=5))
    assert worker.sweep().failures == []  # given up: never tried again
    [failed] = failed_notifications(db)
    assert (failed.id, failed.incident, failed.recipient, failed.template) == (
        row.id,
        number,
        "alice",
        "resolved",
    )
    assert failed.attempts == 3 and "ConnectionRefusedError" in failed.last_error


def test_a_recipient_the_server_refuses_for_good_is_failed_at_once(desk, mailbox):
    mailbox.refuse = {"alice@example.com"}
    mailbox.start()
    worker = Worker(desk.runtime, settings=mailbox.settings())
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    [problem] = later(desk, worker, minutes=2).failures
    assert "undeliverable: the server refused alice@example.com: 550" in problem
    [row] = desk.notifications(number)
    assert (row.status, row.attempts) == ("failed", 1)
    assert mailbox.received == []


def test_worker_once_prints_a_mail_it_gave_up_on(desk, mailbox, db):
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.clock.advance(COALESCE)
    env = {
        "DESKFLOW_SMTP_HOST": "127.0.0.1",
        "DESKFLOW_SMTP_PORT": str(mailbox.port),  # nothing listens there
        "DESKFLOW_NOTIFY_MAX_ATTEMPTS": "1",
    }
    result = CliRunner(env=env).invoke(
        main, ["--database", db.url, "worker", "--once"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "delivered 0 notification(s)" in result.output
    [line] = [line for line in result.output.splitlines() if "failed:" in line]
    assert f"(resolved to alice, {number}): failed, will not be retried" in line


def test_a_status_update_superseded_by_a_newer_one_is_not_sent(desk):
    sent = []
    worker = Worker(desk.runtime, transport=sent.append)
    number = desk.report(impact="high", urgency="medium")  # P2: status update every hour
    desk.categorize(number)
    for _ in range(2):  # the outbox is stuck for two hours; timers still fire
        desk.clock.advance(timedelta(hours=1, minutes=1))
        worker.fire_timers()
    desk.clock.advance(COALESCE)
    assert worker.deliver().suppressed == 1
    assert [mail.template for mail in sent] == ["status_update"]
    assert statuses(desk, number) == [
        ("status_update", "alice", "suppressed"),
        ("status_update", "alice", "delivered"),
    ]


def test_a_status_update_after_other_news_in_its_interval_is_not_sent(desk):
    sent = []
    worker = Worker(desk.runtime, transport=sent.append)
    number = desk.report(impact="high", urgency="medium")  # P2: status update every hour
    desk.categorize(number)  # 09:00
    later(desk, worker, hours=1, minutes=1)  # 10:01 status update (due 10:00)
    later(desk, worker, minutes=2)  # 10:03 sent
    desk.clock.advance(timedelta(minutes=27))
    desk.resolve_first_line(number)  # 10:30 "resolved" to alice
    later(desk, worker, minutes=2)
    desk.clock.advance(timedelta(minutes=8))
    desk.say(number, "reopen", {"reason": "Still broken"})  # 10:40: the status clock restarts
    later(desk, worker, hours=1, minutes=1)  # 11:41: alice heard "resolved" since 10:01
    later(desk, worker, minutes=2)
    later(desk, worker, hours=1)  # 12:43: nothing else since 11:41
    later(desk, worker, minutes=2)
    assert [mail.template for mail in sent] == ["status_update", "resolved", "status_update"]
    assert statuses(desk, number) == [
        ("status_update", "alice", "delivered"),
        ("resolved", "alice", "delivered"),
        ("status_update", "alice", "suppressed"),
        ("status_update", "alice", "delivered"),
    ]


def test_a_retried_digest_keeps_its_members_and_news_waits_for_a_mail_of_its_own(desk):
    busy = {"sam"}
    sent = []

    def flaky(mail):
        if mail.recipient in busy:
            busy.discard(mail.recipient)
            raise OSError("451 try again later")
        sent.append(mail)

    worker = Worker(desk.runtime, transport=flaky)
    number = desk.report(impact="high", urgency="high")
    desk.categorize(number)
    desk.say(number, "user_reply", {"message": "one"})
    desk.say(number, "user_reply", {"message": "two"})
    assert later(desk, worker, minutes=2).failures  # 09:02: sam's digest fails
    desk.say(number, "user_reply", {"message": "three"})
    later(desk, worker, minutes=1)  # 09:03: the same digest again, "three" not in it
    later(desk, worker, minutes=1)  # 09:04: "three" in a mail of its own
    to_sam = [mail for mail in sent if mail.recipient == "sam"]
    assert [len(mail.notification_ids) for mail in to_sam] == [2, 1]
    first_id = min(to_sam[0].notification_ids)
    assert to_sam[0].message_id == f"<deskflow-notification-{first_id}@deskflow.local>"
    assert to_sam[1].message_id != to_sam[0].message_id
