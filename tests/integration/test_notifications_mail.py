"""Mail settings from the environment, the backoff, and the mail a notification becomes.

No database here: these are the pieces `engine.worker.mail` gives the worker.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from engine.worker.mail import (
    MailSettings,
    MailSettingsInvalid,
    SmtpTransport,
    Undeliverable,
    coalesce_window,
    compose,
    log_transport,
    message_id_for,
    to_email,
    transport_for,
)

INCIDENT = {"number": "INC0000042", "short_description": "VPN <drops>"}


def part(id, template="user_reply", html="<p>reply</p>"):
    return SimpleNamespace(
        id=id, template=template, subject=f"subject {id}", body=f"body {id}\n", html=html
    )


def test_without_a_host_mail_is_a_log_line():
    settings = MailSettings.from_env({})
    assert settings.host is None and transport_for(settings) is log_transport
    assert (settings.port, settings.starttls, settings.sender) == (
        25,
        False,
        "deskflow@deskflow.local",
    )
    assert settings.coalesce_window == timedelta(minutes=2)


def test_smtp_settings_come_from_the_environment():
    settings = MailSettings.from_env(
        {
            "DESKFLOW_SMTP_HOST": "mail.example.com",
            "DESKFLOW_SMTP_USER": "deskflow",
            "DESKFLOW_SMTP_PASSWORD": "s3cret",
            "DESKFLOW_SMTP_FROM": "Service Desk <desk@example.com>",
            "DESKFLOW_NOTIFY_COALESCE_SECONDS": "0",
            "DESKFLOW_NOTIFY_MAX_ATTEMPTS": "3",
        }
    )
    assert isinstance(transport_for(settings), SmtpTransport)
    assert (settings.port, settings.starttls) == (587, True)  # a login goes over TLS
    assert settings.domain == "example.com"
    assert settings.coalesce_window == timedelta(0) and settings.max_attempts == 3
    assert "s3cret" not in repr(settings)
    plain = MailSettings.from_env(
        {
            "DESKFLOW_SMTP_HOST": "relay",
            "DESKFLOW_SMTP_STARTTLS": "no",
            "DESKFLOW_SMTP_PORT": "2525",
        }
    )
    assert (plain.port, plain.starttls) == (2525, False)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DESKFLOW_SMTP_PORT", "smtp", "DESKFLOW_SMTP_PORT must be a whole number of at least 1"),
        ("DESKFLOW_SMTP_STARTTLS", "maybe", "DESKFLOW_SMTP_STARTTLS must be one of 1/true"),
        ("DESKFLOW_NOTIFY_COALESCE_SECONDS", "-5", "at least 0, not '-5'"),
        ("DESKFLOW_NOTIFY_MAX_ATTEMPTS", "0", "at least 1, not '0'"),
    ],
)
def test_a_bad_setting_says_which_and_what_is_expected(name, value, says):
    with pytest.raises(MailSettingsInvalid, match=says):
        MailSettings.from_env({"DESKFLOW_SMTP_HOST": "relay", name: value})


def test_the_coalescing_window_is_read_where_notifications_are_written():
    assert coalesce_window({}) == timedelta(minutes=2)
    assert coalesce_window({"DESKFLOW_NOTIFY_COALESCE_SECONDS": "30"}) == timedelta(seconds=30)


def test_backoff_doubles_from_a_minute_up_to_an_hour():
    settings = MailSettings()
    delays = [settings.retry_delay(n) for n in range(1, 9)]
    assert [d // timedelta(minutes=1) for d in delays] == [1, 2, 4, 8, 16, 32, 60, 60]


def test_one_notification_is_a_mail_of_its_own():
    mail = compose(
        [part(7)],
        recipient="ned",
        address="ned@example.com",
        incident=INCIDENT,
        message_id=message_id_for(7, "example.com"),
    )
    assert (mail.id, mail.notification_ids, mail.template) == (7, (7,), "user_reply")
    assert (mail.subject, mail.body) == ("subject 7", "body 7\n")
    assert mail.html is not None and "<p>reply</p>" in mail.html and "<!DOCTYPE html>" in mail.html
    email = to_email(mail, "Desk <desk@example.com>")
    assert email["Message-ID"] == "<deskflow-notification-7@example.com>"
    assert email["To"] == "ned@example.com"
    assert email["References"] == "<deskflow-incident-INC0000042@example.com>"
    assert email["X-Deskflow-Notifications"] == "7"
    assert email.get_content_type() == "multipart/alternative"


def test_several_notifications_are_one_digest():
    mail = compose(
        [part(7), part(9, "sla_warning", html=None)],
        recipient="ned",
        address="ned@example.com",
        incident=INCIDENT,
        message_id="<m@x>",
    )
    assert (mail.id, mail.notification_ids, mail.template) == (7, (7, 9), "digest")
    assert mail.subject == "2 messages about INC0000042: VPN <drops>"
    assert "subject 7" in mail.body and "body 9" in mail.body
    assert mail.html is not None and "VPN &lt;drops&gt;" in mail.html
    assert to_email(mail, "d@x")["X-Deskflow-Notifications"] == "7,9"


def test_a_text_only_notification_is_a_text_only_mail():
    mail = compose(
        [part(3, html=None)], recipient="ned", address=None, incident=None, message_id="<m@x>"
    )
    email = to_email(mail, "d@x")
    assert email.get_content_type() == "text/plain" and email["To"] == "ned"
    assert "References" not in email


def test_smtp_refuses_a_recipient_without_address_for_good():
    mail = compose(
        [part(3)], recipient="ghost", address=None, incident=INCIDENT, message_id="<m@x>"
    )
    transport = SmtpTransport(MailSettings(host="127.0.0.1", port=9))
    with pytest.raises(Undeliverable, match="'ghost' has no email address"):
        transport(mail)
