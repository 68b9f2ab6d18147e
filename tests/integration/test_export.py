"""The history exported as an event log (`engine.audit.export`): the XES structure of IEEE 1849,
a CSV that keeps every event, the filters, memory that stays flat, `deskflow export`, and
the auditor's page with its streamed downloads."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import tracemalloc
from datetime import datetime

import pytest
from click.testing import CliRunner
from lxml import etree, html
from sqlalchemy import insert, select

from cli.main import main
from engine.audit import event_log, export, export_csv, export_xes
from engine.desk.demo import run_demo
from engine.process import definitions
from engine.store.models import AuditView, HistoryEvent, Incident, Instance
from tests.integration.desk import Desk
from tests.integration.web_client import app_with_accounts, logged_in

NS = "{http://www.xes-standard.org/}"
XES_LIFECYCLE = {"schedule", "start", "complete", "withdraw", "ate_abort"}
NASTY = "Printer \"P2\" <floor 2> & the 'scanner'\tjams\nagain \x07"


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


@pytest.fixture
def story(desk) -> dict[str, str]:
    """Four incidents on two process versions, each on another path:

    printed: printing, fixed at first line, confirmed (a description full of markup);
    breached: network, escalated, the resolution target breached, resolved, confirmed;
    request: a request, self-help tried by the caller (bob), fulfilled by tina;
    opened: software, still open, three days later, on version 2.
    """
    printed = desk.report(short_description=NASTY)
    desk.categorize(printed, "printing", ("print-quality",))
    desk.resolve_first_line(printed)
    desk.say(printed, "confirm")
    desk.advance(hours=1)

    breached = desk.report(impact="medium", urgency="high")
    desk.categorize(breached)
    desk.escalate(breached)
    desk.clock.set(desk.incident(breached).resolution_due)
    desk.advance(minutes=1)
    desk.specialist_resolves(breached)
    desk.say(breached, "confirm")

    request = desk.runtime.start_incident(
        {
            "caller": "bob",
            "channel": "portal",
            "short_description": "How do I set up email on my phone?",
            "description": "A new phone.",
            "is_broken": False,
            "impact": "low",
            "urgency": "low",
        },
        actor="bob",
    )
    desk.complete(request, "try_self_help", {"solved": False, "comment": "no"}, actor="bob")
    desk.complete(
        request,
        "fulfil_request",
        {"resolution_code": "solved-permanently", "resolution_notes": "Done."},
    )
    desk.advance(days=3)

    bundle = definitions.bundled()
    text = bundle.bpmn.text + "\n<!-- version 2 -->\n"
    desk.runtime.deploy(
        dataclasses.replace(bundle, bpmn=dataclasses.replace(bundle.bpmn, text=text)),
        deployed_by="test",
    )
    opened = desk.report(impact="low", urgency="medium")
    desk.categorize(opened, "software", ("crash",))
    return {"printed": printed, "breached": breached, "request": request, "opened": opened}


def exported(db, fmt: str, filters: event_log.Filters | None = None, people: bool = False) -> bytes:
    return b"".join(export.export(db, fmt, filters or event_log.Filters(), people))


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def history_rows(db) -> list[HistoryEvent]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(HistoryEvent).order_by(HistoryEvent.instance_id, HistoryEvent.seq)
            )
        )


def attributes(element) -> dict[str, tuple[str, str]]:
    """{key: (XES type, value)} of an element's attribute children."""
    return {
        child.get("key"): (etree.QName(child).localname, child.get("value"))
        for child in element
        if child.get("key") is not None
    }


# --- XES ------------------------------------------------------------------------------


