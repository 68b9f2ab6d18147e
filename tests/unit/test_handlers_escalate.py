"""Functional and hierarchical escalation."""

from __future__ import annotations

import pytest

from handlers.catalog import catalog
from handlers.errors import HandlerInputError
from handlers.escalate import escalate

INCIDENT = {
    "number": "INC0001042",
    "caller": "alice",
    "short_description": "VPN keeps disconnecting",
    "priority": 2,
    "category": "network",
    "state": "In Progress",
    "group": "network-ops",
    "assignee": "ned",
}


@pytest.mark.parametrize(
    ("category", "group"),
    [("network", "network-ops"), ("access", "identity-access"), ("printing", "print-services")],
)
def test_functional_escalation_goes_to_the_owning_group(category, group):
    first_sub = catalog().categories[category].subcategory_names()[0]
    assert escalate("functional", category=category, subcategories=[first_sub]) == {
        "group": group,
        "reason": f"category {category} is owned by {group}",
        "incident_update": {"assignment_group": group},
    }


def test_functional_escalation_refuses_unknown_category():
    with pytest.raises(HandlerInputError) as caught:
        escalate("functional", category="facilities", subcategories=["coffee"])
    assert "unknown category 'facilities'" in str(caught.value)
    assert "known: network, hardware, access, software, email, printing" in str(caught.value)


def test_functional_escalation_needs_a_category():
    with pytest.raises(HandlerInputError, match="functional escalation needs a category"):
        escalate("functional", category=None, subcategories=["vpn"])


def test_functional_escalation_refuses_subcategory_of_another_category():
    with pytest.raises(HandlerInputError, match="subcategory 'mailbox' is not in category network"):
        escalate("functional", category="network", subcategories=["vpn", "mailbox"])


def test_breach_tells_the_group_manager():
    result = escalate("hierarchical", reason="breach", incident=INCIDENT)
    assert result["breached"] is True
    assert result["notified"] == ["nora"]
    assert result["incident_update"] == {"resolution_breached": True}
    [message] = result["notifications"]
    assert message["recipient"] == "nora"
    assert message["template"] == "sla_breach"
    assert "INC0001042" in message["subject"]
    assert "VPN keeps disconnecting" in message["body"]


def test_p1_breach_also_tells_the_major_incident_manager():
    result = escalate("hierarchical", reason="breach", incident={**INCIDENT, "priority": 1})
    assert result["notified"] == ["nora", catalog().major_incident_manager]
    assert [m["recipient"] for m in result["notifications"]] == result["notified"]


@pytest.mark.parametrize("group", [None, "renamed-team"])
def test_breach_without_known_group_goes_to_the_service_desk_manager(group):
    result = escalate("hierarchical", reason="breach", incident={**INCIDENT, "group": group})
    assert result["notified"] == [catalog().groups["service-desk"].manager]


def test_warning_tells_assignee_and_manager_without_breaching():
    result = escalate("hierarchical", reason="warning", incident=INCIDENT)
    assert result["breached"] is False
    assert result["notified"] == ["ned", "nora"]
    assert result["incident_update"] == {"sla_warned": True}
    assert all("approaching SLA violation" in m["subject"] for m in result["notifications"])


def test_warning_without_assignee_tells_the_whole_group_once():
    result = escalate("hierarchical", reason="warning", incident={**INCIDENT, "assignee": None})
    # the manager is a member of the group: told once
    assert result["notified"] == list(catalog().groups["network-ops"].members)


def test_hierarchical_escalation_refuses_unknown_reason():
    with pytest.raises(HandlerInputError, match="reason 'late' is not one of breach, warning"):
        escalate("hierarchical", reason="late", incident=INCIDENT)


def test_hierarchical_escalation_needs_the_incident():
    with pytest.raises(HandlerInputError, match="needs the incident record"):
        escalate("hierarchical", reason="breach")


def test_unknown_kind_is_refused():
    with pytest.raises(
        HandlerInputError, match="unknown kind 'sideways'.*functional, hierarchical"
    ):
        escalate("sideways", category="network")
