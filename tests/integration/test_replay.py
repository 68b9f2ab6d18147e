"""Re-execution and what-if (engine/replay, engine/audit/what_if.py): every demo path replays
identically from its recorded inputs; a changed handler rule or diagram is reported at the
step and element where the re-run parts from the record; what-if shows up in the modeler
(its JSON endpoint, process owners only) before deploying; `deskflow replay` exit codes."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import handlers.escalate
import handlers.registry
import handlers.sla
from cli.main import main
from engine import clock
from engine.audit import what_if
from engine.audit.replay import Replayer, fastwalk
from engine.desk.demo import ALL_PATHS, run_demo
from engine.errors import HandlerFailed
from engine.instances.migration import Migrator
from engine.process import definitions, drafts
from engine.process.definitions import Bundle, SourceFile
from engine.process.versions import PROCESS_KEY
from handlers.catalog import catalog

from .desk import Desk
from .web_client import app_with_accounts, logged_in

ROOT = Path(__file__).resolve().parents[2]
MAJOR_IF_P1 = (
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">priority == 1'
    "</bpmn:conditionExpression>"
)
MAJOR_IF_P2 = (
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">priority &lt;= 2'
    "</bpmn:conditionExpression>"
)


def cli(db, *args):
    return CliRunner().invoke(main, ["--database", db.url, *args], catch_exceptions=False)


def bundle_with(*replacements: tuple[str, str]) -> Bundle:
    """The bundled process with each `old` (found exactly once) replaced by `new`."""
    bundled = definitions.bundled()
    text = bundled.bpmn.text
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return Bundle(SourceFile(bundled.bpmn.filename, text), bundled.dmns, bundled.forms)


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def finished(desk: Desk, **report) -> str:
    """An incident reported, categorized, resolved at first line and confirmed."""
    number = desk.report(**report)
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    assert desk.incident(number).state == "Closed"
    return number


def escalated(desk: Desk) -> str:
    """Reported, categorized (network), escalated to network-ops, claimed, a user reply, a
    status update by timer."""
    number = desk.report()
    desk.categorize(number)
    desk.escalate(number)
    task = desk.task(number, "investigate_and_resolve")
    desk.runtime.claim_task(task.id, "ned", actor="ned")
    desk.say(number, "user_reply", {"message": "Any news?"})
    desk.advance(hours=5)  # the status update to the caller is due after 4 hours
    return number


def handler_events(desk: Desk, number: str, element: str) -> list[dict]:
    return [e for e in desk.history(number) if e["kind"] == "handler" and e["element"] == element]


# --- every path replays identically ---------------------------------------------------


def test_every_demo_path_replays_identically(runtime, monkeypatch):
    summary = run_demo(runtime, len(ALL_PATHS), seed=3)
    assert summary.adds_up(), summary.table()
    assert set(summary.paths) == set(ALL_PATHS)  # every path of `deskflow demo`
    monkeypatch.setattr(fastwalk, "CHECK", True)  # fast tree queries == SpiffWorkflow's

    result = Replayer(runtime.db).many()
    assert result.total == len(ALL_PATHS)
    assert result.diverged == [], "\n".join(map(str, result.diverged))

    answer = cli(runtime.db, "replay", "--all")
    assert answer.exit_code == 0, answer.output
    assert f"{len(ALL_PATHS)} identical, 0 diverged" in answer.output
    assert re.search(r"incidents/s\)", answer.output)

    in_two = Replayer(runtime.db, batch_mode=True).many(jobs=2, batch=8)
    assert (in_two.total, in_two.diverged) == (len(ALL_PATHS), [])


def test_a_running_incident_with_claims_replays_identically(desk):
    number = escalated(desk)  # waits at "Investigate and resolve", timers armed
    verdict = Replayer(desk.db).one(number)
    assert verdict.identical, verdict
    assert verdict.commands == 5
    assert str(verdict) == f"{number}: identical (5 commands re-run on service_desk:1)"


def test_a_migrated_incident_replays_on_both_versions(desk, runtime):
    number = desk.report()
    desk.categorize(number)  # waits at "Diagnose"
    renamed = bundle_with(('name="Diagnose"', 'name="Diagnose the incident"'))
    runtime.deploy(renamed, deployed_by="owen", comment="wording")
    outcome = Migrator(runtime).migrate(1, 2, "owen")
    assert [c.incident for c in outcome.moved] == [number]
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    verdict = Replayer(desk.db).one(number)
    assert verdict.identical, verdict


def test_failed_commands_and_desk_commands_are_skipped(desk, runtime, monkeypatch):
    number = desk.report()
    sla_targets = handlers.registry.OPERATORS["sla_targets"]

    def unavailable(**_kwargs):
        raise RuntimeError("calendar service down")

    monkeypatch.setitem(handlers.registry.OPERATORS, "sla_targets", unavailable)
    with pytest.raises(HandlerFailed):
        desk.categorize(number)  # rolled back whole; one error event
    monkeypatch.setitem(handlers.registry.OPERATORS, "sla_targets", sla_targets)
    runtime.add_note(number, "work_note", "Called the caller.", actor="tina")
    desk.categorize(number)
    runtime.add_escalation(
        number,
        desk.clock.now() + timedelta(hours=1),
        "reassign",
        "ned",
        "take it over",
        actor="tina",
    )
    desk.advance(hours=2)  # the rule fires: the work is reassigned to ned
    assert desk.incident(number).assignee == "ned"
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    kinds = {e["kind"] for e in desk.history(number)}
    assert {"error", "escalation"} <= kinds
    assert Replayer(desk.db).one(number).identical


# --- a changed handler rule -----------------------------------------------------------


def test_a_changed_group_mapping_is_a_divergence_at_the_handler_step(desk, monkeypatch):
    number = escalated(desk)
    history = desk.history(number)
    [call] = [
        e for e in history if e["kind"] == "handler" and e["element"] == "escalate_to_specialists"
    ]

    original = handlers.escalate.functional

    def to_hardware(category, subcategories):
        result = original(category, subcategories)
        return {**result, "group": "hardware-support"}

    monkeypatch.setattr(handlers.escalate, "functional", to_hardware)
    verdict = Replayer(desk.db).one(number)
    divergence = verdict.divergence
    assert divergence is not None
    assert (divergence.step, divergence.element) == (call["seq"], "escalate_to_specialists")
    assert divergence.expected == "result.group = 'network-ops'"
    assert divergence.actual == "result.group = 'hardware-support'"
    assert divergence.command == "complete_task diagnose"

    answer = cli(desk.db, "replay", number.lower())
    assert answer.exit_code == 1
    assert f"step {call['seq']} at escalate_to_specialists" in answer.output
    assert "expected result.group = 'network-ops'" in answer.output


def test_a_changed_sla_target_is_a_divergence_naming_the_step(desk, monkeypatch):
    number = finished(desk)  # medium/medium: priority 3
    [call] = [
        e
        for e in desk.history(number)
        if e["element"] == "set_sla_targets" and e["kind"] == "handler"
    ]
    cat = catalog()
    slower = dataclasses.replace(cat.priorities[3], resolution_minutes=9999)
    changed = dataclasses.replace(cat, priorities={**cat.priorities, 3: slower})
    monkeypatch.setattr(handlers.sla, "catalog", lambda: changed)

    divergence = Replayer(desk.db).one(number).divergence
    assert divergence is not None
    assert (divergence.step, divergence.element) == (call["seq"], "set_sla_targets")
    assert divergence.expected.startswith("result.resolution_due = ")
    assert "9999" not in divergence.expected

    summary = Replayer(desk.db).many()
    assert (summary.total, len(summary.diverged)) == (1, 1)


def test_a_handler_that_fails_on_replay_is_a_divergence_not_a_crash(desk, monkeypatch):
    number = finished(desk)

    def broken(**_kwargs):
        raise RuntimeError("the rule table is gone")

    monkeypatch.setitem(handlers.registry.OPERATORS, "record_resolution", broken)
    divergence = Replayer(desk.db).one(number).divergence
    assert divergence is not None
    assert divergence.element == "record_resolution_task"
    assert "the rule table is gone" in divergence.actual
    assert divergence.expected == "the command to run"


def test_recorded_suggestions_are_reused_not_recomputed(desk, monkeypatch):
    number = finished(desk)
    categorize = handlers.registry.OPERATORS["categorize"]

    # Replay tells the handlers whose result it reuses by their signature (a `knowledge`
    # parameter: they read what the desk learned), so the stand-in keeps categorize's.
    @functools.wraps(categorize)
    def must_not_run(**_kwargs):
        pytest.fail("categorize must not run on replay")

    monkeypatch.setitem(handlers.registry.OPERATORS, "categorize", must_not_run)
    assert Replayer(desk.db).one(number).identical


# --- what-if ---------------------------------------------------------------------------


def test_what_if_names_the_gateway_whose_condition_changed(desk, runtime):
    p1 = finished(desk, impact="high", urgency="high")
    p2 = finished(desk, impact="medium", urgency="high")
    p3 = finished(desk)
    assert [desk.incident(n).priority for n in (p1, p2, p3)] == [1, 2, 3]
    deployed = runtime.deploy(bundle_with((MAJOR_IF_P1, MAJOR_IF_P2)), "owen", "P2 is major")
    assert deployed.version == 2

    report = what_if.run(runtime.db, "2", last=500)
    assert (report.compared, report.differ) == (3, 1)
    [verdict] = report.differing
    assert verdict.number == p2
    assert verdict.divergence is not None and verdict.divergence.element == "is_major_incident"
    [step] = [  # the recorded step where the paths part: what came after the gateway
        e["seq"]
        for e in desk.history(p2)
        if e["element"] == "major_incident_merge" and e["payload"]["state"] == "COMPLETED"
    ]
    assert verdict.divergence.step == step
    assert verdict.divergence.expected == "then major_incident_merge"
    assert verdict.divergence.actual == "then 'Notify stakeholders' (notify_stakeholders)"
    assert report.by_element() == [
        {"element": "is_major_incident", "name": "Major incident?", "count": 1}
    ]
    assert report.sentence() == (
        "Of the last 3 incidents, 1 would take a different path, most at 'Major incident?'."
    )
    assert what_if.run(runtime.db, "1").differ == 0  # its own version: the same paths

    on_v2 = finished(desk, impact="medium", urgency="high")  # runs on version 2 now
    assert Replayer(runtime.db).one(on_v2).identical  # replayed on its pinned version
    back = what_if.run(runtime.db, "1", last=1)
    assert [v.number for v in back.differing] == [on_v2]

    answer = cli(runtime.db, "replay", "--what-if", "2", "--last", "3")
    assert answer.exit_code == 0, answer.output
    assert "Of the last 3 incidents, 1 would take a different path" in answer.output
    assert f"{p2}: step" in answer.output


def test_an_input_the_other_version_cannot_take_is_the_difference(desk, runtime):
    number = finished(desk)
    renamed = bundle_with(
        ('id="diagnose"', 'id="triage"'),
        ('targetRef="diagnose"', 'targetRef="triage"'),
        ('sourceRef="diagnose"', 'sourceRef="triage"'),
        ('bpmnElement="diagnose"', 'bpmnElement="triage"'),
        ("<bpmn:flowNodeRef>diagnose</", "<bpmn:flowNodeRef>triage</"),
    )
    runtime.deploy(renamed, "owen", "renamed diagnose")
    report = what_if.run(runtime.db, "2")
    [verdict] = report.differing
    assert verdict.number == number
    divergence = verdict.divergence
    assert divergence is not None
    assert divergence.element == "diagnose"
    assert divergence.expected == "complete 'diagnose'"
    assert divergence.actual == "this version has no such task"


def test_the_what_if_endpoint_answers_process_owners(desk, runtime):
    p2 = finished(desk, impact="medium", urgency="high")
    finished(desk)
    draft = drafts.create(runtime.db, "owen", base_version=1, key=PROCESS_KEY)
    text = drafts.bundle_of(draft).bpmn.text.replace(MAJOR_IF_P1, MAJOR_IF_P2)
    drafts.save(runtime.db, draft.id, "owen", bpmn=text)
    draft_id = draft.id
    app = app_with_accounts(runtime, "owen", "tina")
    owen = logged_in(app, "owen")

    answer = owen.get(f"/process/api/drafts/{draft_id}/what-if?last=500")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert (body["compared"], body["differ"]) == (2, 1)
    assert body["by_element"] == [
        {"element": "is_major_incident", "name": "Major incident?", "count": 1}
    ]
    [incident] = body["incidents"]
    assert incident["number"] == p2
    assert set(incident["first_difference"]) == {"step", "element", "expected", "actual"}
    assert incident["first_difference"]["element"] == "is_major_incident"
    assert body["sentence"].startswith("Of the last 2 incidents, 1 would take a different path")

    assert owen.get(f"/process/api/drafts/{draft_id}/what-if?last=1").get_json()["compared"] == 1
    assert owen.get(f"/process/api/drafts/{draft_id}/what-if?last=0").status_code == 400
    assert owen.get(f"/process/api/drafts/{draft_id}/what-if?last=x").status_code == 400
    missing = owen.get("/process/api/drafts/99999/what-if")
    assert missing.status_code == 404 and "error" in missing.get_json()

    tina = logged_in(app, "tina")  # a technician
    assert tina.get(f"/process/api/drafts/{draft_id}/what-if").status_code == 403


def test_a_broken_draft_gets_its_problems_not_a_report(desk, runtime):
    finished(desk)
    draft = drafts.create(runtime.db, "owen", base_version=1, key=PROCESS_KEY)
    text = drafts.bundle_of(draft).bpmn.text.replace(MAJOR_IF_P1, MAJOR_IF_P1 + "<oops")
    drafts.save(runtime.db, draft.id, "owen", bpmn=text)
    draft_id = draft.id
    owen = logged_in(app_with_accounts(runtime, "owen"), "owen")
    answer = owen.get(f"/process/api/drafts/{draft_id}/what-if")
    assert answer.status_code == 422
    assert answer.get_json()["problems"]


# --- the command line -----------------------------------------------------------------


def test_replay_exit_codes(desk):
    number = finished(desk)
    ok = cli(desk.db, "replay", number)
    assert ok.exit_code == 0 and ok.output.strip() == (
        f"{number}: identical (4 commands re-run on service_desk:1)"
    )
    unknown = cli(desk.db, "replay", "INC9999999")
    assert unknown.exit_code == 1 and "no incident INC9999999" in unknown.output
    assert cli(desk.db, "replay").exit_code == 2  # neither NUMBER nor --all
    assert cli(desk.db, "replay", number, "--all").exit_code == 2
    assert cli(desk.db, "replay", "--all", "--since", "yesterday").exit_code == 2
    assert cli(desk.db, "replay", "--all", "--last", "3").exit_code == 2
    since = cli(desk.db, "replay", "--all", "--since", "2030-01-01")
    assert since.exit_code == 0 and "0 identical, 0 diverged" in since.output
    on_v1 = cli(desk.db, "replay", "--all", "--version", "1", "--since", "2026-01-05")
    assert on_v1.exit_code == 0 and "1 identical, 0 diverged" in on_v1.output
    assert cli(desk.db, "replay", "--all", "--version", "7").exit_code == 1  # no such version


def test_the_replay_benchmark_runs_and_reports(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.replay",
            "--incidents",
            "12",
            "--repeat",
            "1",
            "--jobs",
            "2",
            "--results",
            str(tmp_path / "replay.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "incidents/s" in result.stdout
    assert re.search(r"every demo incident replays identically\s+yes\s+PASS", result.stdout)
    assert re.search(r">= 200 incidents/s \(best\)\s+\d+/s\s+(PASS|MISS)", result.stdout)


def test_the_modeler_shows_what_if_after_a_clean_validation(desk, runtime, screenshots):
    from .browser import chromium, live_server

    finished(desk, impact="medium", urgency="high")  # priority 2
    finished(desk)
    draft = drafts.create(runtime.db, "owen", base_version=1, key=PROCESS_KEY)
    text = drafts.bundle_of(draft).bpmn.text.replace(MAJOR_IF_P1, MAJOR_IF_P2)
    drafts.save(runtime.db, draft.id, "owen", bpmn=text)
    draft_id = draft.id
    app = app_with_accounts(runtime, "owen")
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/process/modeler?draft={draft_id}")
        page.get_by_label("User name").fill("owen")
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector('#modeler[data-ready="true"]', timeout=20000)
        page.get_by_role("button", name="Validate").click()
        line = page.locator("#what-if[data-differ]")
        line.wait_for(timeout=30000)
        assert line.get_attribute("data-differ") == "1"
        assert (
            "Of the last 2 incidents, 1 would take a different path, most at 'Major incident?'"
            in line.inner_text()
        )
        assert page.get_by_role("button", name="Deploy…").is_enabled()
        line.get_by_role("button", name="1 at Major incident?").click()  # shows it
        page.wait_for_function(
            "() => window.deskflowModeler.get('selection').get().map(e => e.id)"
            ".includes('is_major_incident')"
        )
        page.screenshot(path=screenshots / "modeler-what-if.png")
        assert errors == []


def test_a_history_written_on_the_wall_clock_replays_identically(desk, runtime):
    clock.install(clock.WallClock())  # the fixture puts its frozen clock back afterwards
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.say(number, "reopen", {"reason": "It is back."})
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    verdict = Replayer(runtime.db).one(number)
    assert verdict.identical, verdict