def test_the_xes_has_the_ieee_1849_structure(db, story):
    log = etree.fromstring(exported(db, "xes"))
    assert log.tag == f"{NS}log" and log.get("xes.version") == "1849-2016"
    extensions = {
        (e.get("name"), e.get("prefix"), e.get("uri")) for e in log.findall(f"{NS}extension")
    }
    assert extensions == {
        ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
        ("Time", "time", "http://www.xes-standard.org/time.xesext"),
        ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
        ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    }
    globals_ = {g.get("scope"): attributes(g) for g in log.findall(f"{NS}global")}
    assert set(globals_["trace"]) == {"concept:name"}
    assert {"concept:name", "time:timestamp", "org:resource", "lifecycle:transition"} <= set(
        globals_["event"]
    )
    classifiers = {c.get("name"): c.get("keys") for c in log.findall(f"{NS}classifier")}
    assert classifiers["Activity"] == "concept:name"
    assert attributes(log)["lifecycle:model"] == ("string", "standard")
    # in the order IEEE 1849 gives: extensions, globals, classifiers, attributes, traces
    order = ",".join(etree.QName(child).localname for child in log) + ","
    assert re.fullmatch(
        r"(extension,){4}(global,){2}(classifier,)+((string|date|int|boolean),)+(trace,)+", order
    ), order

    traces = log.findall(f"{NS}trace")
    numbers = [attributes(t)["concept:name"] for t in traces]
    assert numbers == [("string", n) for n in sorted(story.values())]
    for trace in traces:
        events = trace.findall(f"{NS}event")
        assert events
        stamps = []
        for event in events:
            attrs = attributes(event)
            for key in ("concept:name", "org:resource", "lifecycle:transition", "element"):
                assert attrs[key][0] == "string" and attrs[key][1], (key, attrs)
            assert attrs["time:timestamp"][0] == "date"
            assert attrs["lifecycle:transition"][1] in XES_LIFECYCLE
            stamp = datetime.fromisoformat(attrs["time:timestamp"][1])
            assert stamp.utcoffset() is not None  # ISO 8601 with the zone
            stamps.append((stamp, int(attrs["seq"][1])))
        assert stamps == sorted(stamps), "events in time order, ties in the history's"


def trace_of(log, number: str):
    for trace in log.findall(f"{NS}trace"):
        if attributes(trace)["concept:name"][1] == number:
            return [attributes(e) for e in trace.findall(f"{NS}event")]
    raise AssertionError(number)


def steps(events, element: str) -> list[tuple[str, str]]:
    """(lifecycle, resource) of an element's events, in order."""
    return [
        (e["lifecycle:transition"][1], e["org:resource"][1])
        for e in events
        if e["element"][1] == element
    ]


def test_events_are_bpmn_elements_with_the_xes_lifecycle_and_who_did_them(db, story):
    log = etree.fromstring(exported(db, "xes"))
    printed = trace_of(log, story["printed"])
    assert steps(printed, "categorize_incident") == [("schedule", "deskflow"), ("complete", "tina")]
    assert steps(printed, "diagnose") == [("schedule", "deskflow"), ("complete", "tina")]
    # automated steps are in, as one complete event, with the handler they called
    [suggest] = [e for e in printed if e["element"][1] == "suggest_category"]
    assert suggest["lifecycle:transition"][1] == "complete"
    assert suggest["org:resource"][1] == "deskflow" and suggest["handler"][1] == "categorize"
    assert suggest["type"][1] == "ServiceTask" and suggest["org:role"][1] == "Service Desk"
    assert suggest["concept:name"][1] == "Suggest category"
    assert steps(printed, "is_something_broken") == [("complete", "deskflow")]  # a gateway
    # the sub-process is started and completed; armed boundary events are withdrawn
    assert steps(printed, "resolve_incident") == [("start", "deskflow"), ("complete", "deskflow")]
    assert ("withdraw", "deskflow") in steps(printed, "sla_breach_timer")
    confirm = [e for e in printed if e["element"][1] == "confirmation_received"]
    assert confirm[-1]["command"][1] == "send_message" and confirm[-1]["message"][1] == "confirm"
    names = {e["concept:name"][1] for e in printed}
    assert not names & {"complete_task", "start_incident", "send_message"}  # not events

    breached = trace_of(log, story["breached"])
    assert ("complete", "worker") in steps(breached, "sla_breach_timer")
    assert steps(breached, "investigate_and_resolve")[-1] == ("complete", "ned")
    request = trace_of(log, story["request"])
    assert steps(request, "try_self_help")[-1] == ("complete", "caller")  # bob is left out
    assert steps(request, "fulfil_request")[-1] == ("complete", "tina")

    traces = {attributes(t)["concept:name"][1]: attributes(t) for t in log.findall(f"{NS}trace")}
    incident = traces[story["breached"]]
    assert incident["breached"] == ("boolean", "true") and incident["category"][1] == "network"
    assert incident["priority"][0] == "int" and incident["version"] == ("int", "1")
    assert traces[story["opened"]]["version"] == ("int", "2")
    assert "caller" not in incident and "description" not in incident  # no people by default


