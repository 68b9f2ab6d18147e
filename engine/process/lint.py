"""What the engine needs of a diagram beyond what the XSD and the parser check.

`lint(definition, root, filename)` returns a list of `Problem`s (empty when the diagram
can run): the three lanes exist; no scripts; every expression the engine evaluates
(conditions, timers, service-task parameters, the `group` property, message payloads and
correlations, loop expressions, DMN input expressions and cells) passes
`engine.process.expressions` — reachable or not; every service task names a registered operator;
every user task names a form that exists and is a valid JSON Schema; every timer expression
and gateway condition refers only to variables the process sets, and literal timer values
parse; every business-rule table covers every combination of its enumerated inputs
(evaluated with the same restricted evaluator as at run time). The checks of what the
diagram computes (expressions, timers, conditions, tables) are in `lint_expressions`.
"""

from __future__ import annotations

import builtins

import jsonschema

import handlers
from engine.errors import Problem
from engine.process.lint_expressions import (
    check_conditions,
    check_decision_tables,
    check_expressions,
    check_timers,
)
from engine.process.specs import properties
from handlers.catalog import catalog
from handlers.errors import CatalogInvalid

REQUIRED_LANES = ("User", "Service Desk", "Specialist Support")
START_FORM = "report"
ENGINE_VARIABLES = {"incident_number", "opened_at"}
_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"


def lint(definition, root, filename: str) -> list[Problem]:
    lines = {node.get("id"): node.sourceline for node in root.iter() if node.get("id")}

    def problem(message: str, element: str | None = None) -> Problem:
        return Problem(filename, message, line=lines.get(element), element=element)

    task_specs = [
        ts
        for process in [definition.spec, *definition.subprocess_specs.values()]
        for ts in process.task_specs.values()
        if getattr(ts, "bpmn_id", None)
    ]
    problems: list[Problem] = []
    problems += _check_lanes(root, definition.key, problem)
    problems += _check_no_scripts(root, problem)
    problems += check_expressions(root, problem)
    problems += _check_operators(task_specs, problem)
    problems += _check_forms(task_specs, definition.forms, problem)
    known = _known_variables(task_specs, definition.forms)
    problems += check_timers(task_specs, known, problem)
    problems += check_conditions(task_specs, known, problem)
    problems += check_decision_tables(task_specs, definition.forms, problem, filename)
    problems += _check_catalog(definition.forms)
    return problems


def _check_catalog(forms) -> list[Problem]:
    """The service catalog loads, and every form field named `category` offers exactly its
    categories (a category the catalog lacks could never be escalated); a form that also
    asks for `subcategories` limits them per category to the catalog's."""
    try:
        cat = catalog()
        known = set(cat.categories)
    except CatalogInvalid as err:
        return [Problem("handlers/catalog.json", f"{err}; fix the catalog before deploying")]
    found = []
    for name, schema in forms.items():
        prop = (schema.get("properties") or {}).get("category")
        if isinstance(prop, dict) and "enum" in prop and set(prop["enum"]) != known:
            missing, extra = sorted(known - set(prop["enum"])), sorted(set(prop["enum"]) - known)
            found.append(
                Problem(
                    f"forms/{name}.json",
                    "the category choices differ from the catalog"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; not in the catalog: {', '.join(extra)}" if extra else ""),
                )
            )
        if isinstance(prop, dict) and "subcategories" in (schema.get("properties") or {}):
            found += _check_subcategories(name, schema, cat)
    return found


def _check_subcategories(name: str, schema: dict, cat) -> list[Problem]:
    """One `allOf` rule per category: if category is X then every subcategory is one of
    X's in the catalog."""
    rules: dict[str, set] = {}
    for rule in schema.get("allOf") or []:
        try:
            category = rule["if"]["properties"]["category"]["const"]
            choices = rule["then"]["properties"]["subcategories"]["items"]["enum"]
        except (KeyError, TypeError):
            continue
        rules[category] = set(choices)
    found = []
    for category, spec in cat.categories.items():
        expected = set(spec.subcategory_names())
        if rules.get(category) != expected:
            found.append(
                Problem(
                    f"forms/{name}.json",
                    f"the subcategories allowed for '{category}' differ from the catalog "
                    f"(expected {', '.join(sorted(expected))}); add or fix its allOf rule",
                )
            )
    return found


