"""Process definitions: read BPMN/DMN safely, validate, parse, lint, cache.

A *bundle* is what one deploy stores as one version: a BPMN file, the DMN files it uses
and the JSON Schema forms its user tasks name. `compile_bundle` turns a bundle into a
`ProcessDefinition` (the parsed SpiffWorkflow specs plus what the engine needs to know
about each element) or raises `DiagramInvalid` listing every problem with file, line and
element id.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import VALIDATOR

from engine.errors import DiagramInvalid, Problem
from engine.process.specs import properties, timers_of

DIAGRAMS_DIR = Path(__file__).resolve().parents[2] / "diagrams"
MAX_SOURCE_BYTES = int(os.environ.get("DESKFLOW_MAX_DIAGRAM_BYTES", 2 * 1024 * 1024))
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

# No DTDs at all, no entity expansion, no network: a diagram is plain XML.
_SAFE_PARSER_OPTIONS = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
)


@dataclass(frozen=True)
class SourceFile:
    filename: str
    text: str


@dataclass(frozen=True)
class Bundle:
    """Everything one version of a process is made of."""

    bpmn: SourceFile
    dmns: tuple[SourceFile, ...] = ()
    forms: dict[str, dict] = field(default_factory=dict)

    def sha256(self) -> str:
        canonical = json.dumps(
            {
                "bpmn": [self.bpmn.filename, self.bpmn.text],
                "dmns": sorted([d.filename, d.text] for d in self.dmns),
                "forms": self.forms,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Element:
    """What the engine needs to know about one BPMN element of a definition."""

    id: str
    name: str
    kind: str
    lane: str | None
    properties: dict[str, str]
    is_timer: bool = False


@dataclass
class ProcessDefinition:
    """A parsed, linted bundle, ready to run."""

    key: str
    spec: Any
    subprocess_specs: dict[str, Any]
    forms: dict[str, dict]
    elements: dict[str, Element]

    @functools.cached_property
    def element_ids(self) -> set[str]:
        """The ids of the diagram's elements (what the history records changes of)."""
        return set(self.elements)


# --- reading ---------------------------------------------------------------------------


