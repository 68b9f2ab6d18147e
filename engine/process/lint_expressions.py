"""Lint of what a diagram computes: every expression in the file may run
(`engine.process.expressions`), timers and gateway conditions read only variables the
process sets and literal timer values parse, and every business-rule table covers every
combination of its enumerated inputs (evaluated as at run time). `engine.process.lint`
runs these with the structural checks.
"""

from __future__ import annotations

import ast
import itertools
import re
from types import SimpleNamespace
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)

from engine.errors import Problem
from engine.process import expressions
from engine.process.specs import timers_of

_BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
_SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"

# What the engine evaluates, by XML element: text expressions, and attribute expressions.
_EXPRESSION_TEXTS = {
    f"{_BPMN}conditionExpression": "condition",
    f"{_BPMN}condition": "condition",
    f"{_BPMN}timeDate": "timer",
    f"{_BPMN}timeDuration": "timer",
    f"{_BPMN}timeCycle": "timer",
    f"{_BPMN}loopCardinality": "loop cardinality",
    f"{_BPMN}completionCondition": "completion condition",
    f"{_BPMN}loopCondition": "loop condition",
    f"{_BPMN}formalExpression": "correlation expression",
    f"{_SPIFF}messagePayload": "message payload",
    f"{_SPIFF}expression": "correlation expression",
}
_WRAPPERS = {
    "conditionExpression",
    "condition",
    "timeDate",
    "timeDuration",
    "timeCycle",
    "loopCardinality",
    "completionCondition",
    "loopCondition",
    "formalExpression",
    "correlationPropertyRetrievalExpression",
    "messagePayload",
    "expression",
    "processVariableCorrelation",
    "extensionElements",
    "serviceTaskOperator",
    "parameters",
    "parameter",
    "properties",
    "property",
}


def check_expressions(root, problem) -> list[Problem]:
    """Every expression in the file, reachable or not, may run (`engine.process.expressions`)."""
    found = []
    for node in root.iter(*_EXPRESSION_TEXTS, f"{_SPIFF}parameter", f"{_SPIFF}property"):
        if node.tag == f"{_SPIFF}parameter":
            what, expression = f"parameter '{node.get('id')}'", node.get("value")
        elif node.tag == f"{_SPIFF}property":
            if node.get("name") != "group":  # the only property the engine evaluates
                continue
            what, expression = "property 'group'", node.get("value")
        else:
            what, expression = _EXPRESSION_TEXTS[node.tag], node.text
        if expression is None or not expression.strip():
            continue
        refused = expressions.refusal(expression)
        if refused is not None:
            owner = _flow_element(node)
            label = owner.get("name") or owner.get("id")
            found.append(problem(f"{what} of '{label}': {refused}", owner.get("id")))
    return found


def _flow_element(node):
    """The element (task, event, flow, ...) an expression belongs to."""
    while node.getparent() is not None and (
        node.get("id") is None
        or _local(node.tag) in _WRAPPERS
        or _local(node.tag).endswith(("EventDefinition", "LoopCharacteristics"))
    ):
        node = node.getparent()
    return node


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _unknown_names(expression: str, known: set[str]) -> tuple[list[str], ast.Expression | None]:
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return [], None
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - known)
    return names, tree


def check_timers(task_specs, known, problem) -> list[Problem]:
    found = []
    timers = [(element, event) for ts in task_specs for element, event in timers_of(ts)]
    for element, event in timers:
        label, expression = event.name or element, event.expression or ""
        if expression.strip() and expressions.refusal(expression) is not None:
            continue  # reported by _check_expressions
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


def check_conditions(task_specs, known, problem) -> list[Problem]:
    found = []
    for ts in task_specs:
        for operator, _target in getattr(ts, "cond_task_specs", []) or []:
            condition = operator.args[0] if getattr(operator, "args", None) else operator
            if not isinstance(condition, str) or not condition.strip():
                continue
            if expressions.refusal(condition) is not None:
                continue  # reported by _check_expressions
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


def check_decision_tables(task_specs, forms, problem, filename: str) -> list[Problem]:
    found = []
    enums = _enumerations(forms)
    script_engine = _TableEngine()
    checked: set[str] = set()
    for ts in task_specs:
        if type(ts).__name__ != "BusinessRuleTask":
            continue
        table = ts.dmnEngine.decision_table
        if table.id in checked:  # two tasks calling one decision: report its problems once
            continue
        checked.add(table.id)
        refused = _refused_cells(table, ts.bpmn_id, problem)
        if refused:
            found += refused
            continue  # its cells may not run, not even to check coverage
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
            workflow = SimpleNamespace(
                script_engine=script_engine, spec=SimpleNamespace(file=filename)
            )
            workflow.top_workflow = workflow
            fake_task = SimpleNamespace(data=data, workflow=workflow, task_spec=ts)
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


class _TableEngine:
    """What DMNEngine needs of a script engine, evaluating as the run time does."""

    @staticmethod
    def validate(expression: str) -> None:
        ast.parse(expression)  # as PythonScriptEngine.validate: DMNEngine relies on it

    @staticmethod
    def evaluate(task, expression: str, external_context: dict | None = None) -> Any:
        names = {**(external_context or {}), **task.data}
        return expressions.evaluate(expression, names)


# DMNEngine.evaluate replaces a '?' outside quotes by the input's value
_DMN_INPUT = re.compile(r"""(\?)(?=(?:[^'"]|['"][^'"]*['"])*$)""")


def _refused_cells(table, element: str, problem) -> list[Problem]:
    """Input expressions, input cells (combined with their input as DMNEngine combines
    them) and output cells that `engine.process.expressions` refuses."""
    name = table.name or table.id
    found = []
    for put in table.inputs:
        refused = expressions.refusal(put.expression or "")
        if refused is not None and (put.expression or "").strip():
            label = put.label or put.id
            found.append(problem(f"decision '{name}' input '{label}': {refused}", element))
    for rule in table.rules:
        where = f"decision '{name}' rule {rule.row_number}"
        where += f" ({rule.id})" if rule.id else ""
        for entry in rule.inputEntries:
            for cell in entry.lhs:
                if cell is None or not cell.strip():
                    continue
                refused = _refused_input_cell(entry.input.expression or "", cell)
                if refused is not None:
                    label = entry.input.label or entry.input.id
                    found.append(problem(f"{where}, input '{label}': {refused}", element))
        for entry in rule.outputEntries:
            text = getattr(entry, "text", None)
            if text and text.strip():
                refused = expressions.refusal(text)
                if refused is not None:
                    label = entry.output.label or entry.output.name or entry.output.id
                    found.append(problem(f"{where}, output '{label}': {refused}", element))
    return found


def _refused_input_cell(input_expression: str, cell: str) -> expressions.ExpressionRefused | None:
    alone = expressions.refusal(cell)
    if alone is not None and not alone.syntax:
        return alone  # refused whatever it is combined with (a name, a call, a statement)
    match = _DMN_INPUT.sub("dmninputexpr", cell)
    if "dmninputexpr" in match:
        return expressions.refusal(match)
    try:
        ast.parse(match)
        combined = f"({input_expression}) == ({match})"
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        combined = input_expression + match  # a cell such as `> 3` or `in ("a", "b")`
    return expressions.refusal(combined)


def _rule_matches(dmn_engine, rule, task) -> bool:
    # DMNEngine keeps its matcher private; decide() would stop at the first UNIQUE hit.
    return dmn_engine._DMNEngine__check_rule(rule, task)


def _describe(data: dict) -> str:
    return " × ".join(f"{k}={v!r}" for k, v in data.items())
