"""Escalation: functional (to the group with the skill) and hierarchical (to managers).

Functional escalation hands the incident to the specialist group that owns its category.
Hierarchical escalation tells managers an SLA threshold was reached: on a breach the
manager of the group holding the incident (and the major incident manager for priority 1);
on a warning the assignee (or the group) and that manager.
"""

from __future__ import annotations

from typing import Any

from handlers.catalog import catalog
from handlers.errors import HandlerInputError
from handlers.notify import group_members, incident_group, render
from handlers.registry import operator

KINDS = ("functional", "hierarchical")
REASONS = {"breach": "sla_breach", "warning": "sla_warning"}  # reason -> template


@operator("escalate")
def escalate(
    kind: str,
    category: str | None = None,
    subcategories: list[str] | None = None,
    reason: str = "",
    incident: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Escalate the incident.

    functional (`category`, `subcategories`) -> `{"group", "reason", "incident_update":
    {"assignment_group": group}}`.
    hierarchical (`reason` "breach" or "warning", the engine's `incident`) ->
    `{"breached", "reason", "notified", "notifications", "incident_update"}` where the update
    is `{"resolution_breached": True}` on a breach and `{"sla_warned": True}` on a warning.
    """
    if kind == "functional":
        return functional(category, subcategories)
    if kind == "hierarchical":
        return hierarchical(reason, incident)
    raise HandlerInputError(f"escalate: unknown kind {kind!r} (known: {', '.join(KINDS)})")


def functional(category: str | None, subcategories: list[str] | None) -> dict[str, Any]:
    """Category (and its chosen subcategories) -> the owning specialist group."""
    cat = catalog()
    known = ", ".join(cat.categories)
    if not category:
        raise HandlerInputError(
            f"escalate: functional escalation needs a category (known: {known})"
        )
    if category not in cat.categories:
        raise HandlerInputError(f"escalate: unknown category {category!r} (known: {known})")
    allowed = cat.categories[category].subcategory_names()
    for sub in subcategories or []:
        if sub not in allowed:
            raise HandlerInputError(
                f"escalate: subcategory {sub!r} is not in category {category} "
                f"(known: {', '.join(allowed)})"
            )
    group = cat.owner_of(category)
    return {
        "group": group,
        "reason": f"category {category} is owned by {group}",
        "incident_update": {"assignment_group": group},
    }


def hierarchical(reason: str, incident: dict[str, Any] | None) -> dict[str, Any]:
    """SLA threshold `reason` -> the managers (and people) told, with their messages."""
    if reason not in REASONS:
        raise HandlerInputError(
            f"escalate: hierarchical escalation reason {reason!r} is not one of "
            f"{', '.join(REASONS)}"
        )
    if incident is None:
        raise HandlerInputError(
            "escalate: hierarchical escalation needs the incident record (the engine passes it)"
        )
    cat = catalog()
    manager = cat.manager_of(incident_group(incident))
    if reason == "breach":
        people = [manager]
        if incident.get("priority") == 1:
            people.append(cat.major_incident_manager)
        update = {"resolution_breached": True}
    else:
        holders = [incident["assignee"]] if incident.get("assignee") else group_members(incident)
        people = [*holders, manager]
        update = {"sla_warned": True}
    notified = list(dict.fromkeys(people))
    return {
        "breached": reason == "breach",
        "reason": reason,
        "notified": notified,
        "notifications": [render(REASONS[reason], person, incident) for person in notified],
        "incident_update": update,
    }
