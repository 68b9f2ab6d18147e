"""Reading, validating and linting diagrams: hostile and broken input is refused clearly."""

from __future__ import annotations

import re

import pytest

from engine.errors import DiagramInvalid
from engine.process import definitions
from engine.process.definitions import Bundle, SourceFile, compile_bundle, parse_xml


def bundled_with(bpmn: str | None = None, dmn: str | None = None) -> Bundle:
    original = definitions.bundled()
    return Bundle(
        SourceFile(original.bpmn.filename, bpmn if bpmn is not None else original.bpmn.text),
        (SourceFile(original.dmns[0].filename, dmn if dmn is not None else original.dmns[0].text),),
        original.forms,
    )


def problems_of(bundle: Bundle) -> list:
    with pytest.raises(DiagramInvalid) as caught:
        compile_bundle(bundle)
    return caught.value.problems


def test_bundled_diagram_compiles_with_three_lanes():
    definition = compile_bundle(definitions.bundled())
    lanes = {e.lane for e in definition.elements.values() if e.lane}
    assert {"User", "Service Desk", "Specialist Support"} <= lanes
    assert definition.key == "service_desk"


def test_malformed_xml_is_refused_with_its_line():
    problems = problems_of(bundled_with(bpmn="<definitions>\n<process id='x'>\n</definitions>"))
    assert problems[0].line is not None
    assert "not well-formed" in problems[0].message


@pytest.mark.parametrize(
    "payload",
    [
        # XXE: would read a local file
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        "<d>&xxe;</d>",
        # billion laughs
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
        "<lolz>&lol2;</lolz>",
        # external DTD over the network
        '<?xml version="1.0"?>\n<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">\n<d/>',
    ],
)
def test_doctype_and_entities_are_refused_before_parsing(payload):
    with pytest.raises(DiagramInvalid) as caught:
        parse_xml(SourceFile("evil.bpmn", payload))
    assert "DOCTYPE and entity declarations are not allowed" in str(caught.value)
    assert caught.value.problems[0].line == 2


def test_huge_file_is_refused_by_size_without_reading_it(tmp_path):
    huge = tmp_path / "huge.bpmn"
    with huge.open("wb") as f:
        f.truncate(50 * 1024 * 1024)  # 50 MB, sparse
    with pytest.raises(DiagramInvalid) as caught:
        definitions.read_source(huge)
    assert "the limit is" in str(caught.value)


def test_missing_lane_is_refused_with_element_and_line():
    source = definitions.bundled().bpmn.text
    broken = re.sub(r'name="Specialist Support"', 'name="Second Line"', source, count=1)
    problems = problems_of(bundled_with(bpmn=broken))
    assert any("lane 'Specialist Support' is missing" in p.message for p in problems)
    assert all(p.line for p in problems if "lane" in p.message)


def test_unknown_operator_is_refused_naming_the_known_ones():
    source = definitions.bundled().bpmn.text
    broken = source.replace(
        'serviceTaskOperator id="categorize"', 'serviceTaskOperator id="categorise"', 1
    )
    assert broken != source
    problems = problems_of(bundled_with(bpmn=broken))
    [problem] = [p for p in problems if "categorise" in p.message]
    assert problem.element == "suggest_category"
    assert problem.line is not None
    assert "known: " in problem.message and "categorize" in problem.message


def test_bare_timer_duration_is_refused_with_a_hint():
    source = definitions.bundled().bpmn.text
    broken = re.sub(
        r"(<bpmn:timeDuration[^>]*>)[^<]+(</bpmn:timeDuration>)", r"\1PT4H\2", source, count=1
    )
    assert broken != source
    problems = problems_of(bundled_with(bpmn=broken))
    assert any('did you mean the string "PT4H"' in p.message for p in problems)


def test_timer_expression_that_does_not_parse_is_refused():
    source = definitions.bundled().bpmn.text
    broken = re.sub(
        r"(<bpmn:timeDuration[^>]*>)[^<]+(</bpmn:timeDuration>)",
        r'\1"four hours"\2',
        source,
        count=1,
    )
    problems = problems_of(bundled_with(bpmn=broken))
    assert any("is not an ISO 8601" in p.message for p in problems)