def test_xml_special_characters_are_escaped(db, story):
    data = exported(db, "xes", people=True)
    assert b"\x07" not in data
    log = etree.fromstring(data)  # parses: everything escaped
    traces = {attributes(t)["concept:name"][1]: attributes(t) for t in log.findall(f"{NS}trace")}
    printed = traces[story["printed"]]
    assert printed["description"][1] == NASTY.replace("\x07", "\ufffd")
    assert printed["caller"][1] == "alice"
    request = trace_of(log, story["request"])
    assert steps(request, "try_self_help")[-1] == ("complete", "bob")  # with people: named
    everything = "".join(chr(c) for c in range(0, 0x80)) + "\ud800\ufffe"
    element = etree.fromstring(f'<x a="{export_xes.escape(everything)}"/>'.encode())
    kept = element.get("a")
    assert kept.replace("\ufffd", "") == "".join(
        ch for ch in everything if ch in "\t\n\r" or 0x20 <= ord(ch) < 0x80
    )
    apostrophe = [e for e in trace_of(log, story["printed"]) if "'" in e["concept:name"][1]]
    assert apostrophe  # "Awaiting the user's answer"


# --- CSV ------------------------------------------------------------------------------


def lifecycle_of(row: HistoryEvent, started: set[str]) -> str | None:
    """The mapping of the module's docstring, written out again for the test."""
    state, kind = row.payload.get("state"), row.payload.get("type")
    if row.kind == "timer" or state == "COMPLETED":
        return "complete"
    if state == "READY":
        return "schedule" if kind == "UserTask" else None
    if state == "WAITING":
        return "schedule"
    if state == "STARTED":
        started.add(row.payload["task_id"])
        return "start"
    if state == "CANCELLED":
        return "ate_abort" if row.payload["task_id"] in started else "withdraw"
    return None


def test_a_csv_round_trip_keeps_every_event(db, story):
    with event_log.snapshot(db) as connection:
        stream = event_log.events(connection, event_log.Filters(), True)
        expected = [export_csv.csv_row(e, True) for e in stream]
    data = exported(db, "csv", people=True)
    rows = csv_rows(data)
    assert list(rows[0]) == list(export_csv.columns(True))
    assert [list(r.values()) for r in rows] == expected  # the CSV gives back every cell
    assert {r["description"] for r in rows} >= {NASTY}  # quotes, tabs, newlines and all

    by_key = {(int(r["instance_id"]), int(r["seq"])): r for r in rows}
    with db.reading() as session:
        numbers = dict(session.execute(select(Incident.instance_id, Incident.number)).all())
    started: dict[int, set[str]] = {}
    matched = 0
    for row in history_rows(db):
        if row.kind not in ("task", "timer"):
            assert (row.instance_id, row.seq) not in by_key  # commands, handlers: attributes
            continue
        lifecycle = lifecycle_of(row, started.setdefault(row.instance_id, set()))
        if lifecycle is None:
            assert (row.instance_id, row.seq) not in by_key
            continue
        event = by_key[(row.instance_id, row.seq)]
        matched += 1
        assert event["case_id"] == numbers[row.instance_id]
        assert datetime.fromisoformat(event["timestamp"]) == row.at
        assert event["element_id"] == row.element
        assert event["activity"] == row.payload["name"]
        assert event["lane"] == (row.payload["lane"] or "")
        assert event["lifecycle"] == lifecycle and event["kind"] == row.kind
    assert matched == len(rows) > 100


FORMULAS = (
    '=HYPERLINK("http://evil.example","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\uff1dcmd|' /C calc'!A0",
)


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_csv_cell_a_spreadsheet_would_run_starts_with_a_quote(db, desk, formula):
    """OWASP's CSV injection rule: a caller's title that starts like a formula is inert
    (the `description` column is the short description)."""
    number = desk.report(short_description=formula, description=formula)
    rows = [r for r in csv_rows(exported(db, "csv", people=True)) if r["case_id"] == number]
    assert rows and {r["description"] for r in rows} == {"'" + formula}
    harmless = desk.report(short_description="Paper = stuck", description="-1 sheet")
    rows = [r for r in csv_rows(exported(db, "csv", people=True)) if r["case_id"] == harmless]
    assert rows and all(r["description"] == "Paper = stuck" for r in rows)


def test_a_tab_or_carriage_return_first_is_neutralised_too():
    assert export_csv.inert("\t=1+1") == "'\t=1+1"
    assert export_csv.inert("\r=1+1") == "'\r=1+1"
    assert export_csv.inert("2026-01-05") == "2026-01-05"


# --- filters --------------------------------------------------------------------------


def cases(db, **filters) -> list[str]:
    rows = csv_rows(exported(db, "csv", event_log.Filters(**filters)))
    return sorted({r["case_id"] for r in rows})


