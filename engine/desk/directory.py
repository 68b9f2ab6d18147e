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
    """Create the catalog's users and groups, or update their names and addresses; returns
    how many users the catalog names. The catalog is a seed: an account that exists keeps
    its roles, which `deskflow user roles` changes (ending the person's sessions) — running
    `deskflow init` again must not quietly undo that."""
    people = {
        username: (person.name, person.email, roles_of(username, catalog))
        for username, person in catalog.users.items()
    }
    people |= {name: (full, f"{name}@example.com", roles) for name, (full, roles) in STAFF.items()}
    for username, (full_name, email, roles) in people.items():
        user = session.get(User, username)
        if user is None:
            session.add(User(username=username, full_name=full_name, email=email, roles=roles))
        else:
            user.full_name, user.email = full_name, email
    session.flush()
    for group in catalog.groups.values():
        session.merge(Group(name=group.name, description=group.title, manager=group.manager))
        session.flush()
        for member in group.members:
            session.merge(Membership(group_name=group.name, username=member))
    session.flush()
    return len(catalog.users) + len(STAFF)