def read_source(path: str | Path) -> SourceFile:
    """Read a diagram file, refusing one over the size cap before reading it whole."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise DiagramInvalid(
            [Problem(path.name, f"file is {size:,} bytes; the limit is {MAX_SOURCE_BYTES:,}")]
        )
    try:
        return SourceFile(path.name, path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise DiagramInvalid(
            [Problem(path.name, f"not UTF-8 text (byte {err.start}); save the file as UTF-8")]
        ) from None


def parse_xml(source: SourceFile) -> etree._Element:
    """Parse XML with no DTD, no entities, no network; raise DiagramInvalid on any problem."""
    data = source.text.encode("utf-8")
    if len(data) > MAX_SOURCE_BYTES:
        raise DiagramInvalid(
            [
                Problem(
                    source.filename,
                    f"file is {len(data):,} bytes; the limit is {MAX_SOURCE_BYTES:,}",
                )
            ]
        )
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        line = data[: data.find(b"<!")].count(b"\n") + 1
        raise DiagramInvalid(
            [
                Problem(
                    source.filename,
                    "DOCTYPE and entity declarations are not allowed in diagrams; remove them",
                    line=line,
                )
            ]
        )
    parser = etree.XMLParser(**_SAFE_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as err:
        raise DiagramInvalid(
            [Problem(source.filename, f"not well-formed XML: {err.msg}", line=err.lineno)]
        ) from None
    return root


def bundle_from_paths(paths: Iterable[str | Path]) -> list[Bundle]:
    """Group files named on the command line into bundles (one per BPMN file).

    DMN files named explicitly join every bundle; DMN files beside a BPMN file join its
    bundle too. Forms come from the `forms/` folder beside each BPMN file.
    """
    files = [Path(p) for p in paths]
    for path in files:
        if not path.is_file():
            raise DiagramInvalid([Problem(str(path), "no such file")])
        if path.suffix not in (".bpmn", ".dmn"):
            raise DiagramInvalid([Problem(path.name, "expected a .bpmn or .dmn file")])
    explicit_dmns = {p.name: read_source(p) for p in files if p.suffix == ".dmn"}
    bundles = []
    for path in (p for p in files if p.suffix == ".bpmn"):
        dmns = {p.name: read_source(p) for p in sorted(path.parent.glob("*.dmn"))}
        dmns.update(explicit_dmns)
        bundles.append(
            Bundle(
                read_source(path),
                tuple(dmns[k] for k in sorted(dmns)),
                read_forms(path.parent / "forms"),
            )
        )
    if not bundles:
        raise DiagramInvalid([Problem("(command line)", "name at least one .bpmn file")])
    return bundles


def read_forms(folder: Path) -> dict[str, dict]:
    forms: dict[str, dict] = {}
    if not folder.is_dir():
        return forms
    for path in sorted(folder.glob("*.json")):
        try:
            forms[path.stem] = json.loads(read_source(path).text)
        except json.JSONDecodeError as err:
            raise DiagramInvalid(
                [Problem(f"forms/{path.name}", f"not valid JSON: {err.msg}", line=err.lineno)]
            ) from None
    return forms


def bundled() -> Bundle:
    """The process Deskflow ships: diagrams/service_desk.bpmn with its DMN and forms."""
    return bundle_from_paths([DIAGRAMS_DIR / "service_desk.bpmn"])[0]


# --- compiling -------------------------------------------------------------------------


def compile_bundle(bundle: Bundle) -> ProcessDefinition:
    """Validate (XSD), parse and lint a bundle; raise DiagramInvalid with every problem."""
    from engine.process.lint import lint  # lint needs the handler registry; keep it off import time

    bpmn_root = parse_xml(bundle.bpmn)
    dmn_roots = [(d, parse_xml(d)) for d in bundle.dmns]
    from engine.spiff import Parser, prewire_event_subprocesses

    parser = Parser(validator=VALIDATOR)
    try:
        parser.add_bpmn_xml(etree.ElementTree(bpmn_root), bundle.bpmn.filename)
        for source, root in dmn_roots:
            parser.add_dmn_xml(root, source.filename)
        process_ids = _executable_process_ids(bpmn_root)
        if len(process_ids) != 1:
            raise DiagramInvalid(
                [
                    Problem(
                        bundle.bpmn.filename,
                        f"expected one executable process to start, found {len(process_ids)}",
                    )
                ]
            )
        key = process_ids[0]
        spec = parser.get_spec(key)
        subprocess_specs = parser.get_subprocess_specs(key)
        for process_spec in [spec, *subprocess_specs.values()]:
            prewire_event_subprocesses(process_spec)
    except ValidationException as err:
        problem = _problem_from_validation(err, bundle.bpmn.filename, bpmn_root)
        raise DiagramInvalid([problem]) from None
    except DiagramInvalid:
        raise
    except Exception as err:  # the library raises bare exceptions for some bad input
        raise DiagramInvalid(
            [Problem(bundle.bpmn.filename, f"cannot be parsed: {type(err).__name__}: {err}")]
        ) from None

    definition = ProcessDefinition(
        key=key,
        spec=spec,
        subprocess_specs=subprocess_specs,
        forms=bundle.forms,
        elements=_elements(spec, subprocess_specs),
    )
    problems = lint(definition, bpmn_root, bundle.bpmn.filename)
    if problems:
        raise DiagramInvalid(problems)
    return definition


def _executable_process_ids(root: etree._Element) -> list[str]:
    """Executable processes that no call activity of the file calls: the entry points."""
    called = {c.get("calledElement") for c in root.iter(f"{{{BPMN_NS}}}callActivity")}
    return [
        p.get("id")
        for p in root.iter(f"{{{BPMN_NS}}}process")
        if p.get("isExecutable", "true").lower() == "true" and p.get("id") not in called
    ]


def _problem_from_validation(err: ValidationException, filename: str, root) -> Problem:
    line = err.line_number if isinstance(err.line_number, int) else None
    element = err.id or None
    if line is None and element:
        node = root.find(f".//*[@id='{element}']")
        line = node.sourceline if node is not None else None
    message = str(err.args[0]) if err.args else str(err)
    return Problem(err.file_name or filename, message, line=line, element=element)


def _elements(spec, subprocess_specs) -> dict[str, Element]:
    elements: dict[str, Element] = {}
    timer_ids = {
        element
        for process in [spec, *subprocess_specs.values()]
        for ts in process.task_specs.values()
        for element, _ in timers_of(ts)
    }
    for process in [spec, *subprocess_specs.values()]:
        for task_spec in process.task_specs.values():
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id is None:
                continue
            elements[bpmn_id] = Element(
                id=bpmn_id,
                name=task_spec.bpmn_name or bpmn_id,
                kind=type(task_spec).__name__,
                lane=task_spec.lane,
                properties=dict(properties(task_spec)),
                is_timer=bpmn_id in timer_ids,
            )
    return elements


# --- the cache -------------------------------------------------------------------------

_cache: dict[str, ProcessDefinition] = {}
_cache_lock = threading.Lock()


def cached(sha256: str, load_bundle: Callable[[], Bundle]) -> ProcessDefinition:
    """The compiled definition of the bundle with this content hash, parsed once per process.

    Keyed by content, not by row id, so two databases (or a database emptied and filled
    again) can never be served each other's definitions; `load_bundle` runs on a miss.
    """
    definition = _cache.get(sha256)
    if definition is None:
        definition = compile_bundle(load_bundle())
        with _cache_lock:
            _cache[sha256] = definition
    return definition


def bundle_to_json(bundle: Bundle) -> str:
    return json.dumps(
        {
            "bpmn": [bundle.bpmn.filename, bundle.bpmn.text],
            "dmns": [[d.filename, d.text] for d in bundle.dmns],
            "forms": bundle.forms,
        }
    )


def bundle_from_json(text: str) -> Bundle:
    dct = json.loads(text)
    return Bundle(
        SourceFile(*dct["bpmn"]),
        tuple(SourceFile(*d) for d in dct["dmns"]),
        dct["forms"],
    )
