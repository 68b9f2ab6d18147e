"""Messages to the people around an incident, rendered from `handlers/templates/<name>.txt`.

A template's first line is the subject, the rest (after a blank line) the body; both use
`string.Template` placeholders: $number, $short_description, $priority, $priority_name,
$state, $group, $assignee, $caller, $category, $recipient, $recipient_name. A field the
incident lacks renders as "(not set)", so a message never fails to render.
"""

from __future__ import annotations

import functools
from pathlib import Path
from string import Template
from typing import Any

from handlers.catalog import catalog
from handlers.errors import HandlerInputError
from handlers.registry import operator

TEMPLATE_DIR = Path(__file__).with_name("templates")
ROLES = ("caller", "assignee", "group_manager", "stakeholders")
INCIDENT_FIELDS = ("number", "short_description", "priority", "state", "group", "assignee")
PLACEHOLDERS = (
    *INCIDENT_FIELDS,
    "caller",
    "category",
    "priority_name",
    "recipient",
    "recipient_name",
)
NOT_SET = "(not set)"

# Sending these templates says something about the incident the record must remember.
_INCIDENT_UPDATES = {
    "major_incident": {"major_incident": True},
    "sla_warning": {"sla_warned": True},
}


@operator("notify")
def notify(template: str, to: str, incident: dict[str, Any] | None = None) -> dict[str, Any]:
    """Render `template` for everyone in role `to` -> `{"notifications", "notified"}`.

    Roles: "caller"; "assignee" (or every member of the incident's group when nobody is
    assigned); "group_manager"; "stakeholders" (the catalog's stakeholders and the major
    incident manager). Recipients are deduplicated in order. "major_incident" also returns
    `incident_update: {"major_incident": True}`, "sla_warning" `{"sla_warned": True}`.
    """
    template_text(template)  # unknown template fails before anyone is looked up
    notified = recipients(to, incident)
    result: dict[str, Any] = {
        "notifications": [render(template, person, incident) for person in notified],
        "notified": notified,
    }
    if template in _INCIDENT_UPDATES:
        result["incident_update"] = dict(_INCIDENT_UPDATES[template])
    return result


def recipients(role: str, incident: dict[str, Any] | None) -> list[str]:
    """Usernames that hold `role` on `incident`, without duplicates, in order."""
    cat = catalog()
    if role == "stakeholders":
        return _unique([*cat.stakeholders, cat.major_incident_manager])
    if role not in ROLES:
        raise HandlerInputError(
            f"notify: unknown recipient role {role!r} (known: {', '.join(ROLES)})"
        )
    if incident is None:
        raise HandlerInputError(f"notify: role {role!r} needs the incident record")
    if role == "caller":
        if not incident.get("caller"):
            raise HandlerInputError("notify: the incident has no caller to notify")
        people = [incident["caller"]]
    elif role == "assignee":
        people = [incident["assignee"]] if incident.get("assignee") else group_members(incident)
    else:
        people = [cat.manager_of(incident_group(incident))]
    return _unique(people)


def incident_group(incident: dict[str, Any] | None) -> str:
    """The group holding the incident: its assignment group, else the service desk.

    A group the catalog no longer lists also falls back to the service desk, which owns
    whatever nobody else does: a warning must reach someone rather than fail.
    """
    cat = catalog()
    group = (incident or {}).get("group")
    return group if isinstance(group, str) and group in cat.groups else cat.service_desk_group


def group_members(incident: dict[str, Any] | None) -> list[str]:
    """Members of the group holding the incident."""
    return list(catalog().groups[incident_group(incident)].members)


def render(template: str, recipient: str, incident: dict[str, Any] | None) -> dict[str, str]:
    """One message: `{"recipient", "template", "subject", "body"}`."""
    subject, body = template_text(template)
    values = _values(recipient, incident or {})
    return {
        "recipient": recipient,
        "template": template,
        "subject": Template(subject).safe_substitute(values),
        "body": Template(body).safe_substitute(values),
    }


def known_templates() -> list[str]:
    """Names of the bundled templates, sorted."""
    return sorted(_templates())


def template_text(name: str) -> tuple[str, str]:
    """`(subject, body)` of template `name`; HandlerInputError listing the known ones."""
    try:
        return _templates()[name]
    except KeyError:
        raise HandlerInputError(
            f"notify: unknown template {name!r} (known: {', '.join(known_templates())})"
        ) from None


@functools.lru_cache(maxsize=1)
def _templates() -> dict[str, tuple[str, str]]:
    found = {}
    for path in sorted(TEMPLATE_DIR.glob("*.txt")):
        subject, _, body = path.read_text(encoding="utf-8").partition("\n")
        found[path.stem] = (subject.strip(), body.strip("\n") + "\n")
    return found


def _values(recipient: str, incident: dict[str, Any]) -> dict[str, str]:
    cat = catalog()
    values = {
        field: _shown(incident.get(field)) for field in (*INCIDENT_FIELDS, "caller", "category")
    }
    priority = incident.get("priority")
    policy = cat.priorities.get(priority) if isinstance(priority, int) else None
    values["priority_name"] = policy.name if policy else NOT_SET
    values["recipient"] = recipient
    user = cat.users.get(recipient)
    values["recipient_name"] = user.name if user else recipient
    return values


def _shown(value: Any) -> str:
    return NOT_SET if value is None or value == "" else str(value)


def _unique(people: list[Any]) -> list[str]:
    return list(dict.fromkeys(person for person in people if person))
