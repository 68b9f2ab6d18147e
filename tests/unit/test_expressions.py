"""The expression evaluator: what the bundled diagram needs still evaluates the same;
hostile expressions are refused with a message that says why; bounded operations stop
before they build something huge."""

from __future__ import annotations

import builtins
import re

import pytest
from lxml import etree
from SpiffWorkflow.util.task import TaskState

from engine.process import definitions, expressions, whitelist
from engine.process.definitions import compile_bundle
from engine.process.expressions import ExpressionRefused, ExpressionStopped, compiled, evaluate
from engine.spiff import (
    CommandContext,
    ExpressionFailed,
    ExpressionTaskFailed,
    _Environment,
    new_workflow,
)

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"

# the builtins expressions had before this evaluator, to compare results with
OLD_NAMES = (
    "abs all any bool dict enumerate filter float int isinstance len list map max min "
    "range reversed round set sorted str sum tuple zip True False None"
)
OLD_BUILTINS = {name: getattr(builtins, name) for name in OLD_NAMES.split(" ")}

DATA = {
    "caller": "alice",
    "short_description": "VPN down",
    "description": "Since Monday.",
    "impact": "medium",
    "urgency": "high",
    "is_broken": True,
    "major_incident": False,
    "priority": 2,
    "category": "network",
    "subcategories": ["vpn"],
    "resolved": True,
    "solved": False,
    "opened_at": "2026-01-05T09:00:00+00:00",
    "resolution_code": "solved-remotely",
    "resolution_notes": "Reinstalled.",
    "sla": {
        "warned": False,
        "escalated": True,
        "breached": False,
        "reopens": 1,
        "max_reopens": 2,
        "warning_at": "2026-01-05T12:00:00+00:00",
        "escalation_at": "2026-01-05T13:00:00+00:00",
        "resolution_due": "2026-01-05T17:00:00+00:00",
        "status_update_cycle": "R/PT1H",
        "auto_close_after": "P3D",
        "paused_since": "2026-01-05T10:00:00+00:00",
        "held_task": "investigate_and_resolve",
        "previous_priority": 3,
    },
    "hold": {"reason": "waiting for the caller"},
    "reprioritization": {"impact": "high", "urgency": "high"},
    "resolution": {"resolved_at": "2026-01-05T11:00:00+00:00"},
}


def bundled_expressions() -> list[str]:
    """Every expression the bundled diagram and decision table make the engine evaluate,
    DMN cells combined with their input as SpiffWorkflow's DMNEngine combines them."""
    bundle = definitions.bundled()
    root = etree.fromstring(bundle.bpmn.text.encode())
    found = [
        node.text
        for node in root.iter(
            f"{BPMN}conditionExpression",
            f"{BPMN}timeDate",
            f"{BPMN}timeDuration",
            f"{BPMN}timeCycle",
        )
    ]
    found += [node.get("value") for node in root.iter(f"{SPIFF}parameter")]
    dmn = etree.fromstring(bundle.dmns[0].text.encode())
    inputs = [n.text for n in dmn.iter(f"{DMN}inputExpression") for n in n.iter(f"{DMN}text")]
    found += inputs
    for rule in dmn.iter(f"{DMN}rule"):
        cells = [e.find(f"{DMN}text").text for e in rule.iter(f"{DMN}inputEntry")]
        found += [f"({i}) == ({c})" for i, c in zip(inputs, cells, strict=True) if c != "-"]
        found += [e.find(f"{DMN}text").text for e in rule.iter(f"{DMN}outputEntry")]
    return found


def test_the_bundled_diagram_has_the_expressions_this_test_knows():
    found = bundled_expressions()
    assert "priority == 1" in found and '(impact) == ("high")' in found
    assert 'sla.get("held_task") == "investigate_and_resolve"' in found
    assert len(found) > 60


@pytest.mark.parametrize("expression", sorted(set(bundled_expressions())))
def test_every_bundled_expression_evaluates_as_before(expression):
    before = eval(  # noqa: S307 - the previous evaluator, for comparison
        compile(expression, "<expression>", "eval"), {"__builtins__": OLD_BUILTINS, **DATA}
    )
    assert evaluate(expression, DATA) == before


