"""The CLI a newcomer uses: init (twice), demo, incident show."""

from __future__ import annotations

import re

from click.testing import CliRunner

from engine.cli import main


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
