"""Deploying versions: identical source is a no-op, a failed deploy stores nothing,
instances stay on the version they started on."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import main
from engine.errors import DiagramInvalid
from engine.process import definitions
from engine.process.definitions import Bundle, SourceFile
from engine.store.models import Definition, Incident, Instance

from .desk import Desk


def changed_bundle(old: str, new: str) -> Bundle:
    original = definitions.bundled()
    text = original.bpmn.text.replace(old, new, 1)
    assert text != original.bpmn.text
    return Bundle(SourceFile(original.bpmn.filename, text), original.dmns, original.forms)


def versions(db) -> list[int]:
    with db.reading() as session:
        return list(session.scalars(select(Definition.version).order_by(Definition.version)))


def test_identical_source_is_a_no_op(runtime):
    again = runtime.deploy(definitions.bundled(), deployed_by="test")
    assert (again.version, again.created) == (1, False)
    assert versions(runtime.db) == [1]


def test_changed_source_is_a_new_version_and_old_instances_stay_pinned(runtime, frozen_clock):
    desk = Desk(runtime, frozen_clock)
    old_number = desk.report()
    result = runtime.deploy(
        changed_bundle('name="Diagnose', 'name="Diagnose and fix'),
        deployed_by="owen",
        comment="clearer name",
    )
    assert (result.version, result.created) == (2, True)
    new_number = desk.report()
    with runtime.db.reading() as session:
        pinned = dict(
            session.execute(
                select(Incident.number, Definition.version)
                .join(Instance, Instance.id == Incident.instance_id)
                .join(Definition, Definition.id == Instance.definition_id)
            ).all()
        )
    assert pinned == {old_number: 1, new_number: 2}
    for number in (old_number, new_number):  # both run to the end on their own version
        desk.categorize(number)
        desk.resolve_first_line(number)
        desk.say(number, "confirm")
        assert desk.incident(number).state == "Closed"


def test_failed_deploy_stores_nothing(runtime):
    with pytest.raises(DiagramInvalid):
        runtime.deploy(
            changed_bundle('serviceTaskOperator id="notify"', 'serviceTaskOperator id="tweet"'),
            deployed_by="owen",
        )
    assert versions(runtime.db) == [1]


def test_cli_deploy_reports_problems_with_file_line_and_element(db, tmp_path):
    source = definitions.bundled()
    bad = tmp_path / "service_desk.bpmn"
    bad.write_text(
        source.bpmn.text.replace(
            'serviceTaskOperator id="categorize"', 'serviceTaskOperator id="categorise"', 1
        )
    )
    (tmp_path / source.dmns[0].filename).write_text(source.dmns[0].text)
    forms = tmp_path / "forms"
    forms.mkdir()
    for path in (definitions.DIAGRAMS_DIR / "forms").glob("*.json"):
        (forms / path.name).write_text(path.read_text())
    result = CliRunner().invoke(main, ["--database", db.url, "deploy", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "service_desk.bpmn line" in result.output
    assert "(suggest_category)" in result.output and "categorise" in result.output
    with db.reading() as session:
        assert session.scalar(select(func.count()).select_from(Definition)) == 0


def test_cli_deploy_of_hostile_xml_is_refused_cleanly(db, tmp_path):
    evil = tmp_path / "evil.bpmn"
    evil.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<d>&x;</d>'
    )
    result = CliRunner().invoke(main, ["--database", db.url, "deploy", str(evil)])
    assert result.exit_code == 1
    assert "DOCTYPE and entity declarations are not allowed" in result.output
    assert "root:" not in result.output


def test_cli_deploy_of_a_binary_file_is_refused_cleanly(db, tmp_path):
    binary = tmp_path / "image.bpmn"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = CliRunner().invoke(main, ["--database", db.url, "deploy", str(binary)])
    assert result.exit_code == 1
    assert "not UTF-8 text" in result.output and "Traceback" not in result.output