def test_the_largest_bundled_expression_is_far_below_the_node_limit():
    import ast

    largest = max(len(list(ast.walk(ast.parse(e, mode="eval")))) for e in bundled_expressions())
    assert largest <= 20 < whitelist.MAX_NODES


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("isinstance(priority, int) and isinstance(category, (str, int))", True),
        ('f"{priority:>3}|{short_description!r}"', "  2|'VPN down'"),
        ('", ".join(sorted(sla.keys()))[:7]', "auto_cl"),
        ("sum([1, 2, 3]) + max(1, 2) + len(subcategories)", 9),
        ("round(2.567, 2)", 2.57),
        ("list(range(3)) + [1] * 2", [0, 1, 2, 1, 1]),
        ("'ab' * 3", "ababab"),
        ("2 ** 10 + (1 << 4) + 7 % 4", 1043),
        ("sla['reopens'] if not sla['warned'] else None", 1),
        ("description.lower().startswith('since')", True),
        ("dict(a=1).get('a')", 1),
        ("impact in ('high', 'medium')", True),
        ("  priority == 2\n", True),  # whitespace around an expression is fine
    ],
)
def test_allowed_expressions(expression, value):
    assert evaluate(expression, DATA) == value


HOSTILE = [
    ("import os", "an import is not allowed"),
    ("open('/etc/passwd')", "'open' is not allowed"),
    ("open('/etc/passwd').read()", "'open' is not allowed"),
    (
        "().__class__.__bases__[0].__subclasses__()",
        "'__class__' is not allowed: names and attributes starting with '_' are private",
    ),
    ("__import__('os').system('id')", "'__import__' is not allowed"),
    ("__builtins__", "'__builtins__' is not allowed"),
    ("sla.get.__globals__", "'__globals__' is not allowed"),
    ("while True: pass", "a loop is not allowed"),
    ("for x in range(9): pass", "a loop is not allowed"),
    ("x = 1", "an assignment is not allowed"),
    ("'x' * 10**10", "the result would have 10,000,000,000 items or characters"),
    ("[0] * 10**9", "the result would have 1,000,000,000 items"),
    ("10 ** 10**6", "the result would be an integer of about"),
    ("1 << 10**9", "the result would be an integer of about"),
    ("[x for x in range(10)]", "comprehensions are not allowed"),
    ("sum(x for x in subcategories)", "generator expressions are not allowed"),
    ("lambda: 0", "lambda is not allowed"),
    ("(y := 1)", "':=' is not allowed"),
    ("len(*subcategories)", "'*' unpacking is not allowed"),
    ("dict(**sla)", "'**' unpacking is not allowed"),
    ("{**sla}", "'**' unpacking is not allowed"),
    ("eval('1')", "'eval' is not allowed"),
    ("exec('1')", "'exec' is not allowed"),
    ("compile('1', '', 'eval')", "'compile' is not allowed"),
    ("getattr(sla, 'get')", "'getattr' is not allowed"),
    ("setattr(sla, 'x', 1)", "'setattr' is not allowed"),
    ("globals()", "'globals' is not allowed"),
    ("vars()", "'vars' is not allowed"),
    ("type(sla)", "'type' is not allowed"),
    ("object", "'object' is not allowed"),
    ("breakpoint()", "'breakpoint' is not allowed"),
    ("print('x')", "'print' is not allowed"),
    ("chr(65)", "calling 'chr' is not allowed"),
    ("sla.update({})", "method '.update()' is not allowed"),
    ("'{0.__class__}'.format(sla)", "method '.format()' is not allowed"),
    ("sla.warned", "attribute '.warned' is not allowed"),
    ("sorted(subcategories, key=len)", "'len' may only be called"),
    ("max(subcategories, key=str.lower)", "'str' may only be called"),
    ("(len)(subcategories)", None),  # the same call as len(...): allowed
    ("subcategories[0](1)", "only named functions and methods may be called"),
    ("'%999999999d' % 1", "'%' formatting of strings is not allowed"),
    ("f'{priority:>999999999}'", "format spec '>999999999' is not allowed"),
    ("f'{priority:>{priority}}'", "format specs must be literal"),
    ("a; b", "more than one expression is not allowed"),
    ("priority ==", "not a valid Python expression"),
    ("x" * 1001, "it is 1,001 characters long; the limit is 1,000"),
    ("+".join(["1"] * 150), "syntax nodes; the limit is 200"),
    ("-" * 60 + "1", "levels deep; the limit is 40"),
]


