"""The auditor's replay of one incident and the heatmap of many: what the JSON holds, the
filters, who may look, and that every look is recorded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import select

from engine.audit import diagram_path, heatmap, replay_steps
from engine.audit.event_log import Filters
from engine.process.definitions import BPMN_NS
from engine.store.models import AuditView

from .desk import Desk
from .web_client import app_with_accounts, logged_in


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "audrey", "tina")


def escalated_and_confirmed(desk: Desk) -> str:
    """Reported 09:00; categorized 09:10 (tina); escalated 09:40 (tina); resolved by ned
    11:40; confirmed by alice 11:45."""
    number = desk.report()
    desk.clock.advance(timedelta(minutes=10))
    desk.categorize(number)
    desk.clock.advance(timedelta(minutes=30))
    desk.escalate(number)
    desk.clock.advance(timedelta(hours=2))
    desk.specialist_resolves(number)
    desk.clock.advance(timedelta(minutes=5))
    desk.say(number, "confirm", {"comment": "works"})
    return number


def views(db, what: str) -> list[AuditView]:
    with db.reading() as session:
        return list(
            session.scalars(select(AuditView).where(AuditView.what == what).order_by(AuditView.id))
        )


# --- the replay -----------------------------------------------------------------------


def test_the_replay_steps_through_the_incident_in_order(app, desk):
    number = escalated_and_confirmed(desk)
    audrey = logged_in(app, "audrey")
    answer = audrey.get(f"/audit/incidents/{number.lower()}/replay.json")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    replay = answer.get_json()
    assert (replay["number"], replay["key"], replay["version"]) == (number, "service_desk", 1)
    steps = replay["steps"]
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    seqs = [s["seq"] for s in steps]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    times = [s["at"] for s in steps]
    assert times == sorted(times)
    assert all(s["element"] for s in steps)

    def first(element: str, what: str) -> dict:
        return next(s for s in steps if s["element"] == element and s["what"] == what)

    order = [
        first("problem_reported", "ready"),
        first("categorize_incident", "completed"),
        first("diagnose", "completed"),
        first("escalate_to_specialists", "called escalate"),
        first("investigate_and_resolve", "completed"),
        first("confirmation_received", "completed"),
        first("closed", "completed"),
    ]
    assert [s["step"] for s in order] == sorted(s["step"] for s in order)

    # The actors: who submitted each form, and who completed each user task.
    assert first("categorize_incident", "form submitted by tina")["actor"] == "tina"
    assert first("categorize_incident", "completed")["actor"] == "tina"
    assert first("diagnose", "completed")["actor"] == "tina"
    assert first("investigate_and_resolve", "completed")["actor"] == "ned"
    assert first("closed", "completed")["actor"] is None  # the engine's own step
    assert first("closed", "completed")["cause"]["actor"] == "alice"
    assert first("closed", "completed")["cause"]["message"] == "confirm"
    escalated = first("investigate_and_resolve", "escalated (functional) to ned")
    assert escalated["data"]["assignee"] == "ned"

    # The times and the data that changed.
    submitted = first("diagnose", "form submitted by tina")
    assert submitted["at"].startswith("2026-01-05T09:40")
    assert submitted["data"] == {"resolved": False, "work_notes": "Needs network."}
    handler = first("escalate_to_specialists", "called escalate")
    assert handler["incident"] == {"assignment_group": "network-ops"}
    assert handler["data"]["group"] == "network-ops"
    assert first("problem_reported", "ready")["data"]["short_description"].startswith("VPN")
    assert first("confirmation_received", "ready")["data"] == {}
    assert first("await_confirmation", "ready")["data"] == {"comment": "works"}  # the message

    # The SLA clocks: none before the targets are set (with the priority), both after.
    targets = first("set_sla_targets", "called sla_targets")
    assert all(s["clocks"] == {} for s in steps if s["step"] < targets["step"])
    assert all(set(s["clocks"]) == {"response", "resolution"} for s in steps[targets["step"] :])
    assert targets["clocks"]["response"]["state"] == "met"  # categorized at 09:10
    assert targets["clocks"]["response"]["used"] == "0h10"
    assert targets["clocks"]["resolution"]["state"] == "running"
    assert targets["clocks"]["resolution"]["due"].startswith("2026-01-09T09:00")
    resolved = first("investigate_and_resolve", "completed")["clocks"]["resolution"]
    assert (resolved["state"], resolved["used"], resolved["target"]) == ("running", "2h40", "30h00")
    end = steps[-1]["clocks"]
    assert end["resolution"]["state"] == "met" and end["resolution"]["due"] is None

    # The way so far only grows, ends where the diagram says, and each step is on it.
    passed_counts = [s["passed"] for s in steps]
    flow_counts = [s["flows"] for s in steps]
    assert passed_counts == sorted(passed_counts) and flow_counts == sorted(flow_counts)
    with desk.db.reading() as session:
        drawn = diagram_path.for_incident(session, number)
    assert (replay["passed"], replay["flows"]) == (drawn.passed, drawn.flows)
    assert (passed_counts[-1], flow_counts[-1]) == (len(drawn.passed), len(drawn.flows))
    done = first("diagnose", "completed")
    assert "diagnose" in replay["passed"][: done["passed"]]
    assert "investigate_and_resolve" not in replay["passed"][: done["passed"]]
    ends = {
        f.get("id"): f.get("sourceRef")
        for f in etree.fromstring(replay["xml"].encode()).iter(f"{{{BPMN_NS}}}sequenceFlow")
    }
    for step in steps:  # a flow taken by a step leaves an element passed by then
        passed = set(replay["passed"][: step["passed"]])
        assert all(ends[flow] in passed for flow in replay["flows"][: step["flows"]])

    assert [v.detail for v in views(desk.db, "replay data")] == [f"{number}: {len(steps)} step(s)"]


def test_the_replay_of_an_incident_that_waits_and_of_none(app, desk):
    number = desk.report()
    audrey = logged_in(app, "audrey")
    replay = audrey.get(f"/audit/incidents/{number}/replay.json").get_json()
    assert replay["steps"][-1]["element"] == "categorize_incident"
    assert replay["steps"][-1]["what"] == "ready: waits for someone"
    assert "categorize_incident" not in replay["passed"]
    assert audrey.get("/audit/incidents/INC9999999/replay.json").status_code == 404
    assert audrey.get("/audit/incidents/INC9999999/replay").status_code == 404
    assert views(desk.db, "replay data")[0].detail.startswith(number)


def test_the_replay_shows_the_timers_the_worker_fired(app, desk):
    number = desk.report(impact="medium", urgency="high")  # P2: 8 h round the clock
    desk.categorize(number)
    desk.escalate(number)
    desk.clock.set(desk.incident(number).resolution_due + timedelta(minutes=5))
    desk.worker.sweep()
    audrey = logged_in(app, "audrey")
    steps = audrey.get(f"/audit/incidents/{number}/replay.json").get_json()["steps"]
    fired = [s for s in steps if s["kind"] == "timer"]
    breach = [s for s in fired if s["element"] == "sla_breach_timer"]
    assert len(breach) == 1 and breach[0]["what"] == "timer fired"
    assert breach[0]["actor"] == "worker" and breach[0]["cause"]["command"] == "fire_due_timers"
    assert breach[0]["clocks"]["resolution"]["state"] == "breached"
    # A cycle timer leaves only the worker's command: its firings are steps too.
    cycles = [s for s in fired if s["element"] == "status_update_timer"]
    assert cycles and all(s["what"].startswith("timer fired (due 2026-01-05") for s in cycles)
    history = desk.history(number)
    listed = sum(
        1
        for e in history
        for t in e["payload"].get("timers") or []
        if t["element"] == "status_update_timer"
    )
    assert len(cycles) == listed


def test_the_replay_page_and_the_audit_pages_form(app, desk):
    number = desk.report()
    audrey = logged_in(app, "audrey")
    home = audrey.get("/audit/").get_data(as_text=True)
    assert 'for="replay-number">Replay incident number' in home
    assert 'href="/audit/heatmap"' in home
    found = audrey.get(f"/audit/replay?number={number.lower()}")
    assert found.status_code == 302 and found.location.endswith(f"/audit/incidents/{number}/replay")
    empty = audrey.get("/audit/replay?number=")
    assert empty.status_code == 302 and empty.location.endswith("/audit/")
    page = audrey.get(f"/audit/incidents/{number}/replay")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-src="/audit/incidents/{number}/replay.json"' in html
    for label in ("First step", "Back one step", "Play", "Forward one step", "Last step"):
        assert f'aria-label="{label}"' in html
    assert '<label for="replay-slider">' in html
    assert "/static/vendor/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" in html
    assert "https://" not in html.split("<main", 1)[1]  # nothing from elsewhere
    assert [v.detail for v in views(desk.db, "replay page")] == [number]


# --- the heatmap ----------------------------------------------------------------------


def three_paths(desk: Desk) -> dict[str, str]:
    """first-line: categorized after 10 min, resolved after 30; escalated: categorized
    after 20 min, diagnosed in 50, resolved by ned; waiting: reported only."""
    first_line = desk.report()
    desk.clock.advance(timedelta(minutes=10))
    desk.categorize(first_line)
    desk.clock.advance(timedelta(minutes=30))
    desk.resolve_first_line(first_line)
    escalated = desk.report(impact="medium", urgency="high")  # P2
    desk.clock.advance(timedelta(minutes=20))
    desk.categorize(escalated)
    desk.clock.advance(timedelta(minutes=50))
    desk.escalate(escalated)
    desk.clock.advance(timedelta(hours=1))
    desk.specialist_resolves(escalated)
    waiting = desk.report(short_description="The printer jams", description="Paper.")
    return {"first-line": first_line, "escalated": escalated, "waiting": waiting}


def by_element(answer) -> dict[str, dict]:
    return {e["element"]: e for e in answer["elements"]}


def test_the_heatmap_counts_the_incidents_at_each_element(app, desk):
    three_paths(desk)
    audrey = logged_in(app, "audrey")
    answer = audrey.get("/audit/heatmap.json")
    assert answer.status_code == 200
    data = answer.get_json()
    assert (data["key"], data["version"], data["incidents"]) == ("service_desk", 1, 3)
    assert "<bpmn:definitions" in data["xml"] or "definitions" in data["xml"]
    stats = by_element(data)
    counts = {e: s["count"] for e, s in stats.items()}
    assert counts["problem_reported"] == 3
    assert counts["categorize_incident"] == 2  # the third waits there: not passed
    assert counts["diagnose"] == 2
    assert counts["escalate_to_specialists"] == 1
    assert counts["investigate_and_resolve"] == 1
    assert "confirmation_received" not in counts  # nobody answered yet
    assert stats["categorize_incident"]["median_seconds"] == 900  # 10 and 20 min
    assert stats["categorize_incident"]["median"] == "15m"
    assert stats["diagnose"]["median_seconds"] == 40 * 60  # 30 and 50 min
    assert stats["investigate_and_resolve"]["median_seconds"] == 3600
    assert stats["investigate_and_resolve"]["timed"] == 1
    assert stats["problem_reported"]["median_seconds"] == 0
    assert "sla_breach_timer" not in stats  # armed, never fired
    levels = [s["level"] for s in data["elements"]]
    assert set(levels) <= set(range(1, heatmap.LEVELS + 1))
    assert stats["problem_reported"]["level"] == heatmap.LEVELS  # the most passed
    assert stats["investigate_and_resolve"]["level"] < heatmap.LEVELS
    counts_in_order = [s["count"] for s in data["elements"]]
    assert counts_in_order == sorted(counts_in_order, reverse=True)
    assert views(desk.db, "heatmap data")[0].detail == "version 1: 3 incident(s)"


def test_the_heatmaps_filters(app, desk):
    paths = three_paths(desk)
    desk.clock.advance(timedelta(days=1))  # Tuesday
    late = desk.report(impact="low", urgency="low")
    desk.categorize(late, category="software", subcategories=("crash",))
    desk.clock.set(desk.incident(late).resolution_due + timedelta(minutes=5))
    desk.worker.sweep()  # its resolution target breaches; the others close unanswered
    assert desk.incident(late).resolution_breached
    audrey = logged_in(app, "audrey")

    def counts(query: str) -> tuple[int, dict[str, int]]:
        answer = audrey.get(f"/audit/heatmap.json?{query}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        data = answer.get_json()
        return data["incidents"], {e["element"]: e["count"] for e in data["elements"]}

    assert counts("")[0] == 4
    assert counts("version=1")[0] == 4
    p2, stats = counts("priority=2")
    assert p2 == 1 and stats["investigate_and_resolve"] == 1 and "categorize_incident" in stats
    network, stats = counts("category=network")
    assert network == 2 and stats["categorize_incident"] == 2
    software, stats = counts("category=software")
    assert software == 1 and stats["categorize_incident"] == 1 and "diagnose" not in stats
    group = desk.incident(paths["escalated"]).assignment_group
    assert group == "network-ops"
    assert counts("group=network-ops")[0] == 1
    assert counts("breached=yes") == (1, counts("category=software")[1])
    assert counts("breached=no")[0] == 3
    assert counts("from=2026-01-06")[0] == 1  # opened on the Tuesday
    assert counts("to=2026-01-05")[0] == 3  # through the Monday
    assert counts("from=2026-01-05&to=2026-01-05&category=network")[0] == 2
    assert counts("from=2027-01-01") == (0, {})
    assert audrey.get("/audit/heatmap.json?version=7").status_code == 404
    assert audrey.get("/audit/heatmap.json?from=yesterday").status_code == 400
    assert audrey.get("/audit/heatmap.json?priority=high").status_code == 400


def test_the_heatmap_page_has_a_labelled_form_and_a_table(app, desk):
    three_paths(desk)
    audrey = logged_in(app, "audrey")
    page = audrey.get("/audit/heatmap?category=network")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for field in (
        "h-version",
        "h-from",
        "h-to",
        "h-priority",
        "h-category",
        "h-group",
        "h-breached",
    ):
        assert f'<label for="{field}">' in html and f'id="{field}"' in html
    assert '<tr data-element="categorize_incident">' in html
    assert 'id="heatmap-data"' in html and 'data-inline="heatmap-data"' in html
    assert "2 incident(s) on version 1" in html
    assert [v.detail for v in views(desk.db, "heatmap page")] == [
        "version 1, category network: 2 incident(s)"
    ]


def test_the_engine_heatmap_directly(desk):
    paths = three_paths(desk)
    with desk.db.reading() as session:
        result = heatmap.heatmap(session, Filters())
        assert heatmap.versions(session) == [1]
    assert result.incidents == 3 and result.version == 1
    stats = {e.element: e for e in result.elements}
    assert stats["diagnose"].count == 2
    with desk.db.reading() as session:
        replay = replay_steps.for_incident(session, paths["escalated"])
    assert replay.passed_at(replay.steps[0]) == []
    assert replay.passed_at(replay.steps[-1]) == replay.passed
    assert heatmap.duration_text(None) == "—"
    assert heatmap.duration_text(42) == "42s"
    assert heatmap.duration_text(9000) == "2h 30m"
    assert heatmap.duration_text(3 * 86400 + 4 * 3600) == "3d 4h"


# --- who may look ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/audit/incidents/{number}/replay",
        "/audit/incidents/{number}/replay.json",
        "/audit/replay?number={number}",
        "/audit/heatmap",
        "/audit/heatmap.json",
    ],
)
def test_only_auditors_look(app, desk, path):
    number = desk.report()
    url = path.format(number=number)
    anonymous = app.test_client().get(url)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    assert logged_in(app, "tina").get(url).status_code == 403
    assert logged_in(app, "audrey").get(url).status_code in (200, 302)
    recorded = [v.what for v in views(desk.db, "replay page")] + [
        v.what
        for what in ("replay data", "heatmap page", "heatmap data")
        for v in views(desk.db, what)
    ]
    assert len(recorded) == (0 if "number=" in url else 1)  # the redirect is no view
