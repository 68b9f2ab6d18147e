"""The service catalog: categories, the groups that own them, people, and SLA policy.

The catalog is data (`handlers/catalog.json`); this module reads it into frozen dataclasses
and refuses a malformed file with `CatalogInvalid` naming the offending key and the reason,
e.g. ``catalog.json: groups.network-ops.manager: 'x' is not a member of any group``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from handlers.business_time import BusinessCalendar, with_holidays
from handlers.durations import parse_duration
from handlers.errors import CatalogInvalid
from handlers.tokens import tokenize

DEFAULT_PATH = Path(__file__).with_name("catalog.json")
PRIORITIES = (1, 2, 3, 4, 5)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NOTICES = ("received", "assigned", "reopened", "closed")


@dataclass(frozen=True)
class Subcategory:
    name: str
    title: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Category:
    name: str
    title: str
    group: str
    subcategories: tuple[Subcategory, ...]

    def subcategory_names(self) -> list[str]:
        return [sub.name for sub in self.subcategories]


@dataclass(frozen=True)
class Group:
    name: str
    title: str
    manager: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class User:
    username: str
    name: str
    email: str


@dataclass(frozen=True)
class PriorityPolicy:
    """SLA targets of one priority, in working minutes of its calendar."""

    priority: int
    name: str
    response_minutes: int
    resolution_minutes: int
    status_update_interval: str
    calendar: str


@dataclass(frozen=True)
class Catalog:
    categories: Mapping[str, Category]
    groups: Mapping[str, Group]
    users: Mapping[str, User]
    service_desk_group: str
    major_incident_manager: str
    stakeholders: tuple[str, ...]
    callers: tuple[str, ...]
    priorities: Mapping[int, PriorityPolicy]
    calendars: Mapping[str, BusinessCalendar]
    warning_threshold: float  # share of the resolution target: the assignee is warned
    escalation_threshold: float  # later share: assignee and the group's manager are told
    auto_close_after: str
    max_reopens: int
    notices: frozenset[str]  # record-change notices the desk sends (engine.instances.notices)

    def calendar_of(self, priority: int) -> BusinessCalendar:
        """The business calendar the SLA clocks of `priority` count in."""
        return self.calendars[self.priorities[priority].calendar]

    def owner_of(self, category: str) -> str:
        """The group that owns `category` (KeyError if the catalog has no such category)."""
        return self.categories[category].group

    def manager_of(self, group: str | None) -> str:
        """The manager of `group`, or of the service desk when the group is unknown or None."""
        found = self.groups.get(group or "") or self.groups[self.service_desk_group]
        return found.manager


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a catalog file (default: the bundled `catalog.json`)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogInvalid(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogInvalid(
            f"{path.name}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    return _Reader(path.name).catalog(data)


@functools.lru_cache(maxsize=1)
def catalog() -> Catalog:
    """The bundled catalog, read once per process."""
    return load_catalog()


class _Reader:
    """Builds a Catalog from parsed JSON, naming the key of the first problem found."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, key: str, reason: str) -> CatalogInvalid:
        return CatalogInvalid(f"{self.filename}: {key}: {reason}")

    def get(self, data: Mapping[str, Any], name: str, key: str, kind: type | tuple) -> Any:
        if name not in data:
            raise self.fail(key, "missing")
        value = data[name]
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            raise self.fail(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        return value

    def text(self, data: Mapping[str, Any], name: str, key: str) -> str:
        value = self.get(data, name, key, str)
        if not value.strip():
            raise self.fail(key, "must not be empty")
        return value

    def catalog(self, data: Any) -> Catalog:
        if not isinstance(data, dict):
            raise self.fail("(top level)", "expected an object")
        users = self.users(self.get(data, "users", "users", dict))
        groups = self.groups(self.get(data, "groups", "groups", dict), users)
        service_desk = self.text(data, "service_desk_group", "service_desk_group")
        if service_desk not in groups:
            raise self.fail("service_desk_group", _unknown("group", service_desk, groups))
        categories = self.categories(self.get(data, "categories", "categories", dict), groups)
        sla = self.get(data, "sla", "sla", dict)
        calendars = self.calendars(self.get(data, "calendars", "calendars", dict))
        return Catalog(
            categories=MappingProxyType(categories),
            groups=MappingProxyType(groups),
            users=MappingProxyType(users),
            service_desk_group=service_desk,
            major_incident_manager=self.username(data, "major_incident_manager", users),
            stakeholders=self.usernames(data, "stakeholders", users),
            callers=self.usernames(data, "callers", users),
            priorities=MappingProxyType(self.priorities(sla, calendars)),
            calendars=MappingProxyType(calendars),
            warning_threshold=self.threshold(sla, "warning_threshold", 0.0),
            escalation_threshold=self.threshold(
                sla, "escalation_threshold", self.threshold(sla, "warning_threshold", 0.0)
            ),
            auto_close_after=self.duration(sla, "auto_close_after", "sla.auto_close_after"),
            max_reopens=self.count(sla, "max_reopens", "sla.max_reopens", minimum=0),
            notices=self.notices(data.get("notices", [])),
        )

    def users(self, raw: dict[str, Any]) -> dict[str, User]:
        users = {}
        for username, entry in raw.items():
            key = f"users.{username}"
            if not isinstance(entry, dict):
                raise self.fail(key, "expected an object with name and email")
            users[username] = User(
                username,
                self.text(entry, "name", f"{key}.name"),
                self.text(entry, "email", f"{key}.email"),
            )
        return users

    def groups(self, raw: dict[str, Any], users: Mapping[str, User]) -> dict[str, Group]:
        groups = {}
        for name, entry in raw.items():
            key = f"groups.{name}"
            if not isinstance(entry, dict):
                raise self.fail(key, "expected an object with title, manager and members")
            members = self.get(entry, "members", f"{key}.members", list)
            if not members:
                raise self.fail(f"{key}.members", "a group needs at least one member")
            for member in members:
                if member not in users:
                    raise self.fail(f"{key}.members", _unknown("user", member, users))
            groups[name] = Group(
                name=name,
                title=self.text(entry, "title", f"{key}.title"),
                manager=self.text(entry, "manager", f"{key}.manager"),
                members=tuple(members),
            )
        everyone = {member for group in groups.values() for member in group.members}
        for group in groups.values():
            if group.manager not in everyone:
                raise self.fail(
                    f"groups.{group.name}.manager",
                    f"{group.manager!r} is not a member of any group",
                )
        return groups

    def categories(self, raw: dict[str, Any], groups: Mapping[str, Group]) -> dict[str, Category]:
        if not raw:
            raise self.fail("categories", "the catalog needs at least one category")
        categories = {}
        for name, entry in raw.items():
            key = f"categories.{name}"
            if not isinstance(entry, dict):
                raise self.fail(key, "expected an object with title, group and subcategories")
            group = self.text(entry, "group", f"{key}.group")
            if group not in groups:
                raise self.fail(f"{key}.group", _unknown("group", group, groups))
            subs = self.get(entry, "subcategories", f"{key}.subcategories", dict)
            if not subs:
                raise self.fail(f"{key}.subcategories", "a category needs at least one subcategory")
            categories[name] = Category(
                name=name,
                title=self.text(entry, "title", f"{key}.title"),
                group=group,
                subcategories=tuple(
                    self.subcategory(sub, subs[sub], f"{key}.subcategories.{sub}") for sub in subs
                ),
            )
        return categories

    def subcategory(self, name: str, entry: Any, key: str) -> Subcategory:
        if not isinstance(entry, dict):
            raise self.fail(key, "expected an object with title and keywords")
        keywords = self.get(entry, "keywords", f"{key}.keywords", list)
        if not keywords:
            raise self.fail(f"{key}.keywords", "a subcategory needs at least one keyword")
        for keyword in keywords:
            if not isinstance(keyword, str) or not tokenize(keyword):
                raise self.fail(f"{key}.keywords", f"{keyword!r} has no word to match on")
        return Subcategory(name, self.text(entry, "title", f"{key}.title"), tuple(keywords))

    def username(self, data: Mapping[str, Any], name: str, users: Mapping[str, User]) -> str:
        username = self.text(data, name, name)
        if username not in users:
            raise self.fail(name, _unknown("user", username, users))
        return username

    def usernames(
        self, data: Mapping[str, Any], name: str, users: Mapping[str, User]
    ) -> tuple[str, ...]:
        for username in self.get(data, name, name, list):
            if username not in users:
                raise self.fail(name, _unknown("user", username, users))
        return tuple(data[name])

    def notices(self, raw: Any) -> frozenset[str]:
        if not isinstance(raw, list):
            raise self.fail("notices", "expected a list of notice kinds")
        unknown = sorted(set(raw) - set(NOTICES))
        if unknown:
            raise self.fail(
                "notices", f"unknown notice {unknown[0]!r} (known: {', '.join(NOTICES)})"
            )
        return frozenset(raw)

    def calendars(self, raw: dict[str, Any]) -> dict[str, BusinessCalendar]:
        if not raw:
            raise self.fail("calendars", "the catalog needs at least one calendar")
        return {name: self.calendar(name, entry) for name, entry in raw.items()}

    def calendar(self, name: str, entry: Any) -> BusinessCalendar:
        key = f"calendars.{name}"
        if not isinstance(entry, dict):
            raise self.fail(key, "expected an object (always, or time_zone/hours/holidays)")
        if entry.get("always") is True:
            return BusinessCalendar(name, ZoneInfo("UTC"), always=True)
        zone_name = self.text(entry, "time_zone", f"{key}.time_zone")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(f"{key}.time_zone", f"unknown time zone {zone_name!r}") from None
        hours = {}
        for day, span in self.get(entry, "hours", f"{key}.hours", dict).items():
            if day not in WEEKDAYS:
                raise self.fail(f"{key}.hours.{day}", f"not a weekday ({', '.join(WEEKDAYS)})")
            hours[WEEKDAYS.index(day)] = self.span(span, f"{key}.hours.{day}")
        if not hours:
            raise self.fail(f"{key}.hours", "a calendar needs at least one working day")
        holidays = self.holidays(entry.get("holidays", {}), f"{key}.holidays")
        return BusinessCalendar(name, zone, hours, holidays)

    def span(self, value: Any, key: str) -> tuple[time, time]:
        if not (isinstance(value, list) and len(value) == 2):
            raise self.fail(key, 'expected ["HH:MM", "HH:MM"] (opening, closing)')
        try:
            opening, closing = (time.fromisoformat(v) for v in value)
        except (TypeError, ValueError):
            raise self.fail(key, f"{value} are not HH:MM times") from None
        if not opening < closing:
            raise self.fail(key, f"opening {value[0]} is not before closing {value[1]}")
        return opening, closing

    def holidays(self, entry: Any, key: str):
        if not isinstance(entry, dict):
            raise self.fail(key, "expected an object with country, subdivision, extra")
        try:
            extra = [date.fromisoformat(day) for day in entry.get("extra", [])]
        except (TypeError, ValueError):
            raise self.fail(f"{key}.extra", "expected a list of YYYY-MM-DD dates") from None
        try:
            return with_holidays(entry.get("country"), entry.get("subdivision"), extra)
        except NotImplementedError as exc:
            raise self.fail(key, f"the holidays library does not know it: {exc}") from None

    def priorities(
        self, sla: Mapping[str, Any], calendars: Mapping[str, BusinessCalendar]
    ) -> dict[int, PriorityPolicy]:
        raw = self.get(sla, "priorities", "sla.priorities", dict)
        extras = sorted(set(raw) - {str(p) for p in PRIORITIES})
        if extras:
            raise self.fail(f"sla.priorities.{extras[0]}", "priorities are 1 to 5")
        policies = {}
        for priority in PRIORITIES:
            key = f"sla.priorities.{priority}"
            entry = raw.get(str(priority))
            if not isinstance(entry, dict):
                raise self.fail(key, f"missing priority policy for priority {priority}")
            response = self.count(entry, "response_minutes", f"{key}.response_minutes", 1)
            resolution = self.count(entry, "resolution_minutes", f"{key}.resolution_minutes", 1)
            if resolution < response:
                raise self.fail(
                    f"{key}.resolution_minutes",
                    f"{resolution} is shorter than the response target ({response})",
                )
            calendar = self.text(entry, "calendar", f"{key}.calendar")
            if calendar not in calendars:
                raise self.fail(f"{key}.calendar", _unknown("calendar", calendar, calendars))
            policies[priority] = PriorityPolicy(
                priority=priority,
                calendar=calendar,
                name=self.text(entry, "name", f"{key}.name"),
                response_minutes=response,
                resolution_minutes=resolution,
                status_update_interval=self.duration(
                    entry, "status_update_interval", f"{key}.status_update_interval"
                ),
            )
        return policies

    def threshold(self, sla: Mapping[str, Any], name: str, above: float) -> float:
        """A share of the resolution target, between `above` and 1."""
        value = self.get(sla, name, f"sla.{name}", (int, float))
        if not 0 < value < 1:
            raise self.fail(
                f"sla.{name}", f"{value} must be a fraction between 0 and 1 (e.g. 0.75)"
            )
        if value <= above:
            raise self.fail(f"sla.{name}", f"{value} must be above the warning threshold {above}")
        return float(value)

    def duration(self, data: Mapping[str, Any], name: str, key: str) -> str:
        value = self.text(data, name, key)
        try:
            if parse_duration(value).total_seconds() <= 0:
                raise ValueError(f"{value!r} is zero; a duration must be positive")
        except ValueError as exc:
            raise self.fail(key, str(exc)) from exc
        return value

    def count(self, data: Mapping[str, Any], name: str, key: str, minimum: int) -> int:
        value = self.get(data, name, key, int)
        if value < minimum:
            raise self.fail(key, f"{value} is below the minimum of {minimum}")
        return value


def _unknown(kind: str, value: object, known: Mapping[str, Any]) -> str:
    return f"unknown {kind} {value!r} (known: {', '.join(sorted(known))})"


def _kind_name(kind: type | tuple) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        int: "an integer",
        bool: "true/false",
    }
    if isinstance(kind, tuple):
        return "a number"
    return names.get(kind, kind.__name__)