def test_the_filters_choose_whole_incidents(db, story):
    everything = sorted(story.values())
    assert cases(db) == everything
    assert cases(db, version=1) == sorted(everything[:3])
    assert cases(db, version=2) == [story["opened"]]
    assert cases(db, since=event_log.parse_time("2026-01-06")) == [story["opened"]]
    until = event_log.parse_time("2026-01-05", end_of_day=True)
    assert cases(db, until=until) == sorted([story["printed"], story["breached"], story["request"]])
    assert cases(db, categories=("printing",)) == [story["printed"]]
    assert cases(db, categories=("printing", "software")) == sorted(
        [story["printed"], story["opened"]]
    )
    assert cases(db, breached=True) == [story["breached"]]
    assert story["breached"] not in cases(db, breached=False)
    priority = desk_priority(db, story["breached"])
    assert story["breached"] in cases(db, priorities=(priority,))
    assert story["printed"] not in cases(db, priorities=(priority,))
    assert cases(db, groups=("network-ops",)) == [story["breached"]]
    assert cases(db, groups=("nobody",)) == []
    whole = csv_rows(exported(db, "csv", event_log.Filters(categories=("printing",))))
    assert whole[0]["element_id"] == "problem_reported" and whole[-1]["element_id"] == "closed"


def desk_priority(db, number: str) -> int:
    with db.reading() as session:
        priority = session.scalar(select(Incident.priority).where(Incident.number == number))
    assert priority is not None
    return priority


# --- streaming: memory stays flat -----------------------------------------------------


def multiply(db, times: int) -> None:
    """`times` copies of every incident with its instance and history (new ids)."""
    with db.writing() as session:
        connection = session.connection()
        instances = [dict(r) for r in connection.execute(select(Instance.__table__)).mappings()]
        incidents = [dict(r) for r in connection.execute(select(Incident.__table__)).mappings()]
        history = [dict(r) for r in connection.execute(select(HistoryEvent.__table__)).mappings()]
        shift = max(r["id"] for r in instances)
        incident_shift = max(r["id"] for r in incidents)
        for k in range(1, times):
            connection.execute(
                insert(Instance), [{**r, "id": r["id"] + k * shift} for r in instances]
            )
            connection.execute(
                insert(Incident),
                [
                    {
                        **r,
                        "id": r["id"] + k * incident_shift,
                        "number": f"INC{r['id'] + k * incident_shift:07d}",
                        "instance_id": r["instance_id"] + k * shift,
                    }
                    for r in incidents
                ],
            )
            connection.execute(
                insert(HistoryEvent),
                [
                    {key: v for key, v in r.items() if key != "id"}
                    | {"instance_id": r["instance_id"] + k * shift}
                    for r in history
                ],
            )


def peak_while_exporting(db, fmt: str, filters: event_log.Filters) -> tuple[int, int, int]:
    """(peak bytes allocated, bytes written, events) of one export, output not kept."""
    stats = event_log.Stats()
    tracemalloc.start()
    try:
        size = sum(len(chunk) for chunk in export.export(db, fmt, filters, stats=stats))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, size, stats.events


def test_a_large_export_streams_in_flat_memory(db, runtime):
    run_demo(runtime, 20, seed=3)
    exported(db, "xes", event_log.Filters(groups=("nobody",)))  # imports and caches warmed
    few = {fmt: peak_while_exporting(db, fmt, event_log.Filters()) for fmt in ("xes", "csv")}
    multiply(db, 20)  # 400 demo incidents
    for fmt in ("xes", "csv"):
        some_peak, some_size, some_events = few[fmt]
        peak, size, events = peak_while_exporting(db, fmt, event_log.Filters())
        assert events == 20 * some_events > 10_000
        assert size >= 19 * some_size
        assert peak < size / 3, (fmt, peak, size)  # a fraction of what was written
        assert peak < 1.5 * some_peak + 256 * 1024, (fmt, peak, some_peak)  # 20 times more


# --- deskflow export ------------------------------------------------------------------


def cli(db, *args):
    return CliRunner().invoke(main, ["--database", db.url, *args], catch_exceptions=False)


