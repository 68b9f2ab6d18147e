"""Hostile diagrams: a deployed diagram is code, and it runs restricted.

Each attempt (import os, read /etc/passwd, walk __subclasses__, loop forever, allocate
without bound) is tried as a script task, a pre/post-script, a gateway condition, a timer
expression, a service-task parameter, the `group` property and a DMN cell. Deploying is
refused with the element and the reason and stores nothing; a diagram stored anyway (lint
switched off) stops at that element with a clear error, changes nothing, and the desk
keeps serving.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import main
from engine.errors import DiagramInvalid, ProcessError
from engine.process import definitions, lint
from engine.process.definitions import Bundle, SourceFile
from engine.store.models import Definition

from .desk import Desk

ATTEMPTS = {
    "import": ("import os", "an import is not allowed"),
    "open": ("open('/etc/passwd')", "'open' is not allowed"),
    "subclasses": (
        "().__class__.__bases__[0].__subclasses__()",
        "'__class__' is not allowed: names and attributes starting with '_' are private",
    ),
    "loop": ("while True: pass", "a loop is not allowed"),
    "allocation": ("'x' * 10**10", "the result would have 10,000,000,000 items or characters"),
}

SET_SLA_TARGETS = """<bpmn:serviceTask id="set_sla_targets" name="Set SLA targets">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="sla_targets" resultVariable="sla">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="priority" type="int" value="priority" />
            <spiffworkflow:parameter id="opened_at" type="str" value="opened_at" />
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>flow_prioritized</bpmn:incoming>
      <bpmn:outgoing>flow_sla_set</bpmn:outgoing>
    </bpmn:serviceTask>"""
DIAGNOSE_FORM = '<spiffworkflow:property name="form" value="diagnose" />'


def script_task(script: str) -> str:
    """`set_sla_targets` turned into a script task (same id, same place in the flow)."""
    return (
        '<bpmn:scriptTask id="set_sla_targets" name="Set SLA targets">'
        "<bpmn:incoming>flow_prioritized</bpmn:incoming>"
        "<bpmn:outgoing>flow_sla_set</bpmn:outgoing>"
        f"<bpmn:script>{escape(script)}</bpmn:script></bpmn:scriptTask>"
    )


def pre_script(script: str) -> str:
    return SET_SLA_TARGETS.replace(
        "<bpmn:extensionElements>",
        f"<bpmn:extensionElements><spiffworkflow:preScript>{escape(script)}"
        "</spiffworkflow:preScript>",
    )


def post_script(script: str) -> str:
    return SET_SLA_TARGETS.replace(
        "<bpmn:extensionElements>",
        f"<bpmn:extensionElements><spiffworkflow:postScript>{escape(script)}"
        "</spiffworkflow:postScript>",
    )


# where an attempt goes: (bpmn edit, dmn edit) and the element the refusal names
PLACES = {
    "script task": (lambda a: (SET_SLA_TARGETS, script_task(a)), None, "set_sla_targets"),
    "pre-script": (lambda a: (SET_SLA_TARGETS, pre_script(a)), None, "set_sla_targets"),
    "post-script": (lambda a: (SET_SLA_TARGETS, post_script(a)), None, "set_sla_targets"),
    "condition": (lambda a: (">priority == 1<", f">{escape(a)}<"), None, "flow_major"),
    "timer": (lambda a: ('>sla["warning_at"]<', f">{escape(a)}<"), None, "sla_warning_timer"),
    "parameter": (
        lambda a: ('value="priority" />', f"value={quoteattr(a)} />"),
        None,
        "set_sla_targets",
    ),
    "group property": (
        lambda a: (
            DIAGNOSE_FORM,
            DIAGNOSE_FORM + f'<spiffworkflow:property name="group" value={quoteattr(a)} />',
        ),
        None,
        "diagnose",
    ),
    "DMN input cell": (
        None,
        lambda a: ('<text>"high"</text>', f"<text>{escape(a)}</text>"),
        "prioritize",
    ),
    "DMN output cell": (  # the rule a medium/medium report matches
        None,
        lambda a: (
            '<outputEntry id="rule_medium_medium_priority">\n          <text>3</text>',
            f'<outputEntry id="rule_medium_medium_priority">\n          <text>{escape(a)}</text>',
        ),
        "prioritize",
    ),
}


def hostile(place: str, attempt: str) -> Bundle:
    bpmn_edit, dmn_edit, _element = PLACES[place]
    original = definitions.bundled()
    bpmn, dmn = original.bpmn.text, original.dmns[0].text
    if bpmn_edit is not None:
        old, new = bpmn_edit(attempt)
        assert old in bpmn
        bpmn = bpmn.replace(old, new, 1)
    if dmn_edit is not None:
        old, new = dmn_edit(attempt)
        assert old in dmn
        dmn = dmn.replace(old, new, 1)
    return Bundle(
        SourceFile(original.bpmn.filename, bpmn),
        (SourceFile(original.dmns[0].filename, dmn),),
        original.forms,
    )


def versions(db) -> list[int]:
    with db.reading() as session:
        return list(session.scalars(select(Definition.version).order_by(Definition.version)))


# --- validate time: refused, nothing stored --------------------------------------------


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=list(ATTEMPTS))
@pytest.mark.parametrize("place", PLACES, ids=list(PLACES))
def test_deploying_a_hostile_diagram_is_refused_naming_element_and_reason(runtime, place, attempt):
    text, reason = ATTEMPTS[attempt]
    element = PLACES[place][2]
    with pytest.raises(DiagramInvalid) as caught:
        runtime.deploy(hostile(place, text), deployed_by="mallory")
    problems = [p for p in caught.value.problems if p.element == element]
    assert problems, [str(p) for p in caught.value.problems]
    if "script" in place:
        assert any("carries a script" in p.message for p in problems)
    else:
        assert any(reason in p.message for p in problems), [p.message for p in problems]
        assert all(p.line is not None for p in problems)
    assert versions(runtime.db) == [1]  # nothing stored


def write_bundle(folder, bundle: Bundle):
    bpmn = folder / bundle.bpmn.filename
    bpmn.write_text(bundle.bpmn.text)
    for dmn in bundle.dmns:
        (folder / dmn.filename).write_text(dmn.text)
    forms = folder / "forms"
    forms.mkdir()
    for path in (definitions.DIAGRAMS_DIR / "forms").glob("*.json"):
        (forms / path.name).write_text(path.read_text())
    return bpmn


@pytest.mark.parametrize(
    ("place", "attempt"),
    [
        ("script task", "import"),
        ("condition", "subclasses"),
        ("DMN input cell", "open"),
        ("timer", "allocation"),
        ("parameter", "loop"),
    ],
)
def test_cli_deploy_of_a_hostile_diagram_says_where_and_why(db, tmp_path, place, attempt):
    text, reason = ATTEMPTS[attempt]
    bpmn = write_bundle(tmp_path, hostile(place, text))
    result = CliRunner().invoke(main, ["--database", db.url, "deploy", str(bpmn)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"({PLACES[place][2]})" in result.output
    assert ("carries a script" if place == "script task" else reason) in result.output
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Definition)) == 0


# --- run time: stored anyway (lint off), the command stops cleanly ----------------------


@pytest.fixture
def unlinted(monkeypatch):
    """Lint switched off, as if a hostile diagram had reached the database some other way."""
    monkeypatch.setattr(lint, "lint", lambda *args, **kwargs: [])


@pytest.fixture
def desk(runtime, frozen_clock) -> Desk:
    return Desk(runtime, frozen_clock)


def stops_cleanly(desk: Desk, number: str, element: str, reason: str) -> None:
    """Categorizing runs the hostile element: the command fails fast, changes nothing,
    records one error event and leaves the reason on the incident."""
    before = desk.snapshot(number)
    with pytest.raises(ProcessError) as caught:
        desk.categorize(number)
    assert caught.value.element == element
    assert reason in str(caught.value)
    assert desk.snapshot(number) == before
    incident = desk.incident(number)
    assert reason in incident.last_error
    errors = [e for e in desk.history(number) if e["kind"] == "error"]
    assert len(errors) == 1 and errors[0]["element"] == element


def keeps_serving(desk: Desk) -> None:
    """The desk goes on: a good version deployed again runs an incident to the end."""
    desk.runtime.deploy(definitions.bundled(), deployed_by="owen", comment="roll back")
    number = desk.report()
    desk.categorize(number)
    desk.resolve_first_line(number)
    desk.say(number, "confirm")
    assert desk.incident(number).state == "Closed"


RUN_TIME = [
    # (place, element that stops, attempt, reason at run time)
    ("condition", "is_major_incident", "subclasses", ATTEMPTS["subclasses"][1]),
    ("condition", "is_major_incident", "open", ATTEMPTS["open"][1]),
    ("condition", "is_major_incident", "import", ATTEMPTS["import"][1]),
    ("condition", "is_major_incident", "loop", ATTEMPTS["loop"][1]),
    ("condition", "is_major_incident", "allocation", ATTEMPTS["allocation"][1]),
    ("parameter", "set_sla_targets", "subclasses", ATTEMPTS["subclasses"][1]),
    ("parameter", "set_sla_targets", "allocation", ATTEMPTS["allocation"][1]),
    ("timer", "sla_warning_timer", "open", ATTEMPTS["open"][1]),
    ("timer", "sla_warning_timer", "loop", ATTEMPTS["loop"][1]),
    ("DMN input cell", "prioritize", "subclasses", ATTEMPTS["subclasses"][1]),
    ("DMN output cell", "prioritize", "open", ATTEMPTS["open"][1]),
    ("script task", "set_sla_targets", "import", "scripts are not allowed"),
    ("script task", "set_sla_targets", "loop", "scripts are not allowed"),
    ("pre-script", "set_sla_targets", "subclasses", "scripts are not allowed"),
    ("post-script", "set_sla_targets", "allocation", "scripts are not allowed"),
]


@pytest.mark.parametrize(
    ("place", "element", "attempt", "reason"),
    RUN_TIME,
    ids=[f"{place}-{attempt}" for place, _, attempt, _ in RUN_TIME],
)
def test_a_stored_hostile_diagram_stops_at_its_element_and_the_desk_keeps_serving(
    desk, unlinted, place, element, attempt, reason
):
    number_before = desk.report()  # on the good version 1
    deployed = desk.runtime.deploy(hostile(place, ATTEMPTS[attempt][0]), deployed_by="mallory")
    assert deployed.created
    number = desk.report()  # on the hostile version
    stops_cleanly(desk, number, element, reason)
    desk.categorize(number_before)  # an incident on the good version is not disturbed
    assert desk.incident(number_before).priority == 3
    keeps_serving(desk)


def test_a_stored_hostile_group_property_is_refused_and_changes_nothing(desk, unlinted):
    # `group` is evaluated while the open tasks are projected, after the engine steps:
    # the command stops there like anywhere else, with its error event
    desk.runtime.deploy(hostile("group property", ATTEMPTS["subclasses"][0]), deployed_by="mallory")
    number = desk.report()
    stops_cleanly(desk, number, "diagnose", ATTEMPTS["subclasses"][1])  # diagnose names it
    keeps_serving(desk)


def test_a_script_that_would_write_a_file_never_runs(desk, unlinted, tmp_path):
    target = tmp_path / "pwned"
    script = f"open({str(target)!r}, 'w').write('pwned')"
    desk.runtime.deploy(
        hostile("script task", script), deployed_by="mallory"
    )  # stored only because lint is off
    number = desk.report()
    stops_cleanly(desk, number, "set_sla_targets", "scripts are not allowed")
    assert not target.exists()


def test_an_allocation_known_only_at_run_time_is_stopped_before_it_is_made(desk):
    # valid at deploy (lint cannot know `priority`), bounded when it runs: no bypass needed
    bundle = hostile("parameter", "'x' * (priority * 10**10)")
    desk.runtime.deploy(bundle, deployed_by="mallory")
    number = desk.report()
    stops_cleanly(
        desk, number, "set_sla_targets", "the result would have 30,000,000,000 items or characters"
    )
    keeps_serving(desk)


def test_a_loop_known_only_at_run_time_is_stopped(desk):
    bundle = hostile("parameter", "sum(range(priority * 10**9))")
    desk.runtime.deploy(bundle, deployed_by="mallory")
    number = desk.report()
    stops_cleanly(desk, number, "set_sla_targets", "range() of more than 10,000 numbers")
