"""Who may see which incident and work which task — one set of rules for the web pages,
the JSON API and the CLI.

- People who only report problems (role `user`) see the incidents they are the caller
  of, and work the tasks of the User lane on them.
- Staff (technician, specialist, manager, admin, auditor) see every incident.
- A Service Desk task is worked by technicians; a Specialist Support task by the members
  of its group (a group's manager is one of them); a User-lane task by the caller.
  Managers see all open work, but work only their own groups' tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import HumanTask, Incident, Membership, User

STAFF_ROLES = frozenset({"technician", "specialist", "manager", "admin", "auditor"})
WORKER_ROLES = frozenset({"technician", "specialist", "manager"})
SERVICE_DESK_LANE = "Service Desk"
SPECIALIST_LANE = "Specialist Support"
USER_LANE = "User"


@dataclass(frozen=True)
class Person:
    """A logged-in person (or an API token's owner) as the rules need them."""

    username: str
    roles: frozenset[str]
    groups: frozenset[str]

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & STAFF_ROLES)

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles


def person(session: Session, user: User) -> Person:
    groups = session.scalars(
        select(Membership.group_name).where(Membership.username == user.username)
    )
    return Person(user.username, frozenset(user.roles), frozenset(groups))


def may_see(who: Person, incident: Incident) -> bool:
    return who.is_staff or incident.caller == who.username


def may_work(who: Person, task: HumanTask, caller: str) -> bool:
    """Whether `who` may claim or complete `task` (of an incident whose caller is `caller`)."""
    if task.lane == USER_LANE:
        return caller == who.username
    if task.lane == SERVICE_DESK_LANE:
        return "technician" in who.roles or (task.group_name or "") in who.groups
    if task.lane == SPECIALIST_LANE:
        return task.group_name in who.groups
    return False


def may_assign_to(session: Session, task: HumanTask, assignee: str) -> bool:
    """Whether `assignee` could work `task`: a colleague in its group (or, for a Service
    Desk task without a group, a technician)."""
    user = session.get(User, assignee)
    if user is None:
        return False
    if task.group_name:
        member = session.get(Membership, (task.group_name, assignee))
        return member is not None
    return task.lane == SERVICE_DESK_LANE and "technician" in user.roles