def _check_lanes(root, key: str, problem) -> list[Problem]:
    process = next((p for p in root.iter(f"{_BPMN}process") if p.get("id") == key), None)
    names = (
        {lane.get("name") for lane in process.findall(f"{_BPMN}laneSet/{_BPMN}lane")}
        if process is not None
        else set()
    )
    element = key
    return [
        problem(
            f"lane '{lane}' is missing; the process needs the lanes {', '.join(REQUIRED_LANES)}",
            element,
        )
        for lane in REQUIRED_LANES
        if lane not in names
    ]


def _check_no_scripts(root, problem) -> list[Problem]:
    """Scripts anywhere in the file, reachable or not: script tasks, pre- and post-scripts."""
    found = []
    for node in root.iter(f"{_BPMN}scriptTask", f"{_SPIFF}preScript", f"{_SPIFF}postScript"):
        owner = node if node.tag == f"{_BPMN}scriptTask" else _owning_element(node)
        label = owner.get("name") or owner.get("id")
        found.append(
            problem(
                f"'{label}' carries a script; deployed diagrams may not run "
                "scripts — use a service task with a handler instead",
                owner.get("id"),
            )
        )
    return found


def _owning_element(node):
    while node.getparent() is not None and node.get("id") is None:
        node = node.getparent()
    return node


def _check_operators(task_specs, problem) -> list[Problem]:
    known = handlers.registry.known()
    found = []
    for ts in task_specs:
        operator = getattr(ts, "operation_name", None)
        if type(ts).__name__ != "ServiceTask":
            continue
        if not operator:
            found.append(
                problem(
                    f"service task '{ts.bpmn_name or ts.bpmn_id}' names no operator "
                    f"(known: {', '.join(known)})",
                    ts.bpmn_id,
                )
            )
        elif operator not in known:
            found.append(
                problem(
                    f"service task '{ts.bpmn_name or ts.bpmn_id}' names operator '{operator}', "
                    f"which no handler provides (known: {', '.join(known)})",
                    ts.bpmn_id,
                )
            )
    return found


def _check_forms(task_specs, forms, problem) -> list[Problem]:
    found = []
    for name, schema in forms.items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as err:
            found.append(Problem(f"forms/{name}.json", f"not a valid JSON Schema: {err.message}"))
    for ts in task_specs:
        if type(ts).__name__ != "UserTask":
            continue
        form = properties(ts).get("form")
        label = ts.bpmn_name or ts.bpmn_id
        if ts.lane not in REQUIRED_LANES:
            found.append(
                problem(
                    f"user task '{label}' is in no lane (lane: {ts.lane!r}); put "
                    f"it in one of {', '.join(REQUIRED_LANES)} so it reaches a "
                    "queue (inside a subprocess: the subprocess's own laneSet)",
                    ts.bpmn_id,
                )
            )
        if not form:
            found.append(
                problem(
                    f"user task '{label}' names no form (spiffworkflow property 'form')", ts.bpmn_id
                )
            )
        elif form not in forms:
            found.append(
                problem(
                    f"user task '{label}' names form '{form}', which does not "
                    f"exist (forms: {', '.join(sorted(forms)) or 'none'})",
                    ts.bpmn_id,
                )
            )
    if START_FORM not in forms:
        found.append(Problem("forms/", f"the start form '{START_FORM}.json' is missing"))
    return found


def _known_variables(task_specs, forms) -> set[str]:
    known = set(ENGINE_VARIABLES)
    known.update(forms.get(START_FORM, {}).get("properties", {}))
    for ts in task_specs:
        kind = type(ts).__name__
        if kind == "UserTask":
            form = forms.get(properties(ts).get("form"), {})
            known.update(form.get("properties", {}))
        elif kind == "ServiceTask":
            known.add(ts.result_variable)
        elif kind == "BusinessRuleTask":
            for table in ts.dmnEngine.decision_table.outputs:
                known.add(table.name)
        event = getattr(ts, "event_definition", None)
        variable = getattr(event, "message_var", None) or getattr(event, "variable", None)
        if variable:
            known.add(variable)
    return known | set(dir(builtins))
