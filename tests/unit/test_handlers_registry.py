"""The operator registry: dispatch by name, incident injection, parameter errors."""

from __future__ import annotations

import pytest

import handlers
from handlers import registry
from handlers.errors import HandlerError, HandlerInputError, UnknownOperator


@pytest.fixture
def operators(monkeypatch):
    """An empty registry for the test, the real one restored afterwards."""
    monkeypatch.setattr(registry, "OPERATORS", {})
    return registry.OPERATORS


def test_importing_handlers_registers_every_contract_operator():
    assert handlers.registry is registry
    assert registry.known() == [
        "categorize",
        "close_incident",
        "escalate",
        "notify",
        "pause_sla",
        "record_resolution",
        "resume_sla",
        "retarget_sla",
        "sla_targets",
        "suggest_faq",
        "take",
    ]


def test_call_dispatches_by_name_with_params(operators):
    @registry.operator("add")
    def add(a: int, b: int = 10) -> int:
        return a + b

    assert operators == {"add": add}
    assert registry.call("add", {"a": 1}, None) == 11
    assert registry.call("add", {"a": 1, "b": 2}, None) == 3


def test_incident_is_passed_only_to_handlers_that_ask_for_it(operators):
    seen = []

    @registry.operator("with_incident")
    def with_incident(template: str, incident: dict | None = None) -> str:
        seen.append(incident)
        return template

    @registry.operator("without_incident")
    def without_incident(template: str) -> str:
        return template.upper()

    incident = {"number": "INC0001042"}
    assert registry.call("with_incident", {"template": "x"}, incident) == "x"
    assert seen == [incident]
    assert registry.call("without_incident", {"template": "x"}, incident) == "X"


def test_unknown_operator_lists_known_ones(operators):
    registry.operator("prioritize")(lambda impact: impact)
    registry.operator("categorize")(lambda text: text)
    with pytest.raises(UnknownOperator) as caught:
        registry.call("categorise", {}, None)
    assert caught.value.name == "categorise"
    assert caught.value.known == ["categorize", "prioritize"]
    assert str(caught.value) == (
        "no handler provides operator 'categorise' (known: categorize, prioritize)"
    )
    assert isinstance(caught.value, HandlerError)


def test_missing_parameter_names_operator_and_parameter(operators):
    registry.operator("sla_targets")(lambda priority, opened_at: None)
    with pytest.raises(HandlerInputError, match=r"'sla_targets' needs parameter 'opened_at'"):
        registry.call("sla_targets", {"priority": 1}, None)


def test_unexpected_parameter_names_operator_and_parameter(operators):
    @registry.operator("notify")
    def notify(template: str, to: str, incident: dict | None = None) -> None:
        return None

    with pytest.raises(HandlerInputError) as caught:
        registry.call("notify", {"template": "resolved", "to": "caller", "cc": "bob"}, None)
    message = str(caught.value)
    assert "'notify' got unexpected parameter 'cc'" in message
    assert "takes: template, to" in message


def test_diagram_may_not_pass_incident(operators):
    registry.operator("notify")(lambda template, incident=None: None)
    with pytest.raises(HandlerInputError, match="filled by the engine"):
        registry.call("notify", {"template": "resolved", "incident": {}}, None)


def test_two_functions_cannot_claim_one_operator(operators):
    registry.operator("escalate")(lambda kind: kind)
    with pytest.raises(HandlerError, match="already provided"):

        @registry.operator("escalate")
        def other_escalate(kind: str) -> str:
            return kind
