"""People and groups: seeded from the service catalog so assignment has someone to pick."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.store.models import Group, Membership, User
from handlers.catalog import Catalog

# Accounts that are not in any support group but that every installation needs.
STAFF = {
    "owen": ("Owen Owner", ["process_owner"]),
    "audrey": ("Audrey Auditor", ["auditor"]),
    "admin": ("Ada Admin", ["admin"]),
}


def roles_of(username: str, catalog: Catalog) -> list[str]:
    roles = set()
    if username in catalog.callers:
        roles.add("user")
    for group in catalog.groups.values():
        if username == group.manager:
            roles.add("manager")
        if username in group.members:
            roles.add("technician" if group.name == catalog.service_desk_group else "specialist")
    if username == catalog.major_incident_manager:
        roles.add("manager")
    return sorted(roles) or ["user"]


def seed(session: Session, catalog: Catalog) -> int:
    """Create or update the catalog's users and groups; returns how many users exist."""
    for username, person in catalog.users.items():
        user = session.get(User, username) or User(username=username)
        user.full_name, user.email = person.name, person.email
        user.roles = roles_of(username, catalog)
        session.merge(user)
    for username, (name, roles) in STAFF.items():
        session.merge(
            User(username=username, full_name=name, email=f"{username}@example.com", roles=roles)
        )
    session.flush()
    for group in catalog.groups.values():
        session.merge(Group(name=group.name, description=group.title, manager=group.manager))
        session.flush()
        for member in group.members:
            session.merge(Membership(group_name=group.name, username=member))
    session.flush()
    return len(catalog.users) + len(STAFF)
