"""Messages to the people around an incident, rendered from `handlers/templates/`.

Each kind of message is two Jinja2 templates: `<kind>.txt`, whose first line is the
subject and the rest (after a blank line) the plain-text body, and `<kind>.html`, the
HTML body (a fragment; `html_document` wraps it in the mail layout). HTML is autoescaped.
Variables: number, short_description, priority, priority_name, state, group, assignee,
caller, category, recipient, recipient_name, note. A missing or empty value renders as
"(not set)" (`note` is left out when empty), so a message never fails to render.

| kind | to | sent by the bundled diagram |
| --- | --- | --- |
| received | the caller | not yet |
| assigned | the assignee (or the group) | not yet |
| status_update | the caller | `inform_user` (cycle timer) |
| sla_warning | the assignee (or the group), the manager | `warn_sla`, `escalate` warning |
| sla_breach | the group's manager (+ major incident manager on P1) | `escalate_breach` |
| escalated | the specialist group | not yet |
| resolved | the caller, asking to confirm | `notify_resolved` |
| reopened | the assignee (or the group) | not yet |
| closed | the caller | not yet |
| major_incident | stakeholders | `notify_stakeholders` |
| major_incident_update | stakeholders | not yet |
| user_reply | the assignee (or the group) | `forward_reply` |

Files starting with "_" are parts (facts table, note, layout, digest), not kinds.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, Template, Undefined
from markupsafe import Markup, escape

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
    "note",
)
NOT_SET = "(not set)"

# Sending these templates says something about the incident the record must remember.
_INCIDENT_UPDATES = {
    "major_incident": {"major_incident": True},
    "sla_warning": {"sla_warned": True},
}


@operator("notify")
def notify(
    template: str, to: str, incident: dict[str, Any] | None = None, note: str | None = None
) -> dict[str, Any]:
    """Render `template` for everyone in role `to` -> `{"notifications", "notified"}`.

    Roles: "caller"; "assignee" (or every member of the incident's group when nobody is
    assigned); "group_manager"; "stakeholders" (the catalog's stakeholders and the major
    incident manager). Recipients are deduplicated in order. `note` (optional) is a line
    of free text the message carries (a reopen reason, a stakeholder update).
    "major_incident" also returns `incident_update: {"major_incident": True}`,
    "sla_warning" `{"sla_warned": True}`.
    """
    template_text(template)  # unknown template fails before anyone is looked up
    notified = recipients(to, incident)
    result: dict[str, Any] = {
        "notifications": [render(template, person, incident, note) for person in notified],
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


def render(
    template: str, recipient: str, incident: dict[str, Any] | None, note: str | None = None
) -> dict[str, str]:
    """One message: `{"recipient", "template", "subject", "body"}` (plain text)."""
    subject, body = _text_templates(template)
    values = _values(recipient, incident or {}, note)
    return {
        "recipient": recipient,
        "template": template,
        "subject": _one_line(subject.render(values)),
        "body": body.render(values).strip("\n") + "\n",
    }


def render_html(
    template: str, recipient: str, incident: dict[str, Any] | None, note: str | None = None
) -> str:
    """The HTML body of the message `render` gives for the same arguments (a fragment)."""
    template_text(template)
    return (
        _html_env()
        .get_template(f"{template}.html")
        .render(_values(recipient, incident or {}, note))
    )


def render_digest(
    recipient: str, incident: dict[str, Any] | None, parts: list[dict[str, Any]]
) -> tuple[str, str, str]:
    """Several messages to one person as one: `(subject, text body, HTML fragment)`.

    `parts` are `{"subject", "body", "html"}` as stored in the outbox (`html` may be None:
    the text is shown preformatted).
    """
    values: dict[str, Any] = _values(recipient, incident or {}, None)
    values["count"] = len(parts)
    subject, body = _text_templates("_digest")
    values["parts"] = [
        {"subject": part["subject"], "body": part["body"].rstrip("\n")} for part in parts
    ]
    text = body.render(values).strip("\n") + "\n"
    values["parts"] = [
        {"subject": part["subject"], "html": _fragment(part.get("html"), part["body"])}
        for part in parts
    ]
    html = _html_env().get_template("_digest.html").render(values)
    return _one_line(subject.render(values)), text, html


def html_document(subject: str, fragment: str, number: str | None = None) -> str:
    """A complete HTML mail around a rendered body fragment."""
    return (
        _html_env()
        .get_template("_layout.html")
        .render(subject=subject, content=Markup(fragment), number=number)
    )


def known_templates() -> list[str]:
    """Names of the bundled kinds of message, sorted."""
    return sorted(name for name in _sources() if not name.startswith("_"))


def template_text(name: str) -> tuple[str, str]:
    """`(subject, body)` source of template `name`; HandlerInputError listing the known ones."""
    if name.startswith("_") or name not in _sources():
        raise HandlerInputError(
            f"notify: unknown template {name!r} (known: {', '.join(known_templates())})"
        )
    return _sources()[name]


class _NotSet(Undefined):
    """A name the values do not have renders as "(not set)", never as an error."""

    def __str__(self) -> str:
        return NOT_SET


def _finalize(value: Any) -> Any:
    return NOT_SET if value is None or value == "" or isinstance(value, Undefined) else value


def _environment(autoescape: bool) -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=autoescape,
        undefined=_NotSet,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@functools.lru_cache(maxsize=1)
def _text_env() -> Environment:
    return _environment(autoescape=False)


@functools.lru_cache(maxsize=1)
def _html_env() -> Environment:
    return _environment(autoescape=True)


@functools.lru_cache(maxsize=1)
def _sources() -> dict[str, tuple[str, str]]:
    found = {}
    for path in sorted(TEMPLATE_DIR.glob("*.txt")):
        subject, _, body = path.read_text(encoding="utf-8").partition("\n")
        found[path.stem] = (subject.strip(), body.strip("\n") + "\n")
    return found


@functools.lru_cache(maxsize=64)
def _text_templates(name: str) -> tuple[Template, Template]:
    subject, body = _sources()[name] if name.startswith("_") else template_text(name)
    env = _text_env()
    return env.from_string(subject), env.from_string(body)


def _values(recipient: str, incident: dict[str, Any], note: str | None) -> dict[str, Any]:
    cat = catalog()
    values: dict[str, Any] = {
        field: incident.get(field) for field in (*INCIDENT_FIELDS, "caller", "category")
    }
    priority = incident.get("priority")
    policy = cat.priorities.get(priority) if isinstance(priority, int) else None
    values["priority_name"] = policy.name if policy else None
    values["recipient"] = recipient
    user = cat.users.get(recipient)
    values["recipient_name"] = user.name if user else recipient
    values["note"] = note or None
    return values


def _fragment(html: str | None, body: str) -> Markup:
    # Stored fragments were rendered (and escaped) by `render_html` when they were written.
    return Markup(html) if html else Markup("<pre>%s</pre>") % escape(body)


def _one_line(text: str) -> str:
    # A subject is a mail header: a line break in a value must not start a new header.
    return " ".join(text.split())


def _unique(people: list[Any]) -> list[str]:
    return list(dict.fromkeys(person for person in people if person))
