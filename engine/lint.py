"""What the engine needs of a diagram beyond what the XSD and the parser check.

`lint(definition, root, filename)` returns a list of `Problem`s (empty when the diagram
can run): the three lanes exist; no scripts; every service task names a registered
operator; every user task names a form that exists and is a valid JSON Schema; every
timer expression and gateway condition refers only to variables the process sets, and
literal timer values parse; every business-rule table covers every combination of its
enumerated inputs.
"""

from __future__ import annotations

import ast
import builtins
import itertools
from types import SimpleNamespace

import jsonschema
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)

import handlers
from engine.definitions import timers_of
from engine.errors import Problem
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
    problems += _check_operators(task_specs, problem)
    problems += _check_forms(task_specs, definition.forms, problem)
    known = _known_variables(task_specs, definition.forms)
    problems += _check_timers(task_specs, known, problem)
    problems += _check_conditions(task_specs, known, problem)
    problems += _check_decision_tables(task_specs, definition.forms, problem)
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


def _properties(ts) -> dict[str, str]:
    return (getattr(ts, "extensions", None) or {}).get("properties", {})


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
        form = _properties(ts).get("form")
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
            form = forms.get(_properties(ts).get("form"), {})
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


def _unknown_names(expression: str, known: set[str]) -> tuple[list[str], ast.Expression | None]:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return [], None
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - known)
    return names, tree


def _check_timers(task_specs, known, problem) -> list[Problem]:
    found = []
    timers = [(element, event) for ts in task_specs for element, event in timers_of(ts)]
    for element, event in timers:
        label, expression = event.name or element, event.expression or ""
        names, tree = _unknown_names(expression, known)
        if tree is None:
            found.append(
                problem(f"timer '{label}': expression {expression!r} is not valid Python", element)
            )
            continue
        if names:
            hint = ""
            if expression.strip().upper().startswith(("P", "R")) and len(names) == 1:
                hint = f' — did you mean the string "{expression.strip()}" (with quotes)?'
            found.append(
                problem(
                    f"timer '{label}': expression {expression!r} uses "
                    f"{', '.join(names)}, which nothing in the process sets{hint}",
                    element,
                )
            )
            continue
        if isinstance(tree.body, ast.Constant):
            message = _literal_timer_problem(event, tree.body.value)
            if message:
                found.append(problem(f"timer '{label}': {message}", element))
    return found


def _literal_timer_problem(event, value) -> str | None:
    if not isinstance(value, str):
        return f"a timer value must be an ISO 8601 string, not {type(value).__name__}"
    try:
        if isinstance(event, CycleTimerEventDefinition):
            TimerEventDefinition.parse_iso_recurring_interval(value)
        elif isinstance(event, DurationTimerEventDefinition):
            TimerEventDefinition.parse_iso_duration(value)
        else:
            moment = TimerEventDefinition.parse_time_or_duration(value)
            if getattr(moment, "tzinfo", True) is None:
                return f"{value!r} has no time zone; add one (e.g. +00:00)"
    except Exception:
        return f"{value!r} is not an ISO 8601 date, duration or repeating interval"
    return None


def _check_conditions(task_specs, known, problem) -> list[Problem]:
    found = []
    for ts in task_specs:
        for operator, _target in getattr(ts, "cond_task_specs", []) or []:
            condition = operator.args[0] if getattr(operator, "args", None) else operator
            if not isinstance(condition, str) or not condition.strip():
                continue
            names, tree = _unknown_names(condition, known)
            if tree is None:
                found.append(
                    problem(
                        f"gateway '{ts.bpmn_name or ts.bpmn_id}': condition "
                        f"{condition!r} is not valid Python",
                        ts.bpmn_id,
                    )
                )
            elif names:
                found.append(
                    problem(
                        f"gateway '{ts.bpmn_name or ts.bpmn_id}': condition "
                        f"{condition!r} uses {', '.join(names)}, which nothing "
                        "in the process sets",
                        ts.bpmn_id,
                    )
                )
    return found


def _enumerations(forms) -> dict[str, list]:
    values: dict[str, list] = {}
    for schema in forms.values():
        for name, prop in schema.get("properties", {}).items():
            if isinstance(prop, dict) and "enum" in prop:
                values.setdefault(name, list(prop["enum"]))
            elif isinstance(prop, dict) and prop.get("type") == "boolean":
                values.setdefault(name, [True, False])
    return values


def _check_decision_tables(task_specs, forms, problem) -> list[Problem]:
    found = []
    enums = _enumerations(forms)
    script_engine = PythonScriptEngine()
    for ts in task_specs:
        if type(ts).__name__ != "BusinessRuleTask":
            continue
        table = ts.dmnEngine.decision_table
        inputs = [i.expression.strip() for i in table.inputs]
        missing_enum = [name for name in inputs if name not in enums]
        if missing_enum:
            found.append(
                problem(
                    f"decision '{table.name or table.id}': cannot check coverage of input(s) "
                    f"{', '.join(missing_enum)}; give them an enum in a form",
                    ts.bpmn_id,
                )
            )
            continue
        gaps, overlaps = [], []
        for combo in itertools.product(*(enums[name] for name in inputs)):
            data = dict(zip(inputs, combo, strict=True))
            fake_task = SimpleNamespace(
                data=data,
                workflow=SimpleNamespace(script_engine=script_engine),
                task_spec=ts,
            )
            try:
                matches = [r for r in table.rules if _rule_matches(ts.dmnEngine, r, fake_task)]
            except Exception as err:
                found.append(
                    problem(
                        f"decision '{table.name or table.id}' fails for {data}: {err}", ts.bpmn_id
                    )
                )
                break
            if not matches:
                gaps.append(data)
            elif len(matches) > 1 and table.hit_policy == "UNIQUE":
                overlaps.append((data, [r.row_number for r in matches]))
        for data in gaps:
            found.append(
                problem(
                    f"decision '{table.name or table.id}' has no rule for {_describe(data)}",
                    ts.bpmn_id,
                )
            )
        for data, rows in overlaps:
            found.append(
                problem(
                    f"decision '{table.name or table.id}' (hit policy UNIQUE) "
                    f"matches rows {rows} for {_describe(data)}",
                    ts.bpmn_id,
                )
            )
    return found


def _rule_matches(dmn_engine, rule, task) -> bool:
    # DMNEngine keeps its matcher private; decide() would stop at the first UNIQUE hit.
    return dmn_engine._DMNEngine__check_rule(rule, task)


def _describe(data: dict) -> str:
    return " × ".join(f"{k}={v!r}" for k, v in data.items())
