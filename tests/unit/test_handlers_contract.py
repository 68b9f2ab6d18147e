"""Every service task of docs/diagram-contract.md, called through the registry as the
engine will: the contract's parameter names in, the contract's result shape out, JSON-safe.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from engine import clock
from engine.clock import FrozenClock
from handlers import registry

OPENED = "2026-01-05T09:00:00+00:00"
INCIDENT = {
    "number": "INC0001042",
    "caller": "alice",
    "short_description": "VPN keeps disconnecting",
    "priority": 1,
    "category": "network",
    "state": "In Progress",
    "group": "network-ops",
    "assignee": None,
}
SLA = {
    "priority": 1, "priority_name": "Critical", "response_due": "2026-01-05T09:15:00+00:00",
    "resolution_due": "2026-01-05T13:00:00+00:00", "warning_at": "2026-01-05T12:00:00+00:00",
    "status_update_cycle": "R/PT30M", "auto_close_after": "P3D", "warned": False,
    "breached": False, "reopens": 0, "max_reopens": 5,
}  # fmt: skip

# task id: (operator, parameters, keys the result must have)
SERVICE_TASKS = {
    "suggest_self_help": ("suggest_faq", {"text": "vpn"}, {"articles"}),
    "suggest_category": (
        "categorize", {"text": "VPN keeps disconnecting"},
        {"category", "subcategory", "confidence", "group"},
    ),
    "set_sla_targets": ("sla_targets", {"priority": 1, "opened_at": OPENED}, set(SLA)),
    "notify_stakeholders": (
        "notify", {"template": "major_incident", "to": "stakeholders"}, {"notifications"},
    ),
    "escalate_to_specialists": (
        "escalate", {"kind": "functional", "category": "network", "subcategories": ["vpn"]},
        {"group", "reason"},
    ),
    "warn_sla": ("notify", {"template": "sla_warning", "to": "assignee"}, {"notifications"}),
    "escalate_breach": (
        "escalate", {"kind": "hierarchical", "reason": "breach"}, {"breached", "notifications"},
    ),
    "inform_user": ("notify", {"template": "status_update", "to": "caller"}, {"notifications"}),
    "record_resolution": (
        "record_resolution", {"resolution_code": "Solved", "resolution_notes": "Rebooted"},
        {"code", "notes", "resolved_at"},
    ),
    "notify_resolved": ("notify", {"template": "resolved", "to": "caller"}, {"notifications"}),
    "reopen_sla": ("resume_sla", {"sla": SLA, "paused_since": OPENED}, set(SLA)),
    "close_incident": (
        "close_incident",
        {"reason": "confirmed", "resolution_code": "Solved", "resolution_notes": "Rebooted"},
        {"reason", "closed_at", "code", "notes"},
    ),
}  # fmt: skip

# docs/diagram-contract.md, "What handlers may change on the incident record"
INCIDENT_UPDATE_FIELDS = {"resolution_breached", "sla_warned", "assignment_group", "major_incident"}
MESSAGE_KEYS = {"recipient", "template", "subject", "body"}


@pytest.fixture(autouse=True)
def frozen():
    previous = clock.install(FrozenClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC)))
    yield
    clock.install(previous)


@pytest.mark.parametrize("task", SERVICE_TASKS)
def test_service_task_through_the_registry(task):
    name, params, keys = SERVICE_TASKS[task]
    result = registry.call(name, params, INCIDENT)
    assert keys <= set(result)
    assert json.loads(json.dumps(result)) == result
    assert set(result.get("incident_update", {})) <= INCIDENT_UPDATE_FIELDS
    for message in result.get("notifications", []):
        assert set(message) == MESSAGE_KEYS
        assert message["recipient"] and message["subject"]


def test_escalate_breach_result_matches_the_contract():
    breach = registry.call("escalate", {"kind": "hierarchical", "reason": "breach"}, INCIDENT)
    assert breach["breached"] is True
    assert breach["notifications"]
