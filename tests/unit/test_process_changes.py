"""What a process owner sees before deploying: the readable diff of two bundles and the
checks a draft must pass (the same as `deskflow deploy`, plus the forms' meta-schema)."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from engine.process import definitions, drafts
from engine.process.definitions import Bundle, SourceFile
from engine.process.version_diff import diff_bundles


def changed(*pairs: tuple[str, str], forms=None, dmn_text=None) -> Bundle:
    original = definitions.bundled()
    text = original.bpmn.text
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    dmns = original.dmns
    if dmn_text is not None:
        dmns = (replace(dmns[0], text=dmn_text),)
    return Bundle(SourceFile(original.bpmn.filename, text), dmns, forms or original.forms)


def changes_of(bundle: Bundle) -> dict[str, list[str]]:
    diff = diff_bundles(definitions.bundled(), bundle)
    return {c.element.id: c.changes for c in diff.changed}


def test_identical_bundles_have_no_difference():
    assert diff_bundles(definitions.bundled(), definitions.bundled()).empty


def test_the_diff_names_each_changed_extension_value():
    bundle = changed(
        ('serviceTaskOperator id="sla_targets"', 'serviceTaskOperator id="sla_targets_v2"'),
        ('resultVariable="assignment"', 'resultVariable="routing"'),
        (
            '<spiffworkflow:parameter id="to" type="str" value="&quot;stakeholders&quot;" />',
            '<spiffworkflow:parameter id="to" type="str" value="&quot;board&quot;" />',
        ),
        (
            '<spiffworkflow:property name="form" value="categorize" />',
            '<spiffworkflow:property name="form" value="categorize_v2" />',
        ),
        ('sla["warning_at"]', 'sla["escalation_at"]'),
        (">resolved</bpmn:conditionExpression>", ">resolved and True</bpmn:conditionExpression>"),
        ('name="Diagnose"', 'name="Diagnose the problem"'),
    )
    found = changes_of(bundle)
    assert found["set_sla_targets"] == ["operator: sla_targets → sla_targets_v2"]
    assert found["escalate_to_specialists"] == ["result variable: assignment → routing"]
    assert found["notify_stakeholders"] == ['parameter to: "stakeholders" → "board"']
    assert found["categorize_incident"] == ["form: categorize → categorize_v2"]
    assert found["sla_warning_timer"] == [
        'timer (timeDate): sla["warning_at"] → sla["escalation_at"]'
    ]
    assert found["flow_first_line_resolved"] == ["condition: resolved → resolved and True"]
    assert found["diagnose"] == ["name: Diagnose → Diagnose the problem"]


def as_manual_task(text: str, element: str) -> str:
    start = text.index(f'<bpmn:userTask id="{element}"')
    end = text.index("</bpmn:userTask>", start)
    body = text[start:end].replace("<bpmn:userTask", "<bpmn:manualTask", 1)
    return text[:start] + body + "</bpmn:manualTask>" + text[end + len("</bpmn:userTask>") :]


def test_the_diff_sees_types_lanes_removals_forms_and_decision_tables():
    original = definitions.bundled()
    forms = {**original.forms}
    forms["hold"] = {**forms["hold"], "required": ["reason", "waiting_for"]}
    del forms["resume"]
    rule = re.search(r"      <rule id=\"rule_major\">.*?</rule>\n", original.dmns[0].text, re.S)
    assert rule is not None
    bundle = changed(
        ("<bpmn:flowNodeRef>diagnose</bpmn:flowNodeRef>", ""),
        forms=forms,
        dmn_text=original.dmns[0].text.replace(rule.group(0), ""),
    )
    bundle = replace(
        bundle, bpmn=replace(bundle.bpmn, text=as_manual_task(bundle.bpmn.text, "diagnose"))
    )
    diff = diff_bundles(original, bundle)
    found = {c.element.id: c.changes for c in diff.changed}
    assert found["diagnose"] == ["type: userTask → manualTask", "lane: Service Desk → (none)"]
    assert diff.forms.removed == ["resume"]
    assert diff.forms.changed == [
        {"name": "hold", "changes": ["required: reason → reason, waiting_for"]}
    ]
    rules = original.dmns[0].text.count("<rule ")
    assert diff.dmn.changed == [
        {"name": "priority.dmn", "changes": [f"rules: {rules} → {rules - 1}"]}
    ]


def test_removed_and_added_elements_are_listed():
    bundle = changed(('id="notify_stakeholders"', 'id="inform_stakeholders"'))
    diff = diff_bundles(definitions.bundled(), bundle)
    assert [e.id for e in diff.added] == ["inform_stakeholders"]
    assert [e.id for e in diff.removed] == ["notify_stakeholders"]
    assert diff.as_json()["added"] == [
        {"id": "inform_stakeholders", "name": "Notify stakeholders", "type": "serviceTask"}
    ]


def test_the_bundled_process_validates():
    result = drafts.validate(definitions.bundled(), "service_desk")
    assert result.as_json() == {"ok": True, "errors": [], "warnings": []}


def test_validation_refuses_scripts_with_the_element():
    bundle = changed(
        (
            '<bpmn:userTask id="diagnose" name="Diagnose">\n        <bpmn:extensionElements>',
            '<bpmn:userTask id="diagnose" name="Diagnose">\n        <bpmn:extensionElements>'
            "<spiffworkflow:preScript>import os</spiffworkflow:preScript>",
        )
    )
    result = drafts.validate(bundle, "service_desk")
    assert not result.ok
    assert any(p.element == "diagnose" and "script" in p.message for p in result.errors)


def test_validation_says_when_the_process_id_changes():
    bundle = changed(
        ('<bpmn:process id="service_desk"', '<bpmn:process id="service_desk_2"'),
        ('processRef="service_desk"', 'processRef="service_desk_2"'),
    )
    result = drafts.validate(bundle, "service_desk")
    assert [p.message for p in result.errors if p.element == "service_desk_2"] == [
        "the executable process is 'service_desk_2', but this is process 'service_desk'; "
        "keep the process id"
    ]


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        (
            Bundle(SourceFile("x.bpmn", "<a/>"), (SourceFile("../evil.dmn", "<a/>"),)),
            "a DMN file name is",
        ),
        (Bundle(SourceFile("x.bpmn", "<a/>"), (), {"bad name": {}}), "a form name is"),
        (Bundle(SourceFile("x.xml", "<a/>")), "must end in .bpmn"),
    ],
)
def test_drafts_refuse_bad_names(bundle, message):
    result = drafts.validate(bundle)
    assert any(message in p.message for p in result.errors), result.errors
