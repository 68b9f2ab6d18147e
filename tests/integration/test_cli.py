"""The CLI a newcomer uses: init (twice), demo, incident show."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from cli.main import main
from engine.store.models import User


def run(db, *args):
    result = CliRunner().invoke(main, ["--database", db.url, *args], catch_exceptions=False)
    return result


def test_init_is_safe_to_run_again(db):
    first = run(db, "init")
    assert first.exit_code == 0, first.output
    assert "service_desk version 1 deployed" in first.output
    again = run(db, "init")
    assert again.exit_code == 0
    assert "service_desk version 1 already deployed" in again.output


def test_demo_covers_every_path_and_adds_up(db, frozen_clock):
    assert run(db, "init").exit_code == 0
    result = run(db, "demo", "--incidents", "24")
    assert result.exit_code == 0, result.output
    assert "PROBLEM" not in result.output
    table = dict(re.findall(r"^(\S.*?)\s{2,}(\d+)$", result.output, re.M))
    for path in (
        "first-line fix",
        "escalated to specialists",
        "self-help deflected",
        "request fulfilled",
        "major incident",
        "SLA warning and breach",
        "reopened, then confirmed",
        "auto-closed (no answer)",
        "breach over a weekend (office hours)",
        "automated escalation fired",
        "on hold, waiting for a vendor",
        "priority raised during the work",
    ):
        assert int(table[path]) >= 1, path
    numbers = re.findall(r"INC\d{7}", run(db, "incident", "list", "--limit", "1").output)
    shown = run(db, "incident", "show", numbers[0])
    assert shown.exit_code == 0
    assert "history:" in shown.output and "start_incident by" in shown.output


def test_incident_show_of_unknown_number_is_a_clean_error(db):
    run(db, "init")
    result = run(db, "incident", "show", "INC9999999")
    assert result.exit_code == 1
    assert "no incident INC9999999" in result.output


def test_deploy_prints_the_new_version_or_unchanged(db, tmp_path):
    from engine.process import definitions

    run(db, "init")
    source = definitions.bundled()
    folder = tmp_path / "diagrams"
    (folder / "forms").mkdir(parents=True)
    for path in (definitions.DIAGRAMS_DIR / "forms").glob("*.json"):
        (folder / "forms" / path.name).write_text(path.read_text())
    (folder / source.dmns[0].filename).write_text(source.dmns[0].text)
    bpmn = folder / "service_desk.bpmn"
    bpmn.write_text(source.bpmn.text)
    same = run(db, "deploy", str(bpmn))
    assert same.exit_code == 0 and "unchanged: service_desk version 1" in same.output
    bpmn.write_text(source.bpmn.text.replace('name="Diagnose"', 'name="Diagnose it"', 1))
    changed = run(db, "deploy", str(bpmn), "--comment", "clearer", "--by", "owen")
    assert changed.exit_code == 0 and "deployed service_desk version 2" in changed.output


def test_worker_once_fires_what_is_due(db, frozen_clock):
    from datetime import timedelta

    from engine.instances.runtime import Runtime

    from .desk import Desk

    run(db, "init")
    desk = Desk(Runtime(db), frozen_clock)
    number = desk.report(impact="high", urgency="high")  # P1: status every 30 minutes
    desk.categorize(number)
    frozen_clock.advance(timedelta(minutes=31))
    result = run(db, "worker", "--once")
    assert result.exit_code == 0
    assert "fired 1 timer(s) on 1 incident(s)" in result.output


def test_messages_can_be_sent_from_the_cli(db, frozen_clock):
    from engine.instances.runtime import Runtime

    from .desk import Desk

    run(db, "init")
    desk = Desk(Runtime(db), frozen_clock)
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    result = run(
        db, "incident", "send", number, "reopen", "--data", '{"reason": "again"}', "--by", "alice"
    )
    assert result.exit_code == 0 and "state now In Progress" in result.output
    refused = run(db, "incident", "send", number, "confirm", "--by", "alice")
    assert refused.exit_code == 1 and "not waiting for 'confirm'" in refused.output
    bad = run(db, "incident", "send", number, "user_reply", "--data", "{oops", "--by", "alice")
    assert bad.exit_code != 0 and "--data is not JSON" in bad.output


def test_init_gives_no_password_and_demo_gives_the_demo_one_once(db):
    """No account of a fresh desk opens with a password everybody knows (ASVS V6.3.2):
    `deskflow init` leaves them without one; `deskflow demo` gives the demo password."""
    from engine.desk import accounts

    first = run(db, "init")
    assert "have no password and cannot log in yet" in first.output
    assert accounts.DEMO_PASSWORD not in first.output
    with pytest.raises(accounts.LoginRefused):
        accounts.log_in(db, "admin", accounts.DEMO_PASSWORD)
    changed = run(db, "user", "password", "tina", "--password", "a long new secret")
    assert changed.exit_code == 0 and "password of tina changed" in changed.output
    demo = run(db, "demo", "--incidents", "1")
    assert (
        demo.exit_code == 0 and f"demo password '{accounts.DEMO_PASSWORD}' given to" in demo.output
    )
    again = run(db, "demo", "--incidents", "1")
    assert "demo password" not in again.output  # every account has one now
    assert "no password" not in run(db, "init").output
    assert accounts.log_in(db, "tina", "a long new secret").username == "tina"  # kept
    assert accounts.log_in(db, "alice", accounts.DEMO_PASSWORD).username == "alice"
    short = run(db, "user", "password", "tina", "--password", "short")
    assert short.exit_code != 0 and "at least 8 characters" in short.output
    unknown = run(db, "user", "password", "nobody", "--password", "long enough")
    assert unknown.exit_code != 0 and "no user 'nobody'" in unknown.output


def test_init_again_keeps_the_roles_an_admin_gave(db):
    """The catalog seeds the directory; `deskflow init` run again does not undo
    `deskflow user roles` (which ended the person's sessions)."""
    run(db, "init")
    assert run(db, "user", "roles", "tina", "technician", "manager").exit_code == 0
    run(db, "init")
    with db.reading() as session:
        assert sorted(session.get(User, "tina").roles) == ["manager", "technician"]