def test_deskflow_export_writes_a_file_or_standard_output(db, story, tmp_path):
    out = tmp_path / "history.xes"
    result = cli(db, "export", "--format", "xes", "--out", str(out), "--by", "audrey")
    assert result.exit_code == 0, result.output
    log = etree.parse(str(out)).getroot()
    assert len(log.findall(f"{NS}trace")) == 4
    assert re.search(r"exported \d+ events of 4 incidents \(every incident\) to ", result.stderr)

    result = cli(db, "export", "--format", "csv", "--category", "printing", "--by", "audrey")
    assert result.exit_code == 0, result.output
    rows = csv_rows(result.stdout_bytes)
    assert {r["case_id"] for r in rows} == {story["printed"]}
    assert "caller" not in rows[0]
    assert "exported" not in result.stdout  # the summary goes to standard error

    people = cli(db, "export", "--format", "csv", "--breached", "--with-people")
    assert {r["caller"] for r in csv_rows(people.stdout_bytes)} == {"alice"}
    since = cli(db, "export", "--format", "csv", "--since", "2026-01-06", "--version", "2")
    assert {r["case_id"] for r in csv_rows(since.stdout_bytes)} == {story["opened"]}

    with db.reading() as session:
        looks = session.execute(select(AuditView.auditor, AuditView.what, AuditView.detail))
        recorded = [tuple(v) for v in looks]
    assert recorded[:2] == [
        ("audrey", "export xes (cli)", "every incident"),
        ("audrey", "export csv (cli)", "category printing"),
    ]
    assert recorded[2] == ("cli", "export csv (cli)", "breached, with people")


def test_deskflow_export_refuses_bad_input_cleanly(db):
    bad_time = cli(db, "export", "--format", "csv", "--since", "last tuesday")
    assert bad_time.exit_code == 1 and "cannot read 'last tuesday'" in bad_time.output
    bad_format = cli(db, "export", "--format", "json")
    assert bad_format.exit_code == 2 and "json" in bad_format.output


# --- the auditor's page ---------------------------------------------------------------


@pytest.fixture
def app(runtime):
    return app_with_accounts(runtime, "audrey", "tina")


def test_the_export_page_is_for_auditors(app, story, db):
    anonymous = app.test_client().get("/audit/export/")
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    tina = logged_in(app, "tina")
    assert tina.get("/audit/export/").status_code == 403
    assert tina.get("/audit/export/history.xes").status_code == 403
    assert app.test_client().get("/audit/export/history.csv").status_code == 302

    audrey = logged_in(app, "audrey")
    page = audrey.get("/audit/export/", query_string={"category": "printing"})
    assert page.status_code == 200
    tree = html.fromstring(page.get_data(as_text=True))
    fields = tree.xpath("//main//input[not(@type='hidden')] | //main//select")
    assert len(fields) >= 8
    for field in fields:  # every input has its label
        assert tree.xpath(f"//label[@for='{field.get('id')}']"), field.get("name")
    assert "1 incident(s) match: category printing" in tree.text_content()
    [xes_link] = tree.xpath("//a[@id='download-xes']/@href")
    assert xes_link == "/audit/export/history.xes?category=printing"

    download = audrey.get(xes_link)
    assert download.status_code == 200 and download.is_streamed
    assert download.mimetype == "application/xml"
    assert download.headers["Content-Disposition"].startswith("attachment; filename=")
    assert download.headers["Content-Disposition"].endswith('.xes"')
    log = etree.fromstring(download.get_data())
    [trace] = log.findall(f"{NS}trace")
    assert attributes(trace)["concept:name"] == ("string", story["printed"])

    download = audrey.get("/audit/export/history.csv", query_string={"people": "1"})
    assert download.status_code == 200 and download.is_streamed
    assert download.content_type == "text/csv; charset=utf-8"
    assert ".csv" in download.headers["Content-Disposition"]
    rows = csv_rows(download.get_data())
    assert {r["case_id"] for r in rows} == set(story.values())
    assert NASTY in {r["description"] for r in rows}

    with db.reading() as session:
        looks = session.execute(
            select(AuditView.auditor, AuditView.what, AuditView.detail).order_by(AuditView.id)
        )
        recorded = [tuple(v) for v in looks]
    assert recorded == [
        ("audrey", "export page", "category printing"),
        ("audrey", "export xes", "category printing"),
        ("audrey", "export csv", "every incident, with people"),
    ]


def test_unreadable_filters_are_refused(app, story):
    audrey = logged_in(app, "audrey")
    assert audrey.get("/audit/export/", query_string={"since": "soon"}).status_code == 400
    refused = audrey.get("/audit/export/history.csv", query_string={"priority": "high"})
    assert refused.status_code == 400
    filtered = audrey.get(
        "/audit/export/history.csv", query_string={"breached": "yes", "until": "2026-01-05"}
    )
    assert {r["case_id"] for r in csv_rows(filtered.get_data())} == {story["breached"]}