def test_dmn_gap_is_refused_naming_the_missing_cell():
    dmn = definitions.bundled().dmns[0].text
    # drop the rule for impact low × urgency low (the last rule of the table)
    rules = re.findall(r"<rule [\s\S]*?</rule>", dmn)
    assert len(rules) == 10  # a declared major incident, then the 3 x 3 matrix
    broken = dmn.replace(rules[-1], "")
    problems = problems_of(bundled_with(dmn=broken))
    assert any(
        "has no rule for major_incident=False × impact='low' × urgency='low'" in p.message
        for p in problems
    )
    assert problems[0].element == "prioritize"


def test_script_tasks_are_refused():
    source = definitions.bundled().bpmn.text
    script = (
        '<bpmn:scriptTask id="evil" name="Evil"><bpmn:script>import os</bpmn:script>'
        "</bpmn:scriptTask>"
    )
    broken = source.replace("</bpmn:laneSet>", "</bpmn:laneSet>" + script, 1)
    problems = problems_of(bundled_with(bpmn=broken))
    assert any("carries a script" in p.message and p.element == "evil" for p in problems)


def test_user_task_naming_a_missing_form_is_refused():
    source = definitions.bundled().bpmn.text
    broken = source.replace('name="form" value="diagnose"', 'name="form" value="diagnosis"', 1)
    assert broken != source
    problems = problems_of(bundled_with(bpmn=broken))
    assert any("names form 'diagnosis', which does not exist" in p.message for p in problems)


def test_user_task_outside_every_lane_is_refused():
    # what a modeler does when it drops a subprocess's own lane memberships
    source = definitions.bundled().bpmn.text
    broken = re.sub(r"<bpmn:flowNodeRef>investigate_and_resolve</bpmn:flowNodeRef>\s*", "", source)
    assert broken != source
    problems = problems_of(bundled_with(bpmn=broken))
    assert any(
        p.element == "investigate_and_resolve" and "is in no lane" in p.message for p in problems
    )


def test_form_categories_must_match_the_catalog():
    original = definitions.bundled()
    forms = {**original.forms}
    categorize = {**forms["categorize"], "properties": {**forms["categorize"]["properties"]}}
    categorize["properties"]["category"] = {
        **categorize["properties"]["category"],
        "enum": ["network", "hardware", "plumbing"],
    }
    forms["categorize"] = categorize
    problems = problems_of(Bundle(original.bpmn, original.dmns, forms))
    [problem] = [p for p in problems if "category choices" in p.message]
    assert "not in the catalog: plumbing" in problem.message and "missing access" in problem.message


def test_form_subcategories_must_belong_to_their_category_as_in_the_catalog():
    original = definitions.bundled()
    forms = {**original.forms}
    rules = [dict(rule) for rule in forms["categorize"]["allOf"]]
    email = next(
        i for i, r in enumerate(rules) if r["if"]["properties"]["category"]["const"] == "email"
    )
    rules[email] = {
        "if": rules[email]["if"],
        "then": {"properties": {"subcategories": {"items": {"enum": ["mailbox", "outlook"]}}}},
    }
    forms["categorize"] = {**forms["categorize"], "allOf": rules}
    problems = problems_of(Bundle(original.bpmn, original.dmns, forms))
    [problem] = [p for p in problems if "subcategories allowed" in p.message]
    assert "'email'" in problem.message and "calendar, delivery, mailbox, spam" in problem.message
    compile_bundle(original)  # the bundled rules equal the catalog


def test_a_subcategory_of_another_category_is_refused_next_to_the_field():
    from engine.errors import FormInvalid
    from engine.process.forms import validate_form

    schema = definitions.bundled().forms["categorize"]
    ok = validate_form("categorize", schema, {"category": "email", "subcategories": ["spam"]})
    assert ok["subcategories"] == ["spam"]
    with pytest.raises(FormInvalid) as refused:
        validate_form("categorize", schema, {"category": "email", "subcategories": ["vpn"]})
    assert "vpn" in refused.value.errors["subcategories"]