@pytest.mark.parametrize(("expression", "reason"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_expressions_are_refused_when_compiled(expression, reason):
    if reason is None:
        assert expressions.refusal(expression) is None
        return
    with pytest.raises(ExpressionRefused) as caught:
        compiled(expression)
    assert reason in caught.value.reason
    assert str(caught.value).startswith("expression ")
    assert "is refused: " in str(caught.value)
    with pytest.raises(ExpressionRefused):  # evaluating is refused the same way
        evaluate(expression, DATA)


def test_the_first_rule_broken_in_reading_order_is_named():
    with pytest.raises(ExpressionRefused) as caught:
        compiled("().__class__.__bases__[0].__subclasses__()")
    assert caught.value.reason == (
        "'__class__' is not allowed: names and attributes starting with '_' are private"
    )


@pytest.mark.parametrize(
    ("expression", "data", "reason"),
    [
        ("'x' * n", {"n": 10**10}, "10,000,000,000 items or characters; the limit is 10,000"),
        ("n * [0]", {"n": 10**6}, "1,000,000 items"),
        ("items * 3", {"items": [[0] * 5_000]}, "the result would have 15,003 items"),
        ("n ** n", {"n": 10**4}, "the result would be an integer of about"),
        ("n * n", {"n": 1 << 4000}, "the result would be an integer of about 8,002 bits"),
        ("1 << n", {"n": 10**9}, "the result would be an integer"),
        ("s % 1", {"s": "%999999999d"}, "'%' formatting of strings is not allowed"),
        ("','.join(items)", {"items": ["a" * 6_000] * 2}, "12,001 items or characters"),
        ("sum(range(n))", {"n": 10**12}, "range() of more than 10,000 numbers"),
        ("len(range(n))", {"n": 10**100}, "range() of more than 10,000 numbers"),
        ("round(1, n)", {"n": -(10**9)}, "round() to more than 100 digits"),
        ("sum(items, [])", {"items": [[1]]}, "sum() adds numbers only"),
    ],
)
def test_bounded_operations_stop_before_building_the_result(expression, data, reason):
    with pytest.raises(ExpressionStopped) as caught:
        evaluate(expression, data)
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"expression {expression!r} was stopped: ")


def test_bounded_operations_within_their_limits_give_the_usual_results():
    assert evaluate("'ab' * n", {"n": 3}) == "ababab"
    assert evaluate("n * [0]", {"n": 3}) == [0, 0, 0]
    assert evaluate("2 ** n", {"n": 100}) == 2**100
    assert evaluate("n % 7", {"n": 100}) == 2
    assert evaluate("1 << n", {"n": 100}) == 1 << 100
    assert evaluate("'-'.join(items)", {"items": ["a", "b"]}) == "a-b"
    assert evaluate("sum(range(n))", {"n": 10_000}) == sum(range(10_000))
    assert evaluate("2.5 * n", {"n": 2}) == 5.0


def test_each_expression_is_checked_and_compiled_once():
    compiled.cache_clear()
    code = compiled("priority == 1")
    for _ in range(100):
        assert compiled("priority == 1") is code
    info = compiled.cache_info()
    assert (info.misses, info.hits) == (1, 100)


def test_task_data_cannot_bring_builtins_back_and_is_not_changed():
    data = {"__builtins__": builtins.__dict__, "items": [3, 1, 2], "n": 10**12}
    before = {**data, "items": list(data["items"])}
    assert evaluate("sorted(items)", data) == [1, 2, 3]
    with pytest.raises(ExpressionStopped):  # still the bounded range, not the data's
        evaluate("sum(range(n))", data)
    assert data == before


def test_the_evaluator_offers_only_the_whitelisted_functions():
    offered = {k for k in whitelist.BUILTINS if not k.startswith("_")}
    assert offered == whitelist.FUNCTIONS | {"True", "False", "None"}
    assert not {"open", "eval", "exec", "__import__", "getattr", "type"} & set(whitelist.BUILTINS)


# --- through the engine ----------------------------------------------------------------


def test_the_engine_environment_refuses_with_a_spiffworkflow_error():
    env = _Environment()
    assert env.evaluate("priority == 2", DATA) is True
    assert env.evaluate("dmninputexpr == 1", {}, {"dmninputexpr": 1}) is True
    with pytest.raises(ExpressionFailed, match="'__class__' is not allowed"):
        env.evaluate("().__class__", DATA)
    with pytest.raises(ExpressionFailed, match="was stopped: the result would have"):
        env.evaluate("'x' * n", {"n": 10**10})
    with pytest.raises(ExpressionFailed, match="scripts are not allowed"):
        env.execute("import os", {})


def test_the_script_engine_names_the_task_whose_expression_was_refused():
    definition = compile_bundle(definitions.bundled())
    workflow = new_workflow(definition.spec, definition.subprocess_specs, CommandContext())
    task = workflow.get_tasks(state=TaskState.READY)[0]
    engine = workflow.script_engine
    task.data.update(DATA)
    assert engine.evaluate(task, "priority + 1") == 3
    with pytest.raises(ExpressionTaskFailed) as caught:
        engine.evaluate(task, "open('/etc/passwd')")
    assert caught.value.task is task
    assert re.search(r"'open' is not allowed", str(caught.value))
    with pytest.raises(ExpressionTaskFailed, match="scripts are not allowed"):
        engine.execute(task, "import os")
