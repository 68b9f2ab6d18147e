"""The BPMN modeler keeps what the engine reads: every bundled diagram, imported and exported
by bpmn-moddle with the modeler's own spiffworkflow descriptor (web/modeler/spiffworkflow.json,
the one bundled into the browser modeler), has the same spiffworkflow: extension elements
afterwards (canonical XML, owner by owner) and still compiles as a Deskflow bundle.

Runs web/modeler/roundtrip.mjs with node; node and node_modules come from `make install`,
and their absence fails this test rather than skipping it."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from lxml import etree

from engine.process import definitions

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "web" / "modeler" / "roundtrip.mjs"
DESCRIPTOR = ROOT / "web" / "modeler" / "spiffworkflow.json"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DIAGRAMS = sorted(definitions.DIAGRAMS_DIR.glob("*.bpmn"))


def _roundtrip(paths: list[Path]) -> dict:
    node = shutil.which("node")
    assert node, "node is not on PATH: `make install` needs Node.js (and npm) for the web UI"
    assert (ROOT / "node_modules" / "bpmn-moddle" / "package.json").is_file(), (
        "node_modules/bpmn-moddle is missing: run `make install` (npm ci)"
    )
    done = subprocess.run(
        [node, str(SCRIPT), *[str(p) for p in paths]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"roundtrip.mjs failed:\n{done.stderr}"
    return json.loads(done.stdout)["files"]


@pytest.fixture(scope="module")
def exported() -> dict[str, str]:
    """Each bundled diagram's path -> the XML the modeler's moddle wrote back."""
    assert DIAGRAMS, f"no .bpmn files in {definitions.DIAGRAMS_DIR}"
    files = _roundtrip(DIAGRAMS)
    return {path: result["xml"] for path, result in files.items()}


def _parse(text: str) -> etree._Element:
    parser = etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True)
    return etree.fromstring(text.encode("utf-8"), parser)


def _owner(element: etree._Element) -> str:
    """The id of the nearest enclosing element outside the spiffworkflow namespace."""
    parent = element.getparent()
    while parent is not None:
        if etree.QName(parent).namespace != SPIFF and parent.get("id"):
            return f"{etree.QName(parent).localname}#{parent.get('id')}"
        parent = parent.getparent()
    return "(document)"


def _canonical(element: etree._Element) -> str:
    copy = etree.fromstring(etree.tostring(element))
    for node in copy.iter():  # layout whitespace between elements is not content
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return etree.tostring(copy, method="c14n", exclusive=True).decode()


def spiff_extensions(text: str) -> dict[str, list[str]]:
    """Owner element -> the canonical XML of each outermost spiffworkflow: element in it,
    in document order, plus its spiffworkflow: attributes (on non-spiffworkflow elements)."""
    root = _parse(text)
    found: dict[str, list[str]] = defaultdict(list)
    for element in root.iter(etree.Element):
        qname = etree.QName(element)
        parent = element.getparent()
        if qname.namespace == SPIFF and (parent is None or etree.QName(parent).namespace != SPIFF):
            found[_owner(element)].append(_canonical(element))
        elif qname.namespace != SPIFF:
            for name, value in sorted(element.attrib.items()):
                if etree.QName(name).namespace == SPIFF:
                    key = f"{qname.localname}#{element.get('id')}"
                    found[key].append(f"@{etree.QName(name).localname}={value}")
    return dict(found)


def test_the_descriptor_is_the_one_the_modeler_bundles():
    descriptor = json.loads(DESCRIPTOR.read_text())
    assert descriptor["uri"] == SPIFF and descriptor["prefix"] == "spiffworkflow"
    source = (ROOT / "web" / "modeler" / "modeler.js").read_text()
    assert "./spiffworkflow.json" in source  # the browser modeler imports the same file
    names = {t["name"] for t in descriptor["types"]}
    assert {
        "serviceTaskOperator",
        "parameters",
        "parameter",
        "properties",
        "property",
        "messageVariable",
        "calledDecisionId",
        "preScript",
        "postScript",
    } <= names


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_spiffworkflow_extension_survives_import_and_export(path, exported):
    before = spiff_extensions(path.read_text(encoding="utf-8"))
    after = spiff_extensions(exported[str(path)])
    assert before, f"{path.name} has no spiffworkflow: extensions to compare"
    assert sorted(after) == sorted(before), "owners of extension elements differ"
    for owner, elements in before.items():
        assert after[owner] == elements, f"extension elements of {owner} changed"


def test_the_bundled_process_exported_by_the_modeler_still_compiles(exported):
    original = definitions.bundled()
    path = definitions.DIAGRAMS_DIR / original.bpmn.filename
    xml = exported[str(path)]
    assert xml != original.bpmn.text  # it went through moddle (formatting differs)
    bundle = definitions.Bundle(
        definitions.SourceFile(original.bpmn.filename, xml), original.dmns, original.forms
    )
    compiled = definitions.compile_bundle(bundle)
    reference = definitions.compile_bundle(original)
    assert compiled.key == reference.key
    assert sorted(compiled.elements) == sorted(reference.elements)
    for element_id, element in reference.elements.items():
        assert compiled.elements[element_id] == element, element_id
    assert _operators(compiled) == _operators(reference)
    assert len(_operators(reference)) >= 10  # the bundled process has service tasks


def _operators(definition) -> dict[str, tuple]:
    """Each service task (subprocesses too) -> its operator, parameters, result variable."""
    return {
        f"{process.name}/{name}": (spec.operation_name, spec.operation_params, spec.result_variable)
        for process in [definition.spec, *definition.subprocess_specs.values()]
        for name, spec in process.task_specs.items()
        if hasattr(spec, "operation_name")
    }
